//! What the IdentityNow API answers, read leniently: unknown fields are ignored and
//! optional ones may be absent or `null`, since SailPoint adds fields between versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A source (an AD connection, among others), from `GET /v3/sources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub name: String,
    /// E.g. `Active Directory - Direct`.
    #[serde(rename = "type", default)]
    pub source_type: Option<String>,
    /// E.g. `active-directory`.
    #[serde(default)]
    pub connector: Option<String>,
    #[serde(default)]
    pub healthy: Option<bool>,
    /// E.g. `SOURCE_STATE_HEALTHY`.
    #[serde(default)]
    pub status: Option<String>,
}

/// How far [`super::Client::fetch_groups`] has come, reported after each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchProgress {
    pub pages: usize,
    /// Entitlements read so far (groups or not: what `X-Total-Count` counts).
    pub groups: usize,
    /// `X-Total-Count` of the first page, when the server sent it.
    pub total: Option<u64>,
}

/// Which aggregation of a source to ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregationKind {
    Accounts,
    Groups,
}

impl AggregationKind {
    /// The task type in `/beta/task-status`.
    pub fn task_type(self) -> &'static str {
        match self {
            AggregationKind::Accounts => "CLOUD_ACCOUNT_AGGREGATION",
            AggregationKind::Groups => "CLOUD_GROUP_AGGREGATION",
        }
    }
}

/// A task (an aggregation) from `/beta/task-status` or the `load-entitlements` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub id: String,
    #[serde(rename = "type", default)]
    pub task_type: Option<String>,
    /// E.g. `Cloud Group Aggregation`.
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub launched: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed: Option<DateTime<Utc>>,
    /// `null` while running; then `SUCCESS`, `WARNING`, `ERROR`, `TERMINATED`,
    /// `TEMPERROR`, spelt in varying case: read it through [`TaskStatus::completion`].
    #[serde(default)]
    pub completion_status: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub percent_complete: Option<f64>,
}

/// How a task ended, whatever the case and spelling SailPoint used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Success,
    Warning,
    Error,
    Terminated,
    TempError,
    Other(String),
}

impl TaskStatus {
    /// `None` while the task runs.
    pub fn completion(&self) -> Option<Completion> {
        let raw = self.completion_status.as_deref()?.trim();
        let folded = raw.to_ascii_uppercase().replace('_', "");
        Some(match folded.as_str() {
            "SUCCESS" => Completion::Success,
            "WARNING" => Completion::Warning,
            "ERROR" => Completion::Error,
            "TERMINATED" => Completion::Terminated,
            "TEMPERROR" => Completion::TempError,
            _ => Completion::Other(raw.to_owned()),
        })
    }

    pub fn is_finished(&self) -> bool {
        self.completion().is_some()
    }

    /// Finished with `SUCCESS` or `WARNING` (warnings are per item; the run went through).
    pub fn succeeded(&self) -> bool {
        matches!(
            self.completion(),
            Some(Completion::Success | Completion::Warning)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_ignore_unknown_fields_and_nulls() {
        let s: Source = serde_json::from_str(
            r#"{"id":"2c91","name":"Active Directory","type":"Active Directory - Direct",
                "connector":null,"owner":{"id":"x"},"schemas":[],"healthy":true}"#,
        )
        .unwrap();
        assert_eq!(s.source_type.as_deref(), Some("Active Directory - Direct"));
        assert_eq!(s.connector, None);
        assert_eq!(s.healthy, Some(true));
        assert!(serde_json::from_str::<Source>(r#"{"name":"no id"}"#).is_err());
    }

    #[test]
    fn completion_is_read_whatever_the_case() {
        let task = |status: Option<&str>| TaskStatus {
            id: "t".into(),
            task_type: None,
            unique_name: None,
            created: None,
            launched: None,
            completed: None,
            completion_status: status.map(String::from),
            progress: None,
            percent_complete: None,
        };
        assert_eq!(
            task(Some("Success")).completion(),
            Some(Completion::Success)
        );
        assert_eq!(
            task(Some("TEMP_ERROR")).completion(),
            Some(Completion::TempError)
        );
        assert_eq!(
            task(Some("TempError")).completion(),
            Some(Completion::TempError)
        );
        assert_eq!(
            task(Some("PENDING?")).completion(),
            Some(Completion::Other("PENDING?".into()))
        );
        assert!(task(Some("warning")).succeeded());
        assert!(!task(Some("ERROR")).succeeded());
        assert!(!task(None).is_finished());
    }

    #[test]
    fn a_task_status_document_parses() {
        let t: TaskStatus = serde_json::from_str(
            r#"{"id":"ef38","type":"QUARTZ","uniqueName":"Cloud Group Aggregation",
                "created":"2026-01-05T10:00:00.000Z","completed":"2026-01-05T10:03:10.000Z",
                "completionStatus":"SUCCESS","percentComplete":100,"messages":[],
                "attributes":{"groupsCreated":2}}"#,
        )
        .unwrap();
        assert_eq!(t.unique_name.as_deref(), Some("Cloud Group Aggregation"));
        assert_eq!(
            t.completed.map(|c| c.to_rfc3339()),
            Some("2026-01-05T10:03:10+00:00".into())
        );
        assert!(t.succeeded());
    }
}
