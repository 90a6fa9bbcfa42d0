//! The tenant's error answers, in the shapes a real tenant uses (three different ones):
//! `ErrorResponseDto` for 400/404/405, `{"error": …}` for 401 and `{"message": …}` for 429.
//!
//! A client under test must cope with all three, so the sandbox must not tidy them up.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// Why an API request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request's content is wrong (bad filter, limit out of range…); the text names what.
    #[error("{0}")]
    BadRequest(String),
    /// No such path or object; the text names what was looked for.
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A valid token of a kind the operation does not accept (an API client's token on an
    /// operation whose `security` lists only `userAuth`).
    #[error("The server understood the request but refuses to authorize it.")]
    Forbidden,
    /// Missing, unknown or expired bearer token.
    #[error("JWT validation failed: JWT is expired")]
    Unauthorized,
    /// The client id used up its request budget; it may retry after `retry_after`.
    #[error("rate limit exceeded")]
    RateLimited { retry_after: Duration },
}

impl ApiError {
    pub fn not_found_object(kind: &str, id: &str) -> Self {
        ApiError::NotFound(format!(
            "The requested object '{kind}' with id '{id}' was not found."
        ))
    }
}

/// A SailPoint `ErrorResponseDto` body with a fresh tracking id.
fn error_dto(detail_code: &str, text: &str) -> serde_json::Value {
    json!({
        "detailCode": detail_code,
        "trackingId": uuid::Uuid::new_v4().simple().to_string(),
        "messages": [{ "locale": "en-US", "localeOrigin": "DEFAULT", "text": text }],
        "causes": [],
    })
}

/// Whole seconds to wait, rounded up and at least 1, as `Retry-After` wants.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(text) => (
                StatusCode::BAD_REQUEST,
                Json(error_dto("400.1 Bad Request Content", &text)),
            )
                .into_response(),
            ApiError::NotFound(text) => (
                StatusCode::NOT_FOUND,
                Json(error_dto("404 Not found", &text)),
            )
                .into_response(),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                Json(error_dto(
                    "403 Forbidden",
                    "The server understood the request but refuses to authorize it.",
                )),
            )
                .into_response(),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(error_dto(
                    "405 Method Not Allowed",
                    "The HTTP method is not supported on this path.",
                )),
            )
                .into_response(),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "JWT validation failed: JWT is expired" })),
            )
                .into_response(),
            ApiError::RateLimited { retry_after } => {
                let mut resp = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({ "message": " Rate Limit Exceeded " })),
                )
                    .into_response();
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(retry_after)),
                );
                resp
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_never_says_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(9_001)), 10);
        assert_eq!(retry_after_secs(Duration::from_secs(4)), 4);
    }
}
