//! Scoping, the name template and the SCIM token's expiry, against the sandbox: groups left
//! out are never asked about, renamed groups are created once and found on the next run,
//! and the token's warning reaches the digest once.

use crate::harness::*;
use groupsync::config::Settings;
use groupsync::report::{Outcome, RunStatus, SkipReason};
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::SandboxOptions;
use std::sync::Arc;

fn req(dry_run: bool) -> RunRequest {
    RunRequest::new([TriggerKind::Cli], dry_run)
}

fn sandbox_with(groups: &[&str]) -> SandboxOptions {
    SandboxOptions {
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..SandboxOptions::default()
    }
}

/// The sandbox's configuration with `extra` appended (a `[sync]` section: lists cannot
/// come from the environment), one lookup per group so requests can be counted.
fn settings_with(app: &TestApp, extra: &str) -> Arc<Settings> {
    let text = format!("{}\n{extra}", app.config_toml());
    let env = [
        ("GROUPSYNC_STORE__PATH", app.store.display().to_string()),
        ("GROUPSYNC_SYNC__TARGET_LOOKUP", "per_group".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Arc::new(Settings::from_toml_and_env(&text, &env).unwrap())
}

const GROUPS: [&str; 5] = [
    "GRP_Finance",
    "GRP_Sales",
    "Test_Lab",
    "grp_finance",
    "Printers",
];

const SCOPE: &str = r#"
[sync]
exclude_names = ["printers", "test_.*"]
include_dns = [".*,OU=Groups,DC=corp,DC=example,DC=com"]
name_strip_prefix = "GRP_"
name_prefix = "AD-"
"#;

#[tokio::test]
async fn excluded_groups_are_never_asked_about_and_prefixed_groups_are_created_once() {
    let app = spawn_app(sandbox_with(&GROUPS)).await;
    let syncer = Syncer::new(settings_with(&app, SCOPE), Store::in_memory().unwrap()).unwrap();

    let first = syncer.run(&req(false), &Quiet).await;
    assert_eq!(first.status(), RunStatus::Succeeded, "{:?}", first.error);
    let c = first.counts();
    assert_eq!((c.source, c.created, c.skipped), (5, 2, 2), "{c:?}");
    // one lookup per name in scope ("AD-Finance" once: grp_finance is its case twin),
    // one by externalId for each name not found (a renamed group of ours is never created
    // again), one create each; nothing for the two groups left out
    assert_eq!(app.scim.request_count(), 6);
    // "AD-Finance" or "AD-finance": the first of the twins by entitlement id names it
    let mut names: Vec<String> = app
        .target_names()
        .iter()
        .map(|n| n.to_lowercase())
        .collect();
    names.sort();
    assert_eq!(names, vec!["ad-finance", "ad-sales"]);
    assert_no_duplicates(app.target_names());
    let by_name = |n: &str| {
        first
            .outcomes
            .iter()
            .find(|o| o.source_name.as_deref() == Some(n) || o.name == n)
            .unwrap()
    };
    assert_eq!(
        by_name("Test_Lab").outcome,
        Outcome::Skipped {
            reason: SkipReason::OutOfScope {
                rule: "sync.exclude_names[1]".into(),
                pattern: Some("test_.*".into()),
            }
        }
    );
    assert_eq!(by_name("GRP_Sales").name, "AD-Sales");
    // the twin is found existing under the first's mapped name
    assert!(matches!(
        by_name("GRP_Finance").outcome,
        Outcome::Created { .. } | Outcome::Existed { .. }
    ));

    let second = syncer.run(&req(false), &Quiet).await;
    assert_eq!(second.status(), RunStatus::Succeeded);
    let c = second.counts();
    assert_eq!((c.created, c.existed, c.skipped), (0, 3, 2), "{c:?}");
    assert_eq!(app.scim.create_count(), 2, "nothing created twice");
    app.stop().await;
}

#[tokio::test]
async fn a_dry_run_shows_what_each_rule_left_out_or_renamed() {
    let app = spawn_app(sandbox_with(&GROUPS)).await;
    let config = app.dir().join("scoped.toml");
    std::fs::write(&config, format!("{}\n{SCOPE}", app.config_toml())).unwrap();
    let run = |json: bool| {
        let mut cmd = groupsync();
        cmd.env("GROUPSYNC_STORE__PATH", &app.store)
            .arg("--config")
            .arg(&config)
            .args(["run", "--dry-run"]);
        if json {
            cmd.arg("--json");
        }
        output(cmd)
    };
    let human = run(false).await;
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success(), "{text}");
    assert!(
        text.contains("\"AD-Sales\" (AD name \"GRP_Sales\")"),
        "{text}"
    );
    assert!(
        text.contains("\"Test_Lab\": left out by sync.exclude_names[1] (\"test_.*\")"),
        "{text}"
    );
    assert!(
        text.contains("\"Printers\": left out by sync.exclude_names[0] (\"printers\")"),
        "{text}"
    );

    let json = run(true).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let outcomes = v["outcomes"].as_array().unwrap();
    let sales = outcomes.iter().find(|o| o["name"] == "AD-Sales").unwrap();
    assert_eq!(sales["source_name"], "GRP_Sales");
    assert_eq!(sales["outcome"], "would_create");
    let lab = outcomes.iter().find(|o| o["name"] == "Test_Lab").unwrap();
    assert_eq!(
        lab["reason"],
        serde_json::json!({"kind": "out_of_scope", "rule": "sync.exclude_names[1]", "pattern": "test_.*"})
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o["name"] != "Printers" || o.get("source_name").is_none())
    );
    assert_eq!(app.scim.create_count(), 0, "a dry run writes nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_pattern_is_refused_at_start_up_naming_its_key_and_index() {
    let app = spawn_app(sandbox_with(&["A"])).await;
    let config = app.dir().join("bad.toml");
    let extra = "[sync]\ninclude_dns = [\".*\", \"CN=(unclosed\"]\n";
    std::fs::write(&config, format!("{}\n{extra}", app.config_toml())).unwrap();
    let mut cmd = groupsync();
    cmd.arg("--config").arg(&config).arg("check");
    let out = output(cmd).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("sync.include_dns[1]"), "{err}");
    assert_eq!(app.scim.request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_token_expiry_warning_reaches_the_digest_once_a_day() {
    let app = spawn_app(sandbox_with(&["Alpha", "Beta"])).await;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::days(5)).to_rfc3339();
    let settings = app.settings(&[("GROUPSYNC_SCIM__TOKEN_EXPIRES_AT", soon.as_str())]);
    let syncer = Syncer::new(settings, Store::in_memory().unwrap()).unwrap();
    let first = syncer.run(&req(false), &Quiet).await;
    assert_eq!(first.status(), RunStatus::Succeeded, "{:?}", first.error);
    app.scim.insert_group("Gamma");
    // a second run the same day: nothing new to tell about the token
    let second = syncer.run(&req(false), &Quiet).await;
    assert_eq!(second.status(), RunStatus::Succeeded);
    let mail = app.smtp.messages();
    let warned: Vec<_> = mail
        .iter()
        .filter(|m| m.body_text().contains("Warning: the SCIM token expires on"))
        .collect();
    assert_eq!(
        warned.len(),
        1,
        "{:?}",
        mail.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert!(
        warned[0].body_text().contains("(4 days left)"),
        "{}",
        warned[0].body_text()
    );

    // check prints the warning with the date and the days left
    let mut cmd = app.command();
    cmd.env("GROUPSYNC_SCIM__TOKEN_EXPIRES_AT", &soon)
        .arg("check");
    let out = output(cmd).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(
            |l| l.starts_with("warn scim token expiry: the SCIM token expires on")
                && l.contains("(4 days left)")
        ),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn readyz_and_metrics_tell_of_a_token_near_its_expiry() {
    use groupsync::daemon::Daemon;
    let app = spawn_app(sandbox_with(&["Alpha"])).await;
    let soon = chrono::Utc::now() + chrono::TimeDelta::days(3);
    let settings = app.settings(&[("GROUPSYNC_SCIM__TOKEN_EXPIRES_AT", &soon.to_rfc3339())]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let daemon = Daemon::new(settings).expect("the daemon starts");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(daemon.run(listener, shutdown.clone()));

    let resp = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "a warning, not a failure");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["checks"]["scim_token_expiry"]["ok"], true, "{body}");
    let warning = body["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("the SCIM token expires on") && warning.contains("(2 days left)"),
        "{body}"
    );
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "groupsync_scim_token_expiry_timestamp_seconds {}",
        soon.timestamp()
    );
    assert!(metrics.contains(&line), "{line} missing from /metrics");

    shutdown.cancel();
    task.await.unwrap().unwrap();
    app.stop().await;
}
