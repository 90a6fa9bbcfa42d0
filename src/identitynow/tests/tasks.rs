//! Aggregation tasks: the latest one, launching one, polling one.

use super::*;
use crate::identitynow::{AggregationKind, Completion, IdnError};

fn task(status: Option<&str>) -> serde_json::Value {
    json!({
        "id": "ef38f94347e94562b5bb8424a56397d8", "type": "QUARTZ",
        "uniqueName": "Cloud Group Aggregation", "launcher": "John Doe",
        "target": {"id": SOURCE_ID, "type": "APPLICATION", "name": "Active Directory [source]"},
        "created": "2026-01-05T10:00:00.000Z", "launched": "2026-01-05T10:00:01.000Z",
        "completed": status.map(|_| "2026-01-05T10:03:10.000Z"),
        "completionStatus": status, "messages": [], "percentComplete": 100
    })
}

#[tokio::test]
async fn the_latest_aggregation_is_asked_for_exactly() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let filters = format!("filters=sourceId%20eq%20%22{SOURCE_ID}%22%20and%20type%20eq%20");
    Mock::given(method("GET"))
        .and(path("/beta/task-status"))
        .and(raw_query(format!(
            "{filters}%22CLOUD_GROUP_AGGREGATION%22&sorters=-created&limit=1"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([task(Some("Success"))])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/beta/task-status"))
        .and(raw_query(format!(
            "{filters}%22CLOUD_ACCOUNT_AGGREGATION%22&sorters=-created&limit=1"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let groups = c
        .latest_aggregation(SOURCE_ID, AggregationKind::Groups)
        .await
        .unwrap();
    let groups = groups.expect("a task");
    assert_eq!(groups.completion(), Some(Completion::Success));
    assert!(groups.completed.is_some());
    let accounts = c
        .latest_aggregation(SOURCE_ID, AggregationKind::Accounts)
        .await
        .unwrap();
    assert_eq!(accounts, None);
}

#[tokio::test]
async fn a_group_aggregation_is_launched_without_a_body() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/beta/sources/{SOURCE_ID}/load-entitlements")))
        .and(|r: &Request| r.body.is_empty() && !r.headers.contains_key("content-type"))
        .respond_with(ResponseTemplate::new(202).set_body_json(task(None)))
        .expect(1)
        .mount(&server)
        .await;
    let started = client(&server)
        .start_group_aggregation(SOURCE_ID)
        .await
        .unwrap();
    assert_eq!(started.id, "ef38f94347e94562b5bb8424a56397d8");
    assert!(!started.is_finished());
}

#[tokio::test]
async fn a_refused_launch_is_not_repeated() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/beta/sources/{SOURCE_ID}/load-entitlements")))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server)
        .start_group_aggregation(SOURCE_ID)
        .await
        .unwrap_err();
    assert!(matches!(e, IdnError::Server { .. }), "{e:?}");
}

#[tokio::test]
async fn a_task_is_polled_by_id() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/beta/task-status/ef38f94347e94562b5bb8424a56397d8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(task(Some("TEMP_ERROR"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/beta/task-status/old"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let t = c
        .task_status("ef38f94347e94562b5bb8424a56397d8")
        .await
        .unwrap();
    assert_eq!(t.completion(), Some(Completion::TempError));
    assert!(!t.succeeded());
    let e = c.task_status("old").await.unwrap_err();
    assert!(e.to_string().contains("older than the 90 days"), "{e}");
}

#[test]
fn client_futures_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let c = Client::new(&settings("http://127.0.0.1:9")).unwrap();
    assert_send(&c.fetch_groups(SOURCE_ID, &quiet));
    assert_send(&c.resolve_source(&SourceRef::Id("x".into())));
    assert_send(&c.start_group_aggregation("x"));
    assert_send(&c.check_token());
}
