//! What stays in memory and what the history keeps: a daemon remembers run summaries and
//! reads outcomes from the store; a group found existing as before is counted, not kept;
//! `executions show` reads one page of outcomes, with a name search.

use crate::harness::*;
use groupsync::daemon::Daemon;
use groupsync::report::RunStatus;
use groupsync_sandbox::SandboxOptions;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ADMIN_TOKEN: &str = "admin-token-memory-0123";
/// Long enough for any run here; a test that waits longer has failed.
const PATIENCE: Duration = Duration::from_secs(60);

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("Memory {i:03}")).collect()
}

async fn get_json(url: &str) -> Value {
    let resp = get_with_token(url, ADMIN_TOKEN).await;
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_daemon_reads_the_outcomes_of_its_runs_from_the_history() {
    let groups = names(30);
    let app = spawn_app(SandboxOptions {
        existing: groups[..20].to_vec(),
        groups,
        ..SandboxOptions::default()
    })
    .await;
    let settings = app.settings(&[("GROUPSYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let daemon = Daemon::new(settings).expect("the daemon starts");
    let coordinator = daemon.coordinator().clone();
    let mut finished = coordinator.subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(listener, shutdown.clone()));

    let mut ids = vec![];
    for _ in 0..2 {
        let id = coordinator
            .trigger(groupsync::daemon::coordinator::TriggerKind::Manual)
            .unwrap();
        let run = tokio::time::timeout(PATIENCE, finished.recv())
            .await
            .expect("a run finishes in time")
            .unwrap();
        assert_eq!(run.summary.run_id, id);
        assert_eq!(run.summary.status, RunStatus::Succeeded);
        ids.push(id);
    }

    // the first run: every group, read from the store (the daemon keeps none in memory)
    let first = get_json(&format!("{url}/runs/{}", ids[0])).await;
    assert_eq!(first["outcomes"].as_array().unwrap().len(), 30, "{first:#}");
    assert_eq!(first["counts"]["created"], 10);
    assert_eq!(first["unchanged_omitted"], 0);
    assert_eq!(first["trigger"], "manual");

    // the second: the 10 created before are found existing for the first time and kept;
    // the 20 found existing twice are counted, not kept
    let second = get_json(&format!("{url}/runs/{}", ids[1])).await;
    assert_eq!(second["counts"]["existed"], 30);
    assert_eq!(second["unchanged_omitted"], 20);
    let kept = second["outcomes"].as_array().unwrap();
    assert_eq!(kept.len(), 10);
    assert!(kept.iter().all(|o| o["outcome"] == "existed"));
    let from_history = get_json(&format!("{url}/executions/{}", ids[1])).await;
    assert_eq!(from_history, second, "/runs and /executions say the same");

    shutdown.cancel();
    task.await.unwrap().unwrap();

    // executions show: pages and a search, the omitted groups said
    let show = |args: &[&str]| {
        let mut cmd = app.command();
        cmd.args(["executions", "show"]).args(args);
        output(cmd)
    };
    let out = show(&[&ids[0].0, "--page", "2", "--limit", "12"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("groups 13-24 of the 30"), "{text}");
    assert_eq!(text.matches("\"Memory ").count(), 12, "{text}");

    let out = show(&[&ids[0].0, "--search", "memory 02", "--outcome", "created"]).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("groups 1-") && text.contains("created whose name holds \"memory 02\""),
        "{text}"
    );

    let out = show(&[&ids[1].0]).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("20 groups found existing as in the run before: counted, not listed"),
        "{text}"
    );

    let out = show(&[&ids[0].0, "--json", "--limit", "5"]).await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcomes"].as_array().unwrap().len(), 5);
    assert_eq!(json["counts"]["source"], 30, "the counts stay whole");

    let out = show(&[&ids[0].0, "--page", "0"]).await;
    assert_eq!(out.status.code(), Some(2), "pages count from 1");
    app.stop().await;
}
