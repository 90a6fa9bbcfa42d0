//! The polling trigger: asks IdentityNow's task status for the AD source's latest account
//! and group aggregations, and runs when a newer successful one has finished.
//!
//! For deployments that cannot receive webhooks, and as the catch-up path for events
//! that were lost (trigger deliveries are fire-and-forget).
//!
//! What "newer" means survives a restart: the last handled aggregation of each kind is
//! kept in the store. An aggregation counts as handled once the run it caused has
//! finished without failing, so a crash or a failed run means it is picked up again
//! (at least once), and a run that went through means never again (at most once).
//!
//! On a fresh store the first poll only records the latest aggregations as the starting
//! point and runs nothing: what happened before the daemon existed is not news, and the
//! schedule or a manual run makes the first sync.

use super::coordinator::{Coordinator, FinishedRun, ShuttingDown, TriggerKind};
use super::source::{AdSource, ResolveError};
use crate::domain::RunId;
use crate::identitynow::{self, AggregationKind, IdnError, TaskStatus};
use crate::report::RunStatus;
use crate::store::{Store, StoreError};
use crate::telemetry::daemon_log;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// The last aggregation of one kind that was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    id: String,
    completed: DateTime<Utc>,
}

impl Seen {
    /// Whether `task` finished after this one.
    fn is_older_than(&self, task: &Seen) -> bool {
        task.id != self.id && task.completed >= self.completed
    }
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// A new successful aggregation: this run will handle it.
    Triggered(RunId),
    /// First poll on a fresh store: the latest aggregations were recorded, nothing ran.
    Baseline,
    /// Nothing new (or the new one is already being handled).
    Unchanged,
    Failed(String),
}

