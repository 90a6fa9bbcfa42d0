//! The SCIM 2.0 client: find groups by `displayName`, create the missing ones, list all.
//!
//! Built for Alation's SCIM API but written against RFC 7643/7644 and tolerant of the
//! usual deviations (numbers as strings, `resources` in lower case, any JSON media
//! type, lenient error bodies). Two rules shape it:
//! - a lookup never turns an error into "not found" (that would create duplicates), and
//!   every returned resource is re-checked here, since servers may ignore or loosen filters;
//! - `POST` is never repeated blindly: a create that may or may not have happened is
//!   reported as [`Disposition::RetryLater`](crate::retry::Disposition), and the caller
//!   looks the group up before trying again.

mod create;
mod error;
pub mod expiry;
pub mod flow;
mod listing_wire;
mod own;
mod read;
mod wire;

#[cfg(test)]
mod tests;

pub use create::CreateOutcome;
pub use error::{Detail, ScimError};
pub use own::{Change, external_id_filter};
pub use wire::{FilterSupport, display_name_filter};

use crate::config::{Credentials, ScimSettings};
use crate::rate::Pace;
use crate::retry::RetryPolicy;
use crate::upstream::{Reply, UpstreamError};
use flow::{Flow, Slot};
use secrecy::ExposeSecret;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// What groupsync accepts back; servers that only speak one of them still answer.
const ACCEPT: &str = "application/scim+json, application/json";
/// The longest we wait for a TCP (and TLS) connection, whatever the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A SCIM client for one server. Cheap to clone (the clones share the connection pool,
/// the pace and the adaptive limits).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `{base}Groups`.
    groups_url: Url,
    /// `{base}ServiceProviderConfig`.
    spc_url: Url,
    auth: Credentials,
    retry: RetryPolicy,
    /// `scim.requests_per_second`: every request waits for it.
    pace: Option<Arc<Pace>>,
    /// The lookups and creates allowed in flight ([`Client::with_concurrency`]).
    flow: Option<Flow>,
}

impl fmt::Debug for Client {
    /// Shows where the client points and how it authenticates, never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Credentials::Bearer(_) => "bearer",
            Credentials::Basic { .. } => "basic",
        };
        f.debug_struct("Client")
            .field("groups_url", &self.groups_url.as_str())
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `settings.base_url` (which ends with `/`), with its timeout and
    /// credentials. Redirects are not followed, so credentials never go elsewhere.
    pub fn new(settings: &ScimSettings) -> Result<Client, ScimError> {
        let http = crate::upstream::client_for(&settings.base_url)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
            .user_agent(concat!("groupsync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ScimError::Setup(e.to_string()))?;
        Self::with_http(settings, http)
    }

    /// As [`Client::new`], over an HTTP client built elsewhere (shared pool, or tests
    /// that need one without timers).
    pub(crate) fn with_http(
        settings: &ScimSettings,
        http: reqwest::Client,
    ) -> Result<Client, ScimError> {
        // `join` replaces the last segment of a base without a trailing `/`
        // (`…/scim/v2` + `Groups` = `…/scim/Groups`), so make sure there is one.
        let mut base = settings.base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let join = |path: &str| {
            base.join(path)
                .map_err(|e| ScimError::Setup(format!("cannot join {path:?} to the base URL: {e}")))
        };
        Ok(Client {
            http,
            groups_url: join("Groups")?,
            spc_url: join("ServiceProviderConfig")?,
            auth: settings.auth.clone(),
            retry: settings.retry,
            pace: settings
                .requests_per_second
                .and_then(|n| Pace::per_second("SCIM", n)),
            flow: None,
        })
    }

    /// Lookups and creates in flight adapt to the server's load, up to these ceilings
    /// (`sync.lookup_concurrency`, `sync.create_concurrency`; see [`flow`]).
    pub fn with_concurrency(mut self, lookups: usize, creates: usize) -> Client {
        self.flow = Some(Flow::new(lookups, creates));
        self
    }

    /// A place among the lookups in flight (`None`: no adaptive limit set).
    pub async fn lookup_slot(&self) -> Option<Slot> {
        match &self.flow {
            Some(flow) => Some(flow.lookups.slot().await),
            None => None,
        }
    }

    /// A place among the creates and changes in flight (`None`: no adaptive limit set).
    pub async fn create_slot(&self) -> Option<Slot> {
        match &self.flow {
            Some(flow) => Some(flow.creates.slot().await),
            None => None,
        }
    }

    /// A request with the credentials and `Accept` header every call carries.
    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        let builder = self
            .http
            .request(method, url)
            .header(http::header::ACCEPT, ACCEPT);
        match &self.auth {
            Credentials::Bearer(token) => builder.bearer_auth(token.expose_secret()),
            Credentials::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose_secret()))
            }
        }
    }

    /// Sends one request, at the pace set; the status, whatever it is, is for the caller
    /// to read, and tells the adaptive limits about the server's load.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Reply, ScimError> {
        let (http, built) = request.build_split();
        let built = built.map_err(|e| error::from_upstream(UpstreamError::Transport(e)))?;
        let method = built.method().clone();
        let request = reqwest::RequestBuilder::from_parts(http, built);
        let _sent = match &self.pace {
            Some(pace) => Some(pace.ready().await),
            None => None,
        };
        let started = tokio::time::Instant::now();
        let reply = crate::upstream::exchange("scim", request)
            .await
            .map_err(error::from_upstream)?;
        if let Some(flow) = &self.flow {
            flow.observe(&method, reply.status.as_u16(), started.elapsed());
        }
        Ok(reply)
    }

    /// `{base}Groups?{query}`; the query is already percent-encoded.
    fn groups_url_with(&self, query: &str) -> Url {
        let mut url = self.groups_url.clone();
        url.set_query(Some(query));
        url
    }
}
