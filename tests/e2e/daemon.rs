//! `groupsync serve` end to end: the daemon on 127.0.0.1 against the sandbox, driven
//! through its HTTP endpoints and the sandbox's event deliveries.
//!
//! No test sleeps: each waits for the daemon's own signals (finished runs, the
//! coordinator's state, run progress), always under a timeout.

use crate::harness::*;
use groupsync::config::Settings;
use groupsync::daemon::coordinator::{Coordinator, FinishedRun, Snapshot};
use groupsync::daemon::poll::{OwnAggregations, PollOutcome, Poller};
use groupsync::daemon::runner::RunProgress;
use groupsync::daemon::source::AdSource;
use groupsync::daemon::{Daemon, DaemonError, aggregate};
use groupsync::domain::RunId;
use groupsync::identitynow;
use groupsync::report::RunStatus;
use groupsync_sandbox::faults::FaultPlan;
use groupsync_sandbox::tenant::{self, AggregationKind, TaskCompletion};
use groupsync_sandbox::{self as sandbox, AD_SOURCE_ID, OTHER_SOURCE_ID, SandboxOptions};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const HOOK_TOKEN: &str = "hook-token-0123";
const ADMIN_TOKEN: &str = "admin-token-0123";
/// Long enough for any run here; a test that waits longer has failed.
const PATIENCE: Duration = Duration::from_secs(60);

/// A daemon serving on 127.0.0.1, with the handles a test needs.
struct Running {
    url: String,
    coordinator: Coordinator,
    progress: watch::Receiver<RunProgress>,
    finished: broadcast::Receiver<Arc<FinishedRun>>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), DaemonError>>,
}

async fn start(settings: Arc<Settings>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let daemon = Daemon::new(settings).expect("the daemon starts");
    let coordinator = daemon.coordinator().clone();
    let finished = coordinator.subscribe();
    let progress = daemon.progress();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(listener, shutdown.clone()));
    Running {
        url,
        coordinator,
        progress,
        finished,
        shutdown,
        task,
    }
}

impl Running {
    async fn next_run(&mut self) -> Arc<FinishedRun> {
        tokio::time::timeout(PATIENCE, self.finished.recv())
            .await
            .expect("a run finishes in time")
            .expect("the daemon is running")
    }

    async fn wait_state(&self, what: impl Fn(&Snapshot) -> bool) {
        let mut watch = self.coordinator.watch();
        tokio::time::timeout(PATIENCE, watch.wait_for(|s| what(s)))
            .await
            .expect("the state is reached in time")
            .unwrap();
    }

