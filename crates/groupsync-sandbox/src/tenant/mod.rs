//! A simulated IdentityNow tenant: the OAuth token endpoint, sources, entitlements (AD
//! groups), task status and entitlement aggregation, plus the "Account Aggregation
//! Completed" event, faithful enough to the real API (and its official OpenAPI schemas)
//! that the client can be tested against it, including behind a validating proxy.
//!
//! Inside: `auth` (token endpoint, bearer check), `ratelimit`, `filter` and `paging`
//! (collection parameters), `catalog` (data and wire shapes), `api` (sources and
//! entitlements), `tasks`, `events`, `errors`.

mod api;
mod auth;
mod catalog;
mod errors;
mod events;
mod filter;
mod paging;
mod ratelimit;
mod schemas;
mod security;
mod state;
mod tasks;
#[cfg(test)]
mod tests;
mod wire;

pub use tasks::{AggregationKind, TaskCompletion, TaskReturn, TaskStatus, TaskTarget};

use crate::faults::{self, FaultPlan, Faults, Flavor};
use crate::stats::{Stats, template_of};
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use errors::ApiError;
use state::{AppState, Clock, Shared, lock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How the simulated tenant behaves.
#[derive(Debug, Clone)]
pub struct TenantOptions {
    /// The only client credentials `/oauth/token` accepts.
    pub client_id: String,
    pub client_secret: String,
    /// Whether those are an API client's or a personal access token's; operations whose
    /// `security` lists only `userAuth` refuse an API client's tokens with 403.
    pub credential: Credential,
    /// How long an access token works; a real tenant says 749 s.
    pub token_lifetime: Duration,
    /// Requests per 10 s per client id (all its tokens together); `None` = unlimited.
    pub rate_limit: Option<u32>,
    /// Latency and injected faults, applied before anything else.
    pub faults: FaultPlan,
    pub sources: Vec<SimSource>,
    /// How long a group aggregation started with `load-entitlements` runs (tokio time).
    pub aggregation_delay: Duration,
}

impl Default for TenantOptions {
    fn default() -> Self {
        TenantOptions {
            client_id: "sandbox-client-id".into(),
            client_secret: "sandbox-client-secret".into(),
            credential: Credential::ApiClient,
            token_lifetime: Duration::from_secs(749),
            rate_limit: Some(100),
            faults: FaultPlan::default(),
            sources: Vec::new(),
            aggregation_delay: Duration::from_secs(3),
        }
    }
}

/// The two kinds of client credentials SailPoint's spec names (`security` of each
/// operation): an API client's (`applicationAuth`: no user behind the token) and a
/// personal access token's (`userAuth`: the token carries its user and user level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Credential {
    /// An OAuth API client with the client-credentials grant, as Admin → API Management
    /// creates it.
    #[default]
    ApiClient,
    /// A user's personal access token (here an ORG_ADMIN's).
    Pat,
}

impl Credential {
    /// `api-client` or `pat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::ApiClient => "api-client",
            Credential::Pat => "pat",
        }
    }
}

impl std::str::FromStr for Credential {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api-client" => Ok(Credential::ApiClient),
            "pat" => Ok(Credential::Pat),
            other => Err(format!(
                "{other:?} is not a credential kind (api-client or pat)"
            )),
        }
    }
}

/// One source of the tenant and the group names it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSource {
    pub id: String,
    pub name: String,
    /// E.g. "Active Directory - Direct".
    pub source_type: String,
    pub groups: Vec<String>,
}

impl SimSource {
    /// An AD source ("Active Directory - Direct") holding `groups`.
    pub fn active_directory(id: &str, name: &str, groups: Vec<String>) -> SimSource {
        SimSource {
            id: id.into(),
            name: name.into(),
            source_type: "Active Directory - Direct".into(),
            groups,
        }
    }
}

/// A running simulated tenant; clones share the same state.
#[derive(Clone)]
pub struct Tenant {
    shared: AppState,
}

