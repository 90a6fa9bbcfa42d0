//! A SCIM 2.0 server playing Alation's part: `/scim/v2/Groups` with filters, paging,
//! projection, create, replace, patch and delete, plus the discovery endpoints.
//!
//! It follows RFC 7643/7644 and was checked by hand against scim2-server (the Python
//! implementation used as a test peer): same status codes, `scimType`s, paging rules
//! and case rules. `displayName` is not unique unless [`ScimOptions::unique_display_names`]
//! is set, as the RFC allows, so a client that creates twice gets two groups.
//!
//! Layout: `filter` parses the filter language, `query` resolves it against the Group
//! schema and matches groups, `group` and `store` hold the data, `list` and `patch`
//! handle their parts of the protocol, `handlers` and `discovery` are the endpoints,
//! `auth` checks credentials.

mod auth;
mod discovery;
mod error;
pub mod filter;
mod group;
mod handlers;
mod list;
mod patch;
mod query;
mod store;
#[cfg(test)]
mod tests;
mod view;

pub use auth::ScimServerAuth;
pub use error::ScimError;

use crate::faults::{self, FaultPlan, Faults, Flavor};
use crate::stats::{Stats, template_of};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::SCIM_JSON;
use group::GroupInput;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How the sandbox SCIM server behaves.
#[derive(Debug, Clone)]
pub struct ScimOptions {
    pub auth: ScimServerAuth,
    /// The most resources one page holds (`count` is capped to it silently, and it is
    /// advertised as `filter.maxResults`); 1000 like scim2-server.
    pub max_page_size: usize,
    /// When true, a POST, PUT or PATCH that would give two groups the same
    /// `displayName` (ignoring case) gets 409 `uniqueness`. Off by default: the RFC
    /// declares `displayName` `uniqueness: none`, and scim2-server allows duplicates.
    pub unique_display_names: bool,
    /// The longest `displayName` (in characters) a create accepts; a longer one gets
    /// 400 `invalidValue`. `None` (the default): no limit.
    pub max_name_length: Option<usize>,
    /// Latency and injected faults, with SCIM-shaped error bodies.
    pub faults: FaultPlan,
    /// Whether `PATCH /Groups/{id}` is served (and `/ServiceProviderConfig` says so);
    /// without it PATCH answers 501 and clients must PUT.
    pub patch: bool,
}

impl ScimOptions {
    /// The defaults: 1000 per page, duplicates allowed, no faults.
    pub fn new(auth: ScimServerAuth) -> Self {
        ScimOptions {
            auth,
            max_page_size: 1000,
            unique_display_names: false,
            max_name_length: None,
            faults: FaultPlan::default(),
            patch: true,
        }
    }
}

/// What every request handler shares.
struct Shared {
    auth: ScimServerAuth,
    max_page_size: usize,
    unique_display_names: bool,
    max_name_length: Option<usize>,
    faults: FaultPlan,
    patch: bool,
    store: Mutex<Store>,
    requests: AtomicU64,
    creates: AtomicU64,
    refused_names: AtomicU64,
    stats: Stats,
}

impl Shared {
    /// The store; a panic elsewhere while holding the lock cannot leave it half-changed
    /// (every change is one assignment), so a poisoned lock is simply taken over.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count_create(&self) {
        self.creates.fetch_add(1, Ordering::Relaxed);
    }

    fn count_refused_name(&self) {
        self.refused_names.fetch_add(1, Ordering::Relaxed);
    }
}

/// The sandbox SCIM server; clones share the same groups and counters.
/// One group as the server holds it, without its members: what [`ScimServer::groups`]
/// shows to a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The id the server assigned.
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
}

#[derive(Clone)]
pub struct ScimServer {
    shared: Arc<Shared>,
}

impl ScimServer {
    pub fn new(opts: ScimOptions) -> ScimServer {
        ScimServer {
            shared: Arc::new(Shared {
                auth: opts.auth,
                max_page_size: opts.max_page_size,
                unique_display_names: opts.unique_display_names,
                max_name_length: opts.max_name_length,
                faults: opts.faults,
                patch: opts.patch,
                store: Mutex::new(Store::default()),
                requests: AtomicU64::new(0),
                creates: AtomicU64::new(0),
                refused_names: AtomicU64::new(0),
                stats: Stats::default(),
            }),
        }
    }

