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

/// Decides what a well-formed event causes.
async fn act_on(app: &App, completed: AggregationCompleted) -> Response {
    match app.source.id().await {
        Ok(ours) if ours != completed.source_id => {
            let why = format!(
                "event for source {} ({:?}), not the AD source {ours}",
                completed.source_id, completed.source_name
            );
            daemon_log::webhook("other_source", &why);
            return ignored(&why);
        }
        Ok(_) => {}
        // Missing an event is worse than one run too many: go ahead.
        Err(e) => daemon_log::source_unknown(&e.to_string()),
    }
    if !completed.succeeded() {
        let why = format!(
            "the aggregation of {} ended with status {:?}; nothing to sync",
            completed.source_name, completed.status
        );
        daemon_log::webhook("not_success", &why);
        return ignored(&why);
    }
    match app.coordinator.trigger(TriggerKind::Webhook) {
        Ok(run_id) => {
            daemon_log::webhook("accepted", &run_id.to_string());
            (StatusCode::ACCEPTED, Json(json!({ "run_id": run_id }))).into_response()
        }
        Err(e) => {
            daemon_log::webhook("refused", &e.to_string());
            error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
    }
}

fn ignored(why: &str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "ignored": why }))).into_response()
}
