//! Our own pace under the tenant's rate limit (100 requests per 10 s per client id).
//!
//! A `governor` limiter on a clock read from `tokio::time`, and waits done with
//! `tokio::time::sleep`: governor's own `until_ready` sleeps on a timer thread, which
//! paused-time tests could not drive.

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;
use tokio::time::Instant;

/// Time since the limiter was made, as `tokio::time` tells it.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// At most `n` requests in any 10 s, a burst of up to `n` allowed.
pub struct Pace {
    limiter: Limiter,
    clock: TokioClock,
}

impl Pace {
    /// `None` when `n` is 0 (the configuration refuses that already).
    pub fn per_10s(n: u32) -> Option<Pace> {
        let burst = NonZeroU32::new(n)?;
        let quota = Quota::with_period(Duration::from_secs(10) / n)?.allow_burst(burst);
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Some(Pace {
            limiter: RateLimiter::direct_with_clock(quota, clock),
            clock,
        })
    }

    /// Waits until one more request fits in the budget.
    pub async fn ready(&self) {
        while let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(self.clock.now());
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "pacing IdentityNow requests"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pace").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_requests_are_spaced() {
        let pace = Pace::per_10s(4).unwrap();
        let start = Instant::now();
        for _ in 0..4 {
            pace.ready().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        pace.ready().await;
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
        pace.ready().await;
        assert_eq!(start.elapsed(), Duration::from_millis(5000));
    }

    #[test]
    fn zero_is_refused() {
        assert!(Pace::per_10s(0).is_none());
    }
}