/// Why a poll failed (its text is what [`PollOutcome::Failed`] and the log say).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("cannot resolve the AD source: {0}")]
    Source(#[from] ResolveError),
    #[error(transparent)]
    Tasks(#[from] IdnError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store call did not complete: {0}")]
    StoreCall(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Refused(#[from] ShuttingDown),
}

/// Group aggregations groupsync started itself before a scheduled run: that run covers
/// them, so polling records them without running again.
#[derive(Default)]
pub struct OwnAggregations(Mutex<HashSet<String>>);

impl OwnAggregations {
    pub fn add(&self, task_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task_id.to_owned());
    }

    fn take(&self, task_id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(task_id)
    }
}

/// A run triggered by a poll, and what it will mark as handled when it went through.
struct Awaiting {
    run_id: RunId,
    marks: Vec<(AggregationKind, Seen)>,
}

pub struct Poller {
    client: identitynow::Client,
    source: Arc<AdSource>,
    store: Store,
    coordinator: Coordinator,
    own: Arc<OwnAggregations>,
    awaiting: Mutex<Option<Awaiting>>,
}

const KINDS: [AggregationKind; 2] = [AggregationKind::Accounts, AggregationKind::Groups];

/// Where the last aggregation handled is kept: per job, the job `default` under the key
/// it had before jobs existed.
fn state_key(job: &str, kind: AggregationKind) -> String {
    let kind = match kind {
        AggregationKind::Accounts => "accounts",
        AggregationKind::Groups => "groups",
    };
    if job == crate::config::DEFAULT_JOB {
        format!("poll.last_aggregation.{kind}")
    } else {
        format!("poll.{job}.last_aggregation.{kind}")
    }
}

impl Poller {
    pub fn new(
        client: identitynow::Client,
        source: Arc<AdSource>,
        store: Store,
        coordinator: Coordinator,
        own: Arc<OwnAggregations>,
    ) -> Poller {
        Poller {
            client,
            source,
            store,
            coordinator,
            own,
            awaiting: Mutex::new(None),
        }
    }

    /// Polls every `interval` until `shutdown`; records aggregations as handled as soon as
    /// their run finishes.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut finished = self.coordinator.subscribe();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    self.tick().await;
                }
                got = finished.recv() => match got {
                    Ok(run) => self.settle(&run).await,
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {}
                },
            }
        }
    }

    /// One poll.
    pub async fn tick(&self) -> PollOutcome {
        let outcome = self
            .poll()
            .await
            .unwrap_or_else(|e| PollOutcome::Failed(e.to_string()));
        let (result, detail) = match &outcome {
            PollOutcome::Triggered(id) => ("new", id.to_string()),
            PollOutcome::Baseline => ("baseline", String::new()),
            PollOutcome::Unchanged => ("unchanged", String::new()),
            PollOutcome::Failed(e) => ("failed", e.clone()),
        };
        daemon_log::poll(result, &detail);
        outcome
    }

    async fn poll(&self) -> Result<PollOutcome, PollError> {
        if let Some(run) = self.awaited_run_finished() {
            self.settle(&run).await;
        }
        let source_id = self.source.id().await?;
        let mut new = vec![];
        let mut baseline = false;
        for kind in KINDS {
            let latest = self.client.latest_aggregation(&source_id, kind).await?;
            let latest = latest.as_ref().and_then(finished_successfully);
            match self.load(kind).await? {
                None => {
                    baseline = true;
                    self.save(kind, latest.as_ref()).await?;
                }
                Some(handled) => {
                    if let Some(latest) = latest.filter(|l| is_news(handled.as_ref(), l)) {
                        new.push((kind, latest));
                    }
                }
            }
        }
        self.act_on(new, baseline).await
    }

    /// Triggers a run for new aggregations not yet being handled.
    async fn act_on(
        &self,
        new: Vec<(AggregationKind, Seen)>,
        baseline: bool,
    ) -> Result<PollOutcome, PollError> {
        let mut marks = vec![];
        for (kind, seen) in new {
            if self.own.take(&seen.id) {
                self.save(kind, Some(&seen)).await?;
            } else if !self.is_awaited(&seen) {
                marks.push((kind, seen));
            }
        }
        if marks.is_empty() {
            return Ok(if baseline {
                PollOutcome::Baseline
            } else {
                PollOutcome::Unchanged
            });
        }
        let run_id = self.coordinator.trigger(TriggerKind::Poll)?;
        let mut awaiting = self.awaiting.lock().unwrap_or_else(|p| p.into_inner());
        // A later run also covers what an earlier one was awaited for.
        let mut all = awaiting.take().map(|a| a.marks).unwrap_or_default();
        all.extend(marks);
        *awaiting = Some(Awaiting {
            run_id: run_id.clone(),
            marks: all,
        });
        Ok(PollOutcome::Triggered(run_id))
    }

    fn is_awaited(&self, seen: &Seen) -> bool {
        let awaiting = self.awaiting.lock().unwrap_or_else(|p| p.into_inner());
        awaiting
            .as_ref()
            .is_some_and(|a| a.marks.iter().any(|(_, s)| s.id == seen.id))
    }

    /// The awaited run, if it finished while nobody listened.
    fn awaited_run_finished(&self) -> Option<Arc<FinishedRun>> {
        let run_id = self
            .awaiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()?
            .run_id
            .clone();
        match self.coordinator.lookup(&run_id) {
            Some(super::coordinator::RunState::Finished(run)) => Some(run),
            Some(_) => None,
            // Forgotten or dropped at shutdown: poll again as if it never ran.
            None => {
                self.awaiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                None
            }
        }
    }

    /// Records the awaited aggregations as handled if `run` is their run and went through.
    pub async fn settle(&self, run: &FinishedRun) {
        let marks = {
            let mut awaiting = self.awaiting.lock().unwrap_or_else(|p| p.into_inner());
            if awaiting
                .as_ref()
                .is_none_or(|a| a.run_id != run.summary.run_id)
            {
                return;
            }
            awaiting.take().map(|a| a.marks).unwrap_or_default()
        };
        if matches!(run.summary.status, RunStatus::Failed | RunStatus::Refused) {
            return;
        }
        for (kind, seen) in marks {
            if let Err(e) = self.save(kind, Some(&seen)).await {
                daemon_log::handled_aggregation_not_recorded(&e.to_string());
            }
        }
    }

    /// The last handled aggregation: `None` if this store was never polled,
    /// `Some(None)` if it was but no successful aggregation existed then.
    async fn load(&self, kind: AggregationKind) -> Result<Option<Option<Seen>>, PollError> {
        let store = self.store.clone();
        let key = state_key(self.coordinator.job(), kind);
        let text = blocking(move || store.get_state(&key)).await?;
        // An unreadable value counts as never polled: the next poll records a new start.
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn save(&self, kind: AggregationKind, seen: Option<&Seen>) -> Result<(), PollError> {
        let store = self.store.clone();
        let key = state_key(self.coordinator.job(), kind);
        let text = serde_json::to_string(&seen).unwrap_or_else(|_| "null".into());
        blocking(move || store.set_state(&key, &text)).await?;
        daemon_log::poll_state_saved(
            &state_key(self.coordinator.job(), kind),
            seen.map_or("-", |s| s.id.as_str()),
        );
        Ok(())
    }
}

/// Whether `latest` is an aggregation after the last handled one.
fn is_news(handled: Option<&Seen>, latest: &Seen) -> bool {
    handled.is_none_or(|h| h.is_older_than(latest))
}

/// The task as a candidate, if it finished successfully.
fn finished_successfully(task: &TaskStatus) -> Option<Seen> {
    if !task.succeeded() {
        return None;
    }
    Some(Seen {
        id: task.id.clone(),
        completed: task.completed.or(task.created)?,
    })
}

/// Runs a store call off the async threads (SQLite may wait for a lock).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, PollError> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, secs: i64) -> Seen {
        Seen {
            id: id.into(),
            completed: DateTime::from_timestamp(secs, 0).unwrap(),
        }
    }

    #[test]
    fn newer_means_another_task_finished_no_earlier() {
        assert!(seen("a", 10).is_older_than(&seen("b", 11)));
        assert!(
            seen("a", 10).is_older_than(&seen("b", 10)),
            "same millisecond"
        );
        assert!(!seen("a", 10).is_older_than(&seen("a", 10)));
        assert!(!seen("a", 10).is_older_than(&seen("b", 9)));
    }

    #[test]
    fn anything_is_news_after_an_empty_start() {
        assert!(is_news(None, &seen("a", 1)));
        assert!(!is_news(Some(&seen("a", 1)), &seen("a", 1)));
    }

    #[test]
    fn the_stored_form_round_trips() {
        let s = seen("ef38", 1_767_607_390);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Seen>(&text).unwrap(), s);
    }
}
