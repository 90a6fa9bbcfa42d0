//! The close-the-loop stage: after a run that created groups, IdentityNow aggregates the
//! Alation SCIM source's entitlements (`load-entitlements`), so that the new groups can go
//! into access profiles without anyone starting the aggregation by hand.
//!
//! It runs once the creates are journaled, before the run's record and notices, so that
//! the history, the JSON and the digest all say how it went. It never fails the sync:
//! whatever happens is kept in [`CloseLoop`]. An API client's token may not start an
//! aggregation (the spec lists only `userAuth`): that is recorded as not done, with the
//! reason. The token response says whether a user is behind the token, so with an API
//! client nothing is sent; a 403 from a tenant that refuses a user's token is recorded
//! the same way. The wait for the task is bounded by
//! `identitynow.scim_aggregation_timeout_secs`.
//!
//! The aggregation's result is read back narrowly: only the source's entitlements created
//! since the run started (less [`CLOCK_SKEW`]), matched by name page by page, keeping
//! the ids of the created groups alone. A source of 100,000 groups costs a page or two,
//! not its whole listing.

use super::Syncer;
use crate::domain::{SourceGroup, fold_name};
use crate::identitynow::{Endpoint, IdnError, Source};
use crate::report::{CloseLoop, LoopGroup, LoopState, NEEDS_PAT, Outcome, RunReport, SourceInfo};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How often the aggregation's task status is read.
const STEP: Duration = Duration::from_secs(2);

/// How far before the run's start the read-back looks for new entitlements. A group this
/// run created becomes an entitlement when the aggregation, started after it, reads it:
/// its `created` is the tenant's clock then, later than the run's start by this host's
/// clock unless the two clocks disagree. The margin absorbs that disagreement; it only
/// costs reading the few entitlements created in the hour before the run.
const CLOCK_SKEW: TimeDelta = TimeDelta::hours(1);

/// The sources as an error names them: `"Active Directory" (2c91…), …`.
pub fn list_sources(sources: &[Source]) -> String {
    let named: Vec<String> = sources
        .iter()
        .map(|s| format!("{:?} ({})", s.name, s.id))
        .collect();
    if named.is_empty() {
        "none".to_owned()
    } else {
        named.join(", ")
    }
}

/// Whether an error is the token being refused the call (403).
pub fn refused(e: &IdnError, endpoint: Endpoint) -> bool {
    matches!(e, IdnError::Forbidden { endpoint: ep, .. } if *ep == endpoint)
}

impl Syncer {
    /// Closes the loop for `report` when there is one to close: `identitynow.scim_source`
    /// set, a real run, groups created.
    pub(super) async fn close_loop(&self, report: &mut RunReport) {
        let Some(wanted) = self.settings.identitynow.scim_source.clone() else {
            return;
        };
        let created: Vec<String> = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Created { .. }))
            .map(|o| o.name.clone())
            .collect();
        if report.dry_run || created.is_empty() {
            return;
        }
        let mut step = CloseLoop {
            state: LoopState::Failed,
            source: None,
            task_id: None,
            message: String::new(),
            groups: created
                .into_iter()
                .map(|name| LoopGroup {
                    name,
                    entitlement_id: None,
                })
                .collect(),
        };
        let since = report.started_at - CLOCK_SKEW;
        self.aggregate(&wanted, since, &mut step).await;
        tracing::info!(state = step.state.as_str(), message = %step.message, "close the loop");
        report.close_loop = Some(step);
    }

    async fn aggregate(&self, wanted: &str, since: DateTime<Utc>, step: &mut CloseLoop) {
        let client = &self.source;
        // A token that cannot be had now falls through: the calls below say why.
        if let Ok(false) = client.token_has_user().await {
            step.state = LoopState::NotDone;
            step.message = format!(
                "{NEEDS_PAT}: an API client's token may not start an entitlement aggregation \
                 of the Alation SCIM source {wanted:?}; run one by hand, or use a personal \
                 access token"
            );
            return;
        }
        let source = match client.find_source(wanted).await {
            Ok(Ok(source)) => source,
            Ok(Err(all)) => {
                step.message = format!(
                    "identitynow.scim_source {wanted:?} names no source; the sources are: {}",
                    list_sources(&all)
                );
                return;
            }
            Err(e) => {
                step.message = format!("cannot find the Alation SCIM source: {e}");
                return;
            }
        };
        let name = source.name.clone();
        step.source = Some(SourceInfo {
            id: source.id.clone(),
            name: source.name,
        });
        let task = match client.start_group_aggregation(&source.id).await {
            Ok(task) => task,
            Err(e) if refused(&e, Endpoint::LoadEntitlements) => {
                step.state = LoopState::NotDone;
                step.message = format!(
                    "{NEEDS_PAT}: the token may not start an entitlement aggregation of \
                     {name:?}; run one by hand, or use a personal access token"
                );
                return;
            }
            Err(e) => {
                step.message = format!("cannot start the entitlement aggregation: {e}");
                return;
            }
        };
        step.task_id = Some(task.id.clone());
        let timeout = self.settings.identitynow.scim_aggregation_timeout;
        let done = match tokio::time::timeout(timeout, client.wait_for_task(&task.id, STEP)).await {
            Err(_) => {
                step.state = LoopState::TimedOut;
                step.message = format!(
                    "the entitlement aggregation of {name:?} (task {}) had not finished after \
                     {} s (identitynow.scim_aggregation_timeout_secs)",
                    task.id,
                    timeout.as_secs()
                );
                return;
            }
            Ok(Err(e)) => {
                step.message = format!("cannot follow task {}: {e}", task.id);
                return;
            }
            Ok(Ok(done)) => done,
        };
        if !done.succeeded() {
            step.message = format!(
                "the entitlement aggregation of {name:?} (task {}) ended with {}",
                task.id,
                done.completion_status.as_deref().unwrap_or("no status")
            );
            return;
        }
        // only the created groups are kept, as the pages come: the source may hold many more
        let wanted: HashSet<String> = step.groups.iter().map(|g| fold_name(&g.name)).collect();
        let keep = |g: &SourceGroup| wanted.contains(&fold_name(&g.name));
        let listed = match client.source_groups_since(&source.id, since, &keep).await {
            Ok(selection) => selection.groups,
            Err(e) => {
                step.message = format!("cannot read the entitlements of {name:?}: {e}");
                return;
            }
        };
        let by_name: HashMap<String, String> = listed
            .into_iter()
            .map(|g| (fold_name(&g.name), g.id))
            .collect();
        for g in &mut step.groups {
            g.entitlement_id = by_name.get(&fold_name(&g.name)).cloned();
        }
        let (found, of) = (step.entitlements(), step.groups.len());
        step.state = if found == of {
            LoopState::Closed
        } else {
            LoopState::Incomplete
        };
        step.message =
            format!("{found} of {of} created groups are entitlements of {name:?} in IdentityNow");
    }
}
