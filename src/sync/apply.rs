//! The apply stage: carries out a [`Plan`] against the SCIM target.
//!
//! Creates run with bounded concurrency and come back in source order. A `POST` is never
//! re-sent blindly: when its outcome is unknown (timeout, reset, 5xx) the group is looked
//! up first, and only re-posted if it is still missing.
//!
//! A case twin ([`Action::Twin`]) takes its outcome from the first group of its name once
//! that one is settled: found existing under that name, as the Workflow reports it. A name
//! the target refuses with 400 is returned among the [`Applied::refused`], so that later
//! runs do not send it again until it changes.

use super::plan::{Action, OrphanAction, Plan, PlannedOrphan};
use crate::domain::SourceGroup;
use crate::report::{GroupOutcome, Outcome};
use crate::retry::{Classify, Disposition, Operation, RetryPolicy, retry};
use crate::scim::{self, Change, CreateOutcome, ScimError};
use crate::telemetry::run_log;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub concurrency: usize,
    pub dry_run: bool,
    /// How often an unknown-outcome create may be attempted again (after a lookup), and
    /// how long to wait before it.
    pub retry: RetryPolicy,
    /// No create is sent from then on (`sync.max_run_secs`); `None`: no deadline.
    pub deadline: Option<tokio::time::Instant>,
    /// Whether the target takes PATCH (adoptions and renames are PUT otherwise).
    pub patch: bool,
}

/// The error of a create not sent because the run's deadline had passed.
pub const DEADLINE_PASSED: &str = "not sent: the run passed sync.max_run_secs";

pub use super::journal::RunJournal;

/// A name the target refused (400) in this run, with its detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedName {
    pub source_id: String,
    pub name: String,
    pub detail: String,
}

/// What applying a plan did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// One outcome per planned group, in plan order: `None` for a group that needed no
    /// write, whose outcome follows from its action alone. The groups and those actions
    /// stay in the plan until [`Applied::into_outcomes`] moves them into the outcomes, so
    /// that no name or id is held twice.
    pub outcomes: Vec<Option<Outcome>>,
    /// The orphans reported or deleted.
    pub orphans: Vec<GroupOutcome>,
    /// The names the target refused with 400 in this run.
    pub refused: Vec<RefusedName>,
}

impl Applied {
    /// Each planned group with its outcome, in plan order, then the orphans.
    pub fn into_outcomes(self, plan: Plan) -> Vec<GroupOutcome> {
        let twins: Vec<(usize, usize, String)> = plan
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.action {
                Action::Twin { of, first } => Some((i, *first, of.clone())),
                _ => None,
            })
            .collect();
        // `Planned` and `GroupOutcome` have the same size, so this reuses the plan's
        // memory rather than holding a second list of 100,000 entries at once
        let mut all: Vec<GroupOutcome> = plan
            .items
            .into_iter()
            .zip(self.outcomes)
            .map(|(item, outcome)| GroupOutcome {
                outcome: outcome.unwrap_or_else(|| settled(item.action)),
                source_id: item.group.id,
                name: item.group.name,
                source_name: None,
            })
            .collect();
        // a case twin is settled by the first of its name
        for (i, first, of) in twins {
            all[i].outcome = twin(&all[i].name, &of, &all[first].outcome);
        }
        all.extend(self.orphans);
        all
    }
}

/// How many creates were not sent because the run's deadline had passed.
pub fn unsent_at_deadline(outcomes: &[GroupOutcome]) -> usize {
    outcomes
        .iter()
        .filter(
            |o| matches!(&o.outcome, Outcome::Failed { error } if error.contains(DEADLINE_PASSED)),
        )
        .count()
}

/// One outcome per planned group, in plan order. `on_done` is called after each create.
pub async fn apply(
    plan: &Plan,
    target: &scim::Client,
    opts: ApplyOptions,
    on_done: &(dyn Fn(usize) + Send + Sync),
) -> Vec<GroupOutcome> {
    apply_journaled(plan, target, opts, on_done, None)
        .await
        .into_outcomes(plan.clone())
}

