//! The history as JSON.

use super::pages::OUTCOMES_PAGE;
use super::{Problem, WebState, job_filter, limit_param, outcome_filter, paging, search_param};
use crate::report::RunView;
use crate::store::{OutcomeQuery, RunRecord};
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

/// One run with one page of its outcomes; `next` is the URL of the following page, if any
/// (absent on the last page, so that a run of one page reads as `groupsync run --json`
/// prints it).
#[derive(Debug, Serialize)]
pub struct RunPage {
    #[serde(flatten)]
    pub run: RunView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /executions/{id}?outcome=&q=&limit=&offset=`: the run as `groupsync run --json`
/// prints it, with one page of its outcomes (of one kind when `outcome` is given, whose
/// name holds `q` when it is); `counts` stay the whole run's.
pub(super) async fn show(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    respond(detail(&state, id, &query).await)
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

async fn detail(
    state: &WebState,
    id: String,
    query: &HashMap<String, String>,
) -> Result<RunPage, Problem> {
    let kind = outcome_filter(query)?;
    let limit = limit_param(query, OUTCOMES_PAGE)?;
    let offset = offset_param(query)?;
    let outcomes = OutcomeQuery {
        kind: kind.map(str::to_owned),
        search: search_param(query),
        limit: Some(limit),
        offset,
    };
    let next_of = outcomes.clone();
    let shown = id.clone();
    let (detail, matching) = state
        .store
        .call(move |s| s.run_page(&id, &outcomes))
        .await?
        .ok_or_else(|| Problem::NotFound(format!("no execution with id {shown:?}")))?;
    let read = offset.saturating_add(detail.outcomes.len());
    let next = (!detail.outcomes.is_empty() && read < matching)
        .then(|| next_href(&detail.run.id, &next_of, read));
    Ok(RunPage {
        run: RunView::from(detail),
        next,
    })
}

/// `?offset=`: how many of the matching outcomes to pass over (0 when absent).
fn offset_param(query: &HashMap<String, String>) -> Result<usize, Problem> {
    match query.get("offset").map(String::as_str) {
        None | Some("") => Ok(0),
        Some(text) => text.parse::<usize>().map_err(|_| {
            Problem::BadRequest(format!(
                "offset must be a whole number from 0, got {text:?}"
            ))
        }),
    }
}

/// The URL of the page of `query`'s outcomes that starts at `offset`.
fn next_href(id: &str, query: &OutcomeQuery, offset: usize) -> String {
    use super::html::url_part;
    let mut href = format!(
        "/executions/{}?limit={}&offset={offset}",
        url_part(id),
        query.limit.unwrap_or(OUTCOMES_PAGE)
    );
    if let Some(kind) = &query.kind {
        href += &format!("&outcome={}", url_part(kind));
    }
    if let Some(q) = &query.search {
        href += &format!("&q={}", url_part(q));
    }
    href
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