    fn hook_url(&self) -> String {
        format!("{}/webhooks/account-aggregation-completed", self.url)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Settings for the app with the webhook on and an admin token.
fn daemon_settings(app: &TestApp, more: &[(&str, &str)]) -> Arc<Settings> {
    let mut overrides = vec![
        ("GROUPSYNC_WEBHOOK__ENABLED", "true"),
        ("GROUPSYNC_WEBHOOK__TOKEN", HOOK_TOKEN),
        ("GROUPSYNC_SERVER__ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    overrides.extend_from_slice(more);
    app.settings(&overrides)
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix} {i:02}")).collect()
}

/// The trigger input SailPoint sends (every required field).
fn aggregation_event(source_id: &str, status: &str) -> Value {
    json!({
        "source": { "type": "SOURCE", "id": source_id, "name": "Active Directory" },
        "status": status,
        "started": "2026-01-05T10:00:00.000Z",
        "completed": "2026-01-05T10:00:14.000Z",
        "errors": [],
        "warnings": [],
        "stats": { "scanned": 3, "unchanged": 3, "changed": 0, "added": 0, "removed": 0 }
    })
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn post(url: &str, auth: Option<&str>, body: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A GET with the admin token (the dashboard, `/executions` and `/runs/{id}` ask for it).
async fn get_as_admin(url: &str) -> (u16, String) {
    let resp = get_with_token(url, ADMIN_TOKEN).await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn run_id(body: &Value) -> RunId {
    RunId(body["run_id"].as_str().expect("a run id").to_owned())
}

#[tokio::test]
async fn the_webhook_refuses_what_it_should_and_runs_once_for_a_good_event() {
    let app = spawn_app(SandboxOptions {
        groups: names("Hook", 3),
        ..SandboxOptions::default()
    })
    .await;
    let settings = daemon_settings(&app, &[("GROUPSYNC_WEBHOOK__MAX_BODY_KIB", "1")]);
    let mut d = start(settings).await;
    let hook = d.hook_url();
    let good = Some(bearer(HOOK_TOKEN));
    let good = good.as_deref();
    let body = |v: &Value| Some(v.to_string());

    // 401: no credentials, wrong token, wrong scheme
    let event = aggregation_event(AD_SOURCE_ID, "Success");
    assert_eq!(post(&hook, None, body(&event)).await.0, 401);
    assert_eq!(post(&hook, Some("Bearer nope"), body(&event)).await.0, 401);
    let basic = format!("Basic {HOOK_TOKEN}");
    assert_eq!(post(&hook, Some(&basic), body(&event)).await.0, 401);
    assert_eq!(
        app.tenant
            .fire_account_aggregation_completed(&hook, AD_SOURCE_ID, "Success", None)
            .await,
        Ok(401)
    );

    // 400: not JSON, a missing field, wrong types — each named
    let (status, answer) = post(&hook, good, Some("{\"source\":".into())).await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("not JSON"));
    let mut missing = event.clone();
    missing["stats"].as_object_mut().unwrap().remove("added");
    let (status, answer) = post(&hook, good, body(&missing)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("field `stats.added` is missing"))
    );
    let mut wrong = event.clone();
    wrong["status"] = json!(5);
    let (status, answer) = post(&hook, good, body(&wrong)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("field `status` must be a string"))
    );
    let mut wrong = event.clone();
    wrong["stats"]["scanned"] = json!("200");
    let (status, answer) = post(&hook, good, body(&wrong)).await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("stats.scanned"));

    // 413: over max_body_kib (1 KiB), however valid
    let mut big = event.clone();
    big["padding"] = json!("x".repeat(2000));
    assert_eq!(post(&hook, good, body(&big)).await.0, 413);

    // 202 without a run: another source, a failed aggregation
    let (status, answer) = post(
        &hook,
        good,
        body(&aggregation_event(OTHER_SOURCE_ID, "Success")),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        answer["ignored"]
            .as_str()
            .unwrap()
            .contains(OTHER_SOURCE_ID)
    );
    let fired = app
        .tenant
        .fire_account_aggregation_completed(&hook, AD_SOURCE_ID, "Failed", good)
        .await;
    assert_eq!(fired, Ok(202));
    let fired = app
        .tenant
        .fire_account_aggregation_completed(&hook, OTHER_SOURCE_ID, "Success", good)
        .await;
    assert_eq!(fired, Ok(202));
    let snap = d.coordinator.snapshot();
    assert_eq!(
        (snap.started, &snap.pending),
        (0, &None),
        "nothing so far may run"
    );

    // a good event: 202 at once, then exactly one run
    let fired = app
        .tenant
        .fire_account_aggregation_completed(&hook, AD_SOURCE_ID, "Success", good)
        .await;
    assert_eq!(fired, Ok(202));
    let run = d.next_run().await;
    assert_eq!(run.trigger, "webhook");
    assert_eq!(
        run.summary.status,
        RunStatus::Succeeded,
        "{:?}",
        run.summary.error()
    );
    assert_eq!(run.summary.counts().created, 3);
    let snap = d.coordinator.snapshot();
    assert_eq!((snap.started, snap.finished), (1, 1));
    assert_eq!((snap.running, snap.pending), (None, None));

    let (_, metrics) = get(&format!("{}/metrics", d.url)).await;
    for result in [
        "unauthorized",
        "bad_request",
        "too_large",
        "other_source",
        "not_success",
        "accepted",
    ] {
        let line = format!("groupsync_webhook_events_total{{result=\"{result}\"}}");
        assert!(metrics.contains(&line), "{line} missing from /metrics");
    }
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn manual_runs_need_the_admin_token_and_their_reports_can_be_read() {
    let app = spawn_app(SandboxOptions {
        groups: names("Manual", 2),
        ..SandboxOptions::default()
    })
    .await;
    let mut d = start(daemon_settings(&app, &[])).await;
    let runs = format!("{}/runs", d.url);

    assert_eq!(post(&runs, None, None).await.0, 401);
    assert_eq!(post(&runs, Some("Bearer wrong"), None).await.0, 401);
    let (status, answer) = post(&runs, Some(&bearer(ADMIN_TOKEN)), None).await;
    assert_eq!(status, 202);
    let id = run_id(&answer);
    let run = d.next_run().await;
    assert_eq!(run.summary.run_id, id, "the promised id is the run's id");
    assert_eq!(run.trigger, "manual");

    assert_eq!(get(&format!("{runs}/{id}")).await.0, 401);
    let (status, text) = get_as_admin(&format!("{runs}/{id}")).await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["run_id"], json!(id.0));
    assert_eq!(report["outcomes"].as_array().unwrap().len(), 2);
    assert_eq!(get_as_admin(&format!("{runs}/no-such-run")).await.0, 404);
    assert_eq!(get(&format!("{}/healthz", d.url)).await, (200, "ok".into()));
    let (status, text) = get(&format!("{}/readyz", d.url)).await;
    assert_eq!(status, 200, "{text}");
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn without_an_admin_token_manual_runs_are_forbidden_and_a_disabled_webhook_is_absent() {
    let app = spawn_app(SandboxOptions::default()).await;
    let settings = app.settings(&[]);
    let d = start(settings).await;
    let (status, answer) = post(&format!("{}/runs", d.url), Some("Bearer x"), None).await;
    assert_eq!(status, 403);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("server.admin_token")
    );
    let event = aggregation_event(AD_SOURCE_ID, "Success").to_string();
    assert_eq!(
        post(&d.hook_url(), Some("Bearer x"), Some(event)).await.0,
        404
    );
    assert_eq!(d.coordinator.snapshot().started, 0);
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn readiness_names_the_check_that_fails() {
    let app = spawn_app(SandboxOptions::default()).await;
    let settings = daemon_settings(&app, &[("GROUPSYNC_SCIM__TOKEN", "not-the-token")]);
    let d = start(settings).await;
    let (status, text) = get(&format!("{}/readyz", d.url)).await;
    assert_eq!(status, 503, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["ready"], json!(false));
    assert!(
        body["reason"].as_str().unwrap().starts_with("scim: "),
        "{body}"
    );
    assert_eq!(body["checks"]["store"]["ok"], json!(true));
    assert_eq!(body["checks"]["identitynow_token"]["ok"], json!(true));
    // Names only: no URL, no path, no upstream text.
    for leak in ["http", "127.0.0.1", "groupsync.db", "401", "token="] {
        assert!(!text.contains(leak), "/readyz shows {leak:?}: {text}");
    }
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn twenty_events_during_a_run_make_exactly_one_follow_up_run() {
    let slow = FaultPlan {
        latency: Duration::from_millis(150),
        rules: vec![],
    };
    let app = spawn_app(SandboxOptions {
        groups: names("Burst", 20),
        idn_faults: slow.clone(),
        scim_faults: slow,
        ..SandboxOptions::default()
    })
    .await;
    let mut d = start(daemon_settings(&app, &[])).await;
    let hook = d.hook_url();
    let auth = bearer(HOOK_TOKEN);
    let event = aggregation_event(AD_SOURCE_ID, "Success").to_string();

    let (status, answer) = post(&hook, Some(&auth), Some(event.clone())).await;
    assert_eq!(status, 202);
    let first = run_id(&answer);
    d.wait_state(|s| s.running.is_some()).await;

    let posts = (0..20).map(|_| post(&hook, Some(&auth), Some(event.clone())));
    let answers = futures_util::future::join_all(posts).await;
    let ids: HashSet<RunId> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202);
            run_id(body)
        })
        .collect();
    assert_eq!(ids.len(), 1, "all twenty wait for the same run");
    let follow_up = ids.into_iter().next().unwrap();
    assert_ne!(follow_up, first);
    let snap = d.coordinator.snapshot();
    assert_eq!(
        snap.running.map(|r| r.run_id),
        Some(first.clone()),
        "the first run was still going while the events came"
    );

    assert_eq!(d.next_run().await.summary.run_id, first);
    let second = d.next_run().await;
    assert_eq!(second.summary.run_id, follow_up);
    assert_eq!(second.trigger, "webhook");
    assert_eq!(second.summary.counts().created, 0);
    assert_eq!(second.summary.counts().existed, 20);
    let snap = d.coordinator.snapshot();
    assert_eq!((snap.started, snap.finished), (2, 2));
    assert_eq!(snap.pending, None);
    assert_eq!(app.scim.create_count(), 20);
    d.stop().await;
    app.stop().await;
}

/// A poller over its own coordinator (no runs happen unless a test drives them).
fn poller(settings: &Settings, coordinator: &Coordinator) -> Poller {
    let client = identitynow::Client::new(&settings.identitynow).unwrap();
    let source = Arc::new(AdSource::new(
        settings.identitynow.source.clone(),
        client.clone(),
    ));
    let store = groupsync::store::Store::open(&settings.store.path).unwrap();
    Poller::new(
        client,
        source,
        store,
        coordinator.clone(),
        Arc::new(OwnAggregations::default()),
    )
}

#[tokio::test]
async fn polling_runs_once_per_new_aggregation_also_after_a_restart() {
    let app = spawn_app(SandboxOptions {
        groups: names("Poll", 2),
        ..SandboxOptions::default()
    })
    .await;
    let settings = daemon_settings(&app, &[]);

    // first life: a fresh store records where things stand and runs nothing
    let daemon = Daemon::new(settings.clone()).unwrap();
    let p = daemon.poller();
    let mut d = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let coordinator = daemon.coordinator().clone();
        let shutdown = CancellationToken::new();
        Running {
            url: format!("http://{}", listener.local_addr().unwrap()),
            finished: coordinator.subscribe(),
            progress: daemon.progress(),
            coordinator,
            shutdown: shutdown.clone(),
            task: tokio::spawn(daemon.run(listener, shutdown)),
        }
    };
    app.tenant.complete_aggregation(
        AD_SOURCE_ID,
        AggregationKind::Accounts,
        TaskCompletion::Success,
    );
    assert_eq!(p.tick().await, PollOutcome::Baseline);
    assert_eq!(p.tick().await, PollOutcome::Unchanged);