/// As [`apply`], writing each create to `journal` as it happens, and with the names the
/// target refused.
pub async fn apply_journaled(
    plan: &Plan,
    target: &scim::Client,
    opts: ApplyOptions,
    on_done: &(dyn Fn(usize) + Send + Sync),
    journal: Option<&RunJournal>,
) -> Applied {
    let refused = std::sync::Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    // Indices rather than borrowed items keep the future `Send` (a closure taking a
    // reference runs into a compiler limitation on higher-ranked lifetimes).
    let one = |i: usize| {
        let (done, refused) = (&done, &refused);
        let item = &plan.items[i];
        async move {
            let writes = !opts.dry_run
                && matches!(
                    item.action,
                    Action::Create | Action::Adopt { .. } | Action::Rename { .. }
                );
            // Under the adaptive limit of writes in flight (a no-op when nothing is sent); a
            // create takes its slot only for the request, not for its journal writes.
            let _slot = if writes && item.action != Action::Create {
                target.create_slot().await
            } else {
                None
            };
            let outcome = match &item.action {
                Action::Create if opts.dry_run => Outcome::WouldCreate,
                Action::Create if past(opts.deadline) => Outcome::Failed {
                    error: DEADLINE_PASSED.into(),
                },
                Action::Adopt { scim_id, .. } | Action::Rename { scim_id, .. } if opts.dry_run => {
                    would(&item.action, scim_id)
                }
                Action::Adopt { .. } | Action::Rename { .. } if past(opts.deadline) => {
                    Outcome::Failed {
                        error: DEADLINE_PASSED.into(),
                    }
                }
                Action::Adopt {
                    scim_id,
                    external_id,
                } => {
                    let change = Change {
                        display_name: None,
                        external_id: Some(external_id),
                    };
                    match target.change_group(scim_id, change, opts.patch).await {
                        Ok(()) => {
                            run_log::group_adopted(&item.group.name, scim_id);
                            Outcome::Adopted {
                                scim_id: scim_id.clone(),
                            }
                        }
                        Err(e) => failed(&item.group, format!("adopting it failed: {e}")),
                    }
                }
                Action::Rename { scim_id, from } => {
                    let change = Change {
                        display_name: Some(&item.group.name),
                        external_id: None,
                    };
                    match target.change_group(scim_id, change, opts.patch).await {
                        Ok(()) => {
                            run_log::group_renamed(from, &item.group.name, scim_id);
                            Outcome::Renamed {
                                scim_id: scim_id.clone(),
                                from: from.clone(),
                            }
                        }
                        Err(e) => failed(
                            &item.group,
                            format!("renaming it from {from:?} failed: {e}"),
                        ),
                    }
                }
                Action::Create => {
                    if let Some(j) = journal {
                        j.posting(&item.group.name).await;
                    }
                    let slot = target.create_slot().await;
                    let (o, refusal) = create(target, &item.group, &opts).await;
                    drop(slot);
                    if let Some(detail) = refusal {
                        refused
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(RefusedName {
                                source_id: item.group.id.clone(),
                                name: item.group.name.clone(),
                                detail,
                            });
                    }
                    on_done(done.fetch_add(1, Ordering::Relaxed) + 1);
                    o
                }
                // settled from the action alone, once the plan is given up
                _ => return (i, None),
            };
            if let (Some(j), Outcome::Created { .. }) = (journal, &outcome) {
                let created = GroupOutcome {
                    source_id: item.group.id.clone(),
                    name: item.group.name.clone(),
                    source_name: None,
                    outcome: outcome.clone(),
                };
                j.created(i, &created).await;
            }
            (i, Some(outcome))
        }
    };
    // Unordered, so one slow create does not hold up the others; each lands in its slot,
    // and the slots become the outcomes in place (no second list of them).
    let mut slots: Vec<Option<Outcome>> = (0..plan.items.len()).map(|_| None).collect();
    let mut done_items = futures_util::stream::iter(0..plan.items.len())
        .map(one)
        .buffer_unordered(at_once(opts.concurrency, journal.is_some()));
    while let Some((i, outcome)) = done_items.next().await {
        slots[i] = outcome;
    }
    drop(done_items);
    let outcomes = slots;
    let mut orphans = vec![];
    for orphan in &plan.orphans {
        if let Some(outcome) = orphan_outcome(orphan, target, &opts).await {
            orphans.push(outcome);
        }
    }
    let mut refused = refused.into_inner().unwrap_or_else(|p| p.into_inner());
    refused.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    Applied {
        outcomes,
        orphans,
        refused,
    }
}

