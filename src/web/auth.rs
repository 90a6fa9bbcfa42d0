//! The optional admin token in front of the history's routes, checked as the daemon's
//! `/runs` checks it ([`crate::daemon::auth::admin`]).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use secrecy::SecretString;
use std::sync::Arc;

/// Lets the request through when it carries the token; 401 with a Basic challenge
/// otherwise, so that a browser asks for it.
pub(super) async fn guard(
    State(token): State<Arc<SecretString>>,
    request: Request,
    next: Next,
) -> Response {
    if crate::daemon::auth::admin(request.headers(), &token) {
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

/// No admin token is configured and the dashboard is not public: 403 for everyone.
pub(super) async fn closed(_request: Request, _next: Next) -> Response {
    (
        StatusCode::FORBIDDEN,
        "this page is disabled: set server.admin_token (or server.admin_token_file), or server.public_dashboard = true\n",
    )
        .into_response()
}
