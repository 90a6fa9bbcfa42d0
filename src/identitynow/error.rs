//! What can go wrong talking to IdentityNow, and what the caller must do about it.
//!
//! Every variant's message ends with the action to take, because these messages reach
//! an operator through logs and notices, not a developer with a debugger. SailPoint's
//! `trackingId` is kept whenever the server sent one: it is what their support asks for.

use crate::retry::{Classify, Disposition};
use crate::upstream::UpstreamError;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// How long to wait after a 429 that did not say (`Retry-After` absent or unreadable):
/// the tenant's budget is counted over 10 s windows.
pub const RATE_LIMIT_FALLBACK: Duration = Duration::from_secs(10);

/// The longest raw body quoted in an error, in characters.
const MAX_QUOTED_BODY: usize = 300;

/// A failed API call as SailPoint reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// Method and path, e.g. `GET /v2025/entitlements`.
    pub request: String,
    pub status: u16,
    pub tracking_id: Option<String>,
    /// `detailCode` and message texts, or the `error`/`message` field, or the raw body.
    pub detail: String,
}

impl ApiFailure {
    /// Reads whichever of SailPoint's error shapes the body has: `ErrorResponseDto`,
    /// `{"error": …}` (with `error_description` at the token endpoint), `{"message": …}`.
    pub fn parse(request: String, status: StatusCode, body: &[u8]) -> ApiFailure {
        let parsed = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
        let detail = parsed.detail().unwrap_or_else(|| quote_raw(body, status));
        ApiFailure {
            request,
            status: status.as_u16(),
            tracking_id: parsed.tracking_id.filter(|t| !t.trim().is_empty()),
            detail,
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        write!(f, "{}: {} {reason}", self.request, self.status)?;
        if let Some(id) = &self.tracking_id {
            write!(f, " (trackingId {id})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The union of SailPoint's error bodies: `ErrorResponseDto` (`detailCode`, `trackingId`,
/// `messages`, `causes`), the 401 shape `{"error": …}`, the token endpoint's
/// `{"error", "error_description"}` and the 429 shape `{"message": …}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    detail_code: Option<String>,
    tracking_id: Option<String>,
    messages: Option<Vec<ErrorMessage>>,
    causes: Option<Vec<ErrorMessage>>,
    error: Option<String>,
    #[serde(rename = "error_description")]
    error_description: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorMessage {
    text: Option<String>,
}

impl ErrorBody {
    fn detail(&self) -> Option<String> {
        let texts = |list: &Option<Vec<ErrorMessage>>| -> Vec<String> {
            list.iter()
                .flatten()
                .filter_map(|m| m.text.clone())
                .collect()
        };
        let parts: Vec<String> = [self.detail_code.clone()]
            .into_iter()
            .flatten()
            .chain(texts(&self.messages))
            .chain(texts(&self.causes))
            .chain(self.error.clone())
            .chain(self.error_description.clone())
            .chain(self.message.clone())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" — "))
    }
}

/// The raw body, trimmed and cut to [`MAX_QUOTED_BODY`] characters, or the status reason.
fn quote_raw(body: &[u8], status: StatusCode) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!(
            "no details in the answer ({})",
            status.canonical_reason().unwrap_or("unknown status")
        );
    }
    let mut quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
    if text.chars().count() > MAX_QUOTED_BODY {
        quoted.push('…');
    }
    quoted
}

/// Which API an error came from, to name the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Sources,
    Entitlements,
    TaskStatus,
    LoadEntitlements,
    /// `GET /v3/sources/{id}/schemas` (a user's token only).
    Schemas,
}

impl Endpoint {
    /// The PAT scope (and user level, where it is narrower than "any") the call needs.
    pub fn needs(self) -> &'static str {
        match self {
            Endpoint::Sources => {
                "idn:sources:read (user level ORG_ADMIN, SOURCE_ADMIN or SOURCE_SUBADMIN)"
            }
            Endpoint::Entitlements => "idn:entitlement:read",
            Endpoint::TaskStatus => "idn:task-management:read",
            Endpoint::LoadEntitlements => "idn:entitlement:manage (user level ORG_ADMIN)",
            Endpoint::Schemas => "idn:source-schema:read (a user's token, e.g. a PAT)",
        }
    }

    fn not_found_hint(self) -> &'static str {
        match self {
            Endpoint::Entitlements => "check identitynow.api_version and identitynow.tenant_url",
            Endpoint::Sources | Endpoint::LoadEntitlements | Endpoint::Schemas => {
                "check identitynow.source_id and identitynow.scim_source"
            }
            Endpoint::TaskStatus => "the task is unknown, or older than the 90 days kept",
        }
    }

    fn bad_request_hint(self) -> &'static str {
        match self {
            Endpoint::Entitlements => {
                "check identitynow.entitlement_filter and identitynow.api_version"
            }
            Endpoint::Sources => "check identitynow.source_name",
            Endpoint::TaskStatus | Endpoint::LoadEntitlements | Endpoint::Schemas => {
                "check identitynow.source_id"
            }
        }
    }
}

