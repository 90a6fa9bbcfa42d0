//! A run's JSON is one shape everywhere (`run --json`, `executions show --json`,
//! `GET /runs/{id}`, `GET /executions/{id}`) and is the one `docs/json.md` shows; the
//! history commands survive a reader that stops early and need only the store.

use crate::harness::{get_with_token, groupsync as bin, output};
use groupsync::config::Settings;
use groupsync::daemon::Daemon;
use groupsync::domain::RunId;
use groupsync::report::{GroupOutcome, Outcome, RunReport, RunView, SourceInfo};
use groupsync::store::{Recording, RunRecord, Store};
use groupsync_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ADMIN_TOKEN: &str = "admin-token-json-0123";
/// Long enough for any run here; a test that waits longer has failed.
const PATIENCE: Duration = Duration::from_secs(60);

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect()
}

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::seeded(12, 4, 21))
        .await
        .expect("the sandbox starts on 127.0.0.1")
}

/// `groupsync run --json [--dry-run]` against the sandbox, recording in `store`.
async fn cli_run(sb: &Sandbox, dir: &Path, store: &Path, dry_run: bool) -> Value {
    let config = dir.join("sandbox.toml");
    std::fs::write(&config, sb.config_toml()).unwrap();
    let mut cmd = bin();
    cmd.arg("--config")
        .arg(&config)
        .args(["run", "--json"])
        .env("GROUPSYNC_STORE__PATH", store);
    if dry_run {
        cmd.arg("--dry-run");
    }
    json(&output(cmd).await)
}

async fn executions_show(store: &Path, id: &str) -> Value {
    let mut cmd = bin();
    cmd.arg("executions")
        .arg("--store")
        .arg(store)
        .args(["show", id, "--json"]);
    json(&output(cmd).await)
}

