//! One run of the pipeline: source → plan → guards → apply → record and notify, producing a
//! [`RunReport`]. Each stage has its module; this one holds the [`Syncer`] and the order.
//!
//! - [`source`]: the AD source and all its groups from IdentityNow, or an error.
//! - [`lookup`]: what the target holds under each candidate name.
//! - [`plan`]: a pure function from the groups and the lookups to one action per group.
//! - [`guards`]: whether the plan may be applied at all, against the last successful run.
//! - [`apply`]: the creates, with bounded concurrency.
//! - [`close_loop`]: after creates, the Alation SCIM source aggregated in IdentityNow, and
//!   whether each created group is now an entitlement.
//! - [`record`]: the run and its notices written to the store, then the notices sent.
//!
//! A stage that fails stops the run with a [`RunError`]; the report keeps its kind.
//!
//! A run that writes holds its job's run lease in the store ([`lease`]) from before its
//! first stage to after its record, so that one run of a job at a time uses a store,
//! whichever process runs it. Its
//! row is written when it starts (`running`) and each create is journaled as it lands, so
//! that a run killed half-way is found `interrupted` with what it did.

pub mod apply;
pub mod close_loop;
mod early_listing;
mod error;
pub mod guards;
mod journal;
pub mod lease;
mod lookup;
#[cfg(test)]
mod lookup_equivalence;
mod own;
pub mod plan;
mod record;
pub mod scope;
mod settle;
mod source;
pub mod target_index;

pub use error::{RunError, SetupError};

use crate::config::{ExternalId, Settings};
use crate::domain::RunId;
use crate::identitynow::{self, FetchProgress, Selection};
use crate::notify::{Flushed, Mailer, Outbox};
use crate::report::{RunReport, Stage};
use crate::retry::RetryPolicy;
use crate::scim;
use crate::store::{RunRecord, Store, StoreError};
use crate::telemetry::{self, run_log};
use apply::{ApplyOptions, RunJournal, apply_journaled};
use chrono::Utc;
use lease::{LeaseWait, RunLease};
use plan::{Action, Rules};
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

/// Passes progress on and keeps how many groups the source gave so far, so a run that
/// fails while reading can say how far it got; tells the source's count (`X-Total-Count`)
/// once, as soon as a page has it, to the target's listing waiting to start
/// ([`early_listing`]).
struct Counted<'a> {
    inner: &'a dyn Progress,
    fetched: std::sync::atomic::AtomicUsize,
    total: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<u64>>>,
}

impl<'a> Counted<'a> {
    /// The progress, and where the source's count will be told.
    fn new(inner: &'a dyn Progress) -> (Self, tokio::sync::oneshot::Receiver<u64>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let counted = Counted {
            inner,
            fetched: Default::default(),
            total: std::sync::Mutex::new(Some(tx)),
        };
        (counted, rx)
    }

    fn fetched(&self) -> usize {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Progress for Counted<'_> {
    fn fetched(&self, p: &FetchProgress) {
        self.fetched
            .fetch_max(p.groups, std::sync::atomic::Ordering::Relaxed);
        if let Some(total) = p.total {
            let mut slot = self.total.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = slot.take() {
                // the listing's side may be gone already (a run stopping): nothing to tell
                let _ = tx.send(total);
            }
        }
        self.inner.fetched(p);
    }
    fn selected(&self, s: &Selection) {
        self.inner.selected(s);
    }
    fn checked(&self, done: usize, of: usize) {
        self.inner.checked(done, of);
    }
    fn created(&self, done: usize, of: usize) {
        self.inner.created(done, of);
    }
}

/// Where [`Counted`] tells the source's count.
type SourceCount = tokio::sync::oneshot::Receiver<u64>;

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
    /// How long a run waits for a lease another process holds.
    lease_wait: LeaseWait,
}

impl Syncer {
    /// Records runs and queues notices in `store` (the `[store]` file for the CLI and the
    /// daemon); runs older than `store.retention_days` are deleted from it now and after
    /// every run.
    pub fn new(settings: Arc<Settings>, store: Store) -> Result<Syncer, SetupError> {
        Syncer::new_among(settings, store, &[])
    }

