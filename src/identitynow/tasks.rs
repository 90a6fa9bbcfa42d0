//! Aggregation tasks: the latest one of a source, launching a group aggregation, and
//! polling a task (`/beta/task-status`, `/beta/sources/{id}/load-entitlements`).

use super::Client;
use super::error::{Endpoint, IdnError};
use super::query;
use super::request::Call;
use super::types::{AggregationKind, TaskStatus};
use http::Method;

impl Client {
    /// The most recently created aggregation task of this kind for the source, if any
    /// within the 90 days the tenant keeps.
    pub async fn latest_aggregation(
        &self,
        source_id: &str,
        kind: AggregationKind,
    ) -> Result<Option<TaskStatus>, IdnError> {
        let filter = format!(
            "{} and {}",
            query::eq("sourceId", source_id),
            query::eq("type", kind.task_type())
        );
        let pairs = [
            ("filters", filter),
            ("sorters", "-created".to_owned()),
            ("limit", "1".to_owned()),
        ];
        let call = Call::get(
            Endpoint::TaskStatus,
            self.url(&["beta", "task-status"], &pairs)?,
        );
        let tasks: Vec<TaskStatus> = self.get(&call).await?.json()?;
        Ok(tasks.into_iter().next())
    }

    /// Launches an entitlement (group) aggregation of a direct-connect source. No body and
    /// no `Content-Type`: SailPoint documents a 500 for an empty body with a content type.
    ///
    /// Not retried: a second launch fails while the first runs. Only a refused token is
    /// renewed and the launch sent again, as the refused one never started.
    pub async fn start_group_aggregation(&self, source_id: &str) -> Result<TaskStatus, IdnError> {
        let url = self.url(&["beta", "sources", source_id, "load-entitlements"], &[])?;
        let call = Call {
            method: Method::POST,
            ..Call::get(Endpoint::LoadEntitlements, url)
        };
        let task: TaskStatus = self.authed(&call).await?.json()?;
        tracing::info!(source_id, task_id = %task.id, "launched a group aggregation");
        Ok(task)
    }

    /// Asks for the task's status every `step` until it has finished (no time limit:
    /// the caller bounds it).
    pub async fn wait_for_task(
        &self,
        task_id: &str,
        step: std::time::Duration,
    ) -> Result<TaskStatus, IdnError> {
        loop {
            tokio::time::sleep(step).await;
            let status = self.task_status(task_id).await?;
            if status.is_finished() {
                return Ok(status);
            }
        }
    }

    pub async fn task_status(&self, task_id: &str) -> Result<TaskStatus, IdnError> {
        let call = Call::get(
            Endpoint::TaskStatus,
            self.url(&["beta", "task-status", task_id], &[])?,
        );
        self.get(&call).await?.json()
    }
}
