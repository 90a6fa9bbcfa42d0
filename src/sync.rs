//! One run of the pipeline: source → plan → apply → record and notify, producing a
//! [`RunReport`].
//!
//! The source stage reads every page or aborts: a partial list never drives a create.
//! Target lookups run with bounded concurrency; if the target refuses our credentials,
//! or cannot be reached for any group, the run stops before its first write. Every run,
//! failed or not, is then recorded in the store with the notices it calls for, and those
//! are sent from the store's outbox (see [`record`]).

mod record;

use crate::apply::{ApplyOptions, apply};
use crate::config::{Settings, TargetLookup};
use crate::domain::{RunId, SourceGroup, fold_name};
use crate::identitynow::{self, FetchProgress};
use crate::notify::{Flushed, Mailer, Outbox};
use crate::plan::{self, Lookups, Rules};
use crate::report::{RunReport, SourceInfo};
use crate::retry::{Classify, Disposition, RetryPolicy};
use crate::scim::{self, ScimError};
use crate::store::{Store, StoreError};

/// Page size when listing every target group (the fallback for unfilterable names).
const LISTING_PAGE_SIZE: usize = 500;
use crate::telemetry::{self, event};
use chrono::Utc;
use futures_util::StreamExt;
use std::sync::Arc;
use tracing::Instrument;

/// Receives progress of a long run (a terminal shows it; everything else ignores it).
pub trait Progress: Send + Sync {
    fn fetched(&self, _p: &FetchProgress) {}
    fn checked(&self, _done: usize, _of: usize) {}
    fn created(&self, _done: usize, _of: usize) {}
}

/// Progress that goes nowhere.
pub struct Quiet;
impl Progress for Quiet {}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Chosen before the run starts, so a trigger can be told which run will serve it.
    pub run_id: RunId,
    /// What caused the run (`cli`, `schedule`, `webhook`, …; several joined by `+` when
    /// triggers coalesced), for logs and history.
    pub trigger: String,
    pub dry_run: bool,
}

