//! One run at a time, whatever asks for it.
//!
//! Triggers (schedule, webhook, poll, manual) never start a run themselves: they ask the
//! coordinator, which keeps at most one run going and at most one run waiting. A trigger
//! that arrives while a run is going joins the waiting run, so a burst of events during
//! a long sync costs one follow-up run, not one run each. The waiting run's id is chosen
//! when it is created, so every trigger is told at once which run will serve it.

use crate::domain::RunId;
use crate::report::{RunReport, RunSummary};
use crate::sync::{RunError, RunRequest, Triggers};
use crate::telemetry::{self, daemon_log, run_log};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

pub use crate::sync::TriggerKind;

/// A finished run and what caused it, without its group outcomes: `/runs/{id}` reads those
/// from the history, so what stays in memory does not grow with the number of groups.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// The trigger kinds joined by `+`, in order of arrival.
    pub trigger: String,
    pub summary: RunSummary,
}

impl FinishedRun {
    fn of(trigger: String, report: &RunReport) -> FinishedRun {
        FinishedRun {
            summary: RunSummary::of(report, &trigger),
            trigger,
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone)]
pub enum RunState {
    Pending { trigger: String },
    Running { trigger: String },
    Finished(Arc<FinishedRun>),
}

/// A run that is waiting or going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub run_id: RunId,
    pub trigger: String,
}

/// The coordinator's state at a glance (for tests, readiness and the dashboard).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub running: Option<Slot>,
    pub pending: Option<Slot>,
    /// Runs started since the process started.
    pub started: u64,
    pub finished: u64,
    /// False once shutdown began.
    pub accepting: bool,
}

/// The trigger was refused because the daemon is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("groupsync is shutting down and starts no new runs")]
pub struct ShuttingDown;

/// A boxed run, so runners can be swapped (the real pipeline, or a stand-in in tests).
pub type RunFuture = Pin<Box<dyn Future<Output = RunReport> + Send + 'static>>;

/// Carries out one run for the coordinator.
pub trait Runner: Send + Sync + 'static {
    fn run(&self, req: RunRequest) -> RunFuture;

    /// The report of a run that had to be stopped (shutdown past the grace period, or
    /// the run's task died); `why` says which.
    fn interrupted(&self, req: &RunRequest, started_at: DateTime<Utc>, why: RunError) -> RunReport {
        RunReport::failed(req.run_id.clone(), started_at, req.dry_run, why.failure())
    }
}

struct Pending {
    run_id: RunId,
    kinds: Vec<TriggerKind>,
    /// A forced trigger (`POST /runs {"force": true}`) lets the run through the guards.
    force: bool,
}

impl Pending {
    fn trigger(&self) -> String {
        Triggers(&self.kinds).to_string()
    }
}

struct State {
    running: Option<Slot>,
    pending: Option<Pending>,
    recent: VecDeque<Arc<FinishedRun>>,
    started: u64,
    finished: u64,
    accepting: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the driver when a pending run appears.
    wake: Notify,
    snapshot: watch::Sender<Snapshot>,
    finished: broadcast::Sender<Arc<FinishedRun>>,
    /// How many finished runs stay in memory.
    keep: usize,
    /// The job whose runs this coordinator runs.
    job: String,
}

/// The run coordinator; cheap to clone (clones share one state).
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

impl Coordinator {
    /// A coordinator of the job `default` that remembers the last `keep` finished runs.
    pub fn new(keep: usize) -> Coordinator {
        Coordinator::for_job(keep, crate::config::DEFAULT_JOB)
    }

