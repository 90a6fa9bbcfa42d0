//! `poll.start_group_aggregation`: before a scheduled run, have IdentityNow read the AD
//! groups afresh (a group aggregation) and wait for it, so the run sees groups created
//! in AD since the last aggregation.
//!
//! The run goes ahead whatever happens here: a failed or slow aggregation leaves the
//! groups IdentityNow already has, which are still worth syncing.

use super::poll::OwnAggregations;
use crate::identitynow;
use crate::telemetry::daemon_log;
use std::time::Duration;

/// How an aggregation ended, as far as the run is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregation {
    Succeeded { task_id: String },
    Failed(String),
    TimedOut { task_id: String },
}

/// Starts a group aggregation of `source_id` and waits up to `timeout` for it, asking for
/// its status every `step`.
pub async fn refresh_groups(
    client: &identitynow::Client,
    source_id: &str,
    own: &OwnAggregations,
    timeout: Duration,
    step: Duration,
) -> Aggregation {
    let outcome = start_and_wait(client, source_id, own, timeout, step).await;
    match &outcome {
        Aggregation::Succeeded { task_id } => daemon_log::aggregation("succeeded", task_id),
        Aggregation::Failed(e) => daemon_log::aggregation("failed", e),
        Aggregation::TimedOut { task_id } => daemon_log::aggregation(
            "timed_out",
            &format!("task {task_id} not finished after {} s", timeout.as_secs()),
        ),
    }
    outcome
}

async fn start_and_wait(
    client: &identitynow::Client,
    source_id: &str,
    own: &OwnAggregations,
    timeout: Duration,
    step: Duration,
) -> Aggregation {
    let task = match client.start_group_aggregation(source_id).await {
        Ok(task) => task,
        Err(e) => return Aggregation::Failed(format!("cannot start it: {e}")),
    };
    own.add(&task.id);
    daemon_log::aggregation("started", &task.id);
    match tokio::time::timeout(timeout, client.wait_for_task(&task.id, step)).await {
        Err(_) => Aggregation::TimedOut { task_id: task.id },
        Ok(Err(e)) => Aggregation::Failed(format!("task {}: {e}", task.id)),
        Ok(Ok(done)) if done.succeeded() => Aggregation::Succeeded { task_id: task.id },
        Ok(Ok(done)) => Aggregation::Failed(format!(
            "task {} ended with {}",
            task.id,
            done.completion_status.as_deref().unwrap_or("no status")
        )),
    }
}
