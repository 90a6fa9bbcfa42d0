//! The dashboard in a real headless browser (Chromium): the runs of the test are on the
//! page, a hostile group name stays text, and the page renders to a screenshot.
//!
//! `.ci/run` installs Chromium; locally, without `/usr/bin/chromium` (or `GROUPSYNC_CHROMIUM`),
//! the test says so and returns, unless GROUPSYNC_REQUIRE_PEERS=1. Set
//! GROUPSYNC_SCREENSHOT_DIR to keep the screenshots.

use crate::harness::*;
use chrono::{TimeDelta, Utc};
use groupsync::report::RunReport;
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync::web::{DashboardInputs, Readiness, WebState, routes};
use groupsync_sandbox::SandboxOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const HOSTILE: &str = "<img src=x onerror=alert(1)> R&D \"Core\"";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var("GROUPSYNC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Path::new(&path).exists() {
        return Some(path.into());
    }
    if std::env::var("GROUPSYNC_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!(
            "{path} is missing but GROUPSYNC_REQUIRE_PEERS=1: .ci/run should have installed Chromium"
        );
    }
    eprintln!(
        "{path} not found: this test needs Chromium (apt-get install chromium); not run here"
    );
    None
}

/// Runs headless Chromium on `url` with `action` (`--dump-dom`, `--screenshot=…`); its
/// profile lives in `profile`. Killed by its pid if it hangs.
async fn browse(chromium: &Path, profile: &Path, action: &str, url: &str) -> Output {
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(joined) => joined.unwrap().unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("chromium did not finish within 120 s");
        }
    }
}

/// Three real runs against the sandbox (one of them dry) and a failing one.
async fn recorded_runs(store: &Store) -> Vec<RunReport> {
    let mut groups = groupsync_sandbox::seed::generate_groups(40, 3);
    groups.push(HOSTILE.into());
    let app = spawn_app(SandboxOptions {
        groups,
        existing: vec!["GG-Finance-UK-Operators".into()],
        ..SandboxOptions::default()
    })
    .await;
    let syncer = Syncer::new(app.settings(&[]), store.clone()).unwrap();
    let broken = Syncer::new(
        app.settings(&[("GROUPSYNC_SCIM__TOKEN", "revoked")]),
        store.clone(),
    )
    .unwrap();
    let mut reports = vec![
        syncer
            .run(&RunRequest::new([TriggerKind::Cli], true), &Quiet)
            .await,
    ];
    reports.push(
        syncer
            .run(&RunRequest::new([TriggerKind::Schedule], false), &Quiet)
            .await,
    );
    reports.push(
        broken
            .run(&RunRequest::new([TriggerKind::Webhook], false), &Quiet)
            .await,
    );
    reports.push(
        syncer
            .run(
                &RunRequest::new([TriggerKind::Webhook, TriggerKind::Schedule], false),
                &Quiet,
            )
            .await,
    );
    app.stop().await;
    reports
}

#[tokio::test]
async fn the_dashboard_shows_the_runs_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let store = Store::in_memory().unwrap();
    let reports = recorded_runs(&store).await;
    let next_run = Utc::now() + TimeDelta::hours(3);
    let state = WebState::new(store).with_inputs(move || DashboardInputs {
        next_run: Some(next_run),
        ready: Some(Readiness {
            ready: true,
            detail: "token ok, SCIM ok, store writable".into(),
        }),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let until = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, routes(state))
            .with_graceful_shutdown(until.cancelled_owned())
            .await
    });
    let tmp = tempfile::tempdir().unwrap();

    let dom = browse(
        &chromium,
        &tmp.path().join("p1"),
        "--dump-dom",
        &format!("{base}/"),
    )
    .await;
    let dom = String::from_utf8_lossy(&dom.stdout);
    for r in &reports {
        assert!(
            dom.contains(&r.run_id.0),
            "run {} not on the dashboard:\n{dom}",
            r.run_id
        );
    }
    let statuses: Vec<&str> = reports.iter().map(|r| r.status().as_str()).collect();
    assert_eq!(
        statuses,
        vec!["dry_run", "succeeded", "failed", "succeeded"]
    );
    for text in [
        "dry run",
        "succeeded",
        "failed",
        "webhook+schedule",
        "Next scheduled run",
        "token ok",
    ] {
        assert!(dom.contains(text), "{text:?} not on the dashboard:\n{dom}");
    }

    let created = &reports[1];
    let run_url = format!("{base}/history/{}", created.run_id);
    let dom = browse(&chromium, &tmp.path().join("p2"), "--dump-dom", &run_url).await;
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt; R&amp;D \"Core\""),
        "the hostile name is shown as text:\n{dom}"
    );
    assert!(!dom.contains("<img"), "no element came from a group name");

    let shots = std::env::var("GROUPSYNC_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    for (name, url) in [("dash.png", format!("{base}/")), ("run.png", run_url)] {
        let png = shots.join(name);
        let out = browse(
            &chromium,
            &tmp.path().join(format!("profile-{name}")),
            &format!("--screenshot={}", png.display()),
            &url,
        )
        .await;
        let bytes = std::fs::read(&png).unwrap_or_else(|e| {
            panic!(
                "no screenshot {}: {e}\n{}",
                png.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(bytes.len() > 1000, "{name}: {} bytes", bytes.len());
        assert!(bytes.starts_with(b"\x89PNG"), "{name} is a PNG");
    }
    stop.cancel();
    server.await.unwrap().unwrap();
}
