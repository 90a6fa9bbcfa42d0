//! One run of the pipeline: source → plan → guards → apply → record and notify, producing a
//! [`RunReport`]. Each stage has its module; this one holds the [`Syncer`] and the order.
//!
//! - [`source`]: the AD source and all its groups from IdentityNow, or an error.
//! - [`lookup`]: what the target holds under each candidate name.
//! - [`plan`]: a pure function from the groups and the lookups to one action per group.
//! - [`guards`]: whether the plan may be applied at all, against the last successful run.
//! - [`apply`]: the creates, with bounded concurrency.
//! - [`record`]: the run and its notices written to the store, then the notices sent.
//!
//! A stage that fails stops the run with a [`RunError`]; the report keeps its kind.

pub mod apply;
mod error;
pub mod guards;
mod lookup;
#[cfg(test)]
mod lookup_equivalence;
pub mod plan;
mod record;
mod source;

pub use error::{RunError, SetupError};

use crate::config::Settings;
use crate::domain::RunId;
use crate::identitynow::{self, FetchProgress, Selection};
use crate::notify::{Flushed, Mailer, Outbox};
use crate::report::RunReport;
use crate::retry::RetryPolicy;
use crate::scim;
use crate::store::{Store, StoreError};
use crate::telemetry::{self, run_log};
use apply::{ApplyOptions, apply_all};
use chrono::Utc;
use plan::Rules;
use std::fmt;
use std::sync::Arc;
use tracing::Instrument;

/// Receives progress of a long run (a terminal shows it; everything else ignores it).
pub trait Progress: Send + Sync {
    fn fetched(&self, _p: &FetchProgress) {}
    /// The source's entitlements are read: which were selected as groups, which left out.
    fn selected(&self, _s: &Selection) {}
    fn checked(&self, _done: usize, _of: usize) {}
    fn created(&self, _done: usize, _of: usize) {}
}

/// Progress that goes nowhere.
pub struct Quiet;
impl Progress for Quiet {}

/// What asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// `groupsync run`.
    Cli,
    /// `groupsync demo`.
    Demo,
    Schedule,
    Webhook,
    Poll,
    /// `POST /runs`.
    Manual,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Cli => "cli",
            TriggerKind::Demo => "demo",
            TriggerKind::Schedule => "schedule",
            TriggerKind::Webhook => "webhook",
            TriggerKind::Poll => "poll",
            TriggerKind::Manual => "manual",
        }
    }
}

/// Triggers as logs and the history show them: joined by `+`, in order of arrival.
pub struct Triggers<'a>(pub &'a [TriggerKind]);

impl fmt::Display for Triggers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(k.as_str())?;
        }
        Ok(())
    }
}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Chosen before the run starts, so a trigger can be told which run will serve it.
    pub run_id: RunId,
    /// What caused the run, in order of arrival (several when triggers coalesced).
    pub triggers: Vec<TriggerKind>,
    pub dry_run: bool,
    /// Let the run through the [`guards`] (`run --force`, `POST /runs {"force": true}`).
    pub force: bool,
}

impl RunRequest {
    pub fn new(triggers: impl IntoIterator<Item = TriggerKind>, dry_run: bool) -> RunRequest {
        RunRequest {
            run_id: RunId::new(),
            triggers: triggers.into_iter().collect(),
            dry_run,
            force: false,
        }
    }

    /// The same request, overriding the guards once.
    pub fn forced(self, force: bool) -> RunRequest {
        RunRequest { force, ..self }
    }

    /// The triggers joined by `+` (`webhook+schedule`), for logs and the history.
    pub fn trigger(&self) -> String {
        Triggers(&self.triggers).to_string()
    }
}

/// The clients a run needs, built once from the settings, and the store it records in.
pub struct Syncer {
    settings: Arc<Settings>,
    source: identitynow::Client,
    target: scim::Client,
    store: Store,
    /// `None` when email is disabled.
    outbox: Option<Outbox>,
}

impl Syncer {
    /// Records runs and queues notices in `store` (the `[store]` file for the CLI and the
    /// daemon); runs older than `store.retention_days` are deleted from it now and after
    /// every run.
    pub fn new(settings: Arc<Settings>, store: Store) -> Result<Syncer, SetupError> {
        let source = identitynow::Client::new(&settings.identitynow)?;
        let target = scim::Client::new(&settings.scim)?;
        let outbox = match &settings.email.smtp {
            Some(smtp) => Some(Outbox::new(
                store.clone(),
                Mailer::new(smtp)?,
                RetryPolicy::default(),
            )),
            None => None,
        };
        let syncer = Syncer {
            settings,
            source,
            target,
            store,
            outbox,
        };
        record::pruned(syncer.store.prune(syncer.retention_cutoff()));
        Ok(syncer)
    }

