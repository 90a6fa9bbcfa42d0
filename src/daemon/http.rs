//! The daemon's HTTP endpoints: the webhook, manual runs, run reports, health, metrics.

use super::auth;
use super::coordinator::{Coordinator, RunState, TriggerKind};
use super::health::Health;
use super::runner::RunProgress;
use super::source::AdSource;
use super::webhook;
use crate::config::Settings;
use crate::domain::RunId;
use crate::store::Store;
use crate::telemetry::daemon_log;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::watch;

/// What the handlers share.
pub struct App {
    /// The first job's settings; the sections the handlers read (`[server]`, `[webhook]`)
    /// are shared by every job.
    pub settings: Arc<Settings>,
    /// Every job, in the order configured (one, `default`, without `[[jobs]]`).
    pub jobs: Vec<AppJob>,
    pub health: Arc<Health>,
    pub metrics: PrometheusHandle,
    /// Where finished runs' outcomes are read from (the jobs share one store).
    pub store: Store,
}

/// One job, as the handlers reach it.
pub struct AppJob {
    pub name: String,
    pub coordinator: Coordinator,
    pub source: Arc<AdSource>,
    pub progress: watch::Receiver<RunProgress>,
}

impl App {
    /// The job called `name`; without a name, the only job. Otherwise why not (a 400).
    fn job(&self, name: Option<&str>) -> Result<&AppJob, String> {
        let names = || {
            let names: Vec<&str> = self.jobs.iter().map(|j| j.name.as_str()).collect();
            names.join(", ")
        };
        match name {
            Some(name) => self
                .jobs
                .iter()
                .find(|j| j.name == name)
                .ok_or_else(|| format!("no job is called {name:?}; the jobs are: {}", names())),
            None if self.jobs.len() == 1 => Ok(&self.jobs[0]),
            None => Err(format!(
                "several jobs are configured ({}): name one, {{\"job\": \"NAME\"}}",
                names()
            )),
        }
    }
}

/// Every route; the webhook only when it is enabled (otherwise its path is a 404).
pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/runs", post(start_run))
        .route("/runs/{id}", get(run_report));
    if app.settings.webhook.auth.is_some() {
        router = router.route(
            "/webhooks/account-aggregation-completed",
            post(webhook::account_aggregation_completed)
                .layer(DefaultBodyLimit::max(app.settings.webhook.max_body_bytes))
                // Outermost: the credentials are checked before the body is read.
                .layer(axum::middleware::from_fn_with_state(
                    app.clone(),
                    webhook::authorize,
                )),
        );
    }
    router.fallback(not_found).with_state(app)
}

/// A JSON error body: `{"error": "..."}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let readiness = app.health.current(super::health::CHECK_TIMEOUT * 2).await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut resp = app.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Checks the admin token; the response to send instead when it is not right.
fn refusal(app: &App, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &app.settings.server.admin_token else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "this endpoint is disabled: set server.admin_token (or server.admin_token_file) to enable it",
        ));
    };
    if auth::admin(headers, token) {
        return None;
    }
    let mut resp = error(StatusCode::UNAUTHORIZED, "wrong or missing admin token");
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(resp)
}

/// The optional JSON body of `POST /runs`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunOptions {
    /// Let this run through the guards once.
    #[serde(default)]
    force: bool,
    /// The job to run; required when several are configured.
    #[serde(default)]
    job: Option<String>,
}

/// `POST /runs`: a manual run, answered with its id (and its job) at once. An empty body,
/// or `{"force": true}` to let the run through the guards, `{"job": "NAME"}` to name the
/// job (required when several are configured).
async fn start_run(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(resp) = refusal(&app, &headers) {
        return resp;
    }
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        RunOptions::default()
    } else {
        match serde_json::from_slice::<RunOptions>(&body) {
            Ok(o) => o,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "the body must be empty or {{\"force\": true|false, \"job\": \"NAME\"}}: {e}"
                    ),
                );
            }
        }
    };
    let job = match app.job(options.job.as_deref()) {
        Ok(job) => job,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    match job
        .coordinator
        .trigger_with(TriggerKind::Manual, options.force)
    {
        Ok(run_id) => (
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": run_id, "job": job.name })),
        )
            .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// `GET /runs/{id}`: the report of a finished run (200, as a [`crate::report::RunView`]: its
/// summary from memory, its outcomes from the history), or where a
/// pending or running run stands (202); 404 for ids this process does not know.
async fn run_report(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !app.settings.server.public_dashboard
        && let Some(resp) = refusal(&app, &headers)
    {
        return resp;
    }
    let run_id = RunId(id);
    let found = app
        .jobs
        .iter()
        .find_map(|job| Some((job, job.coordinator.lookup(&run_id)?)));
    let Some((job, state)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "no such run (only the recent runs of this process are kept)",
        );
    };
    match state {
        RunState::Finished(run) => {
            // the outcomes are in the history; a run the store could not record has none there
            let id = run_id.0.clone();
            let (outcomes, omitted) = match app.store.call(move |s| s.run(&id)).await {
                Ok(detail) => detail.map_or((vec![], 0), |d| (d.outcomes, d.run.unchanged)),
                Err(e) => {
                    daemon_log::store_read_failed("the outcomes of a run", &e.to_string());
                    (vec![], 0)
                }
            };
            Json(run.summary.view(outcomes, omitted).of_job(&job.name)).into_response()
        }
        RunState::Pending { trigger } => {
            let body = json!({
                "id": run_id, "run_id": run_id, "state": "pending", "trigger": trigger,
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        RunState::Running { trigger } => {
            let progress = job.progress.borrow().clone();
            let progress = (progress.run_id.as_ref() == Some(&run_id)).then_some(progress);
            let body = json!({
                "id": run_id, "run_id": run_id, "state": "running", "trigger": trigger,
                "progress": progress,
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
    }
}
