use super::*;
use std::sync::Mutex as StdMutex;
use tokio::time::Instant;

/// Takes `duration` of tokio time per run and remembers what it was asked.
struct Slow {
    duration: Duration,
    seen: Arc<StdMutex<Vec<RunRequest>>>,
}

impl Slow {
    fn new(duration: Duration) -> (Arc<Slow>, Arc<StdMutex<Vec<RunRequest>>>) {
        let seen = Arc::new(StdMutex::new(vec![]));
        let runner = Arc::new(Slow {
            duration,
            seen: seen.clone(),
        });
        (runner, seen)
    }
}

impl Runner for Slow {
    fn run(&self, req: RunRequest) -> RunFuture {
        self.seen.lock().unwrap().push(req.clone());
        let duration = self.duration;
        Box::pin(async move {
            tokio::time::sleep(duration).await;
            RunReport {
                run_id: req.run_id,
                started_at: Utc::now(),
                finished_at: Utc::now(),
                dry_run: false,
                source: None,
                outcomes: vec![],
                error: None,
                notices: vec![],
                guard: None,
                read: 0,
                stage: None,
                close_loop: None,
            }
        })
    }
}

fn start(
    coordinator: &Coordinator,
    runner: Arc<Slow>,
    grace: Duration,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let c = coordinator.clone();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { c.drive(runner, token, grace).await });
    (shutdown, task)
}

async fn running(c: &Coordinator) -> Slot {
    let mut w = c.watch();
    let s = w.wait_for(|s| s.running.is_some()).await.unwrap();
    s.running.clone().unwrap()
}

async fn next_finished(rx: &mut broadcast::Receiver<Arc<FinishedRun>>) -> Arc<FinishedRun> {
    tokio::time::timeout(Duration::from_secs(3600), rx.recv())
        .await
        .expect("a run finishes")
        .expect("the channel is open")
}