/// Every error of the IdentityNow client.
#[derive(Debug, thiserror::Error)]
pub enum IdnError {
    #[error(
        "IdentityNow rejected the client id and secret ({detail}): check identitynow.client_id \
         and identitynow.client_secret (the client id and secret of a personal access token)"
    )]
    BadCredentials { detail: String },

    #[error("{}", token_endpoint_text(.status, .url, .detail))]
    TokenEndpoint {
        url: String,
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
    },

    #[error(
        "cannot get an access token from {url}: {}; check identitynow.tenant_url and the network",
        describe_transport(.source)
    )]
    TokenTransport {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "the token endpoint's answer could not be read ({0}); check that identitynow.tenant_url \
         is the tenant's API host, https://{{tenant}}.api.identitynow.com"
    )]
    TokenResponse(String),

    #[error(
        "{0}; the access token was refused even after renewing it: check that the personal \
         access token still exists and that its owner is active"
    )]
    Unauthorized(ApiFailure),

    #[error("{failure}; the PAT lacks scope {} or the user level", .endpoint.needs())]
    Forbidden {
        failure: ApiFailure,
        endpoint: Endpoint,
    },

    #[error("{failure}; not found: {}", .endpoint.not_found_hint())]
    NotFound {
        failure: ApiFailure,
        endpoint: Endpoint,
    },

    #[error("{failure}; the request was refused as invalid: {}", .endpoint.bad_request_hint())]
    BadRequest {
        failure: ApiFailure,
        endpoint: Endpoint,
    },

    #[error(
        "{failure}; rate limit exceeded (wait {}s): lower identitynow.requests_per_10s if this \
         persists, other clients may share this client id's budget",
        .retry_after.as_secs()
    )]
    RateLimited {
        failure: ApiFailure,
        retry_after: Duration,
    },

    #[error(
        "{failure}; IdentityNow is failing: try again later, and quote the trackingId to \
         SailPoint support if it persists"
    )]
    Server {
        failure: ApiFailure,
        retry_after: Option<Duration>,
    },

    #[error("{0}; unexpected answer: check identitynow.tenant_url")]
    UnexpectedStatus(ApiFailure),

    #[error(
        "{request}: {}; check the network and identitynow.tenant_url, or raise \
         identitynow.timeout_secs if the tenant is slow",
        describe_transport(.source)
    )]
    Transport {
        request: String,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "{request}: the answer is not what IdentityNow sends ({problem}); nothing from it \
         was used"
    )]
    Malformed { request: String, problem: String },

    #[error(
        "the entitlements of source {source_id} changed while they were read ({detail}); no \
         groups were used: run again once the source's aggregation has finished"
    )]
    Inconsistent { source_id: String, detail: String },

    #[error(
        "source {source_id} has {total} matching entitlements, more than the 10000 that \
         offset paging reaches with api_version {version}, and they carry no `created` date to \
         read them in ranges: use a personal access token with identitynow.api_version = \
         \"v2026\" (which pages past that with searchAfter) or narrow \
         identitynow.entitlement_filter"
    )]
    TooManyForOffsetPaging {
        source_id: String,
        total: u64,
        version: &'static str,
    },

    #[error(
        "source {source_id} has {count} matching entitlements created at {at}, more than the \
         10000 that offset paging reaches, and ranges of `created` cannot split one instant: \
         use a personal access token with identitynow.api_version = \"v2026\" (which pages \
         past that with searchAfter) or narrow identitynow.entitlement_filter"
    )]
    TooManyInOneInstant {
        source_id: String,
        count: u64,
        /// The instant (ISO 8601, milliseconds).
        at: String,
    },

    #[error(
        "no source has the id {id:?}: check identitynow.source_id (`groupsync sources` lists them)"
    )]
    SourceNotFound { id: String },

    #[error(
        "no source is named {name:?}: check identitynow.source_name (`groupsync sources` \
         lists them)"
    )]
    SourceNameNotFound { name: String },

    #[error(
        "{count} sources are named {name:?}: {listed}; set identitynow.source_id to the one \
         meant instead of identitynow.source_name",
        count = .found.len(),
        listed = list_sources(.found)
    )]
    SourceNameAmbiguous {
        name: String,
        /// `(id, name)` of every match.
        found: Vec<(String, String)>,
    },

    #[error("cannot set up the IdentityNow client: {0}")]
    Setup(String),
}

