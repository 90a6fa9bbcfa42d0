use super::*;
use crate::retry::{Classify, Disposition};
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

/// Mounts one answer per page: `(startIndex, totalResults, resources)`.
async fn pages(server: &MockServer, pages: Vec<(usize, usize, Vec<Value>)>) {
    for (start, total, resources) in pages {
        Mock::given(method("GET"))
            .and(path(GROUPS))
            .and(page_query(start))
            .respond_with(scim_json(list(total, resources)))
            .expect(1)
            .mount(server)
            .await;
    }
}

fn incomplete(e: &ScimError, says: &str) {
    assert!(matches!(e, ScimError::IncompleteListing { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("incomplete") && text.contains(says), "{text}");
}

#[tokio::test]
async fn an_empty_page_before_the_total_is_an_incomplete_listing() {
    let server = MockServer::start().await;
    pages(
        &server,
        vec![
            (1, 9, vec![group("a", "A"), group("b", "B")]),
            (3, 9, vec![]),
        ],
    )
    .await;
    let e = client(&server).list_groups(2).await.unwrap_err();
    incomplete(&e, "after 2 of the 9");
    assert_eq!(e.disposition(), Disposition::GiveUp);
}

#[tokio::test]
async fn a_page_cut_short_is_followed_and_must_still_add_up() {
    let server = MockServer::start().await;
    // The second page is short; the third continues where it stopped, then runs dry.
    pages(
        &server,
        vec![
            (1, 5, vec![group("a", "A"), group("b", "B")]),
            (3, 5, vec![group("c", "C")]),
            (4, 5, vec![]),
        ],
    )
    .await;
    let e = client(&server).list_groups(2).await.unwrap_err();
    incomplete(&e, "after 3 of the 5");
}

#[tokio::test]
async fn a_short_page_that_is_made_up_later_is_complete() {
    let server = MockServer::start().await;
    pages(
        &server,
        vec![
            (1, 3, vec![group("a", "A")]),
            (2, 3, vec![group("b", "B"), group("c", "C")]),
        ],
    )
    .await;
    let groups = client(&server).list_groups(2).await.unwrap();
    assert_eq!(ids(&groups), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_total_that_changes_between_pages_is_an_incomplete_listing() {
    let server = MockServer::start().await;
    pages(
        &server,
        vec![
            (1, 4, vec![group("a", "A"), group("b", "B")]),
            (3, 3, vec![group("c", "C")]),
        ],
    )
    .await;
    let e = client(&server).list_groups(2).await.unwrap_err();
    incomplete(&e, "changed from 4 to 3");
}

#[tokio::test]
async fn a_total_that_lies_is_an_incomplete_listing() {
    let server = MockServer::start().await;
    // Says 1, returns 2: the count cannot be trusted, so neither can the list.
    pages(
        &server,
        vec![(1, 1, vec![group("a", "A"), group("b", "B")])],
    )
    .await;
    let e = client(&server).list_groups(2).await.unwrap_err();
    incomplete(&e, "more than the totalResults of 1");
}

#[tokio::test]
async fn a_lookup_cut_short_is_an_error_not_a_miss() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(lookup("%22Ops%22"))
        .respond_with(scim_json(list(3, vec![group("1", "Ops-old")])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(raw_query(
            "filter=displayName%20eq%20%22Ops%22&excludedAttributes=members&startIndex=2",
        ))
        .respond_with(scim_json(list(3, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server)
        .find_by_display_name("Ops")
        .await
        .unwrap_err();
    incomplete(&e, "after 1 of the 3");
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