    // a new successful aggregation: one run, and not again
    app.tenant.complete_aggregation(
        AD_SOURCE_ID,
        AggregationKind::Accounts,
        TaskCompletion::Success,
    );
    let PollOutcome::Triggered(id) = p.tick().await else {
        panic!("a new aggregation triggers a run");
    };
    assert_eq!(
        p.tick().await,
        PollOutcome::Unchanged,
        "already being handled"
    );
    let run = d.next_run().await;
    assert_eq!(
        (run.summary.run_id.clone(), run.trigger.as_str()),
        (id, "poll")
    );
    p.settle(&run).await;
    assert_eq!(p.tick().await, PollOutcome::Unchanged);

    // failed aggregations and other sources' aggregations run nothing
    app.tenant.complete_aggregation(
        AD_SOURCE_ID,
        AggregationKind::Entitlements,
        TaskCompletion::Error,
    );
    app.tenant.complete_aggregation(
        OTHER_SOURCE_ID,
        AggregationKind::Accounts,
        TaskCompletion::Success,
    );
    assert_eq!(p.tick().await, PollOutcome::Unchanged);
    d.stop().await;
    drop(p);

    // second life, same store: nothing old runs again; the next new one runs once
    let c = Coordinator::new(10);
    let p = poller(&settings, &c);
    assert_eq!(
        p.tick().await,
        PollOutcome::Unchanged,
        "handled before the restart"
    );
    app.tenant.complete_aggregation(
        AD_SOURCE_ID,
        AggregationKind::Entitlements,
        TaskCompletion::Success,
    );
    let PollOutcome::Triggered(pending) = p.tick().await else {
        panic!("a new group aggregation triggers a run");
    };
    assert_eq!(p.tick().await, PollOutcome::Unchanged);
    assert_eq!(c.snapshot().pending.map(|s| s.run_id), Some(pending));

