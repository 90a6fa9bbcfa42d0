//! End-to-end tests: reqwest against `Tenant::serve` on 127.0.0.1.
//!
//! `mod.rs` holds the harness and the token and rate-limit tests; `data.rs` sources and
//! entitlements; `tasks.rs` task status, aggregation events and faults.

mod data;
mod scale;
mod tasks;

use super::*;
use reqwest::StatusCode;
use serde_json::Value;

const SRC: &str = "2c9180835d191a86015d28455b4b232a";

/// A tenant served on a free port; stops when dropped or when `stop` is awaited.
struct Running {
    tenant: Tenant,
    base: String,
    http: reqwest::Client,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Running {
    async fn start(opts: TenantOptions) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let tenant = Tenant::new(opts);
        let stop = CancellationToken::new();
        let task = tokio::spawn(tenant.clone().serve(listener, stop.clone()));
        // No idle-pool timer: with paused time it would be the next timer to fire.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(None)
            .build()
            .unwrap();
        Running {
            tenant,
            base,
            http,
            stop,
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The token endpoint's whole answer for the test client's credentials.
    async fn token_response(&self) -> Value {
        let resp = self
            .http
            .post(self.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "id-1"),
                ("client_secret", "s3cret"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    async fn token(&self) -> String {
        let body = self.token_response().await;
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// `POST {path}` with no body, as a load-entitlements of a direct-connect source.
    async fn post(&self, token: &str, path: &str) -> reqwest::Response {
        let req = self.http.post(self.url(path)).bearer_auth(token);
        req.send().await.unwrap()
    }
}

fn opts(groups: Vec<String>) -> TenantOptions {
    TenantOptions {
        client_id: "id-1".into(),
        client_secret: "s3cret".into(),
        sources: vec![
            SimSource::active_directory(SRC, "Active Directory", groups),
            SimSource::active_directory("b2", "HR \"Legacy\" AD", vec!["Other".into()]),
        ],
        ..TenantOptions::default()
    }
}

/// Asserts a SailPoint `ErrorResponseDto` and returns its message text.
async fn error_text(resp: reqwest::Response, status: StatusCode, detail: &str) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detailCode"].as_str().unwrap().starts_with(detail),
        "{body}"
    );
    assert_eq!(body["trackingId"].as_str().unwrap().len(), 32);
    assert_eq!(body["messages"][0]["locale"], "en-US");
    assert_eq!(body["messages"][0]["localeOrigin"], "DEFAULT");
    body["messages"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn token_from_form_query_or_basic_auth() {
    let t = Running::start(opts(vec![])).await;
    let form = t.token().await;
    let query = t
        .http
        .post(t.url("/oauth/token"))
        .query(&[
            ("grant_type", "client_credentials"),
            ("client_id", "id-1"),
            ("client_secret", "s3cret"),
        ])
        .send()
        .await
        .unwrap();
    let basic = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("id-1", Some("s3cret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    for resp in [query, basic] {
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 749);
        assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
        for key in ["scope", "tenant_id", "pod", "org", "jti"] {
            assert!(body[key].is_string(), "{key} in {body}");
        }
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            t.get(token, "/v3/sources", &[]).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        t.get(&form, "/v3/sources", &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(t.tenant.tokens_issued(), 3);
    t.stop().await;
}

#[tokio::test]
async fn bad_credentials_and_grant_types_are_refused() {
    let t = Running::start(opts(vec![])).await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        t.http.post(t.url("/oauth/token")).form(&form).send()
    };
    let wrong = post(vec![
        ("grant_type", "client_credentials"),
        ("client_id", "id-1"),
        ("client_secret", "nope"),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "invalid_client", "error_description": "Bad client credentials"})
    );
    let missing = post(vec![("grant_type", "client_credentials")])
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let grant = post(vec![
        ("grant_type", "password"),
        ("client_id", "id-1"),
        ("client_secret", "s3cret"),
    ])
    .await
    .unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let body: Value = grant.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let none = t.http.get(t.url("/v3/sources")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let bogus = t.get("not-a-token", "/beta/entitlements", &[]).await;
    assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bogus.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "JWT validation failed: JWT is expired"})
    );
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn tokens_expire_after_their_lifetime_or_on_demand() {
    let t = Running::start(opts(vec![])).await;
    let token = t.token().await;
    tokio::time::advance(Duration::from_secs(748)).await;
    assert_eq!(
        t.get(&token, "/v3/sources", &[]).await.status(),
        StatusCode::OK
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    let expired = t.get(&token, "/v3/sources", &[]).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["error"], "JWT validation failed: JWT is expired");
    let fresh = t.token().await;
    assert_eq!(
        t.get(&fresh, "/v3/sources", &[]).await.status(),
        StatusCode::OK
    );
    t.tenant.expire_tokens();
    assert_eq!(
        t.get(&fresh, "/v3/sources", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn rate_limit_is_per_client_across_tokens() {
    let t = Running::start(opts(vec![])).await;
    let (a, b) = (t.token().await, t.token().await);
    for i in 0..100 {
        let token = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            t.get(token, "/v3/sources", &[]).await.status(),
            StatusCode::OK,
            "request {i}"
        );
    }
    let limited = t.get(&b, "/beta/entitlements", &[]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": " Rate Limit Exceeded "})
    );
    let fresh = t.token().await;
    assert_eq!(
        t.get(&fresh, "/v3/sources", &[]).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::advance(Duration::from_secs(wait)).await;
    assert_eq!(
        t.get(&fresh, "/v3/sources", &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(t.tenant.request_count(), 106);
    t.stop().await;
}
