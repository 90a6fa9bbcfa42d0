//! groupsync's integration tests, one module per area, in one test binary: the product
//! against the sandbox, its binary as an operator runs it, and the real peers CI starts.
//! Every server a test starts listens on 127.0.0.1 and is stopped by the test.
#![allow(clippy::unwrap_used)]

mod harness;

mod apply;
mod bench;
mod check;
mod check_tls;
mod cli;
mod close_loop;
mod daemon;
mod dashboard_browser;
mod doc_blocks;
mod doc_examples;
mod docs_config;
mod entra;
mod failed_runs;
mod faults;
mod guards;
mod hardening;
mod history;
mod jobs;
mod json_shape;
mod kill;
mod large;
mod memory;
mod notices;
mod ownership;
mod peers;
mod readme;
mod retries;
mod scale;
mod scim_interop;
mod scim_rate;
mod scope;
mod sync_end_to_end;