#[tokio::test(start_paused = true)]
async fn one_trigger_makes_one_run_with_the_promised_id() {
    let c = Coordinator::new(10);
    let mut finished = c.subscribe();
    let (runner, seen) = Slow::new(Duration::from_secs(5));
    let (shutdown, task) = start(&c, runner, Duration::from_secs(30));

    let id = c.trigger(TriggerKind::Manual).unwrap();
    let run = next_finished(&mut finished).await;
    assert_eq!(run.summary.run_id, id);
    assert_eq!(run.trigger, "manual");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(matches!(c.lookup(&id), Some(RunState::Finished(_))));
    assert_eq!(c.snapshot().started, 1);
    assert_eq!(c.snapshot().pending, None);

    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn twenty_triggers_during_a_run_make_exactly_one_follow_up() {
    let c = Coordinator::new(10);
    let mut finished = c.subscribe();
    let (runner, seen) = Slow::new(Duration::from_secs(60));
    let (shutdown, task) = start(&c, runner, Duration::from_secs(30));

    let first = c.trigger(TriggerKind::Schedule).unwrap();
    assert_eq!(running(&c).await.run_id, first);
    let mut follow_ups = vec![];
    for i in 0..20 {
        let kind = if i % 3 == 0 {
            TriggerKind::Poll
        } else {
            TriggerKind::Webhook
        };
        follow_ups.push(c.trigger(kind).unwrap());
    }
    let second = follow_ups[0].clone();
    assert_ne!(second, first);
    assert!(follow_ups.iter().all(|id| *id == second));
    assert!(matches!(c.lookup(&second), Some(RunState::Pending { .. })));

    assert_eq!(next_finished(&mut finished).await.summary.run_id, first);
    let run = next_finished(&mut finished).await;
    assert_eq!(run.summary.run_id, second);
    assert_eq!(
        run.trigger, "poll+webhook",
        "kinds in order of arrival, each once"
    );

    let snap = c.snapshot();
    assert_eq!((snap.started, snap.finished), (2, 2));
    assert_eq!((snap.running, snap.pending), (None, None));
    let triggers: Vec<String> = seen.lock().unwrap().iter().map(|r| r.trigger()).collect();
    assert_eq!(triggers, ["schedule", "poll+webhook"]);

    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn triggers_before_the_run_starts_join_it() {
    let c = Coordinator::new(10);
    let a = c.trigger(TriggerKind::Webhook).unwrap();
    let b = c.trigger(TriggerKind::Schedule).unwrap();
    let d = c.trigger(TriggerKind::Webhook).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, d);
    let mut finished = c.subscribe();
    let (runner, _) = Slow::new(Duration::from_secs(1));
    let (shutdown, task) = start(&c, runner, Duration::from_secs(30));
    let run = next_finished(&mut finished).await;
    assert_eq!(run.summary.run_id, a);
    assert_eq!(run.trigger, "webhook+schedule");
    assert_eq!(c.snapshot().started, 1);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_short_run_finish_and_refuses_new_triggers() {
    let c = Coordinator::new(10);
    let mut finished = c.subscribe();
    let (runner, _) = Slow::new(Duration::from_secs(10));
    let (shutdown, task) = start(&c, runner, Duration::from_secs(30));
    let id = c.trigger(TriggerKind::Manual).unwrap();
    running(&c).await;
    let dropped = c.trigger(TriggerKind::Webhook).unwrap();

    let began = Instant::now();
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(10),
        "the run went to its end"
    );

    let run = next_finished(&mut finished).await;
    assert_eq!(run.summary.run_id, id);
    assert_eq!(run.summary.error(), None);
    assert!(c.lookup(&dropped).is_none(), "the waiting run was dropped");
    assert_eq!(c.trigger(TriggerKind::Manual), Err(ShuttingDown));
    assert!(!c.snapshot().accepting);
    assert_eq!(c.snapshot().started, 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_the_grace_period_is_stopped_and_reported() {
    let c = Coordinator::new(10);
    let mut finished = c.subscribe();
    let (runner, _) = Slow::new(Duration::from_secs(3600));
    let grace = Duration::from_secs(30);
    let (shutdown, task) = start(&c, runner, grace);
    let id = c.trigger(TriggerKind::Manual).unwrap();
    running(&c).await;

    let began = Instant::now();
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(began.elapsed(), grace);

    let run = next_finished(&mut finished).await;
    assert_eq!(run.summary.run_id, id);
    let error = run.summary.error().unwrap();
    assert!(
        error.message.contains("server.shutdown_grace_secs (30 s)"),
        "{error}"
    );
    assert_eq!(error.kind.as_str(), "shutdown");
    assert_eq!(c.snapshot().running, None);
}

#[tokio::test(start_paused = true)]
async fn only_the_last_runs_are_kept() {
    let c = Coordinator::new(2);
    let mut finished = c.subscribe();
    let (runner, _) = Slow::new(Duration::from_secs(1));
    let (shutdown, task) = start(&c, runner, Duration::from_secs(30));
    let mut ids = vec![];
    for _ in 0..3 {
        ids.push(c.trigger(TriggerKind::Manual).unwrap());
        next_finished(&mut finished).await;
    }
    assert!(c.lookup(&ids[0]).is_none());
    assert!(c.lookup(&ids[1]).is_some());
    assert_eq!(c.last_finished().unwrap().summary.run_id, ids[2]);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_forced_trigger_forces_the_run_it_joins_and_only_that_run() {
    let c = Coordinator::new(10);
    let mut finished = c.subscribe();
    let (runner, seen) = Slow::new(Duration::from_secs(60));
    let (shutdown, task) = start(&c, runner, Duration::from_secs(30));

    let first = c.trigger(TriggerKind::Schedule).unwrap();
    assert_eq!(running(&c).await.run_id, first);
    let joined = c.trigger(TriggerKind::Webhook).unwrap();
    assert_eq!(c.trigger_with(TriggerKind::Manual, true).unwrap(), joined);
    next_finished(&mut finished).await;
    next_finished(&mut finished).await;
    let after = c.trigger(TriggerKind::Schedule).unwrap();
    next_finished(&mut finished).await;

    let forced: Vec<(RunId, bool)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.run_id.clone(), r.force))
        .collect();
    assert_eq!(forced, [(first, false), (joined, true), (after, false)]);

    shutdown.cancel();
    task.await.unwrap();
}