    /// As [`Syncer::new`] for one job of several: its IdentityNow client shares the rate
    /// limiter of an `earlier` job's on the same tenant and client id.
    pub fn new_among(
        settings: Arc<Settings>,
        store: Store,
        earlier: &[Arc<Syncer>],
    ) -> Result<Syncer, SetupError> {
        let clients: Vec<identitynow::Client> =
            earlier.iter().map(|s| s.source().clone()).collect();
        let source = identitynow::Client::new_among(&settings.identitynow, &clients)?;
        let target = scim::Client::new(&settings.scim)?.with_concurrency(
            settings.sync.lookup_concurrency,
            settings.sync.create_concurrency,
        );
        let outbox = match &settings.email.smtp {
            Some(smtp) => Some(Outbox::new(
                store.clone(),
                Mailer::new(smtp)?,
                RetryPolicy {
                    max_retry_after: settings.sync.max_retry_after,
                    ..RetryPolicy::default()
                },
            )),
            None => None,
        };
        let syncer = Syncer {
            settings,
            source,
            target,
            store,
            outbox,
            lease_wait: LeaseWait::No,
        };
        record::pruned(syncer.store.prune(syncer.retention_cutoff()));
        let recovered = syncer
            .store
            .recover_interrupted(Utc::now(), crate::store::lease::process_exists);
        match recovered {
            Ok(ids) => run_log::runs_interrupted(&ids),
            Err(e) => run_log::store_failed("mark interrupted runs", &e.to_string()),
        }
        Ok(syncer)
    }

    /// How long a run waits when another process holds the run lease (by default not at
    /// all: the run is skipped and its report says who holds the lease).
    pub fn with_lease_wait(mut self, wait: LeaseWait) -> Syncer {
        self.lease_wait = wait;
        self
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
        let span = telemetry::run_span(&req.run_id, &self.settings.job, &trigger);
        async {
            run_log::run_started(&trigger, req.dry_run);
            if !req.dry_run {
                self.flush_before_run().await;
            }
            let mut report = RunReport::started(req.run_id.clone(), Utc::now(), req.dry_run);
            let held = match self.take_lease(req, &mut report).await {
                Ok(held) => held,
                Err(e) => {
                    report.error = Some(e.failure());
                    None
                }
            };
            let journal = held
                .as_ref()
                .map(|_| RunJournal::new(&self.store, &req.run_id.0, &self.settings.job));
            if report.error.is_none() {
                let (counted, total) = Counted::new(progress);
                let mut at = Stage::Source;
                let ran = self
                    .stages(
                        req,
                        (&counted, total),
                        journal.as_ref(),
                        &mut report,
                        &mut at,
                    )
                    .await;
                if at == Stage::Source {
                    // stopped while reading: what the pages gave so far
                    report.read = counted.fetched();
                }
                if let Err(e) = ran {
                    report.error = Some(explain(
                        &e,
                        self.settings.scim.token_expiry.as_ref(),
                        Utc::now(),
                    ));
                    report.stage = Some(at);
                }
            }
            self.close_loop(&mut report).await;
            report.finished_at = Utc::now();
            let settled = journal.map(|j| j.take_settled()).unwrap_or_default();
            self.record(req, &mut report, settled).await;
            if held.is_some() {
                self.count_missing(&report).await;
            }
            drop(held);
            run_log::run_finished(&self.settings.job, &trigger, &report);
            report
        }
        .instrument(span)
        .await
    }

    /// A run that writes takes the run lease and writes its `running` row; a dry run takes
    /// nothing. `Ok(None)` with the report's error set when another process holds the lease.
    async fn take_lease(
        &self,
        req: &RunRequest,
        report: &mut RunReport,
    ) -> Result<Option<RunLease>, RunError> {
        if req.dry_run {
            return Ok(None);
        }
        let job = &self.settings.job;
        match RunLease::take(&self.store, &req.run_id.0, job, self.lease_wait).await? {
            Ok(held) => {
                let mut run = RunRecord::of(report, &req.trigger()).of_job(job);
                run.status = crate::store::RUNNING.to_owned();
                self.store.call(move |s| s.begin_run(&run)).await?;
                Ok(Some(held))
            }
            Err(holder) => {
                report.error = Some(RunError::LeaseHeld(holder).failure());
                Ok(None)
            }
        }
    }

