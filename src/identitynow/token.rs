//! The OAuth2 client-credentials token: fetched through the `oauth2` crate, cached, and
//! renewed shortly before it expires or after the API refused it.
//!
//! `oauth2` 5 only ships an HTTP adapter for reqwest 0.12, so [`TokenHttp`] adapts our
//! reqwest 0.13 client. The adapter also turns every non-200 answer into its own error
//! carrying the status and `Retry-After`, which `oauth2`'s own error type drops: a 503
//! must be retried, a 401 `invalid_client` must not.
//!
//! The token response is read with SailPoint's extra fields ([`SailPointFields`]): a
//! user's token (a personal access token) names its identity, a user-less API client's
//! does not, and some operations (starting an aggregation) take only a user's token.

use super::error::{ApiFailure, IdnError};
use crate::rate::Pace;
use crate::upstream::UpstreamError;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpRequest, HttpResponse, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

/// Assumed lifetime when the token response has no `expires_in` (SailPoint always sends
/// it); short enough that a token is renewed well before any plausible expiry.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);
/// Longer lifetimes are cut to this: a day-old token is renewed anyway, and it keeps
/// `Instant` arithmetic far from overflow whatever `expires_in` says.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Renew at most this long before expiry…
const MAX_MARGIN: Duration = Duration::from_secs(60);

/// …or a tenth of the lifetime, whichever is smaller, so short-lived tokens stay useful.
pub fn renewal_margin(lifetime: Duration) -> Duration {
    MAX_MARGIN.min(lifetime / 10)
}

/// A bearer token, which fetch it came from, and whether a user is behind it.
#[derive(Clone)]
pub struct Token {
    pub value: SecretString,
    generation: u64,
    /// The token response named an identity: a user's token, not a user-less API client's.
    pub has_user: bool,
}

/// The fields SailPoint adds to the token response that groupsync reads: `identity_id`
/// and `user_id` are set for a user's token and absent for a user-less client-credentials
/// client. Every other field is ignored; a missing one is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct SailPointFields {
    pub identity_id: Option<String>,
    pub user_id: Option<String>,
}

impl ExtraTokenFields for SailPointFields {}

impl SailPointFields {
    /// Whether a user is behind the token.
    pub fn has_user(&self) -> bool {
        [&self.identity_id, &self.user_id]
            .into_iter()
            .any(|id| id.as_deref().is_some_and(|id| !id.trim().is_empty()))
    }
}

/// The token response, SailPoint's fields included.
pub type TokenReply = StandardTokenResponse<SailPointFields, BasicTokenType>;

struct Cached {
    token: Token,
    renew_at: Instant,
}

#[derive(Default)]
struct Slot {
    cached: Option<Cached>,
    fetches: u64,
}

impl Slot {
    fn fresh(&self, not: Option<u64>) -> Option<Token> {
        self.cached
            .as_ref()
            .filter(|c| Instant::now() < c.renew_at && Some(c.token.generation) != not)
            .map(|c| c.token.clone())
    }
}

/// `oauth2`'s basic client with [`TokenReply`] for its token response; only the token
/// endpoint is set.
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenReply,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Fetches and caches tokens. One tokio mutex guards the cache *and* the fetch, so
/// callers that find the token stale at the same time share one fetch.
pub struct Tokens {
    oauth: OAuthClient,
    http: TokenHttp,
    url: String,
    /// Kept to scrub it from quoted error bodies, should a server echo the request.
    secret: SecretString,
    slot: Mutex<Slot>,
    /// The client's pace: a token request counts against the same budget as any call.
    pace: Arc<Pace>,
}

impl Tokens {
    pub fn new(
        http: reqwest::Client,
        token_url: Url,
        client_id: &str,
        secret: &SecretString,
        pace: Arc<Pace>,
    ) -> Tokens {
        let url = token_url.to_string();
        let oauth = oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
            // SailPoint documents the credentials in the form body, as its own CLI sends them.
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(token_url));
        Tokens {
            oauth,
            http: TokenHttp(http),
            url,
            secret: secret.clone(),
            slot: Mutex::new(Slot::default()),
            pace,
        }
    }

    /// The cached token, or a new one if there is none or it is near expiry.
    pub async fn current(&self) -> Result<Token, IdnError> {
        let mut slot = self.slot.lock().await;
        match slot.fresh(None) {
            Some(token) => Ok(token),
            None => self.fill(&mut slot).await,
        }
    }

    /// A token other than `stale`, which the API just refused. If another caller has
    /// already replaced it, that replacement is returned without a new fetch.
    pub async fn renew(&self, stale: &Token) -> Result<Token, IdnError> {
        let mut slot = self.slot.lock().await;
        match slot.fresh(Some(stale.generation)) {
            Some(token) => Ok(token),
            None => self.fill(&mut slot).await,
        }
    }

    async fn fill(&self, slot: &mut Slot) -> Result<Token, IdnError> {
        slot.cached = None;
        let asked_at = Instant::now();
        let sent = self.pace.ready().await;
        let response = self
            .oauth
            .exchange_client_credentials()
            .request_async(&self.http)
            .await
            .map_err(|e| self.classify(e));
        drop(sent);
        let response = response?;
        let lifetime = response
            .expires_in()
            .unwrap_or(ASSUMED_LIFETIME)
            .min(MAX_LIFETIME);
        slot.fetches += 1;
        let token = Token {
            value: SecretString::from(response.access_token().secret().to_owned()),
            generation: slot.fetches,
            has_user: response.extra_fields().has_user(),
        };
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            fetches = slot.fetches,
            has_user = token.has_user,
            "fetched an IdentityNow access token"
        );
        slot.cached = Some(Cached {
            token: token.clone(),
            renew_at: asked_at + lifetime - renewal_margin(lifetime),
        });
        Ok(token)
    }

    fn classify(&self, e: RequestTokenError<TokenHttpError, BasicErrorResponse>) -> IdnError {
        match e {
            RequestTokenError::Request(TokenHttpError::Upstream(UpstreamError::Transport(
                source,
            ))) => IdnError::TokenTransport {
                url: self.url.clone(),
                source,
            },
            RequestTokenError::Request(TokenHttpError::Upstream(
                too_large @ UpstreamError::TooLarge { .. },
            )) => IdnError::TokenResponse(too_large.to_string()),
            RequestTokenError::Request(TokenHttpError::Status {
                status,
                retry_after,
                failure,
            }) => {
                let failure = ApiFailure {
                    detail: scrub(&failure.detail, self.secret.expose_secret()),
                    ..failure
                };
                refused(&self.url, status, retry_after, failure)
            }
            RequestTokenError::Request(TokenHttpError::Build(problem)) => IdnError::Setup(problem),
            // Only 200 answers reach oauth2's parser (see `TokenHttp`), and their body holds
            // the token: name the problem, never quote the body.
            RequestTokenError::Parse(e, _) => IdnError::TokenResponse(e.to_string()),
            RequestTokenError::ServerResponse(e) => IdnError::TokenResponse(e.to_string()),
            RequestTokenError::Other(problem) => IdnError::TokenResponse(problem),
        }
    }
}

