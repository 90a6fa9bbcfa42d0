//! Aggregation tasks: `POST …/sources/{id}/load-entitlements` starts one, `task-status`
//! reports it. A started task finishes (SUCCESS) once the configured delay has passed on
//! tokio's clock; it is settled when read, so nothing runs in the background.

use super::catalog::{SourceEntry, timestamp};
use super::errors::ApiError;
use super::filter::{FieldSpec, Op};
use super::paging::{Collection, Rules};
use super::state::{AppState, Clock, lock};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

/// Which aggregation a task ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregationKind {
    /// Account aggregation (`CLOUD_ACCOUNT_AGGREGATION`).
    Accounts,
    /// Entitlement (group) aggregation (`CLOUD_GROUP_AGGREGATION`).
    Entitlements,
}

impl AggregationKind {
    /// The value the `type` filter of `task-status` matches.
    pub fn task_type(self) -> &'static str {
        match self {
            AggregationKind::Accounts => "CLOUD_ACCOUNT_AGGREGATION",
            AggregationKind::Entitlements => "CLOUD_GROUP_AGGREGATION",
        }
    }

    fn unique_name(self) -> &'static str {
        match self {
            AggregationKind::Accounts => "Cloud Account Aggregation",
            AggregationKind::Entitlements => "Cloud Group Aggregation",
        }
    }
}

/// How a task ended (`completionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskCompletion {
    Success,
    Warning,
    Error,
    Terminated,
    #[serde(rename = "TEMPERROR")]
    TempError,
}

impl TaskCompletion {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskCompletion::Success => "SUCCESS",
            TaskCompletion::Warning => "WARNING",
            TaskCompletion::Error => "ERROR",
            TaskCompletion::Terminated => "TERMINATED",
            TaskCompletion::TempError => "TEMPERROR",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTarget {
    pub id: String,
    #[serde(rename = "type")]
    pub target_type: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskReturn {
    pub name: String,
    pub attribute_name: String,
}

/// A task as `GET /beta/task-status/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub id: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub unique_name: String,
    pub description: String,
    pub parent_name: Option<String>,
    pub launcher: String,
    pub target: TaskTarget,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub launched: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub completion_status: Option<TaskCompletion>,
    pub messages: Vec<Value>,
    pub returns: Vec<TaskReturn>,
    pub attributes: Map<String, Value>,
    pub progress: Option<String>,
    pub percent_complete: u8,
}

const RETURNS: [(&str, &str); 4] = [
    ("TASK_OUT_ACCOUNT_GROUP_AGGREGATION_TOTAL", "total"),
    (
        "TASK_OUT_ACCOUNT_GROUP_AGGREGATION_CREATED",
        "groupsCreated",
    ),
    (
        "TASK_OUT_ACCOUNT_GROUP_AGGREGATION_UPDATED",
        "groupsUpdated",
    ),
    (
        "TASK_OUT_ACCOUNT_GROUP_AGGREGATION_DELETED",
        "groupsDeleted",
    ),
];

/// Keeps memory bounded in long benchmark runs; a real tenant keeps 90 days.
const MAX_TASKS: usize = 10_000;

struct Record {
    seq: u64,
    source_id: String,
    kind: AggregationKind,
    /// When a running task finishes, and how.
    due: Option<(Instant, TaskCompletion)>,
    status: TaskStatus,
}

/// Every task the tenant has run, oldest first.
#[derive(Default)]
pub struct TaskBook {
    records: Vec<Record>,
    next_seq: u64,
}

fn new_status(entry: &SourceEntry, kind: AggregationKind, now: DateTime<Utc>) -> TaskStatus {
    let groups = entry.groups.len();
    let mut returns = Vec::new();
    let mut attributes = Map::new();
    attributes.insert("appId".into(), json!(entry.source.id));
    if kind == AggregationKind::Entitlements {
        for (name, key) in RETURNS {
            attributes.insert(key.into(), json!(0));
            returns.push(TaskReturn {
                name: name.into(),
                attribute_name: key.into(),
            });
        }
        attributes.insert("total".into(), json!(groups));
    }
    TaskStatus {
        id: uuid::Uuid::new_v4().simple().to_string(),
        task_type: "QUARTZ".into(),
        unique_name: kind.unique_name().into(),
        description: "Aggregate from the specified application".into(),
        parent_name: None,
        launcher: "groupsync sandbox".into(),
        target: TaskTarget {
            id: entry.source.id.clone(),
            target_type: "APPLICATION".into(),
            name: format!("{} [source]", entry.source.name),
        },
        created: now,
        modified: now,
        launched: Some(now),
        completed: None,
        completion_status: None,
        messages: Vec::new(),
        returns,
        attributes,
        progress: Some("PENDING".into()),
        percent_complete: 0,
    }
}

fn finish(status: &mut TaskStatus, how: TaskCompletion, at: DateTime<Utc>) {
    status.completed = Some(at);
    status.modified = at;
    status.completion_status = Some(how);
    status.progress = Some("Completed".into());
    status.percent_complete = 100;
    if !matches!(how, TaskCompletion::Success | TaskCompletion::Warning) {
        status.messages.push(json!({
            "type": "ERROR",
            "localizedText": {
                "locale": "en-US",
                "message": format!("Aggregation ended: {}", how.as_str()),
            },
            "key": "sandbox.aggregation.failed",
            "parameters": [],
        }));
    }
}

/// A task still running: `PENDING` (queued for the connector) until a third of its time
/// has passed, then `RUNNING` with its progress; `completionStatus` stays null until it
/// finishes.
fn running(status: &mut TaskStatus, due: Instant, now: Instant, clock: &Clock) {
    let total = due.saturating_duration_since(clock.instant_of(status.created));
    let left = due.saturating_duration_since(now);
    let done = total.saturating_sub(left);
    if total.is_zero() || done < total / 3 {
        return;
    }
    let percent = (done.as_millis() * 100 / total.as_millis()).min(99) as u8;
    status.percent_complete = percent;
    status.progress = Some("RUNNING".into());
}

/// Finishes the tasks whose time has come; a source with an entitlement feed then holds
/// what the feed reads (as a connector reads the system when it aggregates).
pub fn settle_all(state: &super::state::Shared) {
    let aggregated = lock(&state.tasks).settle(Instant::now(), &state.clock);
    for source_id in aggregated {
        let feed = lock(&state.feeds).get(&source_id).cloned();
        if let Some(feed) = feed {
            let groups = feed();
            let now = state.clock.now();
            lock(&state.catalog).replace_groups(&source_id, &groups, now);
            tracing::info!(source_id, count = groups.len(), "entitlements aggregated");
        }
    }
}

impl TaskBook {
    fn push(
        &mut self,
        kind: AggregationKind,
        source_id: &str,
        due: Option<(Instant, TaskCompletion)>,
        status: TaskStatus,
    ) {
        if self.records.len() >= MAX_TASKS {
            self.records.remove(0);
        }
        self.next_seq += 1;
        self.records.push(Record {
            seq: self.next_seq,
            source_id: source_id.to_owned(),
            kind,
            due,
            status,
        });
    }

