//! Readiness: can this process do a run now?
//!
//! The configuration was loaded (or the daemon would not be serving); the store must take
//! a write; IdentityNow must give us a token (a cached one counts, so frequent probes
//! cost nothing); the SCIM target must answer a lookup. The SCIM answer is remembered
//! for a while, and a run that reached the target counts as one, so probes do not add
//! load to the target.
//!
//! The checks run in the background every `server.readiness_interval_secs` ([`Health::probe_every`]);
//! `/readyz` answers from the last result, so a request costs no upstream call. The answer
//! names the checks that failed and nothing else: what went wrong (URLs, paths, upstream
//! texts) goes to the log.

use crate::identitynow::{self, IdnError};
use crate::report::{Outcome, RunReport};
use crate::scim::expiry::{ExpiryState, TokenExpiry};
use crate::scim::{self, ScimError};
use crate::store::{Store, StoreError};
use crate::telemetry::daemon_log;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest a check may take; a probe that hangs is a failed probe.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SCIM answer stays good.
const SCIM_FRESH: Duration = Duration::from_secs(60);
/// The name looked up to see whether the target answers (it need not exist).
const PROBE_NAME: &str = "groupsync readiness probe";

/// One check's result, as `/readyz` shows it: whether it passed, no details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: bool,
}

impl Check {
    /// The result; a failure's details are logged here.
    fn from(name: &str, result: Result<(), CheckError>) -> Check {
        if let Err(e) = &result {
            daemon_log::readiness_failed(name, &e.to_string());
        }
        Check { ok: result.is_ok() }
    }
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] IdnError),
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the check did not complete: {0}")]
    Incomplete(#[from] tokio::task::JoinError),
}

/// The `/readyz` answer.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// The first failing check, named (the details are in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: BTreeMap<&'static str, Check>,
    /// What works but needs attention soon (the SCIM token nearing its expiry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub struct Health {
    store: Store,
    source: identitynow::Client,
    target: scim::Client,
    /// When the target last answered.
    scim_seen: Mutex<Option<Instant>>,
    /// The last readiness computed by the background probe (`None` before the first).
    last: watch::Sender<Option<Readiness>>,
    /// When the SCIM token expires, if known: a warning within `scim.token_warn_days`, a
    /// failed check once past.
    token_expiry: Option<TokenExpiry>,
    /// Whether the token's warning was logged already (once per process).
    token_warned: std::sync::atomic::AtomicBool,
}

