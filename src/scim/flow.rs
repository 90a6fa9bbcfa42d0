//! Adaptive concurrency of the SCIM lookups and creates (additive increase, multiplicative
//! decrease).
//!
//! `sync.lookup_concurrency` and `sync.create_concurrency` are ceilings. When the server
//! answers 429, or an answer takes much longer than usual (a server slowing under load),
//! the requests allowed in flight are halved, for lookups and creates alike; each run of
//! as many successes as the current limit then allows one more, up to the ceiling. One
//! decrease per round: the answers to requests already in flight when the limit was
//! lowered do not lower it again. Each change is logged once
//! ([`run_log::scim_concurrency_changed`]) and the current limit is a gauge.

use crate::telemetry::run_log;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// An answer this many times slower than the usual latency is a sign of overload…
const SLOW_FACTOR: u32 = 4;
/// …when it is slower than this too (a few milliseconds' jitter is not).
const SLOW_FLOOR: Duration = Duration::from_millis(50);
/// The weight of a new latency in the running average: 1/8.
const AVERAGE_WEIGHT: u32 = 8;

/// Why the limit went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Congestion {
    /// The server answered 429.
    TooManyRequests,
    /// An answer took [`SLOW_FACTOR`] times the usual latency.
    Slow,
}

impl Congestion {
    pub fn as_str(self) -> &'static str {
        match self {
            Congestion::TooManyRequests => "429",
            Congestion::Slow => "latency",
        }
    }
}

/// The limit of one kind of request (`lookups` or `creates`).
pub struct Adaptive {
    kind: &'static str,
    max: usize,
    state: Mutex<State>,
    freed: Notify,
}

struct State {
    limit: usize,
    in_flight: usize,
    /// Successes since the limit last changed.
    successes: usize,
    /// Completions to wait for before congestion lowers the limit again.
    hold: usize,
    /// The running average of answers' latencies.
    usual: Option<Duration>,
}

/// A place among the requests in flight; freed when dropped.
#[must_use = "the place is freed when the slot is dropped"]
pub struct Slot {
    of: Arc<Adaptive>,
}

impl Adaptive {
    /// Starts at `max` (at least 1).
    pub fn new(kind: &'static str, max: usize) -> Arc<Adaptive> {
        let max = max.max(1);
        run_log::scim_concurrency(kind, max);
        Arc::new(Adaptive {
            kind,
            max,
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                successes: 0,
                hold: 0,
                usual: None,
            }),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Waits until a request fits under the limit, and takes its place.
    pub async fn slot(self: &Arc<Self>) -> Slot {
        loop {
            // Registered before the check, so a slot freed in between still wakes us.
            let freed = self.freed.notified();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Slot { of: self.clone() };
                }
            }
            freed.await;
        }
    }

    /// An answer that was not a 429, after `latency`: a sharp rise lowers the limit, a
    /// round of successes raises it.
    pub fn answered(&self, latency: Duration) {
        let slow = {
            let mut s = self.lock();
            let slow = s
                .usual
                .is_some_and(|usual| latency > SLOW_FLOOR.max(usual * SLOW_FACTOR));
            s.usual = Some(match s.usual {
                None => latency,
                Some(usual) => (usual * (AVERAGE_WEIGHT - 1) + latency) / AVERAGE_WEIGHT,
            });
            slow
        };
        if slow {
            self.congested(Congestion::Slow);
            return;
        }
        let mut s = self.lock();
        s.successes += 1;
        if s.successes >= s.limit && s.limit < self.max {
            let from = s.limit;
            s.limit += 1;
            s.successes = 0;
            drop(s);
            run_log::scim_concurrency_changed(self.kind, from, from + 1, "recovered");
            self.freed.notify_waiters();
        }
    }

    /// The server is overloaded: halves the limit, once per round of requests in flight.
    pub fn congested(&self, why: Congestion) {
        let mut s = self.lock();
        s.successes = 0;
        if s.hold > 0 || s.limit == 1 {
            return;
        }
        let from = s.limit;
        s.limit = (from / 2).max(1);
        s.hold = s.in_flight;
        let to = s.limit;
        drop(s);
        run_log::scim_concurrency_changed(self.kind, from, to, why.as_str());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.of.lock();
        s.in_flight -= 1;
        s.hold = s.hold.saturating_sub(1);
        drop(s);
        self.of.freed.notify_waiters();
    }
}

