//! Authentication of every request: a bearer token, HTTP Basic, or either (Alation
//! accepts Basic since 2021.3 and tokens since 2021.4). A missing or wrong
//! `Authorization` header gets 401 with a `WWW-Authenticate` challenge per scheme.

use super::Shared;
use super::error::ScimError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The credentials the sandbox SCIM server accepts.
#[derive(Clone, PartialEq, Eq)]
pub enum ScimServerAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// Either of the above.
    Either {
        token: String,
        username: String,
        password: String,
    },
}

impl fmt::Debug for ScimServerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, user) = match self {
            ScimServerAuth::Bearer(_) => ("Bearer", None),
            ScimServerAuth::Basic { username, .. } => ("Basic", Some(username)),
            ScimServerAuth::Either { username, .. } => ("Either", Some(username)),
        };
        f.debug_struct(kind)
            .field("username", &user)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl ScimServerAuth {
    fn token(&self) -> Option<&str> {
        match self {
            ScimServerAuth::Bearer(token) | ScimServerAuth::Either { token, .. } => Some(token),
            ScimServerAuth::Basic { .. } => None,
        }
    }

    /// The expected Basic credentials, already base64-encoded as clients send them.
    fn basic(&self) -> Option<String> {
        match self {
            ScimServerAuth::Basic { username, password }
            | ScimServerAuth::Either {
                username, password, ..
            } => Some(STANDARD.encode(format!("{username}:{password}").as_bytes())),
            ScimServerAuth::Bearer(_) => None,
        }
    }

    /// Whether this `Authorization` header value is accepted (secrets compared in
    /// constant time).
    pub fn allows(&self, header: Option<&HeaderValue>) -> bool {
        let Some((scheme, credentials)) = header
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.trim().split_once(' '))
        else {
            return false;
        };
        let expected = if scheme.eq_ignore_ascii_case("bearer") {
            self.token().map(str::to_owned)
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic()
        } else {
            None
        };
        expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(credentials.trim().as_bytes())))
    }

    fn challenges(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.token().is_some() {
            out.push("Bearer realm=\"SCIM\"");
        }
        if self.basic().is_some() {
            out.push("Basic realm=\"SCIM\"");
        }
        out
    }

    /// `authenticationSchemes` of the ServiceProviderConfig (RFC 7643 §5).
    pub fn schemes(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if self.token().is_some() {
            out.push(json!({
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a bearer token (RFC 6750)",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": true,
            }));
        }
        if self.basic().is_some() {
            out.push(json!({
                "type": "httpbasic",
                "name": "HTTP Basic",
                "description": "Authentication with a username and password (RFC 7617)",
                "specUri": "https://www.rfc-editor.org/info/rfc7617",
                "primary": out.is_empty(),
            }));
        }
        out
    }
}

/// Middleware: refuse the request unless its credentials are accepted.
pub async fn require(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if shared.auth.allows(req.headers().get(header::AUTHORIZATION)) {
        return next.run(req).await;
    }
    tracing::debug!(
        path = req.uri().path(),
        "SCIM request refused: bad credentials"
    );
    let mut resp = ScimError::new(
        StatusCode::UNAUTHORIZED,
        None,
        "Authorization failure: the Authorization header is missing or wrong".into(),
    )
    .into_response();
    for challenge in shared.auth.challenges() {
        resp.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn each_mode_accepts_its_schemes_only() {
        let bearer = ScimServerAuth::Bearer("t0k".into());
        let basic = ScimServerAuth::Basic {
            username: "alation".into(),
            password: "pw".into(),
        };
        let either = ScimServerAuth::Either {
            token: "t0k".into(),
            username: "alation".into(),
            password: "pw".into(),
        };
        // base64("alation:pw")
        let good_basic = header("Basic YWxhdGlvbjpwdw==");
        assert!(bearer.allows(Some(&header("Bearer t0k"))));
        assert!(bearer.allows(Some(&header("bearer  t0k"))));
        assert!(!bearer.allows(Some(&header("Bearer t0kx"))));
        assert!(!bearer.allows(Some(&good_basic)));
        assert!(!bearer.allows(None));
        assert!(basic.allows(Some(&good_basic)));
        assert!(!basic.allows(Some(&header("Basic YWxhdGlvbjpwdx=="))));
        assert!(!basic.allows(Some(&header("Bearer t0k"))));
        assert!(either.allows(Some(&good_basic)));
        assert!(either.allows(Some(&header("Bearer t0k"))));
        assert!(!either.allows(Some(&header("Token t0k"))));
        assert_eq!(either.challenges().len(), 2);
        assert_eq!(either.schemes().len(), 2);
        assert!(!format!("{either:?}").contains("t0k"));
    }
}
