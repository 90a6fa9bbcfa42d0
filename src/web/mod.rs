//! The history over HTTP: `GET /executions` (JSON, paged), `GET /executions/{id}` (JSON,
//! its outcomes paged), and a server-rendered dashboard: `GET /` (recent runs, the next scheduled run,
//! readiness) and `GET /history/{id}` (one run's group outcomes, `?outcome=` to filter).
//!
//! Plain HTML and CSS, no script: every value from the store (group names come from AD)
//! is escaped, and the pages forbid scripts through `Content-Security-Policy` as well.
//! The daemon mounts [`routes`]: every route here asks for the admin token unless
//! `server.public_dashboard = true`, and refuses everyone when no token is configured.

mod api;
mod auth;
mod chart;
mod html;
mod pages;

use crate::store::{OUTCOME_KINDS, Store, StoreError};
use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Arc;

/// What the dashboard shows besides the history; the daemon knows it, the store does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardInputs {
    /// When the schedule fires next (`None`: no schedule).
    pub next_run: Option<DateTime<Utc>>,
    /// The daemon's readiness (`None`: not known here).
    pub ready: Option<Readiness>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, or what was checked.
    pub detail: String,
}

/// Asked on every dashboard page for the current [`DashboardInputs`].
pub type InputsFn = Arc<dyn Fn() -> DashboardInputs + Send + Sync>;

/// What the routes need; cheap to clone.
#[derive(Clone)]
pub struct WebState {
    store: Store,
    inputs: InputsFn,
    access: Access,
}

/// Who may read the routes.
#[derive(Clone)]
enum Access {
    Open,
    Token(Arc<SecretString>),
    /// Protected, but no token is configured: nobody.
    Closed,
}

impl WebState {
    pub fn new(store: Store) -> WebState {
        WebState {
            store,
            inputs: Arc::new(DashboardInputs::default),
            access: Access::Open,
        }
    }

    /// Where the dashboard gets the next run and readiness from.
    pub fn with_inputs(
        mut self,
        inputs: impl Fn() -> DashboardInputs + Send + Sync + 'static,
    ) -> WebState {
        self.inputs = Arc::new(inputs);
        self
    }

    /// With `Some(token)`, every route asks for it: `Authorization: Bearer <token>`, or
    /// HTTP Basic with the token as password (what a browser can send).
    pub fn with_admin_token(mut self, token: Option<SecretString>) -> WebState {
        self.access = token.map_or(Access::Open, |t| Access::Token(Arc::new(t)));
        self
    }

    /// The daemon's rule: open when `public`, else the admin token, else nobody (403).
    pub fn protected_unless(mut self, public: bool, token: Option<SecretString>) -> WebState {
        self.access = match (public, token) {
            (true, _) => Access::Open,
            (false, Some(t)) => Access::Token(Arc::new(t)),
            (false, None) => Access::Closed,
        };
        self
    }
}

/// The history's routes, to be merged into the daemon's router.
pub fn routes(state: WebState) -> Router {
    let router = Router::new()
        .route("/", get(pages::dashboard))
        .route("/history/{id}", get(pages::run))
        .route("/executions", get(api::list))
        .route("/executions/{id}", get(api::show));
    let router = match state.access.clone() {
        Access::Open => router,
        Access::Token(token) => {
            router.route_layer(axum::middleware::from_fn_with_state(token, auth::guard))
        }
        Access::Closed => router.route_layer(axum::middleware::from_fn(auth::closed)),
    };
    router.with_state(state)
}

/// Why a request could not be served.
#[derive(Debug)]
enum Problem {
    BadRequest(String),
    NotFound(String),
    Store(StoreError),
}

impl Problem {
    fn status(&self) -> http::StatusCode {
        match self {
            Problem::BadRequest(_) => http::StatusCode::BAD_REQUEST,
            Problem::NotFound(_) => http::StatusCode::NOT_FOUND,
            Problem::Store(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Problem::BadRequest(m) | Problem::NotFound(m) => m.clone(),
            Problem::Store(e) => e.to_string(),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::UnknownRun(id) => {
                Problem::BadRequest(format!("before: no execution with id {id:?}"))
            }
            e => Problem::Store(e),
        }
    }
}

/// The most runs one page lists.
const MAX_LIMIT: usize = 500;

/// `?limit=` (1..=500, default `default`) and `?before=` (a run id).
fn paging(
    query: &HashMap<String, String>,
    default: usize,
) -> Result<(usize, Option<String>), Problem> {
    let limit = limit_param(query, default)?;
    let before = query.get("before").filter(|b| !b.is_empty()).cloned();
    Ok((limit, before))
}

/// `?limit=`: a whole number from 1 to 500, `default` when absent.
fn limit_param(query: &HashMap<String, String>, default: usize) -> Result<usize, Problem> {
    match query.get("limit") {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, got {text:?}"
                ))
            }),
    }
}

/// `?q=`: part of a group's name to search for, when it holds more than spaces.
fn search_param(query: &HashMap<String, String>) -> Option<String> {
    query
        .get("q")
        .map(|q| q.trim())
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
}

/// `?job=` when it names a job (any name: a job with no runs lists none).
fn job_filter(query: &HashMap<String, String>) -> Option<String> {
    query.get("job").filter(|j| !j.is_empty()).cloned()
}

/// `?outcome=` when it names a kind of outcome.
fn outcome_filter(query: &HashMap<String, String>) -> Result<Option<&'static str>, Problem> {
    match query.get("outcome").map(String::as_str) {
        None | Some("") | Some("all") => Ok(None),
        Some(kind) => OUTCOME_KINDS
            .iter()
            .find(|k| **k == kind)
            .map(|k| Some(*k))
            .ok_or_else(|| {
                Problem::BadRequest(format!(
                    "outcome must be one of {}, got {kind:?}",
                    OUTCOME_KINDS.join(", ")
                ))
            }),
    }
}

#[cfg(test)]
mod tests;
