//! The log events of one run (source, creates, notices, the store, the end of the run),
//! each with its metric. Every line is emitted inside the run's span
//! ([`super::run_span`]), so it carries the run id.

use super::metric;
use crate::report::{RunReport, RunStatus};
use crate::retry::{Operation, Retrying};
use tracing::Level;

/// One HTTP exchange with IdentityNow (`identitynow`) or the SCIM target (`scim`).
pub fn upstream(service: &'static str, status: u16) {
    metrics::counter!(metric::UPSTREAM_REQUESTS, metric::SERVICE => service, metric::STATUS => status.to_string()).increment(1);
}

/// A request to IdentityNow or the SCIM target that got no HTTP answer at all.
pub fn upstream_unanswered(service: &'static str) {
    metrics::counter!(metric::UPSTREAM_REQUESTS, metric::SERVICE => service, metric::STATUS => "no_answer")
        .increment(1);
}

/// The SCIM `operation` (`lookups`, `creates`) may have `limit` requests in flight.
pub fn scim_concurrency(operation: &'static str, limit: usize) {
    metrics::gauge!(metric::SCIM_CONCURRENCY, metric::OPERATION => operation).set(limit as f64);
}

/// The SCIM server answered 429 or slowed down (`why`), or recovered: the `operation`'s
/// requests in flight go from `from` to `to`. Logged once per change.
pub fn scim_concurrency_changed(operation: &'static str, from: usize, to: usize, why: &str) {
    scim_concurrency(operation, to);
    if to < from {
        tracing::warn!(
            operation,
            from,
            to,
            reason = why,
            "SCIM {operation} in flight lowered from {from} to {to} ({why})"
        );
    } else {
        tracing::info!(
            operation,
            from,
            to,
            reason = why,
            "SCIM {operation} in flight raised from {from} to {to} ({why})"
        );
    }
}

/// A repeatable request failed for a passing reason and is sent again after the wait:
/// one line per retry, and the progress line shows it until the request is over.
pub fn retrying(r: &Retrying<'_>, error: &dyn std::fmt::Display) {
    tracing::info!(
        service = r.operation.service,
        operation = %r.operation.name,
        attempt = r.attempt,
        max_attempts = r.max,
        wait_ms = r.wait.as_millis() as u64,
        reason = %r.reason,
        error = %error,
        "{r}"
    );
    super::show_retry(Some(r));
}

/// A request that was retried is over after `attempts` attempts, answered or given up.
pub fn retried(operation: &Operation, attempts: usize, answered: bool) {
    if answered {
        tracing::info!(
            service = operation.service,
            operation = %operation.name,
            attempts,
            "{} {} answered after {attempts} attempts",
            operation.service,
            operation.name
        );
    }
    super::show_retry(None);
}

pub fn run_started(trigger: &str, dry_run: bool) {
    tracing::info!(dry_run, "run started by {trigger}");
}

/// `sync.target_lookup = "auto"`: the target would not list its groups.
pub fn listing_refused(error: &dyn std::fmt::Display, groups: usize) {
    tracing::warn!(
        error = %error,
        groups,
        "the SCIM target refused to list its groups; looking each group up instead"
    );
}

/// The target's `/ServiceProviderConfig` could not be read before a listing.
pub fn no_service_provider_config(error: &dyn std::fmt::Display) {
    tracing::debug!(error = %error, "no ServiceProviderConfig; listing with the configured page size");
}

/// `--force`: the guards do not stop this run.
pub fn guards_overridden() {
    tracing::warn!("the guards are overridden for this run (force)");
}

/// One line per created group: info, or debug while a progress bar counts the groups
/// (a terminal would otherwise scroll a line per group past the bar).
/// A case twin found existing under the name of the first group of its name.
pub fn group_existed_as(name: &str, matched: &str) {
    tracing::info!(
        group = name,
        matched,
        "found existing under a name equal ignoring case"
    );
}

pub fn group_adopted(name: &str, scim_id: &str) {
    tracing::info!(group = name, scim_id, "adopted: given our externalId");
}

pub fn group_renamed(from: &str, name: &str, scim_id: &str) {
    tracing::info!(group = name, from, scim_id, "renamed after its AD group");
}

pub fn orphan_unchecked(name: &str, error: &str) {
    tracing::warn!(
        group = name,
        error,
        "could not check a group groupsync owns whose AD group is gone; nothing done to it this run"
    );
}

pub fn group_deleted(name: &str, scim_id: &str) {
    tracing::warn!(
        group = name,
        scim_id,
        "deleted: its AD group was gone on two successful runs in a row"
    );
}

pub fn group_created(name: &str, scim_id: &str) {
    created_line(super::bar_shown(), name, scim_id);
}

fn created_line(bar_shown: bool, name: &str, scim_id: &str) {
    match per_group_level(bar_shown) {
        Level::DEBUG => tracing::debug!(group = name, scim_id, "created group"),
        _ => tracing::info!(group = name, scim_id, "created group"),
    }
}

/// The level of the one line per created group.
fn per_group_level(bar_shown: bool) -> Level {
    if bar_shown { Level::DEBUG } else { Level::INFO }
}

pub fn group_failed(name: &str, error: &str) {
    tracing::warn!(group = name, error, "group failed");
}

pub fn notice_sent(key: &str, recipients: usize) {
    tracing::info!(notice = key, recipients, "notice sent");
    metrics::counter!(metric::NOTICES, metric::RESULT => "sent").increment(1);
}

pub fn notice_failed(key: &str, error: &str) {
    tracing::error!(notice = key, error, "notice not sent");
    metrics::counter!(metric::NOTICES, metric::RESULT => "failed").increment(1);
}

