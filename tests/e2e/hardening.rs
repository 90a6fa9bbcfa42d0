//! The bounds and the secrets hygiene end to end: a run's deadline, and logs that never
//! carry a configured secret, whatever fails.

use crate::harness::*;
use groupsync::report::{ErrorKind, Outcome};
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::SandboxOptions;
use groupsync_sandbox::faults::FaultPlan;
use std::time::Duration;

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix} {i:02}")).collect()
}

#[tokio::test]
async fn a_run_past_its_deadline_stops_before_its_next_write_and_fails_as_deadline() {
    let slow = FaultPlan {
        latency: Duration::from_millis(200),
        rules: vec![],
    };
    let app = spawn_app(SandboxOptions {
        groups: names("Late", 20),
        scim_faults: slow,
        ..SandboxOptions::default()
    })
    .await;
    let settings = app.settings(&[
        ("GROUPSYNC_SYNC__MAX_RUN_SECS", "1"),
        ("GROUPSYNC_SYNC__CREATE_CONCURRENCY", "1"),
        ("GROUPSYNC_SYNC__TARGET_LOOKUP", "per_group"),
        ("GROUPSYNC_EMAIL__ENABLED", "false"),
    ]);
    let store = groupsync::store::Store::open(&settings.store.path).unwrap();
    let syncer = Syncer::new(settings, store).unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        syncer.run(&RunRequest::new([TriggerKind::Cli], false), &Quiet),
    )
    .await
    .expect("the deadline ends the run");
    let error = report.error.clone().expect("the run failed");
    assert_eq!(error.kind, ErrorKind::Deadline, "{error}");
    assert!(error.message.contains("sync.max_run_secs"), "{error}");
    let created = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Created { .. }))
        .count();
    assert!(created < 20, "the deadline stopped the creates");
    // Nothing was written after the run stopped: the target holds exactly what it reports.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.target_names().len(), created);
    app.stop().await;
}

/// The configured secrets that must never appear in a log line.
fn secrets(app: &TestApp) -> Vec<String> {
    let toml = std::fs::read_to_string(&app.config).unwrap();
    let value = |key: &str| {
        toml.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{key} in the sandbox configuration"))
            .to_owned()
    };
    vec![
        value("client_secret"),
        value("token"),
        "smtp-password-9c1e".into(),
        "admin-token-4d2b".into(),
        "webhook-token-8e5f".into(),
    ]
}

#[tokio::test]
async fn a_faulted_runs_logs_hold_none_of_the_configured_secrets() {
    let faults = FaultPlan {
        latency: Duration::ZERO,
        rules: vec!["500@2".parse().unwrap(), "reset@5".parse().unwrap()],
    };
    let app = spawn_app(SandboxOptions {
        groups: names("Leak", 12),
        idn_faults: faults.clone(),
        scim_faults: faults,
        ..SandboxOptions::default()
    })
    .await;
    let secrets = secrets(&app);
    for format in ["text", "json"] {
        let mut cmd = app.command();
        cmd.env("GROUPSYNC_LOG__FORMAT", format)
            .env("GROUPSYNC_LOG__LEVEL", "debug")
            .env("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "1")
            .env("GROUPSYNC_SCIM__MAX_RETRIES", "1")
            .env("GROUPSYNC_EMAIL__USERNAME", "relay")
            .env("GROUPSYNC_EMAIL__PASSWORD", &secrets[2])
            .env("GROUPSYNC_SERVER__ADMIN_TOKEN", &secrets[3])
            .env("GROUPSYNC_WEBHOOK__ENABLED", "true")
            .env("GROUPSYNC_WEBHOOK__TOKEN", &secrets[4])
            .args(["run"]);
        let out = output(cmd).await;
        let logs = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            logs.lines().count() > 5,
            "the run logged ({format}): {logs}"
        );
        assert!(
            logs.contains("retrying") || logs.contains("failed") || logs.contains("error"),
            "the faults showed in the {format} logs: {logs}"
        );
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "{format} logs show a secret: {logs}"
            );
            assert!(
                !stdout.contains(secret.as_str()),
                "the summary shows a secret"
            );
        }
    }
    app.stop().await;
}
