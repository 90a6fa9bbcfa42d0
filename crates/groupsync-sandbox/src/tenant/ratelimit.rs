//! The gateway's rate limit: N requests per 10 s per client id, across all its tokens.
//!
//! A sliding window (a log of request times), so `Retry-After` can say exactly when the
//! oldest request leaves the window. Times are tokio instants, so tests can pause time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The window the limit is counted over.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct RateLimiter {
    limit: Option<u32>,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// `None` turns limiting off.
    pub fn new(limit: Option<u32>) -> RateLimiter {
        RateLimiter {
            limit,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Requests allowed per window, if limited.
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Counts a request by `client` at `now`, or says how long until one is allowed.
    /// Refused requests are not counted.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut all = super::state::lock(&self.hits);
        let hits = all.entry(client.to_owned()).or_default();
        while hits
            .front()
            .is_some_and(|&t| now.duration_since(t) >= WINDOW)
        {
            hits.pop_front();
        }
        if hits.len() < limit as usize {
            hits.push_back(now);
            return Ok(());
        }
        let wait = hits
            .front()
            .map_or(WINDOW, |&t| (t + WINDOW).saturating_duration_since(now));
        Err(if wait.is_zero() { WINDOW } else { wait })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_per_client() {
        let rl = RateLimiter::new(Some(3));
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(rl.check("a", at(0)).is_ok());
        assert!(rl.check("a", at(1000)).is_ok());
        assert!(rl.check("a", at(2000)).is_ok());
        assert_eq!(rl.check("a", at(2500)), Err(Duration::from_millis(7500)));
        assert!(
            rl.check("b", at(2500)).is_ok(),
            "other clients have their own budget"
        );
        assert!(
            rl.check("a", at(10_000)).is_ok(),
            "the first request left the window"
        );
        assert_eq!(rl.check("a", at(10_001)), Err(Duration::from_millis(999)));
        let off = RateLimiter::new(None);
        assert!((0..1000).all(|_| off.check("a", t0).is_ok()));
        let zero = RateLimiter::new(Some(0));
        assert_eq!(zero.check("a", t0), Err(WINDOW));
    }
}