/// `text` without `secret`, raw or form-encoded.
fn scrub(text: &str, secret: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut text = text.to_owned();
    for needle in [secret, encoded.as_str()] {
        if !needle.is_empty() {
            text = text.replace(needle, "[redacted]");
        }
    }
    text
}

/// A non-200 answer of the token endpoint. Wrong credentials come back as 401, or as 400
/// with RFC 6749's `invalid_client`/`unauthorized_client`.
fn refused(url: &str, status: u16, retry_after: Option<Duration>, failure: ApiFailure) -> IdnError {
    let bad_client = ["invalid_client", "unauthorized_client"]
        .iter()
        .any(|code| failure.detail.starts_with(code));
    if status == 401 || (status == 400 && bad_client) {
        return IdnError::BadCredentials {
            detail: format!("{status}: {}", failure.detail),
        };
    }
    IdnError::TokenEndpoint {
        url: url.to_owned(),
        status,
        detail: failure.detail,
        retry_after,
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Our reqwest 0.13 client as an `oauth2` HTTP client. It must not follow redirects (a
/// redirected token request could carry the secret elsewhere): the caller builds it so.
pub struct TokenHttp(reqwest::Client);

/// Why the token request got no 200.
#[derive(Debug, thiserror::Error)]
pub enum TokenHttpError {
    #[error("cannot build the token request: {0}")]
    Build(String),
    #[error(transparent)]
    Upstream(UpstreamError),
    #[error("{failure}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        failure: ApiFailure,
    },
}

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TokenHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| TokenHttpError::Build(e.to_string()))?;
            let label = format!("{} {}", request.method(), request.url().path());
            let request = reqwest::RequestBuilder::from_parts(self.0.clone(), request);
            let reply = crate::upstream::exchange("identitynow", request)
                .await
                .map_err(TokenHttpError::Upstream)?;
            if reply.status != http::StatusCode::OK {
                return Err(TokenHttpError::Status {
                    status: reply.status.as_u16(),
                    retry_after: crate::retry::retry_after(&reply.headers),
                    failure: ApiFailure::parse(label, reply.status, &reply.body),
                });
            }
            let mut builder = http::Response::builder().status(reply.status);
            for (name, value) in &reply.headers {
                builder = builder.header(name, value);
            }
            builder
                .body(reply.body)
                .map_err(|e| TokenHttpError::Build(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_secrets_are_scrubbed() {
        assert_eq!(
            scrub("bad: client_secret=a%2Bb%26c or a+b&c", "a+b&c"),
            "bad: client_secret=[redacted] or [redacted]"
        );
    }

    #[test]
    fn the_margin_is_a_minute_or_a_tenth_of_the_lifetime() {
        assert_eq!(
            renewal_margin(Duration::from_secs(749)),
            Duration::from_secs(60)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(renewal_margin(Duration::ZERO), Duration::ZERO);
    }

    fn failure(detail: &str) -> ApiFailure {
        ApiFailure {
            request: "POST /oauth/token".into(),
            status: 400,
            tracking_id: None,
            detail: detail.into(),
        }
    }

    #[test]
    fn wrong_credentials_are_told_apart_from_other_refusals() {
        let url = "http://tenant/oauth/token";
        assert!(matches!(
            refused(url, 401, None, failure("Full authentication is required")),
            IdnError::BadCredentials { .. }
        ));
        assert!(matches!(
            refused(
                url,
                400,
                None,
                failure("invalid_client — Bad client credentials")
            ),
            IdnError::BadCredentials { .. }
        ));
        assert!(matches!(
            refused(url, 400, None, failure("unsupported_grant_type")),
            IdnError::TokenEndpoint { status: 400, .. }
        ));
        assert!(matches!(
            refused(url, 503, None, failure("down")),
            IdnError::TokenEndpoint { status: 503, .. }
        ));
    }
}
