//! What every request handler shares: configuration, clock, tokens, data, counters.

use super::Credential;
use super::auth::TokenBook;
use super::catalog::Catalog;
use super::ratelimit::RateLimiter;
use super::tasks::TaskBook;
use crate::faults::Faults;
use crate::stats::Stats;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Wall-clock timestamps that follow tokio's clock, so that with paused time a task that
/// "took 3 s" also shows 3 s between `launched` and `completed`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    wall: DateTime<Utc>,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
            wall: Utc::now(),
        }
    }

    /// The wall-clock time of a tokio instant.
    pub fn wall_at(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = at.saturating_duration_since(self.start);
        self.wall + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }

    /// The tokio instant of a wall-clock time this clock produced.
    pub fn instant_of(&self, at: DateTime<Utc>) -> Instant {
        let since = (at - self.wall).to_std().unwrap_or_default();
        self.start + since
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.wall_at(Instant::now())
    }
}

/// The tenant's whole state. Locks are `std` mutexes held for short, await-free sections.
pub struct Shared {
    pub client_id: String,
    pub client_secret: String,
    /// What kind of credential `client_id` is; its tokens carry it.
    pub credential: Credential,
    pub token_lifetime: Duration,
    pub aggregation_delay: Duration,
    pub clock: Clock,
    pub tokens: Mutex<TokenBook>,
    pub limiter: RateLimiter,
    pub catalog: Mutex<Catalog>,
    pub tasks: Mutex<TaskBook>,
    /// Sources whose entitlement aggregation reads a live system (the SCIM server).
    pub feeds: Mutex<HashMap<String, Feed>>,
    pub faults: Arc<Faults>,
    /// Every HTTP request received, whatever its answer.
    pub requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub stats: Stats,
}

pub type AppState = Arc<Shared>;

/// Reads the groups of a system as (native value, name), when an aggregation runs.
pub type Feed = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Locks `m`, carrying on after a panic elsewhere: the simulated data stays usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