/// API versions that list sources, and those that have entitlements and tasks (there is
/// no `/v3/entitlements`).
const SOURCE_VERSIONS: [&str; 5] = ["v3", "beta", "v2024", "v2025", "v2026"];
const ENTITLEMENT_VERSIONS: [&str; 4] = ["beta", "v2024", "v2025", "v2026"];

fn api_routes() -> Router<AppState> {
    let mut router = Router::new();
    for v in SOURCE_VERSIONS {
        router = router
            .route(&format!("/{v}/sources"), get(api::list_sources))
            .route(&format!("/{v}/sources/{{id}}"), get(api::one_source));
    }
    for v in ENTITLEMENT_VERSIONS {
        router = router
            .route(&format!("/{v}/entitlements"), get(api::list_entitlements))
            .route(
                &format!("/{v}/entitlements/{{id}}"),
                get(api::one_entitlement),
            )
            .route(&format!("/{v}/task-status"), get(tasks::list))
            .route(&format!("/{v}/task-status/{{id}}"), get(tasks::one))
            .route(
                &format!("/{v}/sources/{{id}}/load-entitlements"),
                post(tasks::load_entitlements),
            );
    }
    router.route("/v3/sources/{id}/schemas", get(schemas::list_schemas))
}

async fn not_found(req: Request) -> Response {
    ApiError::NotFound(format!("No endpoint {} {}", req.method(), req.uri().path())).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

/// Every route's path template, for the stats.
static TEMPLATES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut all = vec![
        "/oauth/token".to_owned(),
        "/v3/sources/{id}/schemas".to_owned(),
    ];
    for v in SOURCE_VERSIONS {
        all.push(format!("/{v}/sources"));
        all.push(format!("/{v}/sources/{{id}}"));
    }
    for v in ENTITLEMENT_VERSIONS {
        for path in [
            "entitlements",
            "entitlements/{id}",
            "task-status",
            "task-status/{id}",
            "sources/{id}/load-entitlements",
        ] {
            all.push(format!("/{v}/{path}"));
        }
    }
    all
});

/// `GET /sandbox/stats` answers outside the API: no token, no faults, not counted.
pub const STATS_PATH: &str = "/sandbox/stats";

/// `GET /sandbox/mail`: the messages the SMTP sink received, as JSON, most recent last.
pub const MAIL_PATH: &str = "/sandbox/mail";
/// `POST /sandbox/fire[?status=Success|Failed|Terminated]`: fires the "Account Aggregation
/// Completed" event of the AD source at the sandbox's [`WebhookTarget`].
pub const FIRE_PATH: &str = "/sandbox/fire";

/// Where `POST /sandbox/fire` sends the event, and the Bearer token it sends with it, as
/// a trigger subscription with `BEARER_TOKEN` authentication does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    pub bearer_token: String,
}

/// What the sandbox's own endpoints reach: the tenant, the SMTP sink, the webhook.
#[derive(Clone)]
struct Playground {
    tenant: Tenant,
    mail: crate::smtp::SmtpSink,
    webhook: Option<WebhookTarget>,
    source_id: String,
}

async fn list_mail(State(p): State<Playground>) -> Response {
    let mails: Vec<serde_json::Value> = p.mail.messages().iter().map(|m| m.to_json()).collect();
    axum::Json(mails).into_response()
}

#[derive(serde::Deserialize)]
struct FireQuery {
    status: Option<String>,
}

