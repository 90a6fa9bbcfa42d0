//! `POST /oauth/token` (client credentials) and the bearer-token check every API call
//! passes through, followed by the per-client rate limit.
//!
//! Credentials are accepted wherever real clients put them: an urlencoded body, the query
//! string, or HTTP Basic (the oauth2 crate's default).

use super::Credential;
use super::catalog::stable_id;
use super::errors::ApiError;
use super::security;
use super::state::{AppState, lock};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// Who a token was issued to: the client id and the kind of credential it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub client_id: String,
    pub credential: Credential,
}

/// Issued access tokens and when they stop working.
#[derive(Debug, Default)]
pub struct TokenBook {
    tokens: HashMap<String, (Holder, Instant)>,
}

impl TokenBook {
    fn issue(&mut self, token: String, holder: Holder, expires: Instant, now: Instant) {
        self.tokens.retain(|_, (_, until)| *until > now);
        self.tokens.insert(token, (holder, expires));
    }

    /// Who the token was issued to, if it is known and not expired at `now`.
    pub fn holder(&self, token: &str, now: Instant) -> Option<Holder> {
        self.tokens
            .get(token)
            .filter(|(_, until)| now < *until)
            .map(|(holder, _)| holder.clone())
    }

    /// Forgets every token: each one answers as expired from now on.
    pub fn expire_all(&mut self) {
        self.tokens.clear();
    }
}

/// Token endpoint failures, in the OAuth error shape a Spring-based server answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum TokenError {
    #[error("Bad client credentials")]
    InvalidClient,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Unsupported grant type: {0}")]
    UnsupportedGrantType(String),
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            TokenError::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
            TokenError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            TokenError::UnsupportedGrantType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type")
            }
        };
        let body = json!({ "error": code, "error_description": self.to_string() });
        (status, Json(body)).into_response()
    }
}

fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// Reverses the form-urlencoding RFC 6749 §2.3.1 applies to Basic credentials.
fn form_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `Some(Ok((id, secret)))` from an `Authorization: Basic` header, `Some(Err)` if it is
/// malformed, `None` if there is none.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), TokenError>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((id, secret)) => Ok((form_decode(id), form_decode(secret))),
        None => Err(TokenError::InvalidClient),
    })
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Checks the client credentials, then the grant type, as the real endpoint does.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<String, TokenError> {
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (id, secret) = match basic_credentials(headers) {
        Some(creds) => creds?,
        None => (
            param("client_id").ok_or(TokenError::InvalidClient)?,
            param("client_secret").ok_or(TokenError::InvalidClient)?,
        ),
    };
    if !(same(&id, &state.client_id) && same(&secret, &state.client_secret)) {
        return Err(TokenError::InvalidClient);
    }
    match param("grant_type") {
        None => Err(TokenError::InvalidRequest("Missing grant type".into())),
        Some(g) if g.eq_ignore_ascii_case("client_credentials") => Ok(id),
        Some(g) => Err(TokenError::UnsupportedGrantType(g)),
    }
}

/// The user behind a personal access token: an ORG_ADMIN of the simulated tenant.
const PAT_USER: &str = "sandbox.admin";

fn identity_id(client_id: &str) -> String {
    stable_id(&["identity", client_id])
}

/// A JWT-looking token (header.claims.signature) whose claims say what a real one says:
/// a personal access token names its user and the user's level, an API client's has none.
fn mint(state: &AppState, client_id: &str, jti: &str) -> String {
    let exp = state.clock.now().timestamp() + state.token_lifetime.as_secs() as i64;
    let header = json!({ "alg": "RS256", "typ": "JWT" });
    let mut claims = json!({
        "tenant_id": tenant_id(client_id), "pod": "sandbox", "org": "sandbox",
        "internal": false, "strong_auth": true, "strong_auth_supported": false,
        "authorities": [], "client_id": client_id, "scope": ["sp:scopes:all"],
        "exp": exp, "jti": jti,
    });
    if state.credential == Credential::Pat {
        claims["identity_id"] = json!(identity_id(client_id));
        claims["user_name"] = json!(PAT_USER);
        claims["authorities"] = json!(["ORG_ADMIN"]);
    }
    let signature: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.into_bytes())
        .collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string().as_bytes()),
        URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes()),
        URL_SAFE_NO_PAD.encode(&signature)
    )
}

fn tenant_id(client_id: &str) -> String {
    let hex = stable_id(&["tenant", client_id]);
    u128::from_str_radix(&hex, 16).map_or(hex, |n| uuid::Uuid::from_u128(n).to_string())
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = form_pairs(query.unwrap_or_default().as_bytes());
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_pairs(&body));
    }
    let client_id = match authenticate(&state, &headers, &params) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let jti = uuid::Uuid::new_v4().to_string();
    let token = mint(&state, &client_id, &jti);
    let now = Instant::now();
    let holder = Holder {
        client_id: client_id.clone(),
        credential: state.credential,
    };
    lock(&state.tokens).issue(token.clone(), holder, now + state.token_lifetime, now);
    state.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let mut body = json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": state.token_lifetime.as_secs(),
        "scope": "sp:scopes:all",
        "accessType": "OFFLINE",
        "tenant_id": tenant_id(&client_id),
        "internal": false,
        "pod": "sandbox",
        "org": "sandbox",
        "strong_auth_supported": false,
        "strong_auth": true,
        "enabled": true,
        "jti": jti,
    });
    if state.credential == Credential::Pat {
        body["user_id"] = json!(stable_id(&["user", &client_id]));
        body["identity_id"] = json!(identity_id(&client_id));
    }
    Json(body).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Lets a request through only with a valid token, within its client's rate limit, and
/// to an operation that accepts its kind of token.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let holder = bearer(req.headers()).and_then(|t| lock(&state.tokens).holder(t, now));
    let Some(holder) = holder else {
        return ApiError::Unauthorized.into_response();
    };
    state.stats.seen(&holder.client_id, now);
    if let Err(wait) = state.limiter.check(&holder.client_id, now) {
        return ApiError::RateLimited { retry_after: wait }.into_response();
    }
    if !security::allows(holder.credential, req.method(), req.uri().path()) {
        return ApiError::Forbidden.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_decoded_and_form_unescaped() {
        // "my%20id:s%3Ac+r" → id "my id", secret "s:c r"
        let h = basic("Basic bXklMjBpZDpzJTNBYyty");
        let (id, secret) = basic_credentials(&h).unwrap().unwrap();
        assert_eq!(id, "my id");
        assert_eq!(secret, "s:c r");
        assert!(basic_credentials(&basic("Basic ***")).unwrap().is_err());
        assert!(basic_credentials(&basic("Bearer abc")).is_none());
        assert_eq!(bearer(&basic("bearer  abc ")), Some("abc"));
    }

    #[test]
    fn tokens_expire_and_can_be_expired_at_once() {
        let mut book = TokenBook::default();
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_secs(10);
        let holder = Holder {
            client_id: "c".into(),
            credential: Credential::Pat,
        };
        book.issue("t".into(), holder.clone(), later, t0);
        assert_eq!(book.holder("t", t0), Some(holder));
        assert_eq!(book.holder("t", later), None);
        assert_eq!(book.holder("other", t0), None);
        book.expire_all();
        assert_eq!(book.holder("t", t0), None);
    }
}