/// The limits of the lookups (GETs) and of the creates and changes (the other methods).
#[derive(Clone)]
pub struct Flow {
    pub lookups: Arc<Adaptive>,
    pub creates: Arc<Adaptive>,
}

impl Flow {
    pub fn new(lookups: usize, creates: usize) -> Flow {
        Flow {
            lookups: Adaptive::new("lookups", lookups),
            creates: Adaptive::new("creates", creates),
        }
    }

    /// What an answer says about the server's load: a 429 lowers both limits, a latency
    /// counts for the kind of request it answered.
    pub fn observe(&self, method: &reqwest::Method, status: u16, latency: Duration) {
        if status == 429 {
            self.lookups.congested(Congestion::TooManyRequests);
            self.creates.congested(Congestion::TooManyRequests);
        } else if method == reqwest::Method::GET {
            self.lookups.answered(latency);
        } else {
            self.creates.answered(latency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const FAST: Duration = Duration::from_millis(5);

    #[test]
    fn a_429_halves_once_per_round_and_successes_bring_it_back() {
        let a = Adaptive::new("lookups", 8);
        let slots: Vec<Slot> = (0..8)
            .map(|_| {
                let mut s = a.lock();
                s.in_flight += 1;
                Slot { of: a.clone() }
            })
            .collect();
        a.congested(Congestion::TooManyRequests);
        assert_eq!(a.limit(), 4);
        // The other seven in flight were sent before it went down: no second halving.
        a.congested(Congestion::TooManyRequests);
        assert_eq!(a.limit(), 4);
        drop(slots);
        a.congested(Congestion::TooManyRequests);
        assert_eq!(a.limit(), 2);
        a.congested(Congestion::TooManyRequests);
        a.congested(Congestion::TooManyRequests);
        assert_eq!(a.limit(), 1, "never below one");
        // +1 after as many successes as the limit: 1 → 2 after 1, → 3 after 2 more, …
        let mut answers = 0;
        while a.limit() < 8 {
            a.answered(FAST);
            answers += 1;
        }
        assert_eq!(answers, 1 + 2 + 3 + 4 + 5 + 6 + 7);
        for _ in 0..100 {
            a.answered(FAST);
        }
        assert_eq!(a.limit(), 8, "never above the ceiling");
    }

    #[test]
    fn a_sharp_rise_in_latency_lowers_the_limit() {
        let a = Adaptive::new("creates", 6);
        for _ in 0..20 {
            a.answered(Duration::from_millis(20));
        }
        assert_eq!(a.limit(), 6);
        a.answered(Duration::from_millis(60)); // slower, not sharply
        assert_eq!(a.limit(), 6);
        a.answered(Duration::from_millis(400));
        assert_eq!(a.limit(), 3);
    }

    #[test]
    fn a_429_lowers_both_kinds_and_latency_counts_for_its_own() {
        let flow = Flow::new(4, 2);
        flow.observe(&reqwest::Method::POST, 429, FAST);
        assert_eq!((flow.lookups.limit(), flow.creates.limit()), (2, 1));
        flow.observe(&reqwest::Method::GET, 200, FAST);
        flow.observe(&reqwest::Method::GET, 200, FAST);
        assert_eq!((flow.lookups.limit(), flow.creates.limit()), (3, 1));
    }

    /// Workers against a server that refuses more than 3 at once with 429: the limit settles
    /// near 3, and no more than the limit are ever in flight.
    #[tokio::test(start_paused = true)]
    async fn in_flight_never_passes_the_limit_and_settles_under_the_server() {
        let a = Adaptive::new("lookups", 16);
        let busy = Arc::new(Mutex::new((0usize, 0usize)));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (a, busy) = (a.clone(), busy.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    let slot = a.slot().await;
                    let now = {
                        let mut b = busy.lock().unwrap();
                        b.0 += 1;
                        b.1 = b.1.max(b.0);
                        b.0
                    };
                    assert!(now <= a.max);
                    let started = Instant::now();
                    tokio::time::sleep(FAST).await;
                    if now > 3 {
                        a.congested(Congestion::TooManyRequests);
                    } else {
                        a.answered(started.elapsed());
                    }
                    busy.lock().unwrap().0 -= 1;
                    drop(slot);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let limit = a.limit();
        assert!((1..=5).contains(&limit), "settled at {limit}");
        assert_eq!(a.lock().in_flight, 0);
    }
}