async fn fire(State(p): State<Playground>, Query(q): Query<FireQuery>) -> Response {
    use axum::http::StatusCode;
    let Some(target) = &p.webhook else {
        let error = "no webhook to fire at: start the sandbox with --fire-webhook URL[,token]";
        let body = serde_json::json!({ "error": error });
        return (StatusCode::CONFLICT, axum::Json(body)).into_response();
    };
    let status = q.status.as_deref().unwrap_or("Success");
    let authorization = format!("Bearer {}", target.bearer_token);
    let fired = p
        .tenant
        .fire_account_aggregation_completed(&target.url, &p.source_id, status, Some(&authorization))
        .await;
    match fired {
        Ok(answered) => {
            tracing::info!(url = %target.url, answered, "sandbox fired Account Aggregation Completed");
            let body = serde_json::json!({ "url": target.url, "status": answered });
            axum::Json(body).into_response()
        }
        Err(error) => {
            let body = serde_json::json!({ "url": target.url, "error": error });
            (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
        }
    }
}

/// Counts every request and logs it (path only: query strings may carry secrets).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    if method == axum::http::Method::GET && path == STATS_PATH {
        return axum::Json(stats_json(&state)).into_response();
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    let resp = next.run(req).await;
    let route = template_of(&path, &TEMPLATES).unwrap_or("(unknown path)");
    state
        .stats
        .served(format!("{method} {route}"), resp.status().as_u16());
    tracing::info!(
        target: "groupsync_sandbox::tenant",
        %method, path, status = resp.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "identitynow request"
    );
    resp
}

/// The stats with the sliding-window peak of each client id.
fn stats_json(state: &Shared) -> serde_json::Value {
    let mut body = state.stats.to_json();
    body["max_in_window_by_client"] = serde_json::json!(state.stats.peaks());
    body["rate_limit"] = serde_json::json!(state.limiter.limit());
    body
}

