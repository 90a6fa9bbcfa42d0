use super::*;
use crate::domain::TargetGroup;
use crate::retry::{Classify, Disposition};
use crate::scim::CreateOutcome;
use wiremock::Mock;
use wiremock::matchers::{body_json, header, method, path};

fn created(id: &str, name: &str) -> CreateOutcome {
    CreateOutcome::Created(TargetGroup {
        id: id.into(),
        display_name: name.into(),
        external_id: None,
    })
}

#[tokio::test]
async fn create_posts_a_scim_group() {
    let server = MockServer::start().await;
    let expected = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "R&D \"Core\"",
        "externalId": "ent-1",
    });
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .and(header("content-type", "application/scim+json"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(&expected))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            json!({"id": "abc", "displayName": "R&D \"Core\"", "externalId": "ent-1"}).to_string(),
            "application/scim+json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server)
        .create_group("R&D \"Core\"", Some("ent-1"))
        .await
        .unwrap();
    let CreateOutcome::Created(g) = outcome else {
        panic!("expected a created group, got {outcome:?}");
    };
    assert_eq!(g.id, "abc");
    assert_eq!(g.external_id.as_deref(), Some("ent-1"));
}

#[tokio::test]
async fn a_conflict_means_the_group_exists() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(409).set_body_string("duplicate"))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server).create_group("Ops", None).await.unwrap();
    assert_eq!(outcome, CreateOutcome::AlreadyExists);
}

#[tokio::test]
async fn a_uniqueness_error_means_the_group_exists() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(scim_error(400, Some("uniqueness"), "displayName taken"))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server).create_group("Ops", None).await.unwrap();
    assert_eq!(outcome, CreateOutcome::AlreadyExists);
}

#[tokio::test]
async fn other_bad_requests_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(scim_error(400, Some("invalidValue"), "name too long"))
        .mount(&server)
        .await;
    let e = client(&server).create_group("Ops", None).await.unwrap_err();
    assert_eq!(e.disposition(), Disposition::GiveUp);
    assert!(e.to_string().contains("name too long"), "{e}");
}

#[tokio::test]
async fn a_server_error_is_never_retried_blindly() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::new(&settings(&server, RetryPolicy::default())).unwrap();
    let e = c.create_group("Ops", None).await.unwrap_err();
    assert_eq!(e.disposition(), Disposition::RetryLater { after: None });
    assert_secret_free(&e);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_retry_later() {
    // A private server: the delayed answer must not outlive this test on a shared one.
    // In paused time the client's 5 s timeout fires as soon as it waits, possibly before
    // the server has even read the request, so the request count is not checked.
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(120)))
        .mount(&server)
        .await;
    let e = client(&server).create_group("Ops", None).await.unwrap_err();
    assert!(matches!(e, ScimError::Timeout(_)), "{e}");
    assert_eq!(e.disposition(), Disposition::RetryLater { after: None });
}

#[tokio::test]
async fn a_created_answer_without_an_id_is_followed_by_a_lookup() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(lookup("%22Ops%22"))
        .respond_with(scim_json(list(
            2,
            vec![group("x", "Ops team"), group("n1", "Ops")],
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server).create_group("Ops", None).await.unwrap();
    assert_eq!(outcome, created("n1", "Ops"));
}

#[tokio::test]
async fn a_created_group_missing_from_lookups_is_retry_later() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_json(list(0, vec![])))
        .mount(&server)
        .await;
    let e = client(&server).create_group("Ops", None).await.unwrap_err();
    assert!(matches!(e, ScimError::CreatedButNotFound(_)), "{e}");
    assert_eq!(e.disposition(), Disposition::RetryLater { after: None });
}

#[tokio::test]
async fn the_location_header_gives_the_id() {
    let server = MockServer::start().await;
    let location = format!("{}{GROUPS}/77", server.uri());
    Mock::given(method("POST"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(201).insert_header("location", location.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server).create_group("Ops", None).await.unwrap();
    assert_eq!(outcome, created("77", "Ops"));
}
