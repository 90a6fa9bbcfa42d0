//! Logging set-up and every log event and metric a run emits, defined in one place.
//!
//! Logs go to stderr (stdout carries the summary); every line of a run is inside the
//! `run` span, so it carries the run id in both text and JSON output.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, demo) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The span every log line of one run is emitted in.
pub fn run_span(run_id: &crate::domain::RunId, trigger: &str) -> tracing::Span {
    tracing::info_span!("run", run_id = %run_id, trigger = trigger)
}

/// Metric names, so dashboards and code agree.
pub mod metric {
    pub const RUNS: &str = "groupsync_runs_total";
    pub const GROUPS: &str = "groupsync_groups_total";
    pub const RUN_DURATION: &str = "groupsync_run_duration_seconds";
    pub const LAST_SUCCESS: &str = "groupsync_last_success_timestamp_seconds";
    pub const UPSTREAM_REQUESTS: &str = "groupsync_upstream_requests_total";
    pub const NOTICES: &str = "groupsync_notices_total";
}

/// The log events of a run, each with its metric.
pub mod event {
    use super::metric;
    use crate::report::{RunReport, RunStatus};

    pub fn run_started(trigger: &str, dry_run: bool) {
        tracing::info!(dry_run, "run started by {trigger}");
    }

    pub fn source_read(source_id: &str, groups: usize, pages: usize) {
        tracing::info!(
            source_id,
            groups,
            pages,
            "read the source's group entitlements"
        );
    }

    pub fn group_created(name: &str, scim_id: &str) {
        tracing::info!(group = name, scim_id, "created group");
    }

    pub fn group_failed(name: &str, error: &str) {
        tracing::warn!(group = name, error, "group failed");
    }

    pub fn notice_sent(key: &str) {
        tracing::info!(notice = key, "notice sent");
        metrics::counter!(metric::NOTICES, "result" => "sent").increment(1);
    }

    pub fn notice_failed(key: &str, error: &str) {
        tracing::error!(notice = key, error, "notice not sent");
        metrics::counter!(metric::NOTICES, "result" => "failed").increment(1);
    }

    pub fn notice_deferred(key: &str, error: &str) {
        tracing::warn!(
            notice = key,
            error,
            "notice not sent now; it stays queued for the next attempt"
        );
        metrics::counter!(metric::NOTICES, "result" => "deferred").increment(1);
    }

    /// The store could not be read or written; the run goes on without it.
    pub fn store_failed(action: &str, error: &str) {
        tracing::error!(action, error, "store operation failed");
    }

    pub fn run_finished(trigger: &str, report: &RunReport) {
        let c = report.counts();
        let status = report.status();
        let secs = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
        match &report.error {
            Some(error) => tracing::error!(status = status.as_str(), error, "run failed"),
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
        metrics::counter!(metric::RUNS, "trigger" => trigger.to_owned(), "outcome" => status.as_str()).increment(1);
        for (kind, n) in [
            ("created", c.created),
            ("existed", c.existed),
            ("skipped", c.skipped),
            ("failed", c.failed),
        ] {
            metrics::counter!(metric::GROUPS, "outcome" => kind).increment(n as u64);
        }
        metrics::histogram!(metric::RUN_DURATION).record(secs);
        if status == RunStatus::Succeeded {
            metrics::gauge!(metric::LAST_SUCCESS).set(report.finished_at.timestamp() as f64);
        }
    }
}