/// Serves `app` on `listener` until `shutdown` is cancelled.
pub async fn serve_router(
    app: Router,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

impl Tenant {
    pub fn new(opts: TenantOptions) -> Tenant {
        let shared = Shared {
            client_id: opts.client_id,
            client_secret: opts.client_secret,
            credential: opts.credential,
            token_lifetime: opts.token_lifetime,
            aggregation_delay: opts.aggregation_delay,
            clock: Clock::new(),
            tokens: Mutex::default(),
            limiter: ratelimit::RateLimiter::new(opts.rate_limit),
            catalog: Mutex::new(catalog::Catalog::new(opts.sources)),
            tasks: Mutex::default(),
            feeds: Mutex::default(),
            faults: Faults::new(opts.faults, Flavor::IdentityNow),
            requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            stats: Stats::default(),
        };
        Tenant {
            shared: Arc::new(shared),
        }
    }

    /// The whole service: token endpoint, API behind token check and rate limit, faults
    /// in front of both, and the request log around everything.
    pub fn router(&self) -> Router {
        let guard = middleware::from_fn_with_state(self.shared.clone(), auth::guard);
        let app = Router::new()
            .route("/oauth/token", post(auth::token))
            .merge(api_routes().route_layer(guard))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(self.shared.clone());
        faults::wrap(app, self.shared.faults.clone())
            .layer(middleware::from_fn_with_state(self.shared.clone(), observe))
    }

    /// The tenant's router with the sandbox's own endpoints beside it, outside the API
    /// (no token, no faults, not counted): [`MAIL_PATH`] reads `mail`, [`FIRE_PATH`]
    /// fires the event of source `source_id` at `webhook`.
    pub fn router_with(
        &self,
        mail: crate::smtp::SmtpSink,
        webhook: Option<WebhookTarget>,
        source_id: &str,
    ) -> Router {
        let playground = Playground {
            tenant: self.clone(),
            mail,
            webhook,
            source_id: source_id.to_owned(),
        };
        let own = Router::new()
            .route(MAIL_PATH, get(list_mail))
            .route(FIRE_PATH, post(fire))
            .with_state(playground);
        self.router().merge(own)
    }

    /// Serves on `listener` until `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let app = self.router();
        serve_router(app, listener, shutdown).await
    }

    /// A new AD group appears in the source; the next reads see it. Unknown sources are
    /// ignored (with a warning).
    pub fn add_group(&self, source_id: &str, name: &str) {
        let now = self.shared.clock.now();
        if !lock(&self.shared.catalog).add_group(source_id, name, now) {
            tracing::warn!(source_id, "add_group: no such simulated source");
        }
    }

    /// From now on an entitlement aggregation of `source_id` (`load-entitlements`) makes
    /// the source hold exactly what `read` returns when the task completes: (native value,
    /// name) of each group, as a connector reads the system it connects to.
    pub fn set_feed(
        &self,
        source_id: &str,
        read: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) {
        lock(&self.shared.feeds).insert(source_id.to_owned(), Arc::new(read));
    }

    /// The source holds what its feed reads now, as an aggregation long before this one
    /// left it: each entitlement created at a past time (fixed by its id). Without a feed,
    /// or for an unknown source, nothing changes (with a warning).
    pub fn aggregated_earlier(&self, source_id: &str) {
        let Some(feed) = lock(&self.shared.feeds).get(source_id).cloned() else {
            tracing::warn!(source_id, "aggregated_earlier: the source has no feed");
            return;
        };
        let groups = feed();
        if !lock(&self.shared.catalog).aggregated_earlier(source_id, &groups) {
            tracing::warn!(source_id, "aggregated_earlier: no such simulated source");
        }
    }

    /// The group is renamed in the source and keeps its entitlement id; the next reads see
    /// the new name. Unknown sources or groups are ignored (with a warning).
    pub fn rename_group(&self, source_id: &str, name: &str, new_name: &str) {
        let now = self.shared.clock.now();
        if !lock(&self.shared.catalog).rename_group(source_id, name, new_name, now) {
            tracing::warn!(
                source_id,
                name,
                "rename_group: no such simulated source or group"
            );
        }
    }

    /// The group disappears from the source (nothing happens if it was not there).
    pub fn remove_group(&self, source_id: &str, name: &str) {
        lock(&self.shared.catalog).remove_group(source_id, name);
    }

    /// Every token issued so far answers as expired from now on.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).expire_all();
    }

    /// HTTP requests received so far (token requests, refusals and faults included).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// What `GET /sandbox/stats` answers: requests by route, 429s served, and the most
    /// requests of each client id in any sliding 10-second window.
    pub fn stats(&self) -> serde_json::Value {
        stats_json(&self.shared)
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::Relaxed)
    }

    /// Faults injected so far by the fault plan.
    pub fn faults_injected(&self) -> u64 {
        self.shared.faults.injected()
    }

    /// Records a finished aggregation of `source_id` in task-status and returns it. For an
    /// unknown source the task is still recorded, naming the id as the source.
    pub fn complete_aggregation(
        &self,
        source_id: &str,
        kind: AggregationKind,
        status: TaskCompletion,
    ) -> TaskStatus {
        let now = self.shared.clock.now();
        let catalog = lock(&self.shared.catalog);
        let stub;
        let entry = match catalog.source(source_id) {
            Some(entry) => entry,
            None => {
                stub = catalog::SourceEntry {
                    source: SimSource::active_directory(source_id, source_id, Vec::new()),
                    groups: Default::default(),
                };
                &stub
            }
        };
        lock(&self.shared.tasks).record_finished(entry, kind, status, now)
    }

    /// POSTs the "Account Aggregation Completed" event (real payload shape) to `url` with
    /// the given Authorization header value (or none), and returns the HTTP status the
    /// receiver answered. The finished account aggregation is also recorded in task-status.
    pub async fn fire_account_aggregation_completed(
        &self,
        url: &str,
        source_id: &str,
        status: &str,
        authorization: Option<&str>,
    ) -> Result<u16, String> {
        if !events::STATUSES.contains(&status) {
            return Err(format!(
                "status {status:?} is not one of {}",
                events::STATUSES.join(", ")
            ));
        }
        let completion = match status {
            "Success" => TaskCompletion::Success,
            "Failed" => TaskCompletion::Error,
            _ => TaskCompletion::Terminated,
        };
        let now = self.shared.clock.now();
        let body = {
            let catalog = lock(&self.shared.catalog);
            let entry = catalog
                .source(source_id)
                .ok_or_else(|| format!("no simulated source with id {source_id:?}"))?;
            lock(&self.shared.tasks).record_finished(
                entry,
                AggregationKind::Accounts,
                completion,
                now,
            );
            events::payload(entry, status, now)
        };
        events::deliver(url, &body, authorization).await
    }
}
