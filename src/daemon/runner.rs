//! The real run behind the coordinator: the sync pipeline, preceded by a group
//! aggregation for scheduled runs when configured, with its progress kept where
//! `/runs/{id}` and the shutdown report can read it.

use super::aggregate;
use super::coordinator::{RunFuture, Runner};
use super::health::Health;
use super::poll::OwnAggregations;
use super::source::AdSource;
use crate::config::Settings;
use crate::domain::RunId;
use crate::identitynow::FetchProgress;
use crate::report::{RunFailure, RunReport};
use crate::sync::{Progress, RunError, RunRequest, Syncer, TriggerKind};
use crate::telemetry::{self, daemon_log};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// How often the status of a started group aggregation is asked for.
const AGGREGATION_STEP: Duration = Duration::from_secs(5);

/// How far the current (or last) run has come.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunProgress {
    pub run_id: Option<RunId>,
    /// Source groups read so far.
    pub fetched: usize,
    pub checked: usize,
    pub to_check: usize,
    pub created: usize,
    pub to_create: usize,
}

/// Feeds the pipeline's progress into the watch channel.
struct Tracker<'a>(&'a watch::Sender<RunProgress>);

impl Progress for Tracker<'_> {
    fn fetched(&self, p: &FetchProgress) {
        self.0.send_modify(|r| r.fetched = p.groups);
    }
    fn checked(&self, done: usize, of: usize) {
        self.0.send_modify(|r| (r.checked, r.to_check) = (done, of));
    }
    fn created(&self, done: usize, of: usize) {
        self.0
            .send_modify(|r| (r.created, r.to_create) = (done, of));
    }
}

/// Runs the sync pipeline for the coordinator; cheap to clone.
#[derive(Clone)]
pub struct SyncRunner {
    settings: Arc<Settings>,
    syncer: Arc<Syncer>,
    source: Arc<AdSource>,
    own: Arc<OwnAggregations>,
    health: Arc<Health>,
    progress: Arc<watch::Sender<RunProgress>>,
}

impl SyncRunner {
    pub fn new(
        settings: Arc<Settings>,
        syncer: Arc<Syncer>,
        source: Arc<AdSource>,
        own: Arc<OwnAggregations>,
        health: Arc<Health>,
    ) -> SyncRunner {
        SyncRunner {
            settings,
            syncer,
            source,
            own,
            health,
            progress: Arc::new(watch::Sender::new(RunProgress::default())),
        }
    }

    pub fn progress(&self) -> watch::Receiver<RunProgress> {
        self.progress.subscribe()
    }

    async fn run_now(self, req: RunRequest) -> RunReport {
        self.progress.send_replace(RunProgress {
            run_id: Some(req.run_id.clone()),
            ..RunProgress::default()
        });
        if self.wants_aggregation(&req) {
            self.refresh_groups()
                .instrument(telemetry::run_span(
                    &req.run_id,
                    &self.settings.job,
                    &req.trigger(),
                ))
                .await;
        }
        let report = self.syncer.run(&req, &Tracker(&self.progress)).await;
        if let Some(source) = &report.source {
            self.source.learn(&source.id);
        }
        self.health.record_run(&report);
        report
    }

    fn wants_aggregation(&self, req: &RunRequest) -> bool {
        self.settings.poll.start_group_aggregation && req.triggers.contains(&TriggerKind::Schedule)
    }

    async fn refresh_groups(&self) {
        match self.source.id().await {
            Ok(id) => {
                aggregate::refresh_groups(
                    self.syncer.source(),
                    &id,
                    &self.own,
                    self.settings.poll.aggregation_timeout,
                    AGGREGATION_STEP,
                )
                .await;
            }
            Err(e) => {
                daemon_log::aggregation("failed", &format!("cannot resolve the AD source: {e}"))
            }
        }
    }
}

impl Runner for SyncRunner {
    /// The pipeline itself; dropping the returned future stops the run between
    /// operations (a POST already sent still completes on the target).
    fn run(&self, req: RunRequest) -> RunFuture {
        let this = self.clone();
        Box::pin(async move { this.run_now(req).await })
    }

    /// Says how far the run had come: creates counted as done are in the target.
    fn interrupted(&self, req: &RunRequest, started_at: DateTime<Utc>, why: RunError) -> RunReport {
        let p = self.progress.borrow().clone();
        let detail = if p.run_id.as_ref() == Some(&req.run_id) && p.to_create > 0 {
            format!(
                "{why}; {} of {} creates had completed and those groups are in the target; the rest were not confirmed and the next run looks them up again",
                p.created, p.to_create
            )
        } else {
            format!("{why}; no group had been created yet")
        };
        let failure = RunFailure::new(why.kind(), detail);
        RunReport::failed(req.run_id.clone(), started_at, req.dry_run, failure)
    }
}