    // that run never happened (the process died first): the third life runs it again
    drop(p);
    let c = Coordinator::new(10);
    let p = poller(&settings, &c);
    assert!(
        matches!(p.tick().await, PollOutcome::Triggered(_)),
        "at least once"
    );
    app.stop().await;
}

#[tokio::test]
async fn shutdown_during_a_run_leaves_only_whole_groups_and_returns_within_the_grace() {
    let groups = names("Stop", 16);
    let app = spawn_app(SandboxOptions {
        groups: groups.clone(),
        scim_faults: FaultPlan {
            latency: Duration::from_millis(150),
            rules: vec![],
        },
        ..SandboxOptions::default()
    })
    .await;
    let more = [
        ("GROUPSYNC_SYNC__CREATE_CONCURRENCY", "1"),
        ("GROUPSYNC_SERVER__SHUTDOWN_GRACE_SECS", "1"),
    ];
    let settings = daemon_settings(&app, &more);
    let mut d = start(settings.clone()).await;
    let (_, answer) = post(&format!("{}/runs", d.url), Some(&bearer(ADMIN_TOKEN)), None).await;
    let id = run_id(&answer);
    let mut progress = d.progress.clone();
    tokio::time::timeout(PATIENCE, progress.wait_for(|p| p.created >= 2))
        .await
        .expect("creates begin")
        .unwrap();

    let began = std::time::Instant::now();
    d.shutdown.cancel();
    let task = std::mem::replace(&mut d.task, tokio::spawn(async { Ok(()) }));
    task.await.unwrap().unwrap();
    let took = began.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "returned after {took:?}"
    );

    let run = d.next_run().await;
    assert_eq!(run.summary.run_id, id);
    let error = run
        .summary
        .error()
        .cloned()
        .expect("the report says the run was stopped")
        .message;
    assert!(
        error.contains("server.shutdown_grace_secs (1 s)"),
        "{error}"
    );
    assert!(error.contains("of 16 creates had completed"), "{error}");

    // whatever reached the target is a whole group, made once
    let held = app.target_names();
    assert!(held.len() >= 2 && held.len() < 16, "{} groups", held.len());
    assert!(held.iter().all(|n| groups.contains(n)));
    assert_no_duplicates(held.iter().cloned());
    assert_eq!(app.scim.create_count() as usize, held.len());

    // the next process finishes the job without doubles
    let mut d = start(settings).await;
    let (_, answer) = post(&format!("{}/runs", d.url), Some(&bearer(ADMIN_TOKEN)), None).await;
    let run = d.next_run().await;
    assert_eq!(run.summary.run_id, run_id(&answer));
    assert_eq!(
        run.summary.status,
        RunStatus::Succeeded,
        "{:?}",
        run.summary.error()
    );
    let c = run.summary.counts();
    assert_eq!((c.existed, c.created), (held.len(), 16 - held.len()));
    assert_eq!(app.scim.groups().len(), 16);
    assert_no_duplicates(app.target_names());
    d.stop().await;
    app.stop().await;
}

