//! What can go wrong talking to the SCIM server, and what the caller should do about it.
//!
//! The HTTP status decides first; the SCIM error body (`status`, `scimType`, `detail`) only
//! refines it, because servers fill that body in very different ways — `status` as a string
//! or a number, no `scimType` at all, or plain text instead of JSON.

use super::wire::field;
use crate::retry::{Classify, Disposition};
use crate::upstream::UpstreamError;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A failed SCIM call. Never carries a credential: only statuses, server-supplied details
/// and transport messages.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    #[error("cannot set up the SCIM client: {0}")]
    Setup(String),
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    #[error(
        "SCIM token rejected or expired (Alation tokens last 1–6 months, and creating a new \
         one revokes the old){detail}"
    )]
    Unauthorized { detail: Detail },
    #[error("the SCIM server refused the request (403 Forbidden){detail}")]
    Forbidden { detail: Detail },
    #[error("the SCIM server does not understand the filter (400 invalidFilter){detail}")]
    InvalidFilter { detail: Detail },
    #[error("not found on the SCIM server (404){detail}")]
    NotFound { detail: Detail },
    #[error("the group already exists ({status}){detail}")]
    Duplicate { status: u16, detail: Detail },
    #[error("the SCIM server is rate limiting (429){detail}")]
    RateLimited {
        retry_after: Option<Duration>,
        detail: Detail,
    },
    #[error("the SCIM server failed ({status}){detail}")]
    Server {
        status: u16,
        retry_after: Option<Duration>,
        detail: Detail,
    },
    #[error("the SCIM server rejected the request ({status}{}){detail}", scim_type_suffix(.scim_type))]
    Rejected {
        status: u16,
        scim_type: Option<String>,
        detail: Detail,
    },
    #[error("the SCIM server did not answer in time: {0}")]
    Timeout(String),
    #[error("cannot connect to the SCIM server: {0}")]
    Connect(String),
    #[error("SCIM request failed: {0}")]
    Transport(String),
    #[error("the SCIM server's answer is malformed: {what}")]
    Malformed { what: String },
    #[error("the SCIM server's answer is inconsistent: {detail}")]
    Inconsistent { detail: String },
    /// A listing whose resources do not add up to its `totalResults`: groupsync never acts
    /// on part of a listing.
    #[error("the SCIM listing is incomplete (nothing is decided on part of it): {detail}")]
    IncompleteListing { detail: String },
    /// The server said 2xx to a create but the group cannot be found yet; the caller looks
    /// it up again before any new create.
    #[error("the group was created but cannot be found yet: {0}")]
    CreatedButNotFound(String),
}

impl Classify for ScimError {
    fn disposition(&self) -> Disposition {
        use ScimError::*;
        match self {
            Unauthorized { .. } => Disposition::Reauthenticate,
            RateLimited { retry_after, .. } | Server { retry_after, .. } => {
                Disposition::RetryLater {
                    after: *retry_after,
                }
            }
            Timeout(_) | Connect(_) | Transport(_) | CreatedButNotFound(_) => {
                Disposition::RetryLater { after: None }
            }
            Setup(_)
            | InvalidArgument(_)
            | Forbidden { .. }
            | InvalidFilter { .. }
            | NotFound { .. }
            | Duplicate { .. }
            | Rejected { .. }
            | Malformed { .. }
            | Inconsistent { .. }
            | IncompleteListing { .. } => Disposition::GiveUp,
        }
    }

    fn reason(&self) -> String {
        use ScimError::*;
        match self {
            RateLimited { .. } => "429".to_owned(),
            Server { status, .. } | Duplicate { status, .. } | Rejected { status, .. } => {
                status.to_string()
            }
            Timeout(_) => "timeout".to_owned(),
            Connect(_) => "connect".to_owned(),
            Transport(_) => "transport".to_owned(),
            CreatedButNotFound(_) => "created but not found".to_owned(),
            _ => "error".to_owned(),
        }
    }
}

/// The server's own explanation, printed as `: <detail>` when there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail(pub Option<String>);

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(d) => write!(f, ": {d}"),
            None => Ok(()),
        }
    }
}

fn scim_type_suffix(scim_type: &Option<String>) -> String {
    scim_type
        .as_ref()
        .map(|t| format!(", scimType {t}"))
        .unwrap_or_default()
}

/// The useful parts of a SCIM error body (RFC 7644 §3.12), read leniently.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ErrorBody {
    pub scim_type: Option<String>,
    pub detail: Option<String>,
}

/// The longest piece of a non-JSON error body kept in an error message.
const MAX_DETAIL_CHARS: usize = 300;

impl ErrorBody {
    pub fn parse(bytes: &[u8]) -> ErrorBody {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(obj)) => ErrorBody {
                scim_type: text_field(&obj, "scimType"),
                detail: text_field(&obj, "detail"),
            },
            _ => ErrorBody {
                scim_type: None,
                detail: plain_text(bytes),
            },
        }
    }

    fn scim_type_is(&self, wanted: &str) -> bool {
        self.scim_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(wanted))
    }
}

