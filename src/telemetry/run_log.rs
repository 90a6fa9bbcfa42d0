//! The log events of one run (source, creates, notices, the store, the end of the run),
//! each with its metric. Every line is emitted inside the run's span
//! ([`super::run_span`]), so it carries the run id.

use super::metric;
use crate::report::{RunReport, RunStatus};

/// One HTTP exchange with IdentityNow (`identitynow`) or the SCIM target (`scim`).
pub fn upstream(service: &'static str, status: u16) {
    metrics::counter!(metric::UPSTREAM_REQUESTS, metric::SERVICE => service, metric::STATUS => status.to_string()).increment(1);
}

/// A request to IdentityNow or the SCIM target that got no HTTP answer at all.
pub fn upstream_unanswered(service: &'static str) {
    metrics::counter!(metric::UPSTREAM_REQUESTS, metric::SERVICE => service, metric::STATUS => "no_answer")
        .increment(1);
}

pub fn run_started(trigger: &str, dry_run: bool) {
    tracing::info!(dry_run, "run started by {trigger}");
}

pub fn group_created(name: &str, scim_id: &str) {
    tracing::info!(group = name, scim_id, "created group");
}

pub fn group_failed(name: &str, error: &str) {
    tracing::warn!(group = name, error, "group failed");
}

pub fn notice_sent(key: &str) {
    tracing::info!(notice = key, "notice sent");
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

/// The `reason` label of a finished run.
pub fn reason(report: &RunReport) -> &'static str {
    report.error.as_ref().map_or("none", |e| e.kind.as_str())
}

pub fn run_finished(trigger: &str, report: &RunReport) {
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
            seconds = secs,
            "run finished"
        ),
    }
    metrics::counter!(
        metric::RUNS,
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
    ] {
        metrics::counter!(metric::GROUPS, metric::OUTCOME => kind).increment(n as u64);
    }
    metrics::histogram!(metric::RUN_DURATION).record(secs);
    if status == RunStatus::Succeeded {
        metrics::gauge!(metric::LAST_SUCCESS).set(report.finished_at.timestamp() as f64);
    }
}

#[cfg(test)]
mod tests {
    use crate::telemetry::{metric, run_log};
    use crate::domain::RunId;
    use crate::report::{ErrorKind, RunFailure, RunReport};
    use chrono::Utc;
    use metrics_exporter_prometheus::PrometheusBuilder;

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
            run_log::run_finished("schedule", &failed);
            run_log::run_finished("schedule", &ok);
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
}
