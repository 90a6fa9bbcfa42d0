//! Paging through the entitlements: every group once, the right requests, exact queries.

use super::*;
use crate::identitynow::{FetchProgress, IdnError, USER_AGENT};
use std::sync::Mutex;
use wiremock::matchers::header;

#[tokio::test]
async fn every_group_comes_once_in_the_right_number_of_requests() {
    for n in [0, 1, 249, 250, 251, 500, 1234] {
        let server = MockServer::start().await;
        mount_token(&server, 1).await;
        let dir = Directory::new(n);
        // Pages until one is short: 250 groups take a full page and an empty one.
        let pages = n / 250 + 1;
        mount_directory(&server, dir.clone(), pages as u64).await;
        let seen = Mutex::new(Vec::new());
        let record = |p: FetchProgress| seen.lock().unwrap().push(p);
        let groups = client(&server)
            .fetch_groups(SOURCE_ID, &record)
            .await
            .unwrap();
        assert_eq!(groups, dir.groups, "{n} groups");
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), pages, "{n} groups");
        assert_eq!(
            seen.last(),
            Some(&FetchProgress {
                pages,
                groups: n,
                total: Some(n as u64)
            })
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn the_query_is_exactly_as_specified() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let filters = format!(
        "filters=source.id%20eq%20%22{SOURCE_ID}%22%20and%20attribute%20eq%20%22memberOf%22"
    );
    for offset in [0, 250] {
        Mock::given(method("GET"))
            .and(path("/v2025/entitlements"))
            .and(raw_query(format!(
                "{filters}&sorters=id&limit=250&offset={offset}&count=true"
            )))
            .and(header("authorization", "Bearer tok-1"))
            .and(header("x-sailpoint-experimental", "true"))
            .and(header("accept", "application/json"))
            .and(header("user-agent", USER_AGENT))
            .respond_with(Directory::new(251))
            .expect(1)
            .mount(&server)
            .await;
    }
    let groups = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap();
    assert_eq!(groups.len(), 251);
}

#[tokio::test]
async fn ids_are_json_literals_and_the_extra_filter_is_optional() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/beta/entitlements"))
        .and(raw_query(
            "filters=source.id%20eq%20%22a%5C%22b%22&sorters=id&limit=100&offset=0&count=true",
        ))
        .and(|r: &Request| !r.headers.contains_key("x-sailpoint-experimental"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s.api_version = crate::config::ApiVersion::Beta;
    s.entitlement_filter = None;
    s.page_size = 100;
    let groups = Client::new(&s)
        .unwrap()
        .fetch_groups(r#"a"b"#, &quiet)
        .await
        .unwrap();
    assert!(groups.is_empty());
}

/// Past the window without `searchAfter`, the listing is read in ranges of `created`
/// (`split`); entitlements without a `created` date cannot be, and the run fails after the
/// first page and the request for the oldest one.
#[tokio::test]
async fn more_than_ten_thousand_with_offsets_and_no_dates_fails_after_two_requests() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    mount_directory(&server, Directory::new(10_001), 2).await;
    let e = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap_err();
    assert!(
        matches!(e, IdnError::TooManyForOffsetPaging { total: 10_001, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("v2026"), "{e}");
    assert!(e.to_string().contains("personal access token"), "{e}");
}

#[tokio::test]
async fn exactly_ten_thousand_stop_at_the_window() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    // 40 full pages; the empty 41st would lie past the window and is not asked for.
    mount_directory(&server, Directory::new(10_000), 40).await;
    let groups = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap();
    assert_eq!(groups.len(), 10_000);
}

#[tokio::test]
async fn v2026_pages_past_ten_thousand_with_search_after() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let dir = Directory::new(10_300);
    Mock::given(method("GET"))
        .and(path("/v2026/entitlements"))
        .and(|r: &Request| !r.headers.contains_key("x-sailpoint-experimental"))
        .respond_with(dir.clone())
        .expect(42)
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s.api_version = crate::config::ApiVersion::V2026;
    let groups = Client::new(&s)
        .unwrap()
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap();
    assert_eq!(groups, dir.groups);
    let requests = server.received_requests().await.unwrap();
    let pages: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "GET")
        .map(query_of)
        .collect();
    assert_eq!(pages[0].get("offset").map(String::as_str), Some("0"));
    assert_eq!(pages[1].get("searchAfter"), Some(&dir.groups[249].id));
    assert!(pages[1..].iter().all(|q| !q.contains_key("offset")));
}
