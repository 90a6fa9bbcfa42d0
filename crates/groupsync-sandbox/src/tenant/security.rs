//! Which operations accept which kind of token, from the `security` block of each
//! operation in SailPoint's official spec: most list both `userAuth` (a user's token, e.g.
//! a personal access token) and `applicationAuth` (an API client's); those below list
//! only `userAuth`, and a real tenant answers an API client's token there with 403.

use super::Credential;
use crate::stats::template_of;
use axum::http::Method;

/// Operations whose `security` lists only `userAuth` (method, path template; `{…}`
/// segments match any one segment, the version included).
const USER_ONLY: [(&str, &str); 6] = [
    ("GET", "/v2026/entitlements"),
    ("POST", "/{version}/sources/{sourceId}/load-entitlements"),
    ("GET", "/v3/sources/{sourceId}/schemas"),
    ("POST", "/v3/sources/{sourceId}/schemas"),
    ("PATCH", "/{version}/task-status/{id}"),
    ("PATCH", "/{version}/entitlements/{id}"),
];

/// Whether a token of kind `credential` may call `method path`.
pub fn allows(credential: Credential, method: &Method, path: &str) -> bool {
    credential == Credential::Pat || !user_only(method, path)
}

fn user_only(method: &Method, path: &str) -> bool {
    USER_ONLY
        .iter()
        .any(|(m, t)| *m == method.as_str() && template_of(path, &[*t]).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_clients_are_refused_only_where_the_spec_lists_user_auth_alone() {
        let app = Credential::ApiClient;
        assert!(allows(app, &Method::GET, "/v2025/entitlements"));
        assert!(allows(app, &Method::GET, "/beta/entitlements"));
        assert!(allows(app, &Method::GET, "/v2026/entitlements/abc"));
        assert!(allows(app, &Method::GET, "/beta/task-status/abc"));
        assert!(allows(app, &Method::GET, "/v3/sources"));
        assert!(!allows(app, &Method::GET, "/v2026/entitlements"));
        assert!(!allows(
            app,
            &Method::POST,
            "/beta/sources/s1/load-entitlements"
        ));
        assert!(!allows(
            app,
            &Method::POST,
            "/v2025/sources/s1/load-entitlements"
        ));
        assert!(!allows(app, &Method::GET, "/v3/sources/s1/schemas"));
        for (m, p) in [
            (Method::GET, "/v2026/entitlements"),
            (Method::POST, "/beta/sources/s1/load-entitlements"),
            (Method::GET, "/v3/sources/s1/schemas"),
        ] {
            assert!(allows(Credential::Pat, &m, p));
        }
    }
}
