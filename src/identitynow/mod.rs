//! The SailPoint IdentityNow client: an OAuth2 client-credentials token, the sources,
//! the AD source's group entitlements, and its aggregation tasks.
//!
//! Every request waits for our own rate limiter, carries a cached token (renewed before
//! it expires, and once after a 401), and GETs are retried on passing failures (429 with
//! its `Retry-After`, 5xx, timeouts). Errors keep SailPoint's `trackingId` and say what
//! to do ([`IdnError`]).
//!
//! - `token`: the `oauth2` adapter and the token cache.
//! - `request`: one call, paced, authenticated, retried.
//! - `entitlements`: paging through the groups, all or nothing; `split`: past the
//!   10,000-record window without `searchAfter`, by ranges of `created`.
//! - `sources`, `tasks`: the smaller endpoints.
//! - `error`, `types`, `query`: what they say; the pace is [`crate::rate`].

pub mod access;
mod ahead;
mod entitlements;
mod error;
pub mod probe;
mod query;
mod request;
mod sources;
mod split;
mod tasks;
mod token;
mod types;

#[cfg(test)]
mod tests;

pub use entitlements::{OFFSET_WINDOW, Paging, Reading, Selection};
pub use error::{ApiFailure, Endpoint, IdnError, RATE_LIMIT_FALLBACK};
pub use types::{AggregationKind, Completion, FetchProgress, Source, TaskStatus};

use crate::config::IdentityNowSettings;
use crate::rate::Pace;
use crate::retry::retry;
use std::sync::Arc;
use std::time::Duration;
use token::Tokens;

/// `User-Agent` of every request, so tenant logs show who called.
pub const USER_AGENT: &str = concat!("groupsync/", env!("CARGO_PKG_VERSION"));

/// Connecting takes no longer than this, whatever the overall timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The IdentityNow client; cheap to clone (the clones share the token, the connection
/// pool and the rate limiter).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: IdentityNowSettings,
    tokens: Tokens,
    pace: Arc<Pace>,
}

impl Client {
    /// Built from validated settings; the base URL is `settings.tenant_url`, so tests
    /// point it at a local server.
    pub fn new(settings: &IdentityNowSettings) -> Result<Client, IdnError> {
        Client::new_among(settings, &[])
    }

    /// As [`Client::new`], sharing the rate limiter of an `earlier` client that calls the
    /// same tenant with the same client id: the tenant's budget is per client id, so two
    /// jobs on one tenant share one `requests_per_10s`.
    pub fn new_among(
        settings: &IdentityNowSettings,
        earlier: &[Client],
    ) -> Result<Client, IdnError> {
        if !(1..=250).contains(&settings.page_size) {
            return Err(IdnError::Setup(format!(
                "identitynow.page_size must be between 1 and 250, got {}",
                settings.page_size
            )));
        }
        let shared = earlier.iter().find(|c| {
            let s = &c.inner.settings;
            s.tenant_url == settings.tenant_url && s.client_id == settings.client_id
        });
        let pace = match shared {
            Some(c) => c.inner.pace.clone(),
            None => Pace::per_10s(settings.requests_per_10s).ok_or_else(|| {
                IdnError::Setup("identitynow.requests_per_10s must be at least 1".into())
            })?,
        };
        // Redirects are never followed: the token request carries the secret, and no
        // API call here is expected to move.
        let http = crate::upstream::client_for(&settings.tenant_url)
            .user_agent(USER_AGENT)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(CONNECT_TIMEOUT))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IdnError::Setup(e.to_string()))?;
        let token_url = request::url_for(&settings.tenant_url, &["oauth", "token"], &[])?;
        let tokens = Tokens::new(
            http.clone(),
            token_url,
            &settings.client_id,
            &settings.client_secret,
            pace.clone(),
        );
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                settings: settings.clone(),
                tokens,
                pace,
            }),
        })
    }

    /// Makes sure a token can be had now (for `check` and readiness). A cached token that
    /// is not near expiry counts, so frequent probes do not hammer the token endpoint.
    pub async fn check_token(&self) -> Result<(), IdnError> {
        let operation = crate::retry::Operation::new("IdentityNow", "access token");
        retry(&self.inner.settings.retry, &operation, || {
            self.inner.tokens.current()
        })
        .await
        .map(|_| ())
    }

    /// Whether a user is behind the token (a personal access token) rather than a
    /// user-less API client, as the token response said. The cached token answers; one
    /// is fetched only if none is cached or it is near expiry.
    pub async fn token_has_user(&self) -> Result<bool, IdnError> {
        self.inner.tokens.current().await.map(|t| t.has_user)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("Client")
            .field("tenant_url", &s.tenant_url.as_str())
            .field("client_id", &s.client_id)
            .field("api_version", &s.api_version)
            .finish_non_exhaustive()
    }
}