    /// A coordinator of the runs of `job` (one at a time); another job has its own.
    pub fn for_job(keep: usize, job: &str) -> Coordinator {
        let state = State {
            running: None,
            pending: None,
            recent: VecDeque::new(),
            started: 0,
            finished: 0,
            accepting: true,
        };
        let snapshot = Snapshot {
            accepting: true,
            ..Snapshot::default()
        };
        Coordinator {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                wake: Notify::new(),
                snapshot: watch::Sender::new(snapshot),
                finished: broadcast::Sender::new(64),
                keep: keep.max(1),
                job: job.to_owned(),
            }),
        }
    }

    /// The job whose runs this coordinator runs.
    pub fn job(&self) -> &str {
        &self.inner.job
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a run; returns the id of the run that will serve this trigger.
    pub fn trigger(&self, kind: TriggerKind) -> Result<RunId, ShuttingDown> {
        self.trigger_with(kind, false)
    }

    /// As [`Coordinator::trigger`]; with `force`, the run that serves it (this trigger's,
    /// or the waiting one it joins) is let through the guards once.
    pub fn trigger_with(&self, kind: TriggerKind, force: bool) -> Result<RunId, ShuttingDown> {
        let mut state = self.lock();
        if !state.accepting {
            daemon_log::trigger_refused(self.job(), kind.as_str());
            return Err(ShuttingDown);
        }
        let run_id = match &mut state.pending {
            Some(pending) => {
                pending.force |= force;
                if !pending.kinds.contains(&kind) {
                    pending.kinds.push(kind);
                }
                daemon_log::trigger_coalesced(
                    &self.inner.job,
                    kind.as_str(),
                    &pending.run_id,
                    &pending.trigger(),
                );
                pending.run_id.clone()
            }
            None => {
                let run_id = RunId::new();
                state.pending = Some(Pending {
                    run_id: run_id.clone(),
                    kinds: vec![kind],
                    force,
                });
                daemon_log::trigger_queued(self.job(), kind.as_str(), &run_id);
                self.inner.wake.notify_one();
                run_id
            }
        };
        self.publish(&state);
        Ok(run_id)
    }

    /// Finished runs, as they finish (the execution history subscribes here).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinishedRun>> {
        self.inner.finished.subscribe()
    }

    /// The state, updated on every change.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.inner.snapshot.subscribe()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshot.borrow().clone()
    }

    /// Where the run with this id stands, if it is pending, running or still remembered.
    pub fn lookup(&self, run_id: &RunId) -> Option<RunState> {
        let state = self.lock();
        if let Some(p) = state.pending.as_ref().filter(|p| &p.run_id == run_id) {
            return Some(RunState::Pending {
                trigger: p.trigger(),
            });
        }
        if let Some(r) = state.running.as_ref().filter(|r| &r.run_id == run_id) {
            return Some(RunState::Running {
                trigger: r.trigger.clone(),
            });
        }
        state
            .recent
            .iter()
            .find(|f| &f.summary.run_id == run_id)
            .map(|f| RunState::Finished(f.clone()))
    }

    /// The most recently finished run.
    pub fn last_finished(&self) -> Option<Arc<FinishedRun>> {
        self.lock().recent.back().cloned()
    }

    /// Runs what is asked for, one at a time, until `shutdown`. Then it refuses new
    /// triggers, drops the waiting run, gives the run in progress `grace` to finish and
    /// stops it after that.
    pub async fn drive(
        &self,
        runner: Arc<dyn Runner>,
        shutdown: CancellationToken,
        grace: Duration,
    ) {
        loop {
            let req = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                req = self.next_request() => req,
            };
            let finished = self.execute(runner.as_ref(), req, &shutdown, grace).await;
            self.finish(finished);
            if shutdown.is_cancelled() {
                break;
            }
        }
        self.close();
    }

    /// Waits for a pending run and marks it running.
    async fn next_request(&self) -> (RunRequest, String) {
        loop {
            let notified = self.inner.wake.notified();
            if let Some(next) = self.take_pending() {
                return next;
            }
            notified.await;
        }
    }

    fn take_pending(&self) -> Option<(RunRequest, String)> {
        let mut state = self.lock();
        let pending = state.pending.take()?;
        let trigger = pending.trigger();
        state.running = Some(Slot {
            run_id: pending.run_id.clone(),
            trigger: trigger.clone(),
        });
        state.started += 1;
        self.publish(&state);
        daemon_log::run_in_progress(self.job(), true);
        let req = RunRequest {
            run_id: pending.run_id,
            triggers: pending.kinds,
            dry_run: false,
            force: pending.force,
        };
        Some((req, trigger))
    }

    async fn execute(
        &self,
        runner: &dyn Runner,
        (req, trigger): (RunRequest, String),
        shutdown: &CancellationToken,
        grace: Duration,
    ) -> FinishedRun {
        let started_at = Utc::now();
        let mut task = tokio::spawn(runner.run(req.clone()));
        let joined = tokio::select! {
            joined = &mut task => joined,
            _ = shutdown.cancelled() => {
                self.close();
                match tokio::time::timeout(grace, &mut task).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        // Dropping the run between two awaits: a create the target has
                        // received completes there; the next run finds it as existing.
                        task.abort();
                        let _ = task.await;
                        daemon_log::run_interrupted(grace.as_secs());
                        let why = RunError::Shutdown(format!(
                            "groupsync was stopped and the run did not finish within server.shutdown_grace_secs ({} s)",
                            grace.as_secs()
                        ));
                        return self.interrupted(runner, &req, trigger, started_at, why);
                    }
                }
            }
        };
        match joined {
            Ok(report) => FinishedRun::of(trigger, &report),
            Err(e) => {
                let why = RunError::Internal(e.to_string());
                self.interrupted(runner, &req, trigger, started_at, why)
            }
        }
    }

    /// The report of a stopped run, logged and counted like any other.
    fn interrupted(
        &self,
        runner: &dyn Runner,
        req: &RunRequest,
        trigger: String,
        started_at: DateTime<Utc>,
        why: RunError,
    ) -> FinishedRun {
        let report = runner.interrupted(req, started_at, why);
        telemetry::run_span(&req.run_id, self.job(), &trigger)
            .in_scope(|| run_log::run_finished(self.job(), &trigger, &report));
        FinishedRun::of(trigger, &report)
    }

    fn finish(&self, finished: FinishedRun) {
        let finished = Arc::new(finished);
        {
            let mut state = self.lock();
            state.running = None;
            state.finished += 1;
            state.recent.push_back(finished.clone());
            while state.recent.len() > self.inner.keep {
                state.recent.pop_front();
            }
            self.publish(&state);
        }
        daemon_log::run_in_progress(self.job(), false);
        // Nobody listening is fine.
        let _ = self.inner.finished.send(finished);
    }

    /// Refuses triggers from now on and drops the waiting run.
    fn close(&self) {
        let mut state = self.lock();
        if !state.accepting {
            return;
        }
        state.accepting = false;
        if let Some(p) = state.pending.take() {
            daemon_log::pending_dropped(&p.run_id, &p.trigger());
        }
        self.publish(&state);
    }

    fn publish(&self, state: &State) {
        let snapshot = Snapshot {
            running: state.running.clone(),
            pending: state.pending.as_ref().map(|p| Slot {
                run_id: p.run_id.clone(),
                trigger: p.trigger(),
            }),
            started: state.started,
            finished: state.finished,
            accepting: state.accepting,
        };
        self.inner.snapshot.send_replace(snapshot);
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