fn text_field(obj: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    match field(obj, name)? {
        Value::String(s) if !s.trim().is_empty() => Some(one_line(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn plain_text(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut short: String = text.chars().take(MAX_DETAIL_CHARS).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    Some(one_line(&short))
}

/// Server text goes into log lines: keep it on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Maps a non-success HTTP answer to an error; see the module documentation.
pub(super) fn from_status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ScimError {
    let body = ErrorBody::parse(body);
    let code = status.as_u16();
    let retry_after = crate::retry::retry_after(headers);
    let duplicate = code == 409 || (code == 400 && says_duplicate(&body));
    let invalid_filter = code == 400 && body.scim_type_is("invalidFilter");
    let detail = Detail(body.detail);
    match code {
        401 => ScimError::Unauthorized { detail },
        403 => ScimError::Forbidden { detail },
        404 => ScimError::NotFound { detail },
        _ if duplicate => ScimError::Duplicate {
            status: code,
            detail,
        },
        _ if invalid_filter => ScimError::InvalidFilter { detail },
        429 => ScimError::RateLimited {
            retry_after,
            detail,
        },
        500..=599 => ScimError::Server {
            status: code,
            retry_after,
            detail,
        },
        _ => ScimError::Rejected {
            status: code,
            scim_type: body.scim_type,
            detail,
        },
    }
}

/// A 400 that means "already exists": `scimType: uniqueness` (RFC 7644), or a detail
/// saying so (some servers answer `invalidValue` with "already exists").
fn says_duplicate(body: &ErrorBody) -> bool {
    body.scim_type_is("uniqueness")
        || body
            .detail
            .as_deref()
            .is_some_and(|d| d.to_lowercase().contains("already exist"))
}

/// Maps a failed exchange: no whole answer (see [`from_transport`]), or a body too large to
/// be a SCIM answer.
pub(super) fn from_upstream(e: UpstreamError) -> ScimError {
    match e {
        UpstreamError::Transport(e) => from_transport(e),
        too_large @ UpstreamError::TooLarge { .. } => ScimError::Malformed {
            what: too_large.to_string(),
        },
    }
}

/// Maps a transport failure; the URL is left out (the caller knows what it asked for).
fn from_transport(e: reqwest::Error) -> ScimError {
    let (timeout, connect, builder) = (e.is_timeout(), e.is_connect(), e.is_builder());
    let text = error_chain(&e.without_url());
    if timeout {
        ScimError::Timeout(text)
    } else if connect {
        ScimError::Connect(text)
    } else if builder {
        ScimError::InvalidArgument(text)
    } else {
        ScimError::Transport(text)
    }
}

/// `outer: inner: innermost`, since reqwest's own message alone ("error sending request")
/// does not say what happened.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: u16, body: &str) -> ScimError {
        let status = StatusCode::from_u16(code).unwrap();
        from_status(status, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let b =
            ErrorBody::parse(br#"{"status": 400, "ScimType": "invalidFilter", "detail": "bad"}"#);
        assert_eq!(b.scim_type.as_deref(), Some("invalidFilter"));
        assert_eq!(b.detail.as_deref(), Some("bad"));
        let b = ErrorBody::parse(b"<html>\nBad gateway\n</html>");
        assert_eq!(b.detail.as_deref(), Some("<html> Bad gateway </html>"));
        assert_eq!(ErrorBody::parse(b""), ErrorBody::default());
    }

    #[test]
    fn statuses_map_to_dispositions() {
        assert_eq!(error(401, "").disposition(), Disposition::Reauthenticate);
        assert_eq!(error(403, "").disposition(), Disposition::GiveUp);
        assert_eq!(error(404, "").disposition(), Disposition::GiveUp);
        assert!(matches!(
            error(400, r#"{"scimType":"invalidFilter"}"#),
            ScimError::InvalidFilter { .. }
        ));
        assert!(matches!(error(409, "nope"), ScimError::Duplicate { .. }));
        assert!(matches!(
            error(400, r#"{"status":"400","scimType":"uniqueness"}"#),
            ScimError::Duplicate { .. }
        ));
        assert!(matches!(
            error(400, r#"{"detail":"Group already exists"}"#),
            ScimError::Duplicate { .. }
        ));
        assert_eq!(
            error(502, "").disposition(),
            Disposition::RetryLater { after: None }
        );
        assert_eq!(error(422, "").disposition(), Disposition::GiveUp);
    }

    #[test]
    fn retry_after_is_kept_for_429_and_503() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "9".parse().unwrap());
        let after = Some(Duration::from_secs(9));
        let e = from_status(StatusCode::TOO_MANY_REQUESTS, &h, b"");
        assert_eq!(e.disposition(), Disposition::RetryLater { after });
        let e = from_status(StatusCode::SERVICE_UNAVAILABLE, &h, b"");
        assert_eq!(e.disposition(), Disposition::RetryLater { after });
    }

    #[test]
    fn messages_name_the_problem() {
        let e = error(401, r#"{"detail":"Token expired"}"#);
        assert!(
            e.to_string()
                .starts_with("SCIM token rejected or expired (Alation tokens last 1–6 months")
        );
        assert!(e.to_string().ends_with(": Token expired"));
        let e = error(422, r#"{"scimType":"invalidValue","detail":"too long"}"#);
        assert_eq!(
            e.to_string(),
            "the SCIM server rejected the request (422, scimType invalidValue): too long"
        );
    }
}