async fn get(url: &str) -> Value {
    let resp = get_with_token(url, ADMIN_TOKEN).await;
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn the_four_places_show_a_run_with_the_same_keys() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("groupsync.db");

    // a run of the command line …
    let from_run = cli_run(&sb, dir.path(), &store, false).await;
    let cli_id = from_run["id"].as_str().expect("an id").to_owned();
    assert_eq!(from_run["run_id"], from_run["id"], "the former name stays");
    assert_eq!(from_run["trigger"], "cli");
    assert_eq!(from_run["triggers"], serde_json::json!(["cli"]));

    // … and a run of the daemon, on the same store
    let env: HashMap<String, String> = [
        ("GROUPSYNC_STORE__PATH", store.to_str().unwrap()),
        ("GROUPSYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Arc::new(Settings::from_toml_and_env(&sb.config_toml(), &env).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let daemon = Daemon::new(settings).expect("the daemon starts");
    let mut finished = daemon.coordinator().subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(listener, shutdown.clone()));

    let accepted: Value = reqwest::Client::new()
        .post(format!("{url}/runs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let daemon_id = accepted["run_id"].as_str().expect("a run id").to_owned();
    let run = tokio::time::timeout(PATIENCE, finished.recv())
        .await
        .expect("the run finishes in time")
        .unwrap();
    assert_eq!(run.summary.run_id, RunId(daemon_id.clone()));

    let from_runs = get(&format!("{url}/runs/{daemon_id}")).await;
    let from_executions = get(&format!("{url}/executions/{daemon_id}")).await;
    let cli_over_http = get(&format!("{url}/executions/{cli_id}")).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let from_show = executions_show(&store, &daemon_id).await;
    let cli_from_show = executions_show(&store, &cli_id).await;

    let expected = keys(&from_run);
    for (place, value) in [
        ("GET /runs/{id}", &from_runs),
        ("GET /executions/{id}", &from_executions),
        ("GET /executions/{id} of the CLI's run", &cli_over_http),
        ("executions show --json", &from_show),
        ("executions show --json of the CLI's run", &cli_from_show),
    ] {
        assert_eq!(keys(value), expected, "{place}: {value:#}");
    }
    // one run reads the same wherever it is shown
    assert_eq!(from_runs, from_executions);
    assert_eq!(from_runs, from_show);
    assert_eq!(from_run, cli_from_show);
    assert_eq!(from_run, cli_over_http);
    assert_eq!(from_runs["id"], daemon_id.as_str());
    assert_eq!(from_runs["trigger"], "manual");
    assert_eq!(from_runs["status"], "succeeded");
    assert_eq!(from_runs["error"], Value::Null);
    let created = from_run["counts"]["created"].as_u64().unwrap();
    assert!(created > 0, "{from_run:#}");
    assert_eq!(from_runs["counts"]["created"], 0, "the first run made them");
    sb.stop().await;
}

/// The first ```json block of `docs/json.md`.
fn documented_example() -> Value {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md"))
        .expect("docs/json.md exists");
    let start = doc.find("```json\n").expect("docs/json.md has an example") + "```json\n".len();
    let end = start + doc[start..].find("\n```").expect("the example ends");
    serde_json::from_str(&doc[start..end]).expect("the example is valid JSON")
}

#[tokio::test]
async fn the_documented_example_has_the_keys_of_the_real_output() {
    let example = documented_example();
    let view: RunView =
        serde_json::from_value(example.clone()).expect("the example reads as a run");
    assert_eq!(view.id, view.run_id);

    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let real = cli_run(&sb, dir.path(), &dir.path().join("groupsync.db"), true).await;
    sb.stop().await;
    assert_eq!(keys(&example), keys(&real), "{real:#}");
    for nested in ["counts", "source"] {
        assert_eq!(keys(&example[nested]), keys(&real[nested]), "{nested}");
    }
    assert_eq!(real["status"], "dry_run");
    assert!(real["counts"]["would_create"].as_u64().unwrap() > 0);
    assert_eq!(real["counts"]["created"], 0);
}

/// A store holding one run of `groups` groups with long names; returns the run's id.
fn store_with_a_large_run(path: &Path, groups: usize) -> String {
    let store = Store::open(path).unwrap();
    let mut report = RunReport::started(RunId::new(), chrono::Utc::now(), false);
    report.source = Some(SourceInfo {
        id: "src".into(),
        name: "Active Directory".into(),
    });
    report.outcomes = (0..groups)
        .map(|i| GroupOutcome {
            source_id: format!("entitlement-{i}"),
            name: format!("Group {i:05} {}", "x".repeat(80)),
            source_name: None,
            outcome: Outcome::Created {
                scim_id: format!("scim-{i}"),
            },
        })
        .collect();
    store
        .record(&Recording {
            run: &RunRecord::of(&report, "cli"),
            outcomes: &report.outcomes,
            notices: &[],
            reported: &groupsync::store::ReportedNames::default(),
            failing: None,
            settled: &[],
        })
        .unwrap();
    report.run_id.0
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("groupsync.db");
    // far more than a pipe holds, so the command is still writing when the pipe closes
    let id = store_with_a_large_run(&store, 20_000);
    let store = store.to_str().unwrap();
    for args in [
        vec!["executions", "--store", store, "show", &id],
        vec!["executions", "--store", store, "show", &id, "--json"],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?} printed nothing");
        drop(reader);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(out.status.code().is_some(), "{args:?} ended by a signal");
    }
}

#[test]
fn executions_needs_only_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("no-such-config.toml");
    let list = |cwd: &Path, config: &Path, extra: &[&str]| {
        bin()
            .current_dir(cwd)
            .arg("--config")
            .arg(config)
            .arg("executions")
            .args(extra)
            .arg("list")
            .output()
            .unwrap()
    };

    // no configuration and no store yet: nothing recorded, not an error
    let out = list(dir.path(), &absent, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no executions recorded yet"));

    // no configuration: the default store, relative to the working directory
    let default_id = store_with_a_large_run(&dir.path().join("data/groupsync.db"), 2);
    let out = list(dir.path(), &absent, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&default_id));

    // a configuration with only its store, which a run would refuse
    let elsewhere = dir.path().join("elsewhere.db");
    let elsewhere_id = store_with_a_large_run(&elsewhere, 2);
    let config = dir.path().join("store-only.toml");
    std::fs::write(
        &config,
        format!("[store]\npath = {:?}\n", elsewhere.to_str().unwrap()),
    )
    .unwrap();
    let out = list(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&elsewhere_id) && !table.contains(&default_id));

    // --store wins over the configuration
    let out = list(
        dir.path(),
        &config,
        &[
            "--store",
            dir.path().join("data/groupsync.db").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&default_id));

    // a run still needs the whole configuration
    let out = bin()
        .current_dir(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
