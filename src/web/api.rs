//! The history as JSON.

use super::{Problem, WebState, job_filter, outcome_filter, paging};
use crate::report::RunView;
use crate::store::{RunDetail, RunRecord};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::HashMap;

/// One page of runs, newest first; `next` is the URL of the following page, if any.
#[derive(Debug, Serialize)]
pub struct ExecutionPage {
    pub executions: Vec<RunRecord>,
    pub next: Option<String>,
}

/// `GET /executions?limit=&before=&job=`
pub(super) async fn list(
    State(state): State<WebState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    respond(page(&state, &query).await)
}

/// `GET /executions/{id}?outcome=`: the run as `groupsync run --json` prints it (with
/// only the outcomes of one kind when `outcome` is given).
pub(super) async fn show(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    respond(detail(&state, id, &query).await.map(RunView::from))
}

async fn page(state: &WebState, query: &HashMap<String, String>) -> Result<ExecutionPage, Problem> {
    let (limit, before) = paging(query, 50)?;
    let job = job_filter(query);
    let of = job.clone();
    let executions = state
        .store
        .call(move |s| s.runs_of(of.as_deref(), limit, before.as_deref()))
        .await?;
    let job_part = job
        .map(|j| format!("&job={}", super::html::url_part(&j)))
        .unwrap_or_default();
    let next = (executions.len() == limit)
        .then(|| executions.last())
        .flatten()
        .map(|last| {
            format!(
                "/executions?limit={limit}&before={}{job_part}",
                super::html::url_part(&last.id)
            )
        });
    Ok(ExecutionPage { executions, next })
}

pub(super) async fn detail(
    state: &WebState,
    id: String,
    query: &HashMap<String, String>,
) -> Result<RunDetail, Problem> {
    let outcome = outcome_filter(query)?;
    let shown = id.clone();
    state
        .store
        .call(move |s| s.run_filtered(&id, outcome))
        .await?
        .ok_or_else(|| Problem::NotFound(format!("no execution with id {shown:?}")))
}

fn respond<T: Serialize>(result: Result<T, Problem>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(p) => (
            p.status(),
            Json(serde_json::json!({ "error": p.message() })),
        )
            .into_response(),
    }
}