    /// The stages in order; the first that fails stops the run, `at` the stage it was in.
    /// Creates are written to `journal` as they land. `progress` comes with where the
    /// source's count is told (see [`Counted`]).
    async fn stages(
        &self,
        req: &RunRequest,
        (progress, total): (&dyn Progress, SourceCount),
        journal: Option<&RunJournal>,
        report: &mut RunReport,
        at: &mut Stage,
    ) -> Result<(), RunError> {
        let limit = self.settings.sync.max_run;
        let deadline = tokio::time::Instant::now() + limit;
        let overdue = |at: &str| RunError::Deadline {
            limit_secs: limit.as_secs(),
            at: at.to_owned(),
        };
        // Reading and planning write nothing, so they are simply cut off at the deadline.
        let read = self.read_and_plan((progress, total), report, &mut *at);
        let (plan, selection, scoped) = tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| overdue("while reading, before writing anything"))??;
        *at = Stage::Guards;
        self.guard(req, &plan, &selection, report).await?;
        *at = Stage::Apply;
        if apply::past(Some(deadline)) {
            return Err(overdue("before writing anything"));
        }
        let creates = plan.creates().count();
        let changes = plan
            .items
            .iter()
            .any(|p| matches!(p.action, Action::Adopt { .. } | Action::Rename { .. }));
        let opts = ApplyOptions {
            concurrency: self.settings.sync.create_concurrency,
            dry_run: req.dry_run,
            retry: self.settings.scim.retry,
            deadline: Some(deadline),
            patch: changes && !req.dry_run && self.target.patch_supported().await,
        };
        let on_created = |n: usize| progress.created(n, creates);
        let apply = apply_journaled(&plan, &self.target, opts, &on_created, journal);
        // what the plan settled is recorded while the creates wait for the target
        let mut applied = match journal {
            Some(j) => tokio::join!(apply, j.settle(&plan, &scoped)).0,
            None => apply.await,
        };
        self.remember_refused(std::mem::take(&mut applied.refused))
            .await;
        if !req.dry_run {
            self.record_ownership(&plan, &applied).await;
        }
        // the plan's groups move into the outcomes
        report.outcomes = applied.into_outcomes(plan);
        scoped.annotate(&mut report.outcomes);
        let unsent = apply::unsent_at_deadline(&report.outcomes);
        if unsent > 0 {
            return Err(overdue(&format!(
                "before {unsent} of {creates} creates were sent"
            )));
        }
        Ok(())
    }

    /// The source, its groups, those in scope under their mapped names, what the target
    /// holds and the plan: everything before the guards, none of it a write.
    async fn read_and_plan(
        &self,
        (progress, total): (&dyn Progress, SourceCount),
        report: &mut RunReport,
        at: &mut Stage,
    ) -> Result<(plan::Plan, Selection, scope::Scoped), RunError> {
        let source = self.resolve_source().await?;
        report.source = Some(source.clone());
        // the target's listing, when one is needed, is read beside the source's pages
        let read = self.read_groups(&source, progress);
        let early = async { Ok(self.list_target_early(total).await) };
        let (mut selection, early) = futures_util::future::try_join(read, early).await?;
        report.read = selection.groups.len();
        *at = Stage::Plan;
        // one copy of the groups: moved from the source's answer into the scope, then the plan
        let mut scoped =
            (self.settings.sync.scope).apply_owned(std::mem::take(&mut selection.groups));
        if self.settings.sync.external_id != ExternalId::Value {
            // the DN was needed only to scope; at 100,000 groups it is 10 MB
            scoped
                .groups
                .iter_mut()
                .for_each(|g| drop(std::mem::take(&mut g.value)));
        }
        let rules = Rules {
            max_name_length: self.settings.sync.max_name_length,
        };
        let own = self.ownership();
        let found = self
            .look_up(plan::candidates(&scoped.groups, rules), progress, early)
            .await?;
        let refused = self.store.call(|s| s.refused_names()).await?;
        let groups = std::mem::take(&mut scoped.groups);
        let planned = plan::plan_owned(groups, found, rules, own, &refused);
        let mut plan = scoped.merge(planned);
        // every source group is in the plan now, those left out by the scope too
        plan.orphans = self
            .check_orphans(plan.items.iter().map(|p| &p.group), own)
            .await?;
        Ok((plan, selection, scoped))
    }

    /// Keeps the names the target refused, so later runs do not send them again.
    async fn remember_refused(&self, refused: Vec<apply::RefusedName>) {
        if refused.is_empty() {
            return;
        }
        if let Err(e) = self.store.call(move |s| s.remember_refused(&refused)).await {
            run_log::store_failed("remember the names the target refused", &e.to_string());
        }
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
            Some(id) => {
                let job = self.settings.job.clone();
                self.store
                    .call(move |s| s.last_success_of_job(&job, &id))
                    .await?
            }
            None => None,
        };
        let attributes_seen = selection.attributes_seen();
        let inputs = guards::Inputs {
            plan,
            source_groups: report.read,
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

/// The failure as the report keeps it; a 401 from the target after the SCIM token's
/// expiry date names that as the likely cause.
fn explain(
    e: &RunError,
    expiry: Option<&crate::scim::expiry::TokenExpiry>,
    now: chrono::DateTime<Utc>,
) -> crate::report::RunFailure {
    let mut failure = e.failure();
    if let RunError::TargetCredentials(_) = e
        && let Some(expiry) = expiry
        && now >= expiry.at
    {
        failure.message = format!("{}: {}", expiry.expired(), failure.message);
    }
    failure
}

#[cfg(test)]
mod explain_tests {
    use super::*;
    use crate::scim::expiry::fixture::{self, at};
    use crate::scim::expiry::{ExpirySource, TokenExpiry};
    use crate::scim::{Detail, ScimError};

    #[test]
    fn a_401_after_the_expiry_names_the_expired_token() {
        let expiry = TokenExpiry {
            source: ExpirySource::Jwt,
            ..fixture::on("2026-06-30")
        };
        let e = RunError::TargetCredentials(ScimError::Unauthorized {
            detail: Detail::default(),
        });
        let before = explain(&e, Some(&expiry), at("2026-06-29"));
        assert_eq!(before, e.failure());
        let after = explain(&e, Some(&expiry), at("2026-07-02"));
        assert!(
            after.message.starts_with(
                "the SCIM token expired on 2026-06-30 00:00 UTC; create a new one in Alation \
                 and update scim.token and the SailPoint SCIM source: the SCIM target refused"
            ),
            "{after:?}"
        );
        assert_eq!(after.kind, e.kind());
        let other = RunError::Internal("x".into());
        let now = at("2026-07-02");
        assert_eq!(explain(&other, Some(&expiry), now), other.failure());
    }
}

#[cfg(test)]
mod counted_tests {
    use super::*;

    #[test]
    fn the_source_count_is_told_once_from_the_first_page_that_has_one() {
        struct Seen(std::sync::Mutex<Vec<usize>>);
        impl Progress for Seen {
            fn fetched(&self, p: &FetchProgress) {
                self.0.lock().unwrap().push(p.pages);
            }
        }
        let seen = Seen(Default::default());
        let (counted, mut total) = Counted::new(&seen);
        let page = |pages, total| FetchProgress {
            pages,
            groups: pages * 250,
            total,
        };
        Progress::fetched(&counted, &page(1, None));
        assert!(total.try_recv().is_err(), "no count yet");
        Progress::fetched(&counted, &page(2, Some(700)));
        Progress::fetched(&counted, &page(3, Some(900)));
        assert_eq!(total.try_recv().unwrap(), 700);
        assert_eq!(*seen.0.lock().unwrap(), [1, 2, 3], "every page passed on");
        assert_eq!(counted.fetched(), 750);
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