    /// How a notice is retried within one attempt to send it (jittered back-off).
    pub fn with_notice_retry(mut self, retry: RetryPolicy) -> Syncer {
        self.outbox = self
            .outbox
            .map(|o| Outbox::new(self.store.clone(), o.mailer().clone(), retry));
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sends the notices waiting in the store (queued while the mail server was down, or
    /// before a restart). Every run does this first; the daemon also does it at start-up.
    pub async fn flush_outbox(&self) -> Result<Flushed, StoreError> {
        match &self.outbox {
            Some(outbox) => outbox.flush().await,
            None => Ok(Flushed::default()),
        }
    }

    pub fn source(&self) -> &identitynow::Client {
        &self.source
    }

    pub fn target(&self) -> &scim::Client {
        &self.target
    }

    /// Runs the whole pipeline once. Never panics on upstream trouble: every failure
    /// ends up in the report.
    pub async fn run(&self, req: &RunRequest, progress: &dyn Progress) -> RunReport {
        let trigger = req.trigger();
        let span = telemetry::run_span(&req.run_id, &trigger);
        async {
            run_log::run_started(&trigger, req.dry_run);
            if !req.dry_run {
                self.flush_before_run().await;
            }
            let mut report = RunReport::started(req.run_id.clone(), Utc::now(), req.dry_run);
            if let Err(e) = self.stages(req, progress, &mut report).await {
                report.error = Some(e.failure());
            }
            report.finished_at = Utc::now();
            self.record(req, &mut report).await;
            run_log::run_finished(&trigger, &report);
            report
        }
        .instrument(span)
        .await
    }

    /// The stages in order; the first that fails stops the run.
    async fn stages(
        &self,
        req: &RunRequest,
        progress: &dyn Progress,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        let source = self.resolve_source().await?;
        report.source = Some(source.clone());
        let selection = self.read_groups(&source, progress).await?;
        let groups = &selection.groups;
        let rules = Rules {
            max_name_length: self.settings.sync.max_name_length,
        };
        let lookups = self
            .look_up(plan::candidates(groups, rules), progress)
            .await?;
        let refused = self.store.call(|s| s.refused_names()).await?;
        let plan = plan::plan(groups, &lookups, rules, &refused);
        self.guard(req, &plan, &selection, report).await?;
        let creates = plan.creates().count();
        let opts = ApplyOptions {
            concurrency: self.settings.sync.create_concurrency,
            dry_run: req.dry_run,
            retry: self.settings.scim.retry,
        };
        let on_created = |n: usize| progress.created(n, creates);
        let applied = apply_all(&plan, &self.target, opts, &on_created).await;
        report.outcomes = applied.outcomes;
        if !applied.refused.is_empty() {
            let refused = applied.refused;
            if let Err(e) = self.store.call(move |s| s.remember_refused(&refused)).await {
                run_log::store_failed("remember the names the target refused", &e.to_string());
            }
        }
        Ok(())
    }

    /// The guards stage: refuses the run (a dry run only notes it) when a guard trips.
    async fn guard(
        &self,
        req: &RunRequest,
        plan: &plan::Plan,
        selection: &Selection,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        let source_id = report.source.as_ref().map(|s| s.id.clone());
        let last = match source_id {
            Some(id) => self.store.call(move |s| s.last_success_of(&id)).await?,
            None => None,
        };
        let attributes_seen = selection.attributes_seen();
        let inputs = guards::Inputs {
            plan,
            source_groups: selection.groups.len(),
            last_success: last.as_ref(),
            force: req.force,
            source_filter: &selection.filter,
            attributes_seen: &attributes_seen,
        };
        if req.force {
            run_log::guards_overridden();
        }
        let Some(tripped) = guards::check(&inputs, &self.settings.safety) else {
            return Ok(());
        };
        report.guard = Some(tripped.refusal().failure());
        if req.dry_run {
            return Ok(());
        }
        Err(tripped.refusal())
    }
}

#[cfg(test)]
mod send_check {
    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn run_is_send(s: &super::Syncer, req: &super::RunRequest) {
        let fut = s.run(req, &super::Quiet);
        assert_send(&fut);
    }
}
