use super::*;
use wiremock::Mock;
use wiremock::matchers::{method, path};

fn page_query(start: usize) -> RawQuery {
    raw_query(&format!(
        "attributes=displayName,externalId&startIndex={start}&count=2"
    ))
}

#[tokio::test]
async fn list_groups_reads_every_page() {
    let server = MockServer::start().await;
    let pages = [
        (1, vec![group("a", "A"), group("b", "B")]),
        // `b` again: the set changed between pages; it is kept once.
        (3, vec![group("b", "B"), json!({"id": "nameless"})]),
        (5, vec![group("c", "C")]),
    ];
    for (start, resources) in pages {
        Mock::given(method("GET"))
            .and(path(GROUPS))
            .and(page_query(start))
            .respond_with(scim_json(list(5, resources)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let groups = client(&server).list_groups(2).await.unwrap();
    assert_eq!(ids(&groups), ["a", "b", "c"]);
}

#[tokio::test]
async fn list_groups_stops_on_an_empty_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(page_query(1))
        .respond_with(scim_json(list(9, vec![group("a", "A"), group("b", "B")])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(page_query(3))
        .respond_with(scim_json(list(9, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let groups = client(&server).list_groups(2).await.unwrap();
    assert_eq!(ids(&groups), ["a", "b"]);
}

#[tokio::test]
async fn a_zero_page_size_is_refused() {
    let server = MockServer::start().await;
    let e = client(&server).list_groups(0).await.unwrap_err();
    assert!(matches!(e, ScimError::InvalidArgument(_)), "{e}");
}

#[tokio::test]
async fn the_service_provider_config_is_returned_as_sent() {
    let server = MockServer::start().await;
    let spc = json!({"filter": {"supported": true, "maxResults": 200}});
    Mock::given(method("GET"))
        .and(path("/scim/v2/ServiceProviderConfig"))
        .respond_with(scim_json(spc.clone()))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        client(&server).service_provider_config().await.unwrap(),
        spc
    );
}

#[tokio::test]
async fn a_base_url_without_a_trailing_slash_still_reaches_groups() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_json(list(0, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server, RetryPolicy::none());
    s.base_url = Url::parse(&format!("{}/scim/v2", server.uri())).unwrap();
    let found = Client::new(&s).unwrap().find_by_display_name("Ops").await;
    assert!(found.unwrap().is_empty());
}