fn token_endpoint_text(status: &u16, url: &str, detail: &str) -> String {
    let advice = match status {
        429 => "the token endpoint is rate limiting: try again later",
        500..=599 => "IdentityNow is failing: try again later",
        300..=399 => {
            "the token endpoint redirects, which is not followed: set identitynow.tenant_url \
             to the tenant's API host, https://{tenant}.api.identitynow.com"
        }
        _ => "check identitynow.tenant_url (https://{tenant}.api.identitynow.com)",
    };
    format!("the token endpoint {url} answered {status}: {detail}; {advice}")
}

/// The error and its causes on one line, as reqwest keeps the interesting part (refused,
/// timed out, reset) in the source chain.
/// `timeout`, `connect` or `transport`: the kind of a failed exchange, in a word.
fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the exchange failed"
    };
    let mut text = format!("{what} ({e}");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text.push(')');
    text
}

fn list_sources(found: &[(String, String)]) -> String {
    found
        .iter()
        .map(|(id, name)| format!("{id} ({name:?})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl IdnError {
    /// Maps a non-success answer of the API (not the token endpoint) to its variant.
    pub fn from_status(
        endpoint: Endpoint,
        request: String,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> IdnError {
        let failure = ApiFailure::parse(request, status, body);
        match status.as_u16() {
            401 => IdnError::Unauthorized(failure),
            403 => IdnError::Forbidden { failure, endpoint },
            404 => IdnError::NotFound { failure, endpoint },
            400 => IdnError::BadRequest { failure, endpoint },
            429 => IdnError::RateLimited {
                failure,
                retry_after: crate::retry::retry_after(headers).unwrap_or(RATE_LIMIT_FALLBACK),
            },
            500..=599 => IdnError::Server {
                failure,
                retry_after: crate::retry::retry_after(headers),
            },
            _ => IdnError::UnexpectedStatus(failure),
        }
    }

    /// Maps a failed exchange of the API (not the token endpoint): no whole answer, or a
    /// body too large to be one of IdentityNow's.
    pub fn from_upstream(request: String, e: UpstreamError) -> IdnError {
        match e {
            UpstreamError::Transport(source) => IdnError::Transport { request, source },
            too_large @ UpstreamError::TooLarge { .. } => IdnError::Malformed {
                request,
                problem: too_large.to_string(),
            },
        }
    }

    /// SailPoint's `trackingId`, when the failing answer had one.
    pub fn tracking_id(&self) -> Option<&str> {
        let failure = match self {
            IdnError::Unauthorized(f) | IdnError::UnexpectedStatus(f) => f,
            IdnError::Forbidden { failure, .. }
            | IdnError::NotFound { failure, .. }
            | IdnError::BadRequest { failure, .. }
            | IdnError::RateLimited { failure, .. }
            | IdnError::Server { failure, .. } => failure,
            _ => return None,
        };
        failure.tracking_id.as_deref()
    }
}

impl Classify for IdnError {
    fn disposition(&self) -> Disposition {
        match self {
            IdnError::Unauthorized(_) => Disposition::Reauthenticate,
            IdnError::RateLimited { retry_after, .. } => Disposition::RetryLater {
                after: Some(*retry_after),
            },
            IdnError::Server { retry_after, .. } => Disposition::RetryLater {
                after: *retry_after,
            },
            IdnError::TokenEndpoint {
                status,
                retry_after,
                ..
            } if *status == 429 || *status >= 500 => Disposition::RetryLater {
                after: retry_after.or((*status == 429).then_some(RATE_LIMIT_FALLBACK)),
            },
            // Timeouts, refused and reset connections, bodies cut short: all passing.
            IdnError::Transport { .. } | IdnError::TokenTransport { .. } => {
                Disposition::RetryLater { after: None }
            }
            // The listing moved under us (an aggregation is running): a later run will
            // see a settled listing. Nothing is retried here; the caller decides.
            IdnError::Inconsistent { .. } => Disposition::RetryLater { after: None },
            _ => Disposition::GiveUp,
        }
    }

    fn reason(&self) -> String {
        match self {
            IdnError::RateLimited { failure, .. } | IdnError::Server { failure, .. } => {
                failure.status.to_string()
            }
            IdnError::UnexpectedStatus(failure) | IdnError::Unauthorized(failure) => {
                failure.status.to_string()
            }
            IdnError::TokenEndpoint { status, .. } => status.to_string(),
            IdnError::Transport { source, .. } | IdnError::TokenTransport { source, .. } => {
                transport_kind(source).to_owned()
            }
            IdnError::Inconsistent { .. } => "inconsistent listing".to_owned(),
            _ => "error".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(body: &str) -> ApiFailure {
        ApiFailure::parse(
            "GET /v2025/entitlements".into(),
            StatusCode::FORBIDDEN,
            body.as_bytes(),
        )
    }

    #[test]
    fn error_response_dto_keeps_code_text_and_tracking_id() {
        let f = failure(
            r#"{"detailCode":"403 Forbidden","trackingId":"e7eab60924f64aa284175b9fa3309599",
                "messages":[{"locale":"en-US","localeOrigin":"DEFAULT","text":"Insufficient scope"}],
                "causes":[{"text":"needs idn:entitlement:read"}]}"#,
        );
        assert_eq!(
            f.tracking_id.as_deref(),
            Some("e7eab60924f64aa284175b9fa3309599")
        );
        assert_eq!(
            f.detail,
            "403 Forbidden — Insufficient scope — needs idn:entitlement:read"
        );
        let text = f.to_string();
        assert!(
            text.starts_with("GET /v2025/entitlements: 403 Forbidden (trackingId e7eab"),
            "{text}"
        );
    }

    #[test]
    fn the_other_shapes_are_read_too() {
        assert_eq!(
            failure(r#"{"error":"JWT validation failed: JWT is expired"}"#).detail,
            "JWT validation failed: JWT is expired"
        );
        assert_eq!(
            failure(r#"{"message":" Rate Limit Exceeded "}"#).detail,
            "Rate Limit Exceeded"
        );
        assert_eq!(
            failure(r#"{"error":"invalid_client","error_description":"Bad client credentials"}"#)
                .detail,
            "invalid_client — Bad client credentials"
        );
    }

    #[test]
    fn anything_else_is_quoted_raw_and_cut() {
        assert_eq!(
            failure("<html>Bad gateway</html>").detail,
            "<html>Bad gateway</html>"
        );
        assert_eq!(failure(r#"{"unrelated": 1}"#).detail, r#"{"unrelated": 1}"#);
        let long = "é".repeat(1000);
        let cut = failure(&long).detail;
        assert_eq!(cut.chars().count(), MAX_QUOTED_BODY + 1);
        assert!(cut.ends_with('…'));
        assert!(failure("  ").detail.contains("Forbidden"));
    }

    #[test]
    fn statuses_classify_as_documented() {
        let of = |status: u16, headers: HeaderMap| {
            IdnError::from_status(
                Endpoint::Entitlements,
                "GET /x".into(),
                StatusCode::from_u16(status).unwrap(),
                &headers,
                b"",
            )
            .disposition()
        };
        let mut with_retry_after = HeaderMap::new();
        with_retry_after.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(
            of(429, with_retry_after.clone()),
            Disposition::RetryLater {
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            of(429, HeaderMap::new()),
            Disposition::RetryLater {
                after: Some(RATE_LIMIT_FALLBACK)
            }
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(
                of(s, HeaderMap::new()),
                Disposition::RetryLater { after: None }
            );
        }
        assert_eq!(of(401, HeaderMap::new()), Disposition::Reauthenticate);
        for s in [400, 403, 404, 409, 302] {
            assert_eq!(of(s, HeaderMap::new()), Disposition::GiveUp, "{s}");
        }
    }

    #[test]
    fn forbidden_names_the_missing_scope() {
        let e = IdnError::Forbidden {
            failure: failure(r#"{"trackingId":"abc123","detailCode":"403 Forbidden"}"#),
            endpoint: Endpoint::Entitlements,
        };
        let text = e.to_string();
        assert!(text.contains("(trackingId abc123)"), "{text}");
        assert!(text.contains("lacks scope idn:entitlement:read or the user level"));
        assert_eq!(e.tracking_id(), Some("abc123"));
    }

    #[test]
    fn ambiguous_names_list_every_match() {
        let e = IdnError::SourceNameAmbiguous {
            name: "AD".into(),
            found: vec![("id1".into(), "AD".into()), ("id2".into(), "ad".into())],
        };
        assert_eq!(
            e.to_string(),
            "2 sources are named \"AD\": id1 (\"AD\"), id2 (\"ad\"); set identitynow.source_id \
             to the one meant instead of identitynow.source_name"
        );
    }
}