/// Groups worked on at once: `concurrency`, or twice that with a journal, so that while
/// some groups' requests are out others write their journal entries (the requests in flight
/// stay under the client's limit of creates, [`scim::Client::create_slot`]).
fn at_once(concurrency: usize, journaled: bool) -> usize {
    concurrency.max(1) * if journaled { 2 } else { 1 }
}

/// What a dry run says of an adoption or a rename.
fn would(action: &Action, scim_id: &str) -> Outcome {
    let scim_id = scim_id.to_owned();
    match action {
        Action::Rename { from, .. } => Outcome::WouldRename {
            scim_id,
            from: from.clone(),
        },
        _ => Outcome::WouldAdopt { scim_id },
    }
}

/// An orphan reported, or deleted (one at a time: there are few, and each is a loss).
/// Orphans that are no longer ours, or could not be checked, have no outcome.
async fn orphan_outcome(
    orphan: &PlannedOrphan,
    target: &scim::Client,
    opts: &ApplyOptions,
) -> Option<GroupOutcome> {
    let scim_id = orphan.group.scim_id.clone();
    let outcome = match &orphan.action {
        OrphanAction::Report => Outcome::Orphan { scim_id },
        OrphanAction::Delete if opts.dry_run => Outcome::WouldDelete { scim_id },
        OrphanAction::Delete if past(opts.deadline) => Outcome::Failed {
            error: DEADLINE_PASSED.into(),
        },
        OrphanAction::Delete => match target.delete_group(&scim_id).await {
            Ok(()) => {
                run_log::group_deleted(&orphan.name, &scim_id);
                Outcome::Deleted { scim_id }
            }
            Err(e) => {
                run_log::group_failed(&orphan.name, &e.to_string());
                Outcome::Failed {
                    error: format!("deleting this orphan failed: {e}"),
                }
            }
        },
        OrphanAction::Forget | OrphanAction::Unchecked(_) => return None,
    };
    Some(GroupOutcome {
        source_id: orphan.group.external_id.clone(),
        name: orphan.name.clone(),
        source_name: None,
        outcome,
    })
}

/// A case twin's outcome, from that of the first group of its name (`of`): found existing
/// under that name. In a dry run, where the first is only to be created, it has no id yet.
fn twin(name: &str, of: &str, first: &Outcome) -> Outcome {
    match first {
        Outcome::Created { scim_id }
        | Outcome::Existed { scim_id }
        | Outcome::Adopted { scim_id }
        | Outcome::WouldAdopt { scim_id }
        | Outcome::Renamed { scim_id, .. }
        | Outcome::WouldRename { scim_id, .. }
        | Outcome::Orphan { scim_id }
        | Outcome::WouldDelete { scim_id }
        | Outcome::Deleted { scim_id } => {
            run_log::group_existed_as(name, of);
            Outcome::Existed {
                scim_id: scim_id.clone(),
            }
        }
        Outcome::WouldCreate => Outcome::Existed {
            scim_id: String::new(),
        },
        Outcome::Skipped { reason } => Outcome::Skipped {
            reason: reason.clone(),
        },
        Outcome::Failed { error } => failed_named(
            name,
            format!("its name matches {of:?} ignoring case, which was not created: {error}"),
        ),
    }
}

/// Whether `deadline` has passed.
pub fn past(deadline: Option<tokio::time::Instant>) -> bool {
    deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
}

/// The outcome of an action that needs no write (its ids and names move into it).
fn settled(action: Action) -> Outcome {
    match action {
        Action::Exists { scim_id, .. } => Outcome::Existed { scim_id },
        Action::Skip(reason) => Outcome::Skipped { reason },
        Action::LookupFailed(e) => Outcome::Failed {
            error: format!("looking the group up in the target failed: {e}"),
        },
        Action::StillRefused(detail) => Outcome::Failed {
            error: format!(
                "still refused: the target refused this name in an earlier run ({detail}); \
                 it is sent again once the name changes"
            ),
        },
        Action::ReportRename { scim_id, from } => Outcome::WouldRename { scim_id, from },
        // Settled from the first of its name once that one is (see `twin`).
        Action::Twin { .. } => Outcome::WouldCreate,
        Action::Create | Action::Adopt { .. } | Action::Rename { .. } => {
            unreachable!("writes are applied, not settled")
        }
    }
}

