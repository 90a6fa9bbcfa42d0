//! A simulated IdentityNow tenant, SCIM 2.0 server and SMTP sink, all on 127.0.0.1.
//!
//! Used by `groupsync demo`, `groupsync sandbox`, the tests and the benchmarks, so that
//! everything can be tried without a SailPoint tenant or an Alation instance.

pub mod faults;
pub mod seed;
pub mod tenant;