    /// Starts a task that finishes successfully at `due`.
    pub fn launch(
        &mut self,
        entry: &SourceEntry,
        kind: AggregationKind,
        clock: &Clock,
        due: Instant,
    ) -> TaskStatus {
        let status = new_status(entry, kind, clock.now());
        self.push(
            kind,
            &entry.source.id,
            Some((due, TaskCompletion::Success)),
            status.clone(),
        );
        status
    }

    /// Records a task that has already finished.
    pub fn record_finished(
        &mut self,
        entry: &SourceEntry,
        kind: AggregationKind,
        how: TaskCompletion,
        now: DateTime<Utc>,
    ) -> TaskStatus {
        let mut status = new_status(entry, kind, now);
        finish(&mut status, how, now);
        self.push(kind, &entry.source.id, None, status.clone());
        status
    }

    /// Finishes every running task whose time has come; returns the sources whose
    /// entitlement aggregation just succeeded.
    pub fn settle(&mut self, now: Instant, clock: &Clock) -> Vec<String> {
        let mut aggregated = Vec::new();
        for r in &mut self.records {
            if let Some((at, how)) = r.due.filter(|(at, _)| *at <= now) {
                finish(&mut r.status, how, clock.wall_at(at));
                r.due = None;
                if r.kind == AggregationKind::Entitlements && how == TaskCompletion::Success {
                    aggregated.push(r.source_id.clone());
                }
            } else if let Some((at, _)) = r.due {
                running(&mut r.status, at, now, clock);
            }
        }
        aggregated
    }

    fn get(&self, id: &str) -> Option<&TaskStatus> {
        self.records.iter().map(|r| &r.status).find(|s| s.id == id)
    }
}

const TASK_RULES: Rules = Rules {
    fields: &[
        FieldSpec {
            name: "id",
            ops: &[Op::Eq, Op::In],
        },
        FieldSpec {
            name: "sourceId",
            ops: &[Op::Eq, Op::In],
        },
        FieldSpec {
            name: "completionStatus",
            ops: &[Op::Eq, Op::In, Op::IsNull],
        },
        FieldSpec {
            name: "type",
            ops: &[Op::Eq, Op::In],
        },
    ],
    sorters: &["created"],
    search_after: false,
};

fn field<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
    match name {
        "id" => Some(&r.status.id),
        "sourceId" => Some(&r.source_id),
        "type" => Some(r.kind.task_type()),
        "completionStatus" => r.status.completion_status.map(TaskCompletion::as_str),
        _ => None,
    }
}

/// `GET /{version}/task-status`.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let collection = Collection::parse(query.as_deref(), &TASK_RULES)?;
    settle_all(&state);
    let book = lock(&state.tasks);
    let mut found: Vec<&Record> = book
        .records
        .iter()
        .filter(|r| collection.filter.matches(|f| field(r, f)))
        .collect();
    // The sequence number breaks ties between tasks created in the same millisecond.
    collection.sort(&mut found, |r, _| {
        format!("{}{:020}", timestamp(&r.status.created), r.seq)
    });
    Ok(collection.page(&found, |r| &r.status))
}

/// `GET /{version}/task-status/{id}`.
pub async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    settle_all(&state);
    let book = lock(&state.tasks);
    match book.get(&id) {
        Some(status) => Json(status).into_response(),
        None => ApiError::not_found_object("task status", &id).into_response(),
    }
}

/// `POST /{version}/sources/{id}/load-entitlements`: 202 with the Load Entitlement Task.
pub async fn load_entitlements(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
) -> Response {
    settle_all(&state);
    let catalog = lock(&state.catalog);
    let Some(entry) = catalog.source(&source_id) else {
        return ApiError::not_found_object("source", &source_id).into_response();
    };
    let due = Instant::now() + state.aggregation_delay;
    let task = lock(&state.tasks).launch(entry, AggregationKind::Entitlements, &state.clock, due);
    tracing::info!(source_id, task_id = %task.id, "entitlement aggregation started");
    let body = json!({
        "id": task.id,
        "type": task.task_type,
        "uniqueName": task.unique_name,
        "description": task.description,
        "launcher": task.launcher,
        "created": timestamp(&task.created),
        "returns": RETURNS
            .iter()
            .map(|(label, attr)| json!({ "displayLabel": label, "attributeName": attr }))
            .collect::<Vec<_>>(),
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
