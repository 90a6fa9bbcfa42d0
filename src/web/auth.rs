//! The optional admin token in front of the history's routes.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Lets the request through when it carries the token; 401 with a Basic challenge
/// otherwise, so that a browser asks for it.
pub(super) async fn guard(
    State(token): State<Arc<SecretString>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(presented_token);
    let matches =
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.expose_secret().as_bytes())));
    if matches {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"groupsync\", charset=\"UTF-8\"",
        )],
        "this page needs the admin token (server.admin_token): as a bearer token, or as the password of HTTP Basic\n",
    )
        .into_response()
}

/// The token in `Bearer <token>`, or the password in `Basic base64(user:password)`.
fn presented_token(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_credentials_are_read() {
        assert_eq!(presented_token("Bearer s3cret").as_deref(), Some("s3cret"));
        assert_eq!(
            presented_token("bearer  s3cret ").as_deref(),
            Some("s3cret")
        );
        // "admin:s3cret:x" — the password may hold a colon
        assert_eq!(
            presented_token("Basic YWRtaW46czNjcmV0Ong=").as_deref(),
            Some("s3cret:x")
        );
        assert_eq!(presented_token("Basic !!!"), None);
        assert_eq!(presented_token("Digest abc"), None);
        assert_eq!(presented_token("s3cret"), None);
    }
}
