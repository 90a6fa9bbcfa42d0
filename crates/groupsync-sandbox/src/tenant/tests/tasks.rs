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
        .http
        .post(t.url(&format!("/beta/sources/{SRC}/load-entitlements")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
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