impl RunRequest {
    pub fn new(trigger: impl Into<String>, dry_run: bool) -> RunRequest {
        RunRequest {
            run_id: RunId::new(),
            trigger: trigger.into(),
            dry_run,
        }
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

/// The clients could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(String);

impl Syncer {
    /// A syncer that records in a private in-memory store until [`Syncer::with_store`]
    /// gives it the configured one.
    pub fn new(settings: Arc<Settings>) -> Result<Syncer, SetupError> {
        let source = identitynow::Client::new(&settings.identitynow)
            .map_err(|e| SetupError(e.to_string()))?;
        let target = scim::Client::new(&settings.scim).map_err(|e| SetupError(e.to_string()))?;
        let store = Store::in_memory().map_err(|e| SetupError(e.to_string()))?;
        let outbox = match &settings.email.smtp {
            Some(smtp) => {
                let mailer = Mailer::new(smtp).map_err(|e| SetupError(e.to_string()))?;
                Some(Outbox::new(store.clone(), mailer, RetryPolicy::default()))
            }
            None => None,
        };
        Ok(Syncer {
            settings,
            source,
            target,
            store,
            outbox,
        })
    }

    /// Records runs and queues notices in `store` (the `[store]` file for the CLI and the
    /// daemon); runs older than `store.retention_days` are deleted from it now and after
    /// every run.
    pub fn with_store(mut self, store: Store) -> Syncer {
        self.outbox = self
            .outbox
            .map(|o| Outbox::new(store.clone(), o.mailer().clone(), *o.retry()));
        record::pruned(store.prune(self.retention_cutoff()));
        self.store = store;
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
        let run_id = req.run_id.clone();
        let span = telemetry::run_span(&run_id, &req.trigger);
        async {
            event::run_started(&req.trigger, req.dry_run);
            if !req.dry_run {
                self.flush_before_run().await;
            }
            let mut report = RunReport {
                run_id: run_id.clone(),
                started_at: Utc::now(),
                finished_at: Utc::now(),
                dry_run: req.dry_run,
                source: None,
                outcomes: vec![],
                error: None,
                notices: vec![],
            };
            if let Err(e) = self.stages(req, progress, &mut report).await {
                report.error = Some(e);
            }
            report.finished_at = Utc::now();
            self.record(req, &mut report).await;
            event::run_finished(&req.trigger, &report);
            report
        }
        .instrument(span)
        .await
    }

    async fn stages(
        &self,
        req: &RunRequest,
        progress: &dyn Progress,
        report: &mut RunReport,
    ) -> Result<(), String> {
        // source
        let source = self
            .source
            .resolve_source(&self.settings.identitynow.source)
            .await
            .map_err(|e| format!("cannot resolve the AD source: {e}"))?;
        report.source = Some(SourceInfo {
            id: source.id.clone(),
            name: source.name.clone(),
        });
        let on_page = |p: FetchProgress| progress.fetched(&p);
        let groups = self
            .source
            .fetch_groups(&source.id, &on_page)
            .await
            .map_err(|e| format!("cannot read the source's groups; nothing was changed: {e}"))?;
        // plan
        let rules = Rules {
            max_name_length: self.settings.sync.max_name_length,
        };
        let candidates = plan::candidates(&groups, rules);
        let lookups = match self.settings.sync.target_lookup {
            TargetLookup::PerGroup => self.look_up(candidates, progress).await?,
            TargetLookup::Listing => self.look_up_in_listing(candidates, progress).await?,
        };
        let plan = plan::plan(&groups, &lookups, rules);
        // apply
        let creates = plan.creates().count();
        let opts = ApplyOptions {
            concurrency: self.settings.sync.create_concurrency,
            dry_run: req.dry_run,
            retry: self.settings.scim.retry,
        };
        let on_created = |n: usize| progress.created(n, creates);
        report.outcomes = apply(&plan, &self.target, opts, &on_created).await;
        Ok(())
    }

    /// Asks the target about every candidate name. Stops the run when the target
    /// refuses our credentials or every lookup failed: then it is the target, not a group.
    async fn look_up(
        &self,
        candidates: Vec<&SourceGroup>,
        progress: &dyn Progress,
    ) -> Result<Lookups, String> {
        let total = candidates.len();
        let mut done = 0;
        let mut lookups = Lookups::new();
        // Owned names in the stream keep the run's future `Send` (spawnable by the daemon).
        let names: Vec<String> = candidates.iter().map(|g| g.name.clone()).collect();
        let mut results = futures_util::stream::iter(names)
            .map(|name| async move {
                let found = self.target.find_by_display_name(&name).await;
                (fold_name(&name), found)
            })
            .buffer_unordered(self.settings.sync.lookup_concurrency);
        let mut first_error = None;
        let mut unfilterable = vec![];
        while let Some((key, result)) = results.next().await {
            done += 1;
            progress.checked(done, total);
            let result = match result {
                Ok(found) => Ok(found),
                Err(e) if e.disposition() == Disposition::Reauthenticate => {
                    return Err(format!(
                        "the SCIM target refused our credentials; nothing was changed: {e}"
                    ));
                }
                Err(ScimError::InvalidFilter { .. }) => {
                    unfilterable.push(key);
                    continue;
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| e.to_string());
                    Err(e.to_string())
                }
            };
            lookups.insert(key, result);
        }
        drop(results);
        if !unfilterable.is_empty() {
            self.look_up_by_listing(unfilterable, &mut lookups).await;
        }
        if total > 0 && lookups.values().all(|l| l.is_err()) {
            let e = first_error.unwrap_or_default();
            return Err(format!(
                "every lookup in the SCIM target failed; nothing was changed: {e}"
            ));
        }
        Ok(lookups)
    }

    /// Some servers cannot filter on names with special characters (400 invalidFilter);
    /// for those names, list every group once and compare locally, as RFC 7644 allows.
    async fn look_up_by_listing(&self, keys: Vec<String>, lookups: &mut Lookups) {
        tracing::warn!(
            names = keys.len(),
            "the SCIM target refused the filter for some names; comparing against a full listing"
        );
        let listing = self
            .target
            .list_groups(LISTING_PAGE_SIZE)
            .await
            .map(|all| by_name(&all));
        for key in keys {
            let result = match &listing {
                Ok(index) => Ok(index.get(&key).cloned().unwrap_or_default()),
                Err(e) => Err(format!(
                    "the filter was refused and listing the groups failed: {e}"
                )),
            };
            lookups.insert(key, result);
        }
    }

    /// `sync.target_lookup = "listing"`: one paged listing of the target instead of a
    /// lookup per group. A listing that fails stops the run: without it nothing is known.
    async fn look_up_in_listing(
        &self,
        candidates: Vec<&SourceGroup>,
        progress: &dyn Progress,
    ) -> Result<Lookups, String> {
        let all = self
            .target
            .list_groups(LISTING_PAGE_SIZE)
            .await
            .map_err(|e| {
                format!("cannot list the SCIM target's groups; nothing was changed: {e}")
            })?;
        let index = by_name(&all);
        let lookups: Lookups = candidates
            .iter()
            .map(|g| {
                let key = fold_name(&g.name);
                let found = index.get(&key).cloned().unwrap_or_default();
                (key, Ok(found))
            })
            .collect();
        progress.checked(candidates.len(), candidates.len());
        Ok(lookups)
    }
}

/// The target's groups by folded name (a name may be held more than once).
fn by_name(
    all: &[crate::domain::TargetGroup],
) -> std::collections::HashMap<String, Vec<crate::domain::TargetGroup>> {
    let mut index: std::collections::HashMap<String, Vec<_>> = std::collections::HashMap::new();
    for g in all {
        index
            .entry(fold_name(&g.display_name))
            .or_default()
            .push(g.clone());
    }
    index
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
