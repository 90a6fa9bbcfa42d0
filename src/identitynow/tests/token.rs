//! The token: fetched as SailPoint documents, cached, renewed, refused, never shown.

use super::stub::{Reply, Stub};
use super::*;
use crate::identitynow::IdnError;
use crate::identitynow::token::TokenReply;
use crate::retry::{Classify, Disposition};
use wiremock::matchers::{body_string_contains, header};

#[tokio::test]
async fn the_token_request_is_a_client_credentials_form_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT_ID}")))
        .and(body_string_contains(
            "client_secret=s3cret%2BValue%26never-shown",
        ))
        .respond_with(token_reply("tok-1", 749))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).check_token().await.unwrap();
}

/// A personal access token's response: SailPoint names the user behind it.
fn user_token_reply(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": 749,
        "scope": "sp:scopes:all",
        "tenant_id": "58eb06a4-dcd7-4e96-8fac-cca2afc03e61",
        "strong_auth": true,
        "user_id": "595826",
        "identity_id": "ff80818155fe8c080155fe8d925b0316",
        "jti": "9499b299-95fa-47fb-815c-85d5f6b43e86"
    }))
}

#[tokio::test]
async fn a_token_naming_an_identity_has_a_user_behind_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(user_token_reply("tok-1"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(c.token_has_user().await.unwrap());
    // The cached token answers again; so does it for a call.
    assert!(c.token_has_user().await.unwrap());
    c.check_token().await.unwrap();
}

#[tokio::test]
async fn an_api_clients_token_has_no_user_and_is_fetched_once() {
    let server = MockServer::start().await;
    // token_reply has SailPoint's other fields, no identity_id and no user_id
    mount_token(&server, 1).await;
    let c = client(&server);
    c.check_token().await.unwrap();
    assert!(!c.token_has_user().await.unwrap());
    assert!(!c.clone().token_has_user().await.unwrap());
}

#[test]
fn sailpoint_fields_are_read_leniently() {
    let reply = |body: serde_json::Value| -> TokenReply { serde_json::from_value(body).unwrap() };
    let base = json!({"access_token": "t", "token_type": "bearer", "expires_in": 749});
    let with = |extra: serde_json::Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        reply(body).extra_fields().has_user()
    };
    assert!(!reply(base.clone()).extra_fields().has_user());
    assert!(with(
        json!({"identity_id": "ff80818155fe8c080155fe8d925b0316"})
    ));
    assert!(with(json!({"user_id": "595826"})));
    assert!(!with(json!({"identity_id": null, "user_id": null})));
    assert!(!with(
        json!({"identity_id": " ", "pod": "cook", "internal": false})
    ));
}

#[tokio::test]
async fn the_token_is_cached_across_calls() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_directory(&server, Directory::new(3), 2).await;
    Mock::given(method("GET"))
        .and(path("/v3/sources"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    c.check_token().await.unwrap();
    assert_eq!(c.fetch_groups(SOURCE_ID, &quiet).await.unwrap().len(), 3);
    assert_eq!(
        c.clone()
            .fetch_groups(SOURCE_ID, &quiet)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(c.list_sources(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_reply("tok-1", 749).set_delay(Duration::from_millis(100)))
        .expect(1)
        .mount(&server)
        .await;
    mount_directory(&server, Directory::new(2), 8).await;
    let c = client(&server);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.fetch_groups(SOURCE_ID, &quiet).await })
        })
        .collect();
    for run in runs {
        assert_eq!(run.await.unwrap().unwrap().len(), 2);
    }
}

