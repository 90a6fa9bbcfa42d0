//! groupsync keeps Alation's SCIM groups in step with the Active Directory groups that
//! SailPoint IdentityNow reads from an AD source.
//!
//! # A run, stage by stage
//! 1. trigger: `groupsync run`, or in `groupsync serve` the schedule, a webhook delivery,
//!    task-status polling or `POST /runs` ([`daemon`]).
//! 2. coordinator: one run at a time; triggers during a run join one follow-up
//!    ([`daemon::coordinator`]); across processes sharing a store, the run lease
//!    ([`store`]) lets one run at a time, and each run is journaled from its start.
//!
//! The rest is [`sync`], whose [`sync::Syncer`] holds the order:
//!
//! 3. source: the AD source and all its groups from IdentityNow, all pages or an error.
//! 4. plan: a pure function from the groups and what the target holds (looked up first)
//!    to one action per group ([`sync::plan`]).
//! 5. guards: checked after the plan and before the first write; a refusal stops the run
//!    with nothing written ([`sync::guards`]).
//! 6. apply: the creates, with bounded concurrency ([`sync::apply`]).
//! 7. record: the run, its outcomes and its notices written to the [`store`].
//! 8. notify: the notices sent from the store's outbox ([`notify`]).
//!
//! A stage that fails stops the run with a typed [`sync::RunError`]; the [`report`] keeps
//! its kind.
//!
//! # Layout
//! - [`cli`]: the command line (`run`, `serve`, `sources`, `check`, `executions`, and with
//!   the `sandbox` feature `demo`, `sandbox` and `bench`), the summary and the progress bar.
//! - [`config`]: typed configuration, loaded once and validated, errors naming the key.
//! - [`daemon`]: `groupsync serve`: the HTTP server, the triggers and the coordinator.
//! - [`domain`]: the types every stage shares (source groups, target groups, run ids).
//! - [`identitynow`]: the IdentityNow client (OAuth2 token, sources, entitlement pages,
//!   aggregation tasks).
//! - [`notify`]: email notices: composed (digest or one per group), kept in the outbox,
//!   sent over SMTP.
//! - [`report`]: what a run did, group by group, and why it stopped.
//! - [`retry`]: "should we retry?" (each client's errors) apart from "how long to wait".
//! - [`scim`]: the SCIM 2.0 client (lookup by `displayName`, create, list).
//! - [`store`]: SQLite: the execution history and each run's journal, the run lease, the
//!   notice outbox, the names the target refused, trigger state.
//! - [`sync`]: the run's stages, one module each (above).
//! - [`telemetry`]: logging set-up, and every log event and metric, each defined once
//!   ([`telemetry::metric`], [`telemetry::run_log`], [`telemetry::daemon_log`]).
//! - [`upstream`]: one HTTP exchange with IdentityNow or the SCIM target, counted and capped.
//! - [`web`]: the history over HTTP: JSON and a server-rendered dashboard.
//!
//! The simulated tenant, SCIM server and SMTP sink on 127.0.0.1 behind the `demo` and
//! `sandbox` commands, the tests and the benchmarks are a crate of their own,
//! `groupsync-sandbox` (`crates/groupsync-sandbox`), which does not depend on this one. The
//! `sandbox` cargo feature (on by default) brings it in with the two commands; without it
//! the binary holds only the product.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod identitynow;
pub mod notify;
pub mod rate;
pub mod report;
pub mod retry;
pub mod scim;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod upstream;
pub mod web;

#[cfg(test)]
mod arbitrary_json;