/// The value of the first sample of `name` whose labels include all of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lb| l.contains(lb)))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_after_a_run() {
    let app = spawn_app(SandboxOptions {
        groups: names("Metric", 2),
        ..SandboxOptions::default()
    })
    .await;
    let mut d = start(daemon_settings(&app, &[])).await;
    let metrics_url = format!("{}/metrics", d.url);
    let runs = (
        "groupsync_runs_total{",
        ["trigger=\"manual\"", "outcome=\"succeeded\""],
    );
    let triggers = (
        "groupsync_triggers_total{",
        ["kind=\"manual\"", "result=\"queued\""],
    );
    let (status, before) = get(&metrics_url).await;
    assert_eq!(status, 200);

    post(&format!("{}/runs", d.url), Some(&bearer(ADMIN_TOKEN)), None).await;
    let run = d.next_run().await;
    assert_eq!(run.summary.status, RunStatus::Succeeded);

    let (_, after) = get(&metrics_url).await;
    for (name, labels) in [runs, triggers] {
        let (b, a) = (
            sample(&before, name, &labels),
            sample(&after, name, &labels),
        );
        assert!(a >= b + 1.0, "{name} {labels:?}: {b} then {a}");
    }
    assert!(sample(&after, "groupsync_groups_total{", &["outcome=\"created\""]) >= 2.0);
    assert!(sample(&after, "groupsync_run_duration_seconds_count", &[]) >= 1.0);
    assert!(sample(&after, "groupsync_last_success_timestamp_seconds", &[]) > 0.0);
    assert!(after.contains("# HELP groupsync_runs_total"));
    let upstream = "groupsync_upstream_requests_total{";
    let creates = ["service=\"scim\"", "status=\"201\""];
    assert!(
        sample(&after, upstream, &creates) >= sample(&before, upstream, &creates) + 2.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            upstream,
            &["service=\"identitynow\"", "status=\"200\""]
        ) >= 1.0,
        "{after}"
    );
    d.stop().await;
    app.stop().await;
}

