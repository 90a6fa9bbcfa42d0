//! groupsync keeps Alation's SCIM groups in step with the Active Directory groups that
//! SailPoint IdentityNow reads from an AD source.
//!
//! # Layout
//! One run is a pipeline, and each stage has its module:
//!
//! trigger (CLI, schedule, webhook, poll, manual) → [`sync`] (source → plan → apply → record
//! → notify) → report, kept in the [`store`].
//!
//! - [`config`]: typed configuration, loaded once and validated, errors naming the key.
//! - [`identitynow`]: the IdentityNow client (OAuth2 token, sources, entitlement pages).
//! - [`scim`]: the SCIM 2.0 client (lookup by `displayName`, create).
//! - [`notify`]: email notices over SMTP (digest or one per group).
//! - [`sync`]: the run's stages, one module each: [`sync::plan`] is a pure function from
//!   source groups and target lookups to actions, [`sync::apply`] carries out the creates
//!   with bounded concurrency.
//! - [`report`]: what a run did, group by group.
//! - [`upstream`]: one HTTP exchange with IdentityNow or the SCIM target, counted and capped.
//! - [`retry`]: "should we retry?" (each client's errors) apart from "how long to wait".
//! - [`store`]: SQLite: the execution history, the notice outbox, trigger state.
//! - [`web`]: the history over HTTP: JSON and a server-rendered dashboard.
//!
//! The simulated tenant, SCIM server and SMTP sink on 127.0.0.1 behind the `demo` and
//! `sandbox` commands, the tests and the benchmarks are a crate of their own,
//! `groupsync-sandbox` (`crates/groupsync-sandbox`), which does not depend on this one. The
//! `sandbox` cargo feature (on by default) brings the two commands; without it the binary
//! holds only the product.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod identitynow;
pub mod notify;
pub mod report;
pub mod retry;
pub mod scim;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod upstream;
pub mod web;
