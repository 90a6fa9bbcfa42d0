//! The guards end to end, through the binary against the sandbox: a run pointed at an
//! empty SCIM server, or at a source whose filter matches nothing, is refused, creates
//! nothing, exits 4 and is recorded as `refused`; `run --force` lets it through.

use crate::harness::*;
use groupsync_sandbox::SandboxOptions;
use serde_json::Value;
use std::process::Output;

/// `groupsync <args>` with the app's configuration and store, and the variables in `env`.
async fn run(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = app.command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    output(cmd).await
}

/// The recorded runs, newest first.
async fn recorded_runs(app: &TestApp) -> Vec<Value> {
    let mut cmd = groupsync();
    cmd.args(["executions", "--store"])
        .arg(&app.store)
        .args(["list", "--json"]);
    let out = output(cmd).await;
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    runs.as_array().unwrap().clone()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn an_empty_target_is_refused_until_forced() {
    let sb = spawn_app(SandboxOptions::seeded(40, 0, 3)).await;
    let empty = spawn_app(SandboxOptions::default()).await;

    let first = run(&sb, &["run"], &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let created = sb.scim.groups().len();
    assert!(created > 0);

    // `scim.base_url` changed by mistake: the empty server answers "none" to every lookup.
    let elsewhere = [("GROUPSYNC_SCIM__BASE_URL", empty.scim_url())];
    let elsewhere: Vec<(&str, &str)> = elsewhere.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dry = run(&sb, &["run", "--dry-run"], &elsewhere).await;
    let out = text(&dry);
    assert_eq!(dry.status.code(), Some(0), "{out}");
    assert!(out.contains("would create"), "{out}");
    assert!(out.contains("a real run would be refused"), "{out}");
    assert!(out.contains("empty_target"), "{out}");

    let refused = run(&sb, &["run"], &elsewhere).await;
    let out = text(&refused);
    assert_eq!(refused.status.code(), Some(4), "{out}");
    assert!(out.contains("refused"), "{out}");
    assert!(out.contains("empty_target"), "{out}");
    assert!(out.contains("--force"), "{out}");
    assert!(empty.scim.groups().is_empty(), "nothing is created");
    let runs = recorded_runs(&sb).await;
    assert_eq!(runs[0]["status"], "refused");
    assert_eq!(runs[0]["error"]["kind"], "guard_refused");
    assert_eq!(runs[0]["counts"]["created"], 0);

    let forced = run(&sb, &["run", "--force"], &elsewhere).await;
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert_eq!(empty.scim.groups().len(), created);
    assert_eq!(recorded_runs(&sb).await[0]["status"], "succeeded");

    empty.stop().await;
    sb.stop().await;
}

#[tokio::test]
async fn a_source_whose_filter_matches_nothing_is_refused() {
    let sb = spawn_app(SandboxOptions::seeded(20, 0, 4)).await;
    let filter = [(
        "GROUPSYNC_IDENTITYNOW__ENTITLEMENT_FILTER",
        "attribute eq \"noSuchAttribute\"",
    )];
    let out = run(&sb, &["run"], &filter).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(said.contains("no_source_groups"), "{said}");
    assert!(said.contains("identitynow.entitlement_filter"), "{said}");
    assert!(sb.scim.groups().is_empty());
    let runs = recorded_runs(&sb).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "refused");
    sb.stop().await;
}

#[tokio::test]
async fn post_runs_with_force_lets_a_refused_run_through() {
    use groupsync::daemon::Daemon;
    use groupsync_sandbox::ADMIN_TOKEN;
    use tokio_util::sync::CancellationToken;

    let sb = spawn_app(SandboxOptions::seeded(10, 0, 5)).await;
    let settings = sb.settings(&[
        ("GROUPSYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN),
        (
            "GROUPSYNC_IDENTITYNOW__ENTITLEMENT_FILTER",
            "attribute eq \"noSuchAttribute\"",
        ),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runs = format!("http://{}/runs", listener.local_addr().unwrap());
    let daemon = Daemon::new(settings).expect("the daemon starts");
    let mut finished = daemon.coordinator().subscribe();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(listener, shutdown.clone()));
    let post = |body: &'static str| {
        reqwest::Client::new()
            .post(&runs)
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
    };
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(60), finished.recv())
            .await
            .expect("a run finishes in time")
            .unwrap()
    };

    assert_eq!(post("").await.unwrap().status(), 202);
    let run = next().await;
    assert_eq!(run.summary.status.as_str(), "refused");
    assert_eq!(run.summary.error().unwrap().kind.as_str(), "guard_refused");

    let bad = post("{\"force\": \"yes\"}").await.unwrap();
    assert_eq!(bad.status(), 400);

    assert_eq!(post("{\"force\": true}").await.unwrap().status(), 202);
    let run = next().await;
    assert_eq!(
        run.summary.status.as_str(),
        "succeeded",
        "{:?}",
        run.summary
    );
    assert_eq!(
        run.summary.counts(),
        groupsync::report::Counts::default(),
        "no outcome at all"
    );

    shutdown.cancel();
    task.await.unwrap().unwrap();
    sb.stop().await;
}