/// A tenant whose group aggregations take `delay`, beside the sandbox. Starting one
/// (`load-entitlements`) takes a user's token, so it issues a personal access token's.
async fn tenant_with(delay: Duration) -> (String, CancellationToken) {
    let (client_id, client_secret) = sandbox::credentials(sandbox::Credential::Pat);
    let t = tenant::Tenant::new(tenant::TenantOptions {
        client_id: client_id.into(),
        client_secret: client_secret.into(),
        credential: sandbox::Credential::Pat,
        aggregation_delay: delay,
        sources: vec![tenant::SimSource::active_directory(
            AD_SOURCE_ID,
            sandbox::AD_SOURCE_NAME,
            vec![],
        )],
        ..tenant::TenantOptions::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(t.serve(listener, stop.clone()));
    (url, stop)
}

#[tokio::test]
async fn a_group_aggregation_is_started_and_waited_for() {
    let app = spawn_app(SandboxOptions {
        credential: sandbox::Credential::Pat,
        ..SandboxOptions::default()
    })
    .await;
    let step = Duration::from_millis(20);
    let own = OwnAggregations::default();
    for (delay, timeout, expect_success) in [
        (Duration::from_millis(100), Duration::from_secs(20), true),
        (Duration::from_secs(600), Duration::from_millis(300), false),
    ] {
        let (url, stop) = tenant_with(delay).await;
        let settings = app.settings(&[("GROUPSYNC_IDENTITYNOW__TENANT_URL", &url)]);
        let client = identitynow::Client::new(&settings.identitynow).unwrap();
        let got = aggregate::refresh_groups(&client, AD_SOURCE_ID, &own, timeout, step).await;
        match got {
            aggregate::Aggregation::Succeeded { .. } => assert!(expect_success),
            aggregate::Aggregation::TimedOut { .. } => assert!(!expect_success),
            other => panic!("{other:?}"),
        }
        let missing =
            aggregate::refresh_groups(&client, "no-such-source", &own, timeout, step).await;
        assert!(matches!(missing, aggregate::Aggregation::Failed(e) if e.contains("cannot start")));
        stop.cancel();
    }
    app.stop().await;
}

/// The address in the "listening" log line, from `--log-format json` output.
fn listening_on(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = &v["fields"];
    if fields["message"] != "groupsync serve is listening" {
        return None;
    }
    fields["listen"].as_str().map(String::from)
}

#[tokio::test]
async fn the_serve_command_listens_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let app = spawn_app(SandboxOptions::default()).await;
    let toml = format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace_secs = 5\n",
        app.config_toml()
    );
    std::fs::write(&app.config, toml).unwrap();
    let mut child = app
        .command()
        .args(["--log-format", "json", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut lines = vec![];
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = listening_on(&line) {
                tx.take().map(|tx| tx.send(addr));
            }
            lines.push(line);
        }
        lines
    });
    let addr = tokio::time::timeout(PATIENCE, rx)
        .await
        .expect("the daemon says where it listens")
        .expect("the daemon started");
    assert_eq!(
        get(&format!("http://{addr}/healthz")).await,
        (200, "ok".into())
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(PATIENCE, tokio::task::spawn_blocking(move || child.wait()))
        .await
        .expect("the daemon exits after SIGTERM")
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let lines = reader.join().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("groupsync serve stopped")),
        "{lines:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_daemon_serves_its_history_and_dashboard_and_records_every_run() {
    let app = spawn_app(SandboxOptions::seeded(30, 3, 12)).await;
    let mut d = start(daemon_settings(&app, &[])).await;
    let (status, body) = post(
        &format!("{}/runs", d.url),
        Some(&format!("Bearer {ADMIN_TOKEN}")),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = run_id(&body);
    let finished = d.next_run().await;
    assert_eq!(finished.summary.run_id, id);
    assert_eq!(get(&format!("{}/executions", d.url)).await.0, 401);
    assert_eq!(get(&format!("{}/", d.url)).await.0, 401);
    let (status, list) = get_as_admin(&format!("{}/executions", d.url)).await;
    assert_eq!(status, 200, "{list}");
    assert!(list.contains(&id.0), "the run is in /executions: {list}");
    let (status, page) = get_as_admin(&format!("{}/", d.url)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&id.0[..8]) || page.contains(&id.0),
        "the dashboard lists the run"
    );
    d.stop().await;
    app.stop().await;
}

