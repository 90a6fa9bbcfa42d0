//! Our own pace under an upstream's rate limit: at most `n` requests in *any* window.
//!
//! IdentityNow counts requests in a sliding 10-second window (100 per client id, a budget
//! often shared with other integrations), and a SCIM server may allow so many requests a
//! second (`scim.requests_per_second`). A burst that a token bucket would allow can still
//! draw 429s, so this limiter is exact instead: at most `n` requests in any window.
//!
//! The server counts a request when it arrives, somewhere between our send and its
//! answer. A request therefore holds its slot while it is in flight, and the slot's
//! window starts when the answer came back (the latest the server can have counted it):
//! a later request that waits for the slot cannot land in the same window, however the
//! latencies vary. Time comes from `tokio::time`, so paused-time tests drive it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// IdentityNow's window.
const TEN_SECONDS: Duration = Duration::from_secs(10);

/// At most `limit` requests in any `window`.
pub struct Pace {
    limit: usize,
    window: Duration,
    /// Whose requests wait (`IdentityNow`, `SCIM`), for the log.
    service: &'static str,
    slots: Mutex<Slots>,
    /// Woken when an in-flight request finishes (its slot starts to age).
    finished: Notify,
}

#[derive(Default)]
struct Slots {
    in_flight: usize,
    /// When each finished request of the last window came back, oldest first.
    finished_at: VecDeque<Instant>,
}

/// A request's place in the window, held while it is in flight. Dropping it (answer read,
/// error or cancellation) starts the slot's window.
#[must_use = "the slot is released when the permit is dropped"]
pub struct Sent {
    pace: Arc<Pace>,
}

/// What a caller must wait for before its request may go.
enum Wait {
    Until(Instant),
    InFlight,
}

impl Pace {
    /// At most `n` requests in any `window`; `None` when `n` is 0 (the configuration
    /// refuses that already).
    pub fn new(service: &'static str, n: u32, window: Duration) -> Option<Arc<Pace>> {
        (n > 0).then(|| {
            Arc::new(Pace {
                limit: n as usize,
                window,
                service,
                slots: Mutex::new(Slots::default()),
                finished: Notify::new(),
            })
        })
    }

    /// IdentityNow's pace: at most `n` requests in any 10 s.
    pub fn per_10s(n: u32) -> Option<Arc<Pace>> {
        Pace::new("IdentityNow", n, TEN_SECONDS)
    }

    /// At most `n` requests in any second.
    pub fn per_second(service: &'static str, n: u32) -> Option<Arc<Pace>> {
        Pace::new(service, n, Duration::from_secs(1))
    }

    /// Waits until one more request fits in every window, and takes its slot.
    pub async fn ready(self: &Arc<Self>) -> Sent {
        loop {
            // Registered before the check, so a request finishing in between still wakes us.
            let finished = self.finished.notified();
            match self.try_take() {
                Ok(()) => return Sent { pace: self.clone() },
                Err(Wait::Until(at)) => {
                    tracing::debug!(
                        wait_ms = at.saturating_duration_since(Instant::now()).as_millis() as u64,
                        "pacing {} requests",
                        self.service
                    );
                    tokio::time::sleep_until(at).await;
                }
                Err(Wait::InFlight) => finished.await,
            }
        }
    }

    fn try_take(&self) -> Result<(), Wait> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while slots
            .finished_at
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.window)
        {
            slots.finished_at.pop_front();
        }
        if slots.in_flight + slots.finished_at.len() < self.limit {
            slots.in_flight += 1;
            return Ok(());
        }
        match slots.finished_at.front() {
            Some(oldest) => Err(Wait::Until(*oldest + self.window)),
            None => Err(Wait::InFlight),
        }
    }

    fn release(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.in_flight -= 1;
        slots.finished_at.push_back(Instant::now());
        drop(slots);
        self.finished.notify_waiters();
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.pace.release();
    }
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pace")
            .field("service", &self.service)
            .field("limit", &self.limit)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    const WINDOW: Duration = TEN_SECONDS;

    #[tokio::test(start_paused = true)]
    async fn the_budget_passes_at_once_then_waits_for_the_window() {
        let pace = Pace::per_10s(4).unwrap();
        let start = Instant::now();
        for _ in 0..4 {
            drop(pace.ready().await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        drop(pace.ready().await);
        assert_eq!(start.elapsed(), WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_ages_from_the_answer_not_the_send() {
        let pace = Pace::per_10s(1).unwrap();
        let start = Instant::now();
        let first = pace.ready().await;
        tokio::time::sleep(Duration::from_secs(3)).await; // the request's latency
        drop(first);
        drop(pace.ready().await);
        assert_eq!(start.elapsed(), Duration::from_secs(13));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_of_requests_in_flight_waits_for_one_to_finish() {
        let pace = Pace::per_10s(2).unwrap();
        let a = pace.ready().await;
        let b = pace.ready().await;
        let waiter = tokio::spawn({
            let pace = pace.clone();
            async move {
                let start = Instant::now();
                drop(pace.ready().await);
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(a);
        drop(b);
        assert_eq!(waiter.await.unwrap(), Duration::from_secs(11));
    }

    /// Many concurrent requests with uneven latencies: wherever the tenant counts each one
    /// (any instant between send and answer), no 10-second window holds more than the limit.
    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit() {
        let limit = 7;
        let pace = Pace::per_10s(limit).unwrap();
        let seed = Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15));
        let origin = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (pace, seed) = (pace.clone(), seed.clone());
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..6 {
                    let r = seed
                        .fetch_add(0x9E37_79B9, Ordering::Relaxed)
                        .wrapping_mul(31)
                        % 2500;
                    let sent = pace.ready().await;
                    let from = origin.elapsed();
                    tokio::time::sleep(Duration::from_millis(r)).await;
                    seen.push((from, origin.elapsed()));
                    drop(sent);
                }
                seen
            }));
        }
        let mut spans = Vec::new();
        for t in tasks {
            spans.extend(t.await.unwrap());
        }
        assert_eq!(spans.len(), 96);
        // The worst case for the tenant: each request counted as late as possible if it
        // started a window, as early as possible otherwise. A window starting at a request's
        // answer holds every request whose send came less than 10 s later.
        for (_, counted) in &spans {
            let within = spans
                .iter()
                .filter(|(sent, answered)| *answered >= *counted && *sent < *counted + WINDOW)
                .count();
            assert!(within <= limit as usize, "{within} requests in one window");
        }
    }

    #[test]
    fn zero_is_refused() {
        assert!(Pace::per_10s(0).is_none());
        assert!(Pace::per_second("SCIM", 0).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_one_second_window_lets_n_through_each_second() {
        let pace = Pace::per_second("SCIM", 3).unwrap();
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..7 {
            drop(pace.ready().await);
            sent.push(start.elapsed().as_secs());
        }
        assert_eq!(sent, [0, 0, 0, 1, 1, 1, 2]);
    }
}