/// Why one attempt at a create did not settle the group.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    /// The POST failed; retried (after a lookup) when its outcome is unknown.
    #[error("{0}")]
    Post(ScimError),
    /// Before posting again, the lookup failed: whether the group exists is unknown, so
    /// nothing is sent again.
    #[error(
        "create failed ({post}) and the follow-up lookup failed too ({lookup}); the group may or may not exist"
    )]
    Lookup { post: String, lookup: ScimError },
    /// The run's deadline passed before this attempt: nothing more is sent.
    #[error("create failed ({post}); {DEADLINE_PASSED}")]
    Deadline { post: String },
}

impl Classify for AttemptError {
    fn disposition(&self) -> Disposition {
        match self {
            AttemptError::Post(e) => e.disposition(),
            AttemptError::Lookup { .. } | AttemptError::Deadline { .. } => Disposition::GiveUp,
        }
    }

    fn reason(&self) -> String {
        match self {
            AttemptError::Post(e) => e.reason(),
            AttemptError::Lookup { lookup, .. } => lookup.reason(),
            AttemptError::Deadline { .. } => "deadline".to_owned(),
        }
    }
}

/// What an attempt learnt: the group is in the target, under this id.
enum Landed {
    Created(String),
    AlreadyExists,
}

/// Posts the group, retrying with the crate's [`RetryPolicy`] (jittered back-off,
/// `Retry-After` honoured up to its cap). Every attempt after the first looks the group up
/// before posting: the earlier POST may have reached the target. The second value is the
/// target's detail when it refused the name (400).
async fn create(
    target: &scim::Client,
    group: &SourceGroup,
    opts: &ApplyOptions,
) -> (Outcome, Option<String>) {
    let attempts = AtomicUsize::new(0);
    let last_post = std::sync::Mutex::new(String::new());
    let attempt = || async {
        if attempts.fetch_add(1, Ordering::Relaxed) > 0 {
            let post = last_post.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if past(opts.deadline) {
                return Err(AttemptError::Deadline { post });
            }
            match target.find_by_display_name(&group.name).await {
                Ok(found) if !found.is_empty() => return Ok(Landed::Created(found[0].id.clone())),
                Ok(_) => {}
                Err(lookup) => return Err(AttemptError::Lookup { post, lookup }),
            }
        }
        match target.create_group(&group.name, Some(&group.id)).await {
            Ok(CreateOutcome::Created(t)) => Ok(Landed::Created(t.id)),
            Ok(CreateOutcome::AlreadyExists) => Ok(Landed::AlreadyExists),
            Err(e) => {
                *last_post.lock().unwrap_or_else(|p| p.into_inner()) = e.to_string();
                Err(AttemptError::Post(e))
            }
        }
    };
    let operation = Operation::new("SCIM target", format!("create {:?}", group.name));
    let outcome = match retry(&opts.retry, &operation, attempt).await {
        Ok(Landed::Created(id)) => {
            run_log::group_created(&group.name, &id);
            Outcome::Created { scim_id: id }
        }
        Ok(Landed::AlreadyExists) => existing(target, group).await,
        Err(e) if matches!(e.disposition(), Disposition::RetryLater { .. }) => {
            let n = attempts.load(Ordering::Relaxed);
            let plural = if n == 1 { "" } else { "s" };
            failed(group, format!("{e} (gave up after {n} attempt{plural})"))
        }
        Err(AttemptError::Post(e @ ScimError::Rejected { status: 400, .. })) => {
            let detail = e.to_string();
            return (failed(group, detail.clone()), Some(detail));
        }
        Err(e) => failed(group, e.to_string()),
    };
    (outcome, None)
}

/// The target said "already exists" (409): learn the id of the group it meant.
async fn existing(target: &scim::Client, group: &SourceGroup) -> Outcome {
    match target.find_by_display_name(&group.name).await {
        Ok(found) if !found.is_empty() => Outcome::Existed {
            scim_id: found[0].id.clone(),
        },
        Ok(_) => failed(
            group,
            "the target answered that the group already exists, but no group of that name can be found".into(),
        ),
        Err(e) => failed(group, format!("the target answered that the group already exists; looking it up failed: {e}")),
    }
}

fn failed(group: &SourceGroup, error: String) -> Outcome {
    failed_named(&group.name, error)
}

fn failed_named(name: &str, error: String) -> Outcome {
    run_log::group_failed(name, &error);
    Outcome::Failed { error }
}