    /// All routes under `/scim/v2`, behind authentication, fault injection and the
    /// request counter (outermost, so it also counts injected faults).
    pub fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
        let api = Router::new()
            .route(
                "/scim/v2/Groups",
                get(handlers::list).post(handlers::create),
            )
            .route(
                "/scim/v2/Groups/{id}",
                get(handlers::fetch)
                    .put(handlers::replace)
                    .patch(handlers::patch)
                    .delete(handlers::remove),
            )
            .route(
                "/scim/v2/ServiceProviderConfig",
                get(discovery::service_provider_config),
            )
            .route("/scim/v2/ResourceTypes", get(discovery::resource_types))
            .route("/scim/v2/ResourceTypes/{id}", get(discovery::resource_type))
            .route("/scim/v2/Schemas", get(discovery::schemas))
            .route("/scim/v2/Schemas/{id}", get(discovery::schema))
            .fallback(handlers::unknown_path)
            .method_not_allowed_fallback(handlers::wrong_method)
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                auth::require,
            ))
            .with_state(Arc::clone(&shared));
        let faults = Faults::new(shared.faults.clone(), Flavor::Scim);
        faults::wrap(api, faults).layer(middleware::from_fn_with_state(shared, observe))
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %listener.local_addr()?, "sandbox SCIM server listening");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }

    /// Seeds a group, bypassing validation and the uniqueness rule (so tests can set up
    /// duplicates); returns its id. Not counted by [`ScimServer::create_count`].
    pub fn insert_group(&self, display_name: &str) -> String {
        let input = GroupInput {
            display_name: display_name.to_owned(),
            external_id: None,
            members: Vec::new(),
        };
        self.shared.store().insert(input).id.clone()
    }

    /// A snapshot of the groups, in creation order.
    pub fn groups(&self) -> Vec<GroupSummary> {
        self.shared
            .store()
            .iter()
            .map(|g| GroupSummary {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                external_id: g.external_id.clone(),
            })
            .collect()
    }

    /// Every request received, including refused and fault-injected ones.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// What `GET /sandbox/stats` answers: requests by route, 429s, and the most requests
    /// in any sliding 10-second window (all clients together) as `max_in_window`.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Groups created through `POST /Groups`.
    pub fn create_count(&self) -> u64 {
        self.shared.creates.load(Ordering::Relaxed)
    }

    /// `POST /Groups` refused for a name longer than [`ScimOptions::max_name_length`].
    pub fn refused_name_count(&self) -> u64 {
        self.shared.refused_names.load(Ordering::Relaxed)
    }
}

/// The paths `GET …/sandbox/stats` answers on (outside the SCIM API: no credentials, no
/// faults, not counted).
const STATS_PATHS: [&str; 2] = ["/sandbox/stats", "/scim/v2/sandbox/stats"];

/// The path templates of the routes, for the stats.
const TEMPLATES: [&str; 7] = [
    "/scim/v2/Groups",
    "/scim/v2/Groups/{id}",
    "/scim/v2/ServiceProviderConfig",
    "/scim/v2/ResourceTypes",
    "/scim/v2/ResourceTypes/{id}",
    "/scim/v2/Schemas",
    "/scim/v2/Schemas/{id}",
];

/// The key the SCIM server's sliding-window peak is kept under (all clients together).
const ALL_CLIENTS: &str = "all";

/// Counts and logs each request, and gives every response the SCIM media type.
async fn observe(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    if method == http::Method::GET && STATS_PATHS.contains(&uri.path()) {
        let mut body = shared.stats.to_json();
        body["max_in_window"] = shared.stats.peak(ALL_CLIENTS).into();
        body["max_in_second"] = shared.stats.peak_in_second(ALL_CLIENTS).into();
        return axum::Json(body).into_response();
    }
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    shared.stats.seen(ALL_CLIENTS, started);
    let route = template_of(uri.path(), &TEMPLATES).unwrap_or("(unknown path)");
    let route = format!("{method} {route}");
    let mut resp = next.run(req).await;
    shared.stats.served(route, resp.status().as_u16());
    resp.headers_mut()
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static(SCIM_JSON));
    tracing::debug!(
        %method,
        %uri,
        status = resp.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "SCIM request"
    );
    resp
}
