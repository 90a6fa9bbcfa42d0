//! A run that fails says in its summary which stage failed and how far it got.

use crate::harness::{output, spawn_app};
use groupsync_sandbox::SandboxOptions;
use groupsync_sandbox::faults::FaultPlan;

#[tokio::test]
async fn a_run_failing_every_create_says_it_failed_in_apply_after_reading_all_groups() {
    let mut opts = SandboxOptions::seeded(30, 0, 11);
    opts.scim_faults.rules = FaultPlan::parse("500@1:POST:/scim/v2/Groups").unwrap();
    let app = spawn_app(opts).await;
    let mut run = app.command();
    run.args(["run"]).env("GROUPSYNC_SCIM__MAX_RETRIES", "0");
    let out = output(run).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(": 30 groups, "), "{stdout}");
    assert!(
        stdout.contains("failed in apply: 30 groups read from the source, 0 done, 30 failed"),
        "{stdout}"
    );
    let mut json = app.command();
    json.args(["run", "--json"])
        .env("GROUPSYNC_SCIM__MAX_RETRIES", "0");
    let view: serde_json::Value = serde_json::from_slice(&output(json).await.stdout).unwrap();
    assert_eq!(view["stage"], "apply", "{view}");
    assert_eq!(view["counts"]["source"], 30, "{view}");
    app.stop().await;
}

#[tokio::test]
async fn a_run_failing_to_read_the_source_says_how_many_groups_it_had_read() {
    let mut opts = SandboxOptions::seeded(30, 0, 12);
    // the third page of entitlements fails, and is not retried
    opts.idn_faults.rules = FaultPlan::parse("500@3:/v2025/entitlements").unwrap();
    let app = spawn_app(opts).await;
    let mut run = app.command();
    run.args(["run", "--json"])
        .env("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "10")
        .env("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "0");
    let out = output(run).await;
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{view}");
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["stage"], "source", "{view}");
    assert_eq!(view["error"]["kind"], "source_unreadable", "{view}");
    assert_eq!(view["counts"]["source"], 20, "{view}");
    // the history tells the same: the stage is kept with the run
    let id = view["id"].as_str().expect("the run has an id");
    let mut show = app.command();
    show.args(["executions", "show", id, "--json"]);
    let kept: serde_json::Value = serde_json::from_slice(&output(show).await.stdout).unwrap();
    assert_eq!(kept["stage"], "source", "{kept}");
    assert_eq!(kept["counts"]["source"], 20, "{kept}");
    let mut run = app.command();
    run.args(["run"])
        .env("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "10")
        .env("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "0");
    let stdout = String::from_utf8_lossy(&output(run).await.stdout).into_owned();
    assert!(
        stdout.contains("failed in source: 20 groups read from the source, 0 done, 0 failed"),
        "{stdout}"
    );
    app.stop().await;
}
