//! Pages that fail or cannot be trusted: an error, and never a partial list.

use super::stub::{Reply, Stub};
use super::*;
use crate::identitynow::IdnError;
use crate::retry::{Classify, Disposition};

/// 500 groups; the second page (offset 250) answers `reply` instead, `times` times.
async fn second_page_answers(reply: impl Respond + 'static, times: u64) -> IdnError {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/v2025/entitlements"))
        .and(|r: &Request| query_of(r)["offset"] == "250")
        .respond_with(reply)
        .with_priority(1)
        .expect(times)
        .mount(&server)
        .await;
    mount_directory(&server, Directory::new(500), 1).await;
    client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_page_failing_after_retries_fails_the_fetch() {
    // One attempt and the policy's two retries.
    let e = second_page_answers(ResponseTemplate::new(500).set_body_string("boom"), 3).await;
    assert!(matches!(e, IdnError::Server { .. }), "{e:?}");
    assert!(e.to_string().contains("500 Internal Server Error"), "{e}");
}

#[tokio::test]
async fn malformed_pages_fail_without_retrying() {
    let e = second_page_answers(ResponseTemplate::new(200).set_body_string("[{\"id\":"), 1).await;
    assert!(e.to_string().contains("offset 250 is not JSON"), "{e}");
    assert_eq!(e.disposition(), Disposition::GiveUp);

    let e = second_page_answers(
        ResponseTemplate::new(200).set_body_string(r#"{"items":[]}"#),
        1,
    )
    .await;
    assert!(
        e.to_string().contains("is an object, not a JSON array"),
        "{e}"
    );

    let nameless = json!([{"id": "ffff", "name": "ok"}, {"id": "ffff0001", "value": "CN=x"}]);
    let e = second_page_answers(ResponseTemplate::new(200).set_body_json(nameless), 1).await;
    assert!(matches!(e, IdnError::Malformed { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("item 1 of the page at offset 250 (entitlement ffff0001) has no `name`"),
        "{e}"
    );
}

#[tokio::test]
async fn a_total_that_does_not_add_up_fails_the_fetch() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let dir = Directory {
        total: Some(300),
        ..Directory::new(260)
    };
    mount_directory(&server, dir, 2).await;
    let e = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("X-Total-Count said 300, 260 were listed"),
        "{e}"
    );
    assert_eq!(e.disposition(), Disposition::RetryLater { after: None });
}

#[tokio::test]
async fn a_total_that_changes_between_pages_fails_the_fetch() {
    let e = second_page_answers(
        Directory {
            total: Some(499),
            ..Directory::new(500)
        },
        1,
    )
    .await;
    assert!(matches!(e, IdnError::Inconsistent { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("was 500 on the first page and 499 on page 2"),
        "{e}"
    );
}

#[tokio::test]
async fn a_repeated_id_fails_the_fetch() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let dir = Directory {
        ignore_offset: true,
        total: Some(1000),
        ..Directory::new(300)
    };
    // the third request is the page after page 2, asked for while page 2 was read
    mount_directory(&server, dir.clone(), 3).await;
    let e = client(&server)
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap_err();
    let expected = format!(
        "entitlement {} came twice, again on page 2",
        dir.groups[0].id
    );
    assert!(e.to_string().contains(&expected), "{e}");
}

#[tokio::test]
async fn forbidden_keeps_the_tracking_id_and_names_the_scope() {
    let body = json!({
        "detailCode": "403 Forbidden",
        "trackingId": "e7eab60924f64aa284175b9fa3309599",
        "messages": [{
            "locale": "en-US",
            "localeOrigin": "DEFAULT",
            "text": "The server understood the request but refuses to authorize it."
        }]
    });
    let e = second_page_answers(ResponseTemplate::new(403).set_body_json(body), 1).await;
    assert_eq!(e.tracking_id(), Some("e7eab60924f64aa284175b9fa3309599"));
    let text = e.to_string();
    let head =
        "GET /v2025/entitlements: 403 Forbidden (trackingId e7eab60924f64aa284175b9fa3309599)";
    assert!(
        text.starts_with(&format!("{head}: 403 Forbidden — The server understood")),
        "{text}"
    );
    assert!(
        text.ends_with("the PAT lacks scope idn:entitlement:read or the user level"),
        "{text}"
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/v2025/entitlements"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("[]")
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_directory(&server, Directory::new(5), 1).await;
    let mut s = settings(&server.uri());
    s.timeout = Duration::from_millis(200);
    let groups = Client::new(&s)
        .unwrap()
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap();
    assert_eq!(groups.len(), 5);
}

#[tokio::test]
async fn an_unreachable_tenant_is_a_passing_failure() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let e = Client::new(&settings(&closed))
        .unwrap()
        .fetch_groups(SOURCE_ID, &quiet)
        .await
        .unwrap_err();
    assert_eq!(e.disposition(), Disposition::RetryLater { after: None });
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

fn empty_page() -> Reply {
    Reply::json(200, "[]").header("x-total-count", "0")
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let busy =
        Reply::json(429, r#"{"message":" Rate Limit Exceeded "}"#).header("retry-after", "7");
    let stub = Stub::start(749, vec![busy, empty_page()]).await;
    let start = tokio::time::Instant::now();
    let c = Client::new(&settings(&stub.uri)).unwrap();
    assert!(c.fetch_groups(SOURCE_ID, &quiet).await.unwrap().is_empty());
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].0 - requests[0].0, Duration::from_secs(7));
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_waits_ten_seconds() {
    let busy = Reply::json(429, r#"{"message":" Rate Limit Exceeded "}"#);
    let stub = Stub::start(749, vec![busy, empty_page()]).await;
    let c = Client::new(&settings(&stub.uri)).unwrap();
    assert!(c.fetch_groups(SOURCE_ID, &quiet).await.unwrap().is_empty());
    let requests = stub.requests();
    assert_eq!(requests[1].0 - requests[0].0, Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn requests_are_paced_under_the_budget() {
    let replies = (0..5).map(|_| Reply::json(200, "[]")).collect();
    let stub = Stub::start(749, replies).await;
    let mut s = settings(&stub.uri);
    s.requests_per_10s = 2;
    let c = Client::new(&s).unwrap();
    for _ in 0..5 {
        c.list_sources(None).await.unwrap();
    }
    // The token request counts against the same budget as the calls.
    let mut times: Vec<_> = stub.requests().iter().map(|(t, _)| *t).collect();
    times.extend(stub.token_times());
    times.sort();
    assert_eq!(times.len(), 6);
    for (i, start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .filter(|t| **t - *start < Duration::from_secs(10))
            .count();
        assert!(within <= 2, "{within} requests within 10 s of {i}");
    }
    // ... and no slower than the budget requires: two requests every 10 s.
    assert_eq!(times[5] - times[0], Duration::from_secs(20));
}
