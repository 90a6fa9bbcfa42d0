//! The record and notify stages: what a run leaves in the store, and its notices.
//!
//! Order matters. The run, its outcomes and its notices are written in one transaction
//! *before* anything is sent; then the outbox is flushed; then the run's final status
//! (which a notice refused for good can lower) is written. A notice is therefore never
//! sent without being recorded, and one the mail server could not take waits in the store.
//!
//! What is told: groups found existing only the first time (digest mode, and per-group
//! mode with `email.repeat = false`), and a failure alert when runs start failing or recover.
//! A group found existing that groupsync itself posted (the journal's `own_groups`, kept
//! also for runs that were killed) is never told: it counts as existing, silently.

use super::{RunRequest, Syncer};
use crate::config::EmailMode;
use crate::notify::{self, Notice, once};
use crate::report::RunReport;
use crate::store::{Recording, ReportedNames, RunRecord, StoreError};
use crate::telemetry::run_log;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::HashSet;

/// The notices of one run and what recording them changes.
#[derive(Default)]
struct Telling {
    notices: Vec<Notice>,
    /// Names reported for the first time.
    reported: ReportedNames,
    failing: Option<bool>,
    /// When the SCIM token's expiry warning was added to the notices, if it was.
    token_warned: Option<DateTime<Utc>>,
}

/// The store's state key of when the SCIM token's expiry was last told by email.
pub const TOKEN_WARNED: &str = "scim.token_warned_at";

impl Syncer {
    /// Records `report` and sends its notices; sets `report.notices` and `finished_at`.
    /// The outcomes at the `settled` positions are written already.
    pub(super) async fn record(
        &self,
        req: &RunRequest,
        report: &mut RunReport,
        settled: Vec<bool>,
    ) {
        let telling = if req.dry_run {
            Telling::default()
        } else {
            self.telling(report).await
        };
        let run = RunRecord::of(report, &req.trigger()).of_job(&self.settings.job);
        let unsent = telling.notices.clone();
        let id = run.id.clone();
        // the outcomes go to the store's thread and come back: one copy of them, not two
        let outcomes = std::mem::take(&mut report.outcomes);
        let recorded = self
            .store
            .call(move |s| {
                let recorded = s.record(&Recording {
                    run: &run,
                    outcomes: &outcomes,
                    notices: &telling.notices,
                    reported: &telling.reported,
                    failing: telling.failing,
                    settled: &settled,
                });
                Ok((recorded, outcomes))
            })
            .await
            .and_then(|(recorded, outcomes)| {
                report.outcomes = outcomes;
                recorded
            });
        if let Err(e) = recorded {
            run_log::store_failed("record the run", &e.to_string());
            if let Some(outbox) = &self.outbox {
                report.notices = outbox.send_unrecorded(&unsent).await;
            }
            return;
        }
        self.send_recorded(report).await;
        report.finished_at = Utc::now();
        let (at, status) = (report.finished_at, report.status().as_str());
        if let Err(e) = self
            .store
            .call(move |s| s.finish_run(&id, at, status))
            .await
        {
            run_log::store_failed("record the end of the run", &e.to_string());
        }
        if let Some(at) = telling.token_warned {
            let at = at.to_rfc3339();
            if let Err(e) = self
                .store
                .call(move |s| s.set_state(TOKEN_WARNED, &at))
                .await
            {
                run_log::store_failed("remember the token warning", &e.to_string());
            }
        }
        let cutoff = self.retention_cutoff();
        pruned(self.store.call(move |s| s.prune(cutoff)).await);
    }

    /// The SCIM token's expiry warning, when one is due (at most once a day).
    async fn token_warning(&self, now: DateTime<Utc>) -> Option<String> {
        let expiry = self.settings.scim.token_expiry;
        expiry.as_ref()?.warning(now)?;
        let last = match self.store.call(|s| s.get_state(TOKEN_WARNED)).await {
            Ok(last) => last.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()),
            Err(e) => {
                run_log::store_failed("read when the token was last warned of", &e.to_string());
                return None;
            }
        };
        once::token_warning(expiry.as_ref(), last.map(|t| t.to_utc()), now)
    }

    /// The notices `report` calls for, in the light of what earlier runs told.
    async fn telling(&self, report: &RunReport) -> Telling {
        let job = self.settings.job.clone();
        let remembered = self
            .store
            .call(move |s| {
                Ok((
                    s.reported_groups(&job)?,
                    s.failing(&job)?,
                    s.own_groups(&job)?,
                ))
            })
            .await;
        let (reported, previous, own) = remembered.unwrap_or_else(|e| {
            run_log::store_failed("read what earlier runs reported", &e.to_string());
            (HashSet::new(), None, HashSet::new())
        });
        // groups groupsync created itself (this run or one that was killed) are told about
        // nobody when found existing
        let not_own = once::not_own(report, &own);
        let report: &RunReport = &not_own;
        let (alert, failing) = once::alert(previous, report);
        if self.outbox.is_none() {
            return Telling {
                failing,
                ..Telling::default()
            };
        }
        let email = &self.settings.email;
        let view = if email.mode == EmailMode::Digest || !email.repeat {
            once::unreported(report, &reported)
        } else {
            Cow::Borrowed(report)
        };
        let mut notices = notify::compose(email, &view);
        notices.extend(alert);
        let now = Utc::now();
        let token_warned = match self.token_warning(now).await {
            Some(warning) => {
                notify::add_token_warning(&mut notices, report, &warning);
                Some(now)
            }
            None => None,
        };
        Telling {
            notices,
            reported: ReportedNames::of(once::newly_reported(&view, &reported)),
            failing,
            token_warned,
        }
    }

    /// Sends what waits in the outbox (this run's notices among it) and reads back where
    /// this run's notices are.
    async fn send_recorded(&self, report: &mut RunReport) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        if let Err(e) = outbox.flush().await {
            run_log::store_failed("send the outbox", &e.to_string());
        }
        let id = report.run_id.0.clone();
        match self.store.call(move |s| s.notices_of_run(&id)).await {
            Ok(notices) => report.notices = notices,
            Err(e) => run_log::store_failed("read the run's notices", &e.to_string()),
        }
    }

    /// Flushes notices left from earlier runs, so they go out even if this run fails.
    pub(super) async fn flush_before_run(&self) {
        if let Err(e) = self.flush_outbox().await {
            run_log::store_failed("send the outbox", &e.to_string());
        }
    }

    /// Runs that started before this are deleted (`store.retention_days`).
    pub(super) fn retention_cutoff(&self) -> DateTime<Utc> {
        let days = i64::from(self.settings.store.retention_days);
        Utc::now() - chrono::TimeDelta::days(days)
    }
}

/// Logs what a prune did.
pub(super) fn pruned(result: Result<usize, StoreError>) {
    match result {
        Ok(0) => {}
        Ok(n) => run_log::old_runs_deleted(n),
        Err(e) => run_log::store_failed("delete old runs", &e.to_string()),
    }
}
