//! Several jobs in one process (`[[jobs]]`): two sandboxes, each a tenant with its own AD
//! source and its own SCIM server, and one configuration with a job for each.

use crate::harness::*;
use groupsync::config::Settings;
use groupsync::daemon::Daemon;
use groupsync_sandbox::{AD_SOURCE_ID, OTHER_SOURCE_ID, SandboxOptions};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The second tenant's AD source: its events name this id, not [`AD_SOURCE_ID`].
const B_SOURCE_ID: &str = "2c9180835d191a86015d28455b4b23b0";
const HOOK_TOKEN: &str = "hook-token-jobs";
const ADMIN_TOKEN: &str = "admin-token-jobs";
const PATIENCE: Duration = Duration::from_secs(60);

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix} {i:02}")).collect()
}

/// Sandbox `a` (three groups, source [`AD_SOURCE_ID`]) and sandbox `b` (two groups, source
/// [`B_SOURCE_ID`]); `a`'s configuration file holds the two jobs.
async fn two_tenants() -> (TestApp, TestApp) {
    let a = spawn_app(SandboxOptions {
        groups: names("Alpha", 3),
        ..SandboxOptions::default()
    })
    .await;
    let b = spawn_app(SandboxOptions {
        groups: names("Beta", 2),
        source_id: B_SOURCE_ID.into(),
        ..SandboxOptions::default()
    })
    .await;
    std::fs::write(&a.config, two_jobs(&a, &b)).unwrap();
    (a, b)
}

/// `a`'s configuration as the top level, job `a` taking it all, job `b` another tenant,
/// source and target.
fn two_jobs(a: &TestApp, b: &TestApp) -> String {
    format!(
        r#"{top}
[[jobs]]
name = "a"

[[jobs]]
name = "b"
[jobs.identitynow]
tenant_url = "{tenant}"
source_id = "{B_SOURCE_ID}"
[jobs.scim]
base_url = "{scim}"
"#,
        top = a.config_toml(),
        tenant = b.idn_url(),
        scim = b.scim_url(),
    )
}

/// The JSON a GET with the admin token answers.
async fn get_json(url: &str) -> Value {
    get_with_token(url, ADMIN_TOKEN).await.json().await.unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn run_all_creates_each_jobs_groups_in_its_own_target_and_the_history_tells_them_apart() {
    let (a, b) = two_tenants().await;

    let run = |args: &[&str]| {
        let mut cmd = a.command();
        cmd.arg("run").args(args);
        output(cmd)
    };
    let out = run(&[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 jobs are configured (a, b)"), "{err}");
    assert!(err.contains("--job NAME") && err.contains("--all"), "{err}");
    let out = run(&["--job", "c"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no job is called \"c\""));

    let out = run(&["--all"]).await;
    let stdout = stdout_of_success(&out);
    assert!(
        stdout.contains("job a:") && stdout.contains("job b:"),
        "{stdout}"
    );
    assert_eq!(sorted(a.target_names()), names("Alpha", 3));
    assert_eq!(sorted(b.target_names()), names("Beta", 2));

    let out = run(&["--job", "b", "--json"]).await;
    assert!(out.status.success());
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["job"], "b");
    assert_eq!(view["counts"]["existed"], 2);

    let listed = |args: &[&str]| {
        let mut cmd = a.command();
        cmd.args(["executions", "list", "--json"]).args(args);
        cmd
    };
    let out = output(listed(&["--job", "b"])).await;
    assert!(out.status.success());
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["job"] == "b"), "{runs:?}");
    assert!(runs.iter().all(|r| r["source"]["id"] == B_SOURCE_ID));
    let out = output(listed(&[])).await;
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 3);
    let mut cmd = a.command();
    cmd.args(["executions", "list"]);
    let out = output(cmd).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().unwrap().contains(" JOB "), "{table}");

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_webhook_runs_only_the_job_whose_source_it_names() {
    let (a, b) = two_tenants().await;
    let env: HashMap<String, String> = [
        ("GROUPSYNC_STORE__PATH", a.store.display().to_string()),
        ("GROUPSYNC_WEBHOOK__ENABLED", "true".into()),
        ("GROUPSYNC_WEBHOOK__TOKEN", HOOK_TOKEN.into()),
        ("GROUPSYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = Settings::from_toml_and_env(&two_jobs(&a, &b), &env).unwrap();
    let daemon = Daemon::new(Arc::new(settings)).unwrap();
    let (job_a, job_b) = (
        daemon.coordinator_of("a").unwrap().clone(),
        daemon.coordinator_of("b").unwrap().clone(),
    );
    let (mut a_done, mut b_done) = (job_a.subscribe(), job_b.subscribe());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(listener, shutdown.clone()));
    let http = reqwest::Client::new();
    let event = |source: &str| {
        http.post(format!("{url}/webhooks/account-aggregation-completed"))
            .bearer_auth(HOOK_TOKEN)
            .json(&json!({
                "source": { "type": "SOURCE", "id": source, "name": "Active Directory" },
                "status": "Success",
                "started": "2026-01-05T10:00:00.000Z",
                "completed": "2026-01-05T10:00:14.000Z",
                "errors": [],
                "warnings": [],
                "stats": { "scanned": 3, "unchanged": 3, "changed": 0, "added": 0, "removed": 0 }
            }))
            .send()
    };

    let resp = event(AD_SOURCE_ID).await.unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["runs"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["runs"][0]["job"], "a");
    let run = tokio::time::timeout(PATIENCE, a_done.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.summary.run_id.0, body["run_id"].as_str().unwrap());
    assert_eq!(sorted(a.target_names()), names("Alpha", 3));
    assert!(b.target_names().is_empty());
    assert_eq!(job_b.snapshot().started, 0);

    // an event for a source no job reads is answered as for any foreign source
    let resp = event(OTHER_SOURCE_ID).await.unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["ignored"]
            .as_str()
            .unwrap()
            .contains("not the AD source of any job"),
        "{body}"
    );

    // POST /runs names the job when there are several
    let manual = |body: Value| {
        http.post(format!("{url}/runs"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let resp = manual(json!({})).await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = manual(json!({ "job": "b" })).await.unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["job"], "b");
    let run = tokio::time::timeout(PATIENCE, b_done.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.summary.run_id.0, body["run_id"].as_str().unwrap());
    assert_eq!(sorted(b.target_names()), names("Beta", 2));
    let shown = get_json(&format!("{url}/runs/{}", run.summary.run_id.0)).await;
    assert_eq!(shown["job"], "b");
    let page = get_json(&format!("{url}/executions?job=a")).await;
    let jobs: Vec<&Value> = page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["job"])
        .collect();
    assert_eq!(jobs, [&json!("a")]);

    shutdown.cancel();
    task.await.unwrap().unwrap();
    a.stop().await;
    b.stop().await;
}
