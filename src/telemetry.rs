//! Logging set-up and every log event and metric a run emits, defined in one place.
//!
//! Logs go to stderr (stdout carries the summary); every line of a run is inside the
//! `run` span, so it carries the run id in both text and JSON output. The daemon's own
//! events (triggers, webhook deliveries, polling, the schedule) are in [`daemon`].

use crate::config::LogFormat;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
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
    /// Runs finished, by `trigger`, `outcome` and [`REASON`].
    pub const RUNS: &str = "groupsync_runs_total";
    /// The label of [`RUNS`] saying why a failed run stopped: its error kind
    /// (`source_unreadable`, `target_credentials`, …), `none` for a run that did not stop.
    pub const REASON: &str = "reason";
    pub const GROUPS: &str = "groupsync_groups_total";
    pub const RUN_DURATION: &str = "groupsync_run_duration_seconds";
    pub const LAST_SUCCESS: &str = "groupsync_last_success_timestamp_seconds";
    pub const UPSTREAM_REQUESTS: &str = "groupsync_upstream_requests_total";
    pub const NOTICES: &str = "groupsync_notices_total";
    /// Triggers received, by `kind` and `result` (`queued`, `coalesced`, `refused`).
    pub const TRIGGERS: &str = "groupsync_triggers_total";
    /// Webhook deliveries, by `result` (`accepted`, `unauthorized`, `bad_request`,
    /// `too_large`, `other_source`, `not_success`, `refused`).
    pub const WEBHOOK_EVENTS: &str = "groupsync_webhook_events_total";
    /// Task-status polls, by `result` (`new`, `unchanged`, `baseline`, `failed`).
    pub const POLLS: &str = "groupsync_polls_total";
    /// Group aggregations started before scheduled runs, by `result`.
    pub const AGGREGATIONS: &str = "groupsync_group_aggregations_total";
    /// 1 while a run is in progress.
    pub const RUN_IN_PROGRESS: &str = "groupsync_run_in_progress";
    /// When the schedule fires next (Unix seconds).
    pub const NEXT_SCHEDULED: &str = "groupsync_next_scheduled_timestamp_seconds";
}

/// Bucket bounds of the run duration histogram, in seconds.
const RUN_DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// The process's Prometheus recorder, installed globally the first time it is asked for
/// (the metric macros write to the global recorder, so there can be only one).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(metric::RUN_DURATION.into()),
                    &RUN_DURATION_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder was installed first; /metrics stays empty"
                );
            }
            describe();
            handle
        })
        .clone()
}

/// The HELP lines of `/metrics`.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        metric::RUNS,
        "Runs finished, by trigger, outcome and reason (why a failed run stopped)"
    );
    describe_counter!(metric::GROUPS, "Source groups handled, by outcome");
    describe_histogram!(metric::RUN_DURATION, "How long runs took, in seconds");
    describe_gauge!(
        metric::LAST_SUCCESS,
        "When the last fully successful run finished"
    );
    describe_counter!(metric::NOTICES, "Email notices, by result");
    describe_counter!(metric::TRIGGERS, "Triggers received, by kind and result");
    describe_counter!(metric::WEBHOOK_EVENTS, "Webhook deliveries, by result");
    describe_counter!(metric::POLLS, "Task-status polls, by result");
    describe_counter!(
        metric::AGGREGATIONS,
        "Group aggregations started before scheduled runs"
    );
    describe_gauge!(metric::RUN_IN_PROGRESS, "1 while a run is in progress");
    describe_gauge!(metric::NEXT_SCHEDULED, "When the schedule fires next");
}

/// The log events of a run, each with its metric.
pub mod event {
    use super::metric;
    use crate::report::{RunReport, RunStatus};

    /// One HTTP exchange with IdentityNow (`identitynow`) or the SCIM target (`scim`).
    pub fn upstream(service: &'static str, status: u16) {
        metrics::counter!(metric::UPSTREAM_REQUESTS, "service" => service, "status" => status.to_string()).increment(1);
    }

    /// A request to IdentityNow or the SCIM target that got no HTTP answer at all.
    pub fn upstream_unanswered(service: &'static str) {
        metrics::counter!(metric::UPSTREAM_REQUESTS, "service" => service, "status" => "no_answer")
            .increment(1);
    }

    pub fn run_started(trigger: &str, dry_run: bool) {
        tracing::info!(dry_run, "run started by {trigger}");
    }