pub fn notice_deferred(key: &str, error: &str) {
    tracing::warn!(
        notice = key,
        error,
        "notice not sent now; it stays queued for the next attempt"
    );
    metrics::counter!(metric::NOTICES, metric::RESULT => "deferred").increment(1);
}

/// The store could not be read or written; the run goes on without it.
pub fn store_failed(action: &str, error: &str) {
    tracing::error!(action, error, "store operation failed");
}

/// Runs older than `store.retention_days` were deleted.
pub fn old_runs_deleted(runs: usize) {
    tracing::info!(runs, "deleted runs past the retention period");
}

/// The SCIM target refused the `displayName` filter for `names` names; they are compared
/// against a full listing instead.
pub fn filter_refused(names: usize) {
    tracing::warn!(
        names,
        "the SCIM target refused the filter for some names; comparing against a full listing"
    );
}

/// The `reason` label of a finished run.
pub fn reason(report: &RunReport) -> &'static str {
    report.error.as_ref().map_or("none", |e| e.kind.as_str())
}

pub fn run_finished(job: &str, trigger: &str, report: &RunReport) {
    let c = report.counts();
    let status = report.status();
    let secs = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
    match &report.error {
        Some(error) => tracing::error!(
            status = status.as_str(),
            reason = error.kind.as_str(),
            error = error.message,
            "run failed"
        ),
        None => tracing::info!(
            status = status.as_str(),
            created = c.created,
            existed = c.existed,
            skipped = c.skipped,
            failed = c.failed,
            adopted = c.adopted,
            renamed = c.renamed,
            orphans = c.orphans,
            deleted = c.deleted,
            seconds = secs,
            "run finished"
        ),
    }
    metrics::counter!(
        metric::RUNS,
        metric::JOB => job.to_owned(),
        metric::TRIGGER => trigger.to_owned(),
        metric::OUTCOME => status.as_str(),
        metric::REASON => reason(report)
    )
    .increment(1);
    for (kind, n) in [
        ("created", c.created),
        ("existed", c.existed),
        ("skipped", c.skipped),
        ("failed", c.failed),
        ("adopted", c.adopted),
        ("renamed", c.renamed),
        ("orphan", c.orphans),
        ("deleted", c.deleted),
    ] {
        metrics::counter!(metric::GROUPS, metric::JOB => job.to_owned(), metric::OUTCOME => kind)
            .increment(n as u64);
    }
    metrics::histogram!(metric::RUN_DURATION, metric::JOB => job.to_owned()).record(secs);
    if status == RunStatus::Succeeded {
        metrics::gauge!(metric::LAST_SUCCESS, metric::JOB => job.to_owned())
            .set(report.finished_at.timestamp() as f64);
    }
}

/// The run lease was taken from a holder that is gone (its heartbeat stale, or its
/// process no longer on this host).
pub fn lease_taken_over(gone: &crate::store::lease::Holder) {
    tracing::warn!(holder = %gone, "took the run lease over from a holder that is gone");
}

/// Runs left `running` by a process that is gone, now marked `interrupted`.
pub fn runs_interrupted(ids: &[String]) {
    for id in ids {
        tracing::warn!(interrupted_run = %id, "a run stopped before it finished; marked interrupted");
    }
}

/// Another process's run holds the lease; this run waits for it.
pub fn lease_waiting(holder: &crate::store::lease::Holder) {
    tracing::info!(holder = %holder, "another run holds the run lease; waiting for it");
}

/// The heartbeat found the lease taken by another process (this one paused too long).
pub fn lease_lost() {
    tracing::error!("the run lease was taken over by another process while this run went on");
}

#[cfg(test)]
mod tests {
    use super::{created_line, per_group_level};
    use crate::domain::RunId;
    use crate::report::{ErrorKind, RunFailure, RunReport};
    use crate::telemetry::{metric, run_log};
    use chrono::Utc;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_failed_run_is_counted_with_the_kind_of_failure_as_its_reason() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let failed = RunReport::failed(
            RunId::new(),
            Utc::now(),
            false,
            RunFailure::new(ErrorKind::SourceUnreadable, "IdentityNow is failing"),
        );
        let ok = RunReport::started(RunId::new(), Utc::now(), false);
        metrics::with_local_recorder(&recorder, || {
            run_log::run_finished("default", "schedule", &failed);
            run_log::run_finished("default", "schedule", &ok);
        });
        let text = handle.render();
        let line = |outcome: &str| {
            text.lines()
                .find(|l| l.starts_with(metric::RUNS) && l.contains(outcome))
                .unwrap_or_else(|| panic!("no {outcome} sample in {text}"))
                .to_owned()
        };
        assert!(
            line("outcome=\"failed\"").contains("reason=\"source_unreadable\""),
            "{text}"
        );
        assert!(
            line("outcome=\"succeeded\"").contains("reason=\"none\""),
            "{text}"
        );
    }

    /// The text lines logged at `info` and above while `f` runs.
    fn info_lines(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_created_group_is_logged_at_debug_only_while_a_progress_bar_is_shown() {
        assert_eq!(per_group_level(true), tracing::Level::DEBUG);
        assert_eq!(per_group_level(false), tracing::Level::INFO);
        let plain = info_lines(|| created_line(false, "Finance", "g-1"));
        assert!(
            plain.contains("INFO") && plain.contains("created group") && plain.contains("Finance"),
            "{plain}"
        );
        let under_bar = info_lines(|| created_line(true, "Finance", "g-1"));
        assert_eq!(
            under_bar, "",
            "an info filter shows no per-group line under a bar"
        );
    }
}
