//! `POST /webhooks/account-aggregation-completed`: SailPoint's "Account Aggregation
//! Completed" trigger, delivered to our subscription.
//!
//! Deliveries are fire-and-forget: SailPoint does not resend, and gives a subscriber
//! about ten seconds. So the answer comes at once (202 with the run id) and the run
//! happens afterwards; events we do not act on are still answered 202, so they are not
//! reported as failed deliveries, and are logged and counted instead.

use super::auth;
use super::coordinator::TriggerKind;
use super::http::{App, error};
use super::payload::{self, AggregationCompleted};
use crate::telemetry::daemon_log;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// In front of the handler: the `Authorization` header is checked before the body is read,
/// so an unauthenticated sender cannot make the daemon take in a large body.
pub async fn authorize(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.settings.webhook.auth else {
        return error(StatusCode::NOT_FOUND, "the webhook is not enabled");
    };
    if !auth::webhook(request.headers(), expected) {
        daemon_log::webhook("unauthorized", "wrong or missing Authorization header");
        let mut resp = error(StatusCode::UNAUTHORIZED, "wrong or missing credentials");
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer, Basic"),
        );
        return resp;
    }
    next.run(request).await
}

/// The handler, behind [`authorize`].
pub async fn account_aggregation_completed(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refused_body(rejection),
    };
    match payload::parse(&body) {
        Ok(completed) => act_on(&app, completed).await,
        Err(e) => {
            daemon_log::webhook("bad_request", &e.to_string());
            error(StatusCode::BAD_REQUEST, &e.to_string())
        }
    }
}

fn refused_body(rejection: BytesRejection) -> Response {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        daemon_log::webhook("too_large", "body over webhook.max_body_kib");
        return error(
            status,
            "the body is larger than webhook.max_body_kib allows",
        );
    }
    daemon_log::webhook("bad_request", &rejection.body_text());
    error(status, &rejection.body_text())
}

/// Decides what a well-formed event causes: a run of each job whose AD source it names.
/// A job whose source id cannot be resolved now counts as named (missing an event is worse
/// than one run too many) when no job is named for sure.
async fn act_on(app: &App, completed: AggregationCompleted) -> Response {
    let mut named = vec![];
    let mut unresolved = vec![];
    let mut others = vec![];
    for job in &app.jobs {
        match job.source.id().await {
            Ok(ours) if ours == completed.source_id => named.push(job),
            Ok(ours) => others.push(ours),
            Err(e) => {
                daemon_log::source_unknown(&e.to_string());
                unresolved.push(job);
            }
        }
    }
    if named.is_empty() {
        named = unresolved;
    }
    if named.is_empty() {
        let ours = others.join(", ");
        let why = if app.jobs.len() == 1 {
            format!(
                "event for source {} ({:?}), not the AD source {ours}",
                completed.source_id, completed.source_name
            )
        } else {
            format!(
                "event for source {} ({:?}), not the AD source of any job ({ours})",
                completed.source_id, completed.source_name
            )
        };
        daemon_log::webhook("other_source", &why);
        return ignored(&why);
    }
    if !completed.succeeded() {
        let why = format!(
            "the aggregation of {} ended with status {:?}; nothing to sync",
            completed.source_name, completed.status
        );
        daemon_log::webhook("not_success", &why);
        return ignored(&why);
    }
    let mut runs = vec![];
    for job in named {
        match job.coordinator.trigger(TriggerKind::Webhook) {
            Ok(run_id) => {
                daemon_log::webhook("accepted", &run_id.to_string());
                runs.push(json!({ "job": job.name, "run_id": run_id }));
            }
            Err(e) => {
                daemon_log::webhook("refused", &e.to_string());
                return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            }
        }
    }
    let mut body = json!({ "run_id": runs[0]["run_id"] });
    if app.jobs.len() > 1 {
        body["runs"] = json!(runs);
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

fn ignored(why: &str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "ignored": why }))).into_response()
}