    /// `--force`: the guards do not stop this run.
    pub fn guards_overridden() {
        tracing::warn!("the guards are overridden for this run (force)");
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
            "trigger" => trigger.to_owned(),
            "outcome" => status.as_str(),
            metric::REASON => reason(report)
        )
        .increment(1);
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

/// The daemon's log events (`groupsync serve`), each with its metric.
pub mod daemon {
    use super::metric;
    use crate::domain::RunId;
    use chrono::{DateTime, Utc};

    pub fn started(listen: &str, triggers: &str) {
        tracing::info!(listen, triggers, "groupsync serve is listening");
    }

    pub fn unauthenticated_webhook() {
        tracing::warn!(
            "the webhook accepts events without credentials (webhook.allow_unauthenticated)"
        );
    }

    pub fn stopping(grace_secs: u64, run_in_progress: bool) {
        if run_in_progress {
            tracing::info!(
                grace_secs,
                "stopping: no new runs; waiting for the run in progress"
            );
        } else {
            tracing::info!("stopping: no new runs; no run in progress");
        }
    }

    pub fn stopped() {
        tracing::info!("groupsync serve stopped");
    }

    pub fn trigger_queued(kind: &str, run_id: &RunId) {
        tracing::info!(run_id = %run_id, kind, "trigger queued a run");
        metrics::counter!(metric::TRIGGERS, "kind" => kind.to_owned(), "result" => "queued")
            .increment(1);
    }

    pub fn trigger_coalesced(kind: &str, run_id: &RunId, trigger: &str) {
        tracing::info!(run_id = %run_id, kind, trigger, "trigger joined the pending run");
        metrics::counter!(metric::TRIGGERS, "kind" => kind.to_owned(), "result" => "coalesced")
            .increment(1);
    }

    pub fn trigger_refused(kind: &str) {
        tracing::info!(kind, "trigger refused: shutting down");
        metrics::counter!(metric::TRIGGERS, "kind" => kind.to_owned(), "result" => "refused")
            .increment(1);
    }

    pub fn pending_dropped(run_id: &RunId, trigger: &str) {
        tracing::warn!(
            run_id = %run_id,
            trigger,
            "pending run dropped at shutdown; the schedule or polling catches up"
        );
    }

    pub fn run_in_progress(yes: bool) {
        metrics::gauge!(metric::RUN_IN_PROGRESS).set(if yes { 1.0 } else { 0.0 });
    }

    pub fn run_interrupted(grace_secs: u64) {
        tracing::error!(
            grace_secs,
            "the run did not finish within the shutdown grace period and was stopped"
        );
    }

    pub fn next_fire(at: DateTime<Utc>, local: &str) {
        tracing::info!(at = %at.to_rfc3339(), local, "next scheduled run");
        metrics::gauge!(metric::NEXT_SCHEDULED).set(at.timestamp() as f64);
    }

    pub fn schedule_exhausted(expression: &str) {
        tracing::warn!(expression, "the schedule has no further fire time");
    }

    pub fn webhook(result: &'static str, detail: &str) {
        match result {
            "accepted" => tracing::info!(result, detail, "webhook event accepted"),
            "other_source" | "not_success" => {
                tracing::info!(result, detail, "webhook event ignored")
            }
            _ => tracing::warn!(result, detail, "webhook event refused"),
        }
        metrics::counter!(metric::WEBHOOK_EVENTS, "result" => result).increment(1);
    }

    pub fn source_unknown(error: &str) {
        tracing::warn!(
            error,
            "cannot resolve the AD source id; treating the event as ours"
        );
    }

    pub fn poll(result: &'static str, detail: &str) {
        match result {
            "failed" => tracing::warn!(result, detail, "polling task status failed"),
            "unchanged" => tracing::debug!(result, "no new aggregation"),
            _ => tracing::info!(result, detail, "polled task status"),
        }
        metrics::counter!(metric::POLLS, "result" => result).increment(1);
    }

    pub fn poll_state_saved(kind: &str, task_id: &str) {
        tracing::debug!(kind, task_id, "recorded the aggregation as handled");
    }

    pub fn aggregation(result: &'static str, detail: &str) {
        match result {
            "succeeded" => tracing::info!(result, detail, "group aggregation finished"),
            "started" => tracing::info!(result, detail, "group aggregation started"),
            _ => tracing::warn!(
                result,
                detail,
                "group aggregation did not succeed; running anyway"
            ),
        }
        metrics::counter!(metric::AGGREGATIONS, "result" => result).increment(1);
    }

    pub fn store_failed(what: &str, error: &str) {
        tracing::error!(what, error, "store operation failed");
    }
}

#[cfg(test)]
mod tests {
    use super::{event, metric};
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
            event::run_finished("schedule", &failed);
            event::run_finished("schedule", &ok);
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