impl Health {
    pub fn new(store: Store, source: identitynow::Client, target: scim::Client) -> Health {
        Health {
            store,
            source,
            target,
            scim_seen: Mutex::new(None),
            last: watch::channel(None).0,
            token_expiry: None,
            token_warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Also checks the SCIM token's expiry (`scim.token_expires_at`, or the JWT's `exp`).
    pub fn with_token_expiry(mut self, expiry: Option<TokenExpiry>) -> Health {
        self.token_expiry = expiry;
        self
    }

    /// Runs every check now and keeps the result for [`Health::current`].
    pub async fn probe(&self) -> Readiness {
        let (store, token, scim) = tokio::join!(self.store(), self.token(), self.scim());
        let mut checks = BTreeMap::from([
            ("config", Check { ok: true }),
            ("store", Check::from("store", store)),
            ("identitynow_token", Check::from("identitynow_token", token)),
            ("scim", Check::from("scim", scim)),
        ]);
        let mut warnings = vec![];
        if let Some(expiry) = &self.token_expiry {
            let (check, warning) = token_expiry_check(expiry, chrono::Utc::now());
            let first = !self
                .token_warned
                .swap(warning.is_some(), std::sync::atomic::Ordering::Relaxed);
            daemon_log::scim_token_expiry(expiry.at, warning.as_deref().filter(|_| first));
            checks.insert("scim_token_expiry", check);
            warnings.extend(warning);
        }
        let reason = checks
            .iter()
            .find(|(_, c)| !c.ok)
            .map(|(name, _)| format!("{name}: the check failed (the log has the details)"));
        let readiness = Readiness {
            ready: reason.is_none(),
            reason,
            checks,
            warnings,
        };
        self.last.send_replace(Some(readiness.clone()));
        readiness
    }

    /// Probes now and then every `interval`, until `stop`.
    pub async fn probe_every(&self, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => { self.probe().await; }
            }
        }
    }

    /// The last probe's readiness; before the first probe has finished, waits for it (at
    /// most `wait`), then answers "not probed yet". Never calls an upstream itself.
    pub async fn current(&self, wait: Duration) -> Readiness {
        let mut last = self.last.subscribe();
        let first = tokio::time::timeout(wait, last.wait_for(Option::is_some)).await;
        if let Ok(Ok(found)) = first
            && let Some(readiness) = found.clone()
        {
            return readiness;
        }
        Readiness {
            ready: false,
            reason: Some("probe: the first readiness probe has not finished".into()),
            checks: BTreeMap::new(),
            warnings: vec![],
        }
    }

    /// The readiness found by the last probe, without waiting.
    pub fn last_readiness(&self) -> Option<Readiness> {
        self.last.borrow().clone()
    }

    /// A run that got answers from the target shows the target works.
    pub fn record_run(&self, report: &RunReport) {
        let reached = report.outcomes.iter().any(|o| {
            matches!(
                o.outcome,
                Outcome::Created { .. }
                    | Outcome::Existed { .. }
                    | Outcome::Adopted { .. }
                    | Outcome::Renamed { .. }
                    | Outcome::WouldRename { .. }
                    | Outcome::Orphan { .. }
                    | Outcome::Deleted { .. }
            )
        });
        if reached {
            self.scim_answered();
        }
    }

    fn scim_answered(&self) {
        *self.scim_seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    async fn store(&self) -> Result<(), CheckError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.check_writable()).await??)
    }

    async fn token(&self) -> Result<(), CheckError> {
        bounded(async { Ok(self.source.check_token().await?) }).await
    }

    async fn scim(&self) -> Result<(), CheckError> {
        let seen = *self.scim_seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.is_some_and(|at| at.elapsed() < SCIM_FRESH) {
            return Ok(());
        }
        let result = bounded(async {
            self.target.find_by_display_name(PROBE_NAME).await?;
            Ok(())
        })
        .await;
        // Only a good answer is kept: after a failure the next probe asks again.
        if result.is_ok() {
            self.scim_answered();
        }
        result
    }
}

/// The token's expiry as a readiness check: passed (with a warning within the warning
/// window) until the expiry, failed after it.
pub fn token_expiry_check(
    expiry: &TokenExpiry,
    now: chrono::DateTime<chrono::Utc>,
) -> (Check, Option<String>) {
    let ok = expiry.state(now) != ExpiryState::Expired;
    (Check { ok }, expiry.warning(now))
}

async fn bounded(check: impl Future<Output = Result<(), CheckError>>) -> Result<(), CheckError> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or(Err(CheckError::Timeout(CHECK_TIMEOUT)))
}

#[cfg(test)]
mod token_tests {
    use super::*;
    use crate::scim::expiry::fixture::{self, at};

    #[test]
    fn the_token_expiry_warns_before_and_fails_after() {
        let expiry = fixture::on("2026-06-30");
        assert_eq!(
            token_expiry_check(&expiry, at("2026-06-01")),
            (Check { ok: true }, None)
        );
        let (check, warning) = token_expiry_check(&expiry, at("2026-06-20"));
        assert!(check.ok);
        assert!(warning.unwrap().contains("expires on 2026-06-30"));
        let (check, warning) = token_expiry_check(&expiry, at("2026-06-30"));
        assert!(!check.ok);
        assert!(warning.unwrap().contains("expired on 2026-06-30"));
    }
}