/// Reads what the server sends until it closes the connection, within `limit`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection in time")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(SandboxOptions::default()).await;
    let d = start(daemon_settings(
        &app,
        &[("GROUPSYNC_SERVER__HEADER_READ_TIMEOUT_SECS", "1")],
    ))
    .await;
    let addr = d.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Whole requests are still served.
    assert_eq!(get(&format!("{}/healthz", d.url)).await.0, 200);
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn an_unauthenticated_webhook_gets_401_before_its_body_is_read() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app(SandboxOptions::default()).await;
    let d = start(daemon_settings(&app, &[])).await;
    let addr = d.url.trim_start_matches("http://").to_owned();
    let mut client = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // 100 MiB announced, 1 KiB sent: the answer cannot wait for the body.
    let head = "POST /webhooks/account-aggregation-completed HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n";
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&[b' '; 1024]).await.unwrap();
    let answer = read_until_closed(&mut client, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(d.coordinator.snapshot().started, 0);
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn readiness_answers_from_the_background_probe() {
    let app = spawn_app(SandboxOptions::default()).await;
    let d = start(daemon_settings(&app, &[])).await;
    let url = format!("{}/readyz", d.url);
    let (status, first) = get(&url).await;
    assert_eq!(status, 200, "{first}");
    let before = app.scim.stats().to_json()["requests"].clone();
    for _ in 0..20 {
        assert_eq!(get(&url).await.0, 200);
    }
    let after = app.scim.stats().to_json()["requests"].clone();
    assert_eq!(after, before, "no SCIM call per /readyz");
    d.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn nasty_webhook_bodies_get_4xx_and_start_no_run() {
    let app = spawn_app(SandboxOptions::default()).await;
    let d = start(daemon_settings(&app, &[])).await;
    let hook = d.hook_url();
    let good = bearer(HOOK_TOKEN);
    let mut wrong_types = aggregation_event(AD_SOURCE_ID, "Success");
    wrong_types["source"]["id"] = json!(["a", "b"]);
    wrong_types["stats"]["added"] = json!(-1);
    let mut huge_string = aggregation_event(AD_SOURCE_ID, "Success");
    huge_string["completed"] = json!("9".repeat(200 * 1024));
    let nested =
        |open: &str, close: &str| format!("{}{}", open.repeat(10_000), close.repeat(10_000));
    let bodies: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty", vec![], 400),
        ("binary", (0..=255u8).rev().collect(), 400),
        (
            "invalid UTF-8 in a string",
            b"{\"status\":\"\xff\xfe\"}".to_vec(),
            400,
        ),
        ("10,000 nested arrays", nested("[", "]").into_bytes(), 400),
        (
            "10,000 nested objects",
            format!("{}1{}", "{\"source\":".repeat(10_000), "}".repeat(10_000)).into_bytes(),
            400,
        ),
        ("null", b"null".to_vec(), 400),
        ("a string", b"\"Success\"".to_vec(), 400),
        ("wrong types", wrong_types.to_string().into_bytes(), 400),
        ("a huge string", huge_string.to_string().into_bytes(), 400),
        ("over max_body_kib", vec![b' '; 300 * 1024], 413),
    ];
    for (what, body, expected) in bodies {
        let resp = reqwest::Client::new()
            .post(&hook)
            .header("authorization", &good)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{what}");
    }
    let snap = d.coordinator.snapshot();
    assert_eq!((snap.started, &snap.pending), (0, &None), "no run started");
    let (status, runs) = get_as_admin(&format!("{}/executions", d.url)).await;
    let runs: Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(
        (status, &runs["executions"]),
        (200, &json!([])),
        "no run recorded"
    );
    assert_eq!(get(&format!("{}/healthz", d.url)).await, (200, "ok".into()));
    d.stop().await;
    app.stop().await;
}
