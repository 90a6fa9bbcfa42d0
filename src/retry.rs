//! "Should we retry?" and "how long do we wait?", kept apart.
//!
//! Each client's error type answers the first question through [`Classify`]: its
//! [`Disposition`] says what a caller must do. [`RetryPolicy`] answers the second: an
//! exponential, jittered back-off (backon), overridden by the server's `Retry-After`
//! when it sent one, but never longer than `max_retry_after` (`sync.max_retry_after_secs`). Only operations that are safe to repeat go through [`retry`]; a
//! SCIM `POST` never does (the apply stage looks the group up again instead).
//!
//! Each retry is told as it is decided ([`crate::telemetry::run_log::retrying`]): logged,
//! and shown on a terminal's progress line until the request is over.

use crate::telemetry::run_log;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What a caller must do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A passing condition (429, 5xx, timeout, reset): try again, after `after` if the
    /// server said how long (`Retry-After`).
    RetryLater { after: Option<Duration> },
    /// The credentials were refused or expired: fetch a new token, then try once more.
    Reauthenticate,
    /// Retrying cannot help (bad request, forbidden, not found, malformed answer).
    GiveUp,
}

/// Implemented by every client error type.
pub trait Classify {
    fn disposition(&self) -> Disposition;

    /// Why a retry is needed, in a word: the status (`429`, `503`) or the kind of
    /// failure (`timeout`, `connect`).
    fn reason(&self) -> String {
        "error".to_owned()
    }
}

/// What a repeatable call is, for the lines that tell of its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The service called: `IdentityNow`, `SCIM target`, `mail server`.
    pub service: &'static str,
    /// What was asked of it: `entitlements at offset 500`, `GET /Groups`, …
    pub name: String,
}

impl Operation {
    pub fn new(service: &'static str, name: impl Into<String>) -> Operation {
        Operation {
            service,
            name: name.into(),
        }
    }
}

/// One retry, decided: the attempt about to be made, after `wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrying<'a> {
    pub operation: &'a Operation,
    /// The attempt about to be made: 2 for the first retry.
    pub attempt: usize,
    /// How many attempts the policy allows in all.
    pub max: usize,
    pub wait: Duration,
    /// [`Classify::reason`] of the failure that asked for it.
    pub reason: String,
}

/// How often and how long to wait between attempts of a repeatable call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` obeyed; a longer one waits only this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (for tests that want to see the first failure).
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// `retrying IdentityNow entitlements at offset 500 in 7 s (429, attempt 2/5)`: the log
/// line's text and the progress line's.
impl std::fmt::Display for Retrying<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "retrying {} {} in {} ({}, attempt {}/{})",
            self.operation.service,
            self.operation.name,
            wait_text(self.wait),
            self.reason,
            self.attempt,
            self.max
        )
    }
}

/// A wait as people read it: `7 s`, `500 ms`.
fn wait_text(wait: Duration) -> String {
    if wait >= Duration::from_secs(1) {
        format!("{} s", (wait.as_millis() + 500) / 1000)
    } else {
        format!("{} ms", wait.as_millis())
    }
}

/// Runs `op` until it succeeds, fails with an error that is not [`Disposition::RetryLater`],
/// or the policy runs out. `Retry-After` replaces the computed delay, capped at
/// `max_retry_after`. Each retry of `operation` is told as it is decided, and the end of a
/// retried one once it is over.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, operation: &Operation, op: F) -> Result<T, E>
where
    E: Classify + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let limit = policy.max_retry_after;
    let retries = AtomicUsize::new(0);
    let result = op
        .retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(|e: &E| matches!(e.disposition(), Disposition::RetryLater { .. }))
        .adjust(move |e: &E, computed| match e.disposition() {
            Disposition::RetryLater { after: Some(after) } => computed.map(|_| after.min(limit)),
            _ => computed,
        })
        .notify(|e: &E, wait| {
            let done = retries.fetch_add(1, Ordering::Relaxed) + 1;
            run_log::retrying(
                &Retrying {
                    operation,
                    attempt: done + 1,
                    max: policy.max_retries + 1,
                    wait,
                    reason: e.reason(),
                },
                e,
            );
        })
        .await;
    let retried = retries.load(Ordering::Relaxed);
    if retried > 0 {
        run_log::retried(operation, retried + 1, result.is_ok());
    }
    result
}

/// Reads `Retry-After` as delta-seconds or as an HTTP-date (RFC 9110 §10.2.3).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((when - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug)]
    struct E(Disposition);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl Classify for E {
        fn disposition(&self) -> Disposition {
            self.0
        }
    }

    async fn count_attempts(policy: RetryPolicy, d: Disposition) -> usize {
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let r: Result<(), E> = retry(&policy, &Operation::new("Test", "call"), move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Err(E(d))
            }
        })
        .await;
        assert!(r.is_err());
        n.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_up_to_the_policy() {
        let d = Disposition::RetryLater { after: None };
        assert_eq!(count_attempts(RetryPolicy::default(), d).await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        assert_eq!(
            count_attempts(RetryPolicy::default(), Disposition::GiveUp).await,
            1
        );
        assert_eq!(
            count_attempts(RetryPolicy::default(), Disposition::Reauthenticate).await,
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_sets_the_wait() {
        let start = tokio::time::Instant::now();
        let d = Disposition::RetryLater {
            after: Some(Duration::from_secs(7)),
        };
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        assert_eq!(count_attempts(policy, d).await, 3);
        assert_eq!(start.elapsed(), Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn an_overlong_retry_after_waits_only_the_cap() {
        let start = tokio::time::Instant::now();
        let d = Disposition::RetryLater {
            after: Some(Duration::from_secs(10_000)),
        };
        let policy = RetryPolicy {
            max_retries: 1,
            max_retry_after: Duration::from_secs(120),
            ..RetryPolicy::default()
        };
        assert_eq!(count_attempts(policy, d).await, 2);
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(12)));
        h.insert(
            http::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