/// A token of 749 s is renewed from 689 s on (749 - 60), not before.
#[tokio::test(start_paused = true)]
async fn the_token_is_renewed_near_expiry() {
    let stub = Stub::start(749, (0..3).map(|_| Reply::json(200, "[]")).collect()).await;
    let c = Client::new(&settings(&stub.uri)).unwrap();
    c.list_sources(None).await.unwrap();
    tokio::time::advance(Duration::from_secs(688)).await;
    c.list_sources(None).await.unwrap();
    assert_eq!(stub.token_fetches(), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    c.list_sources(None).await.unwrap();
    assert_eq!(stub.token_fetches(), 2);
}

/// A short-lived token is renewed a tenth of its lifetime early, not a minute.
#[tokio::test(start_paused = true)]
async fn a_short_lived_token_keeps_most_of_its_life() {
    let stub = Stub::start(100, (0..3).map(|_| Reply::json(200, "[]")).collect()).await;
    let c = Client::new(&settings(&stub.uri)).unwrap();
    c.check_token().await.unwrap();
    tokio::time::advance(Duration::from_secs(89)).await;
    c.check_token().await.unwrap();
    assert_eq!(stub.token_fetches(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    c.check_token().await.unwrap();
    assert_eq!(stub.token_fetches(), 2);
}

/// The first token is answered once, then the second.
async fn mount_two_tokens(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_reply("tok-1", 749))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_reply("tok-2", 749))
        .expect(1)
        .mount(server)
        .await;
}

fn expired() -> ResponseTemplate {
    ResponseTemplate::new(401)
        .set_body_json(json!({"error": "JWT validation failed: JWT is expired"}))
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_renewed_once_and_the_page_retried() {
    let server = MockServer::start().await;
    mount_two_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2025/entitlements"))
        .and(|r: &Request| query_of(r)["offset"] == "250")
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(expired())
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    // Pages 1 to 3, page 2 twice (refused, then with tok-2).
    let dir = Directory::new(600);
    mount_directory(&server, dir.clone(), 3).await;
    let groups = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap();
    assert_eq!(groups, dir.groups);
}

#[tokio::test]
async fn a_second_refusal_asks_for_new_credentials() {
    let server = MockServer::start().await;
    mount_two_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2025/entitlements"))
        .respond_with(expired())
        .expect(2)
        .mount(&server)
        .await;
    let e = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap_err();
    assert!(matches!(e, IdnError::Unauthorized(_)), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Reauthenticate);
    let text = e.to_string();
    assert!(text.contains("JWT is expired"), "{text}");
    assert!(text.contains("personal access token"), "{text}");
}

#[tokio::test]
async fn wrong_client_credentials_give_a_clear_error_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client", "error_description": "Bad client credentials"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server).check_token().await.unwrap_err();
    assert!(matches!(e, IdnError::BadCredentials { .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::GiveUp);
    let text = e.to_string();
    assert!(text.contains("Bad client credentials"), "{text}");
    assert!(
        text.contains("identitynow.client_id and identitynow.client_secret"),
        "{text}"
    );
    assert!(!text.contains(SECRET) && !format!("{e:?}").contains(SECRET));
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token(&server, 1).await;
    client(&server).check_token().await.unwrap();
}

#[tokio::test]
async fn a_redirecting_token_endpoint_is_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = format!("{}/elsewhere/oauth/token", server.uri());
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", elsewhere.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere/oauth/token"))
        .respond_with(token_reply("stolen", 749))
        .expect(0)
        .mount(&server)
        .await;
    let e = client(&server).check_token().await.unwrap_err();
    assert!(
        matches!(e, IdnError::TokenEndpoint { status: 302, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not followed"), "{e}");
}

#[tokio::test]
async fn the_secret_never_shows() {
    let server = MockServer::start().await;
    // A server that echoes the form it was sent.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(|r: &Request| {
            ResponseTemplate::new(400)
                .set_body_string(String::from_utf8_lossy(&r.body).into_owned())
        })
        .mount(&server)
        .await;
    let c = client(&server);
    let debug = format!("{c:?}");
    assert!(
        debug.contains(CLIENT_ID) && !debug.contains(SECRET),
        "{debug}"
    );
    let echoed = c.check_token().await.unwrap_err();
    assert!(
        echoed.to_string().contains("client_secret=[redacted]"),
        "{echoed}"
    );

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let unreachable = Client::new(&settings(&closed))
        .unwrap()
        .check_token()
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, IdnError::TokenTransport { .. }),
        "{unreachable:?}"
    );
    assert_eq!(
        unreachable.disposition(),
        Disposition::RetryLater { after: None }
    );
    for e in [echoed, unreachable] {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains("s3cret%2BValue"), "{text}");
        }
    }
}
