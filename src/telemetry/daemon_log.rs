//! The daemon's log events (`groupsync serve`: start and stop, triggers, webhook
//! deliveries, polling, aggregations, the schedule), each with its metric.

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

/// Notices left queued by an earlier process could not be sent at start-up.
pub fn outbox_not_flushed(error: &str) {
    tracing::error!(error, "cannot send the notices left in the outbox");
}

/// The history could not be read for an answer (`what` it was read for).
pub fn store_read_failed(what: &str, error: &str) {
    tracing::warn!(what, error, "cannot read the store");
}

/// A readiness check failed; `/readyz` names the check only.
pub fn readiness_failed(check: &str, error: &str) {
    tracing::warn!(check, error, "readiness check failed");
}

/// A deprecated configuration key was read.
pub fn deprecated_key(key: &str, instead: &str) {
    tracing::warn!(
        key,
        instead,
        "configuration key {key} is deprecated; use {instead}"
    );
}

pub fn stopped() {
    tracing::info!("groupsync serve stopped");
}

pub fn trigger_queued(job: &str, kind: &str, run_id: &RunId) {
    tracing::info!(run_id = %run_id, job, kind, "trigger queued a run");
    trigger_counted(job, kind, "queued");
}

pub fn trigger_coalesced(job: &str, kind: &str, run_id: &RunId, trigger: &str) {
    tracing::info!(run_id = %run_id, job, kind, trigger, "trigger joined the pending run");
    trigger_counted(job, kind, "coalesced");
}

pub fn trigger_refused(job: &str, kind: &str) {
    tracing::info!(job, kind, "trigger refused: shutting down");
    trigger_counted(job, kind, "refused");
}

fn trigger_counted(job: &str, kind: &str, result: &'static str) {
    metrics::counter!(
        metric::TRIGGERS,
        metric::JOB => job.to_owned(),
        metric::KIND => kind.to_owned(),
        metric::RESULT => result
    )
    .increment(1);
}

pub fn pending_dropped(run_id: &RunId, trigger: &str) {
    tracing::warn!(
        run_id = %run_id,
        trigger,
        "pending run dropped at shutdown; the schedule or polling catches up"
    );
}

pub fn run_in_progress(job: &str, yes: bool) {
    metrics::gauge!(metric::RUN_IN_PROGRESS, metric::JOB => job.to_owned()).set(if yes {
        1.0
    } else {
        0.0
    });
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

/// The SCIM token's expiry, as the readiness probe finds it: the gauge, and a warning in the
/// log when it is near (`warning`).
pub fn scim_token_expiry(at: DateTime<Utc>, warning: Option<&str>) {
    metrics::gauge!(metric::SCIM_TOKEN_EXPIRY).set(at.timestamp() as f64);
    if let Some(warning) = warning {
        tracing::warn!(expires_at = %at.to_rfc3339(), "{warning}");
    }
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
    metrics::counter!(metric::WEBHOOK_EVENTS, metric::RESULT => result).increment(1);
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
    metrics::counter!(metric::POLLS, metric::RESULT => result).increment(1);
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
    metrics::counter!(metric::AGGREGATIONS, metric::RESULT => result).increment(1);
}

/// The store could not record that a polled aggregation was handled; the next poll may
/// see it again.
pub fn handled_aggregation_not_recorded(error: &str) {
    tracing::error!(
        what = "recording a handled aggregation",
        error,
        "store operation failed"
    );
}
