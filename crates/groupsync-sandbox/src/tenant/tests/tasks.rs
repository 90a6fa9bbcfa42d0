//! Task status, load-entitlements, the aggregation event, fault injection.

use super::{Running, SRC, error_text, opts};
use crate::tenant::*;
use axum::Router;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn load_entitlements_then_task_status() {
    // load-entitlements accepts only a user's token (userAuth).
    let t = Running::start(TenantOptions {
        credential: Credential::Pat,
        ..opts(vec!["A".into(), "B".into()])
    })
    .await;
    let token = t.token().await;
    let started = t
        .post(&token, &format!("/beta/sources/{SRC}/load-entitlements"))
        .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let task: Value = started.json().await.unwrap();
    assert_eq!(task["uniqueName"], "Cloud Group Aggregation");
    assert_eq!(task["type"], "QUARTZ");
    assert_eq!(task["returns"].as_array().unwrap().len(), 4);
    assert!(task["returns"][0]["displayLabel"].is_string());
    let id = task["id"].as_str().unwrap();
    let path = format!("/v2025/task-status/{id}");
    let running: Value = t.get(&token, &path, &[]).await.json().await.unwrap();
    assert!(running["completionStatus"].is_null() && running["completed"].is_null());
    let pending: Vec<Value> = t
        .get(
            &token,
            "/beta/task-status",
            &[("filters", "completionStatus isnull")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    tokio::time::advance(Duration::from_secs(3)).await;
    let done: TaskStatus = t.get(&token, &path, &[]).await.json().await.unwrap();
    assert_eq!(done.completion_status, Some(TaskCompletion::Success));
    assert_eq!(done.percent_complete, 100);
    assert_eq!(done.attributes["total"], 2);
    assert_eq!(
        done.completed.unwrap() - done.launched.unwrap(),
        chrono::TimeDelta::seconds(3)
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    let later =
        t.tenant
            .complete_aggregation(SRC, AggregationKind::Entitlements, TaskCompletion::Error);
    t.tenant
        .complete_aggregation(SRC, AggregationKind::Accounts, TaskCompletion::Success);
    let filter = format!(r#"sourceId eq "{SRC}" and type eq "CLOUD_GROUP_AGGREGATION""#);
    let query = [
        ("filters", filter.as_str()),
        ("sorters", "-created"),
        ("limit", "1"),
        ("count", "true"),
    ];
    let latest = t.get(&token, "/beta/task-status", &query).await;
    assert_eq!(latest.headers()["x-total-count"], "2");
    let latest: Vec<TaskStatus> = latest.json().await.unwrap();
    assert_eq!(latest, vec![later]);
    assert_eq!(latest[0].completion_status, Some(TaskCompletion::Error));
    let both: Vec<Value> = t
        .get(
            &token,
            "/beta/task-status",
            &[(
                "filters",
                r#"type in ("CLOUD_GROUP_AGGREGATION","CLOUD_ACCOUNT_AGGREGATION")"#,
            )],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(both.len(), 3);
    let unknown = t
        .http
        .post(t.url("/v2024/sources/nope/load-entitlements"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_text(unknown, StatusCode::NOT_FOUND, "404").await;
    let bad = t
        .get(&token, "/beta/task-status", &[("sorters", "modified")])
        .await;
    error_text(bad, StatusCode::BAD_REQUEST, "400.1").await;
    t.stop().await;
}

#[tokio::test]
async fn aggregation_completed_event_reaches_the_subscriber() {
    use axum::extract::State as AxState;
    use axum::http::HeaderMap;
    type Seen = tokio::sync::mpsc::UnboundedSender<(Option<String>, Value)>;
    async fn receive(
        AxState(seen): AxState<Seen>,
        headers: HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::http::StatusCode {
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        let ok = auth.as_deref() == Some("Bearer hook-secret");
        seen.send((auth, body)).unwrap();
        if ok {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::UNAUTHORIZED
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route("/hook", post(receive)).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let receiver = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );

    let tenant = Tenant::new(opts(vec!["A".into(), "B".into(), "C".into()]));
    let status = tenant
        .fire_account_aggregation_completed(&url, SRC, "Success", Some("Bearer hook-secret"))
        .await;
    assert_eq!(status, Ok(200));
    let (auth, body) = rx.recv().await.unwrap();
    assert_eq!(auth.as_deref(), Some("Bearer hook-secret"));
    assert_eq!(
        body["source"],
        serde_json::json!({"type": "SOURCE", "id": SRC, "name": "Active Directory"})
    );
    assert_eq!(body["status"], "Success");
    for key in ["started", "completed"] {
        chrono::DateTime::parse_from_rfc3339(body[key].as_str().unwrap()).unwrap();
    }
    assert!(body["errors"].is_array() && body["warnings"].is_array());
    for key in ["scanned", "unchanged", "changed", "added", "removed"] {
        assert!(body["stats"][key].as_u64().is_some(), "stats.{key}");
    }
    assert_eq!(body["stats"]["scanned"], 3);

    let refused = tenant
        .fire_account_aggregation_completed(&url, SRC, "Failed", None)
        .await;
    assert_eq!(refused, Ok(401));
    let (auth, body) = rx.recv().await.unwrap();
    assert_eq!((auth, &body["status"]), (None, &Value::from("Failed")));
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    assert!(
        tenant
            .fire_account_aggregation_completed(&url, SRC, "Error", None)
            .await
            .unwrap_err()
            .contains("Error")
    );
    assert!(
        tenant
            .fire_account_aggregation_completed(&url, "nope", "Success", None)
            .await
            .is_err()
    );
    stop.cancel();
    receiver.await.unwrap().unwrap();
}

#[tokio::test]
async fn faults_are_injected_in_front_of_the_api() {
    let faults = FaultPlan {
        latency: Duration::ZERO,
        rules: FaultPlan::parse("503@2:/v3/sources").unwrap(),
    };
    let t = Running::start(TenantOptions {
        faults,
        ..opts(vec![])
    })
    .await;
    let token = t.token().await;
    assert_eq!(
        t.get(&token, "/v3/sources", &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        t.get(&token, "/v3/sources", &[]).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(t.tenant.faults_injected(), 1);
    t.stop().await;
}

/// The entitlements of [`SRC`], one page.
async fn entitlements(t: &Running, token: &str) -> Vec<Value> {
    let filter = format!(r#"source.id eq "{SRC}""#);
    let query = [("filters", filter.as_str())];
    let page = t.get(token, "/v2025/entitlements", &query).await;
    page.json().await.unwrap()
}

/// A tenant whose source holds nothing yet, issuing a user's tokens (which may aggregate).
async fn empty_for_a_user() -> Running {
    Running::start(TenantOptions {
        credential: Credential::Pat,
        ..opts(vec![])
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn an_aggregation_of_a_source_with_a_feed_lists_what_the_feed_reads() {
    let t = empty_for_a_user().await;
    t.tenant.set_feed(SRC, || {
        vec![
            ("scim-1".to_owned(), "Data Stewards".to_owned()),
            ("scim-2".to_owned(), "Analysts".to_owned()),
        ]
    });
    let token = t.token().await;
    assert!(entitlements(&t, &token).await.is_empty());
    let started = t
        .post(&token, &format!("/v2025/sources/{SRC}/load-entitlements"))
        .await;
    let task: Value = started.json().await.unwrap();
    let path = format!("/beta/task-status/{}", task["id"].as_str().unwrap());
    let pending: Value = t.get(&token, &path, &[]).await.json().await.unwrap();
    assert_eq!(pending["progress"], "PENDING");
    assert!(pending["completionStatus"].is_null());
    tokio::time::advance(Duration::from_secs(2)).await;
    let running: Value = t.get(&token, &path, &[]).await.json().await.unwrap();
    assert_eq!(running["progress"], "RUNNING");
    assert!(running["completionStatus"].is_null());
    // not listed before the task completes
    assert!(entitlements(&t, &token).await.is_empty());
    tokio::time::advance(Duration::from_secs(1)).await;
    let done: Value = t.get(&token, &path, &[]).await.json().await.unwrap();
    assert_eq!(done["completionStatus"], "SUCCESS");
    let listed = entitlements(&t, &token).await;
    let mut names: Vec<&str> = listed.iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Analysts", "Data Stewards"]);
    assert!(
        listed
            .iter()
            .all(|e| e["sourceSchemaObjectType"] == "group")
    );
    let values: Vec<&str> = listed
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert!(values.contains(&"scim-1"));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn entitlements_an_aggregation_makes_are_created_then_and_found_by_created_ge() {
    let t = empty_for_a_user().await;
    let system = std::sync::Arc::new(std::sync::Mutex::new(vec![
        ("scim-1".to_owned(), "Data Stewards".to_owned()),
        ("scim-2".to_owned(), "Analysts".to_owned()),
    ]));
    let read = system.clone();
    t.tenant.set_feed(SRC, move || read.lock().unwrap().clone());
    t.tenant.aggregated_earlier(SRC);
    let token = t.token().await;
    let created = |listed: &[Value]| -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = listed
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().into(),
                    e["created"].as_str().unwrap().into(),
                )
            })
            .collect();
        pairs.sort();
        pairs
    };
    let earlier = created(&entitlements(&t, &token).await);
    assert_eq!(earlier.len(), 2);
    assert!(
        earlier.iter().all(|(_, at)| at.as_str() < "2025"),
        "{earlier:?}"
    );

    system
        .lock()
        .unwrap()
        .push(("scim-3".to_owned(), "Data Owners".to_owned()));
    let started = t
        .post(&token, &format!("/v2025/sources/{SRC}/load-entitlements"))
        .await;
    let task: Value = started.json().await.unwrap();
    let since = task["created"].as_str().unwrap().to_owned();
    tokio::time::advance(Duration::from_secs(3)).await;
    let path = format!("/beta/task-status/{}", task["id"].as_str().unwrap());
    let done: Value = t.get(&token, &path, &[]).await.json().await.unwrap();
    assert_eq!(done["completionStatus"], "SUCCESS");

    let all = created(&entitlements(&t, &token).await);
    assert_eq!(all.len(), 3);
    assert!(
        earlier.iter().all(|pair| all.contains(pair)),
        "kept: {all:?}"
    );
    let filter = format!(r#"source.id eq "{SRC}" and created ge {since}"#);
    let new: Vec<Value> = t
        .get(
            &token,
            "/v2025/entitlements",
            &[("filters", filter.as_str())],
        )
        .await
        .json()
        .await
        .unwrap();
    let new = created(&new);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].0, "Data Owners");
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    let ended = at(done["completed"].as_str().unwrap());
    let made = at(&new[0].1);
    assert!(
        made <= ended && ended - made < chrono::TimeDelta::milliseconds(1),
        "created when the aggregation ended: {made} {ended}"
    );
    t.stop().await;
}

#[tokio::test]
async fn schemas_mark_the_group_attribute_and_need_a_user_token() {
    for (credential, expected) in [
        (Credential::Pat, StatusCode::OK),
        (Credential::ApiClient, StatusCode::FORBIDDEN),
    ] {
        let t = Running::start(TenantOptions {
            credential,
            ..opts(vec!["A".into()])
        })
        .await;
        let token = t.token().await;
        let path = format!("/v3/sources/{SRC}/schemas");
        let answer = t.get(&token, &path, &[]).await;
        assert_eq!(answer.status(), expected);
        if expected == StatusCode::OK {
            let schemas: Vec<Value> = answer.json().await.unwrap();
            let account = &schemas[0];
            assert_eq!(account["name"], "account");
            let groups: Vec<&Value> = account["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["isGroup"] == true)
                .collect();
            assert_eq!(groups.len(), 1);
            assert_eq!(groups[0]["name"], "memberOf");
            assert_eq!(groups[0]["schema"]["name"], "group");
            assert_eq!(schemas[1]["name"], "group");
            let only: Vec<Value> = t
                .get(&token, &path, &[("include-types", "group")])
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(only.len(), 1);
        }
        t.stop().await;
    }
}
