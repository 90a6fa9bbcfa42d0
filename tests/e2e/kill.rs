//! Runs killed at random points, and runs started together: one run at a time per store
//! (the run lease), and what a killed run did is kept (the journal). Against a slow SCIM
//! server that accepts two groups of one name, so a double create would show.

use crate::harness::{TestApp, assert_no_duplicates, expected_creates, output, spawn_app};
use groupsync_sandbox::SandboxOptions;
use groupsync_sandbox::faults::FaultPlan;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A slow SCIM server (every request waits `latency`), duplicates allowed, `groups`
/// generated groups of which `existing` are already in the target; with the options.
async fn slow_app(groups: usize, existing: usize, latency: Duration) -> (TestApp, SandboxOptions) {
    let mut opts = SandboxOptions::seeded(groups, existing, 7);
    opts.unique_names = false;
    opts.scim_faults = FaultPlan {
        latency,
        rules: vec![],
    };
    (spawn_app(opts.clone()).await, opts)
}

/// `groupsync run` for `app`, mailing one notice per group found existing, once.
fn run_cmd(app: &TestApp, extra: &[&str]) -> Command {
    let mut cmd = app.command();
    cmd.env("GROUPSYNC_EMAIL__MODE", "per_group")
        .env("GROUPSYNC_EMAIL__REPEAT", "false")
        .env("GROUPSYNC_SYNC__CREATE_CONCURRENCY", "2")
        .arg("--log-format")
        .arg("json")
        .arg("run")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The statuses of the runs in the store, as `executions list --json` prints them.
async fn statuses(app: &TestApp) -> Vec<String> {
    let mut cmd = app.command();
    cmd.args(["executions", "list", "--limit", "100", "--json"]);
    let out = output(cmd).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    runs.iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits (at most 30 s) until the store holds `runs` runs: the latest run has begun.
async fn run_started(app: &TestApp, runs: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let recorded = groupsync::store::Store::open(&app.store)
            .and_then(|s| s.runs(100, None))
            .map_or(0, |r| r.len());
        if recorded >= runs {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {runs} did not begin within 30 s");
}

/// Waits for `child` off the runtime's threads.
async fn wait(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_killed_at_random_points_create_each_group_once_and_tell_each_once() {
    const KILLS: usize = 20;
    let (groups, existing) = (160, 12);
    let (app, opts) = slow_app(groups, existing, Duration::from_millis(60)).await;
    let started = Instant::now();
    // seeded: the same kill points on every run of the test
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    for kill in 0..KILLS {
        let child = run_cmd(&app, &[]).spawn().unwrap();
        // Kill points count from the run's start (its row in the store), not the
        // process's: on a loaded machine a process may take long to reach its run.
        run_started(&app, kill + 1).await;
        let kill_after = (0u64..1400).new_tree(&mut runner).unwrap().current();
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        let mut child = child;
        // by its pid; a run that already ended is only waited for
        let _ = child.kill();
        let _ = wait(child).await;
    }
    let out = wait(run_cmd(&app, &[]).spawn().unwrap()).await;
    assert!(
        out.status.success(),
        "the clean run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(90));

    // every group exists exactly once
    let names = app.target_names();
    assert_no_duplicates(names.clone());
    let created = expected_creates(&opts.groups, &opts.existing, None);
    assert_eq!(names.len(), opts.existing.len() + created);

    // One notice per group that was there before groupsync, none for its own, none twice.
    // A run killed after the mail server took a notice but before the store marked it sent
    // leaves it to the next run, which sends the same message again: the same Message-ID,
    // which mail clients show once (SMTP allows no better). A second message about a group,
    // under another Message-ID, would be telling it twice.
    let mut told: HashMap<String, HashSet<String>> = HashMap::new();
    for m in app.smtp.messages() {
        let subject = m.header("Subject").unwrap();
        let id = m
            .header("Message-ID")
            .expect("every notice has a Message-ID");
        told.entry(subject).or_default().insert(id);
    }
    let subject = |n: &String| format!("Alation group {n} already exists");
    for (s, ids) in &told {
        assert_eq!(ids.len(), 1, "{s:?} was told in {} messages", ids.len());
    }
    for n in &opts.existing {
        assert!(told.contains_key(&subject(n)), "{n:?} was not told");
    }
    // Besides those, only case twins: a second AD group found existing under the name of
    // the first, told as the Workflow tells it.
    let has_twin = |n: &String| {
        let folded = n.to_lowercase();
        opts.groups
            .iter()
            .filter(|g| g.to_lowercase() == folded)
            .count()
            > 1
    };
    for s in told.keys() {
        let twin = opts.groups.iter().any(|n| has_twin(n) && subject(n) == *s);
        assert!(
            opts.existing.iter().any(|n| subject(n) == *s) || twin,
            "{s:?}"
        );
    }

    // killed runs that had begun are interrupted; none is left running; the last succeeded
    let statuses = statuses(&app).await;
    assert_eq!(statuses[0], "succeeded");
    assert!(!statuses.iter().any(|s| s == "running"), "{statuses:?}");
    let interrupted = statuses.iter().filter(|s| *s == "interrupted").count();
    // Once every group exists, a run has nothing to write and may end before its kill
    // point: that one rightly reads `succeeded`. The runs that still had creates to make
    // outlast the longest kill point and were cut off.
    assert!(interrupted >= 5, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s == "interrupted" || s == "succeeded"),
        "{statuses:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_runs_started_together_one_runs_and_the_other_exits_3_naming_the_holder() {
    let (app, opts) = slow_app(120, 0, Duration::from_millis(80)).await;
    let creates = expected_creates(&opts.groups, &opts.existing, None);
    // The second starts once the first holds the lease: on a loaded machine two processes
    // started at once may otherwise run one after the other.
    let a = run_cmd(&app, &[]).spawn().unwrap();
    run_started(&app, 1).await;
    let b = run_cmd(&app, &[]).spawn().unwrap();
    let (pa, pb) = (a.id(), b.id());
    let (a, b) = (wait(a).await, wait(b).await);
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes == [Some(0), Some(3)] || codes == [Some(3), Some(0)],
        "{codes:?}"
    );
    let (refused, winner) = if codes[0] == Some(3) {
        (&a, pb)
    } else {
        (&b, pa)
    };
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("another run holds the run lease"), "{err}");
    assert!(err.contains(&format!("(pid {winner})")), "{err}");
    assert!(err.contains("--wait"), "{err}");
    assert_no_duplicates(app.target_names());
    assert_eq!(app.target_names().len(), creates);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_wait_the_second_run_waits_for_the_first_and_then_runs() {
    let (app, opts) = slow_app(40, 0, Duration::from_millis(80)).await;
    let creates = expected_creates(&opts.groups, &opts.existing, None);
    let first = run_cmd(&app, &[]).spawn().unwrap();
    // the first run holds the lease before the second starts
    let store = groupsync::store::Store::open(&app.store).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.lease_holder().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = run_cmd(&app, &["--wait"]).spawn().unwrap();
    let (first, second) = (wait(first).await, wait(second).await);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("waiting for it"));
    assert_eq!(statuses(&app).await, ["succeeded", "succeeded"]);
    let names = app.target_names();
    assert_no_duplicates(names.clone());
    assert_eq!(names.len(), creates);
    assert!(store.lease_holder().unwrap().is_none());
    app.stop().await;
}

/// The daemon's choice: its run waits for a lease another process holds, up to a bound
/// (`daemon::LEASE_WAIT`), and is then recorded as `skipped`, changing no alert state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_may_wait_runs_when_the_lease_frees_and_is_skipped_past_its_bound() {
    use groupsync::report::RunStatus;
    use groupsync::store::Store;
    use groupsync::store::lease::{Acquired, Claimant};
    use groupsync::sync::lease::LeaseWait;
    use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};

    let (app, _) = slow_app(6, 0, Duration::ZERO).await;
    let store = Store::open(&app.store).unwrap();
    // another run of a live process (this one) holds the lease
    let other = Claimant::this_process("other-run");
    let hold = || {
        let got = store
            .acquire_lease(&other, chrono::Utc::now(), |_| true)
            .unwrap();
        assert!(matches!(got, Acquired::Yes { .. }));
    };
    hold();
    let syncer = Syncer::new(app.settings(&[]), store.clone())
        .unwrap()
        .with_lease_wait(LeaseWait::Upto(Duration::from_millis(1500)));
    let req = || RunRequest::new([TriggerKind::Schedule], false);
    let skipped = syncer.run(&req(), &Quiet).await;
    assert_eq!(skipped.status(), RunStatus::Skipped);
    let message = &skipped.error.as_ref().unwrap().message;
    assert!(message.contains("run other-run on host"), "{message}");
    assert_eq!(store.failing("default").unwrap(), None);
    assert!(app.target_names().is_empty());

    // freed while the run waits: it runs
    let freer = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            store.release_lease("other-run").unwrap();
        })
    };
    let ran = syncer.run(&req(), &Quiet).await;
    freer.await.unwrap();
    assert_eq!(ran.status(), RunStatus::Succeeded);
    let statuses = statuses(&app).await;
    assert_eq!(statuses, ["succeeded", "skipped"]);
    assert!(store.lease_holder().unwrap().is_none());
    app.stop().await;
}
