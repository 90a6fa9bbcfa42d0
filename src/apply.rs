//! The apply stage: carries out a [`Plan`] against the SCIM target.
//!
//! Creates run with bounded concurrency and come back in source order. A `POST` is never
//! re-sent blindly: when its outcome is unknown (timeout, reset, 5xx) the group is looked
//! up first, and only re-posted if it is still missing.

use crate::domain::SourceGroup;
use crate::plan::{Action, Plan};
use crate::report::{GroupOutcome, Outcome};
use crate::retry::{Classify, Disposition, RetryPolicy};
use crate::scim::{self, CreateOutcome};
use crate::telemetry::event;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub concurrency: usize,
    pub dry_run: bool,
    /// How often an unknown-outcome create may be attempted again (after a lookup).
    pub retry: RetryPolicy,
}

/// One outcome per planned group, in plan order. `on_done` is called after each create.
pub async fn apply(
    plan: &Plan,
    target: &scim::Client,
    opts: ApplyOptions,
    on_done: &(dyn Fn(usize) + Send + Sync),
) -> Vec<GroupOutcome> {
    let done = AtomicUsize::new(0);
    // Indices rather than borrowed items keep the future `Send` (a closure taking a
    // reference runs into a compiler limitation on higher-ranked lifetimes).
    let one = |i: usize| {
        let done = &done;
        let item = &plan.items[i];
        async move {
            let outcome = match &item.action {
                Action::Create if opts.dry_run => Outcome::WouldCreate,
                Action::Create => {
                    let o = create(target, &item.group, &opts.retry).await;
                    on_done(done.fetch_add(1, Ordering::Relaxed) + 1);
                    o
                }
                other => settled(other),
            };
            let outcome = GroupOutcome {
                source_id: item.group.id.clone(),
                name: item.group.name.clone(),
                outcome,
            };
            (i, outcome)
        }
    };
    // Unordered, so one slow create does not hold up the others; sorted back afterwards.
    let mut outcomes: Vec<(usize, GroupOutcome)> = futures_util::stream::iter(0..plan.items.len())
        .map(one)
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// The outcome of an action that needs no write.
fn settled(action: &Action) -> Outcome {
    match action {
        Action::Exists { scim_id, .. } => Outcome::Existed {
            scim_id: scim_id.clone(),
        },
        Action::Skip(reason) => Outcome::Skipped {
            reason: reason.clone(),
        },
        Action::LookupFailed(e) => Outcome::Failed {
            error: format!("looking the group up in the target failed: {e}"),
        },
        Action::Create => unreachable!("creates are applied, not settled"),
    }
}

async fn create(target: &scim::Client, group: &SourceGroup, policy: &RetryPolicy) -> Outcome {
    let mut attempt = 0;
    loop {
        let error = match target.create_group(&group.name, None).await {
            Ok(CreateOutcome::Created(t)) => {
                event::group_created(&group.name, &t.id);
                return Outcome::Created { scim_id: t.id };
            }
            Ok(CreateOutcome::AlreadyExists) => return existing(target, group).await,
            Err(e) => e,
        };
        let Disposition::RetryLater { after } = error.disposition() else {
            return failed(group, error.to_string());
        };
        if attempt >= policy.max_retries {
            return failed(
                group,
                format!("{error} (gave up after {} attempts)", attempt + 1),
            );
        }
        // The POST may or may not have reached the target: look before posting again.
        match target.find_by_display_name(&group.name).await {
            Ok(found) if !found.is_empty() => {
                event::group_created(&group.name, &found[0].id);
                return Outcome::Created {
                    scim_id: found[0].id.clone(),
                };
            }
            Ok(_) => {}
            Err(e) => {
                return failed(
                    group,
                    format!(
                        "create failed ({error}) and the follow-up lookup failed too ({e}); the group may or may not exist"
                    ),
                );
            }
        }
        tokio::time::sleep(after.unwrap_or_else(|| backoff(policy, attempt))).await;
        attempt += 1;
    }
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
    event::group_failed(&group.name, &error);
    Outcome::Failed { error }
}

fn backoff(policy: &RetryPolicy, attempt: usize) -> Duration {
    let factor = 1u32 << attempt.min(16);
    (policy.min_delay * factor).min(policy.max_delay)
}
