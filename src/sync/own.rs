//! What groupsync owns: the ownership rules from the settings, the orphan check before the
//! plan is applied, and the store's record of its groups after.
//!
//! A group is groupsync's own when it carries a source group's external key as its
//! `externalId` (see [`plan`]). The store remembers each with its SCIM id, so that a group
//! whose AD group is gone can be found again (`GET /Groups/{id}`) and checked: only one
//! still carrying our `externalId` is an orphan. Each successful run that finds an orphan's
//! AD group gone counts once; deletion waits for the second.

use super::apply::Applied;
use super::plan::{self, Action, Checked, OrphanAction, Ownership, Plan, PlannedOrphan};
use super::{RunError, Syncer};
use crate::config::ExternalId;
use crate::domain::{ManagedGroup, SourceGroup};
use crate::report::{Outcome, RunReport, RunStatus};
use crate::retry::{Classify, Disposition};
use crate::telemetry::run_log;
use futures_util::StreamExt;

impl Syncer {
    /// The ownership rules of `[sync]` and `[safety]`.
    pub(super) fn ownership(&self) -> Ownership {
        let s = &self.settings;
        Ownership {
            external_id: s.sync.external_id,
            adopt: s.sync.adopt,
            rename: s.sync.rename,
            delete_orphans: s.sync.delete_orphans,
            max_deletes: s.safety.max_deletes_per_run,
        }
    }

    /// The orphans: the groups groupsync owns whose AD group is not among `groups`, each
    /// checked in the target. Refused credentials stop the run; another failure leaves that
    /// group unchecked (nothing is done to it this run).
    pub(super) async fn check_orphans<'g>(
        &self,
        groups: impl IntoIterator<Item = &'g SourceGroup>,
        own: Ownership,
    ) -> Result<Vec<PlannedOrphan>, RunError> {
        let job = self.settings.job.clone();
        let managed = self.store.call(move |s| s.managed_groups_of(&job)).await?;
        let candidates = plan::orphan_candidates(groups, &managed, own.external_id);
        let asks: Vec<(String, String)> = candidates
            .iter()
            .map(|m| (m.external_id.clone(), m.scim_id.clone()))
            .collect();
        let mut answers = futures_util::stream::iter(asks)
            .map(|(key, id)| async move {
                let _slot = self.target.lookup_slot().await;
                (key, self.target.get_group(&id).await)
            })
            .buffer_unordered(self.settings.sync.lookup_concurrency);
        let mut checked = Checked::new();
        while let Some((key, answer)) = answers.next().await {
            let answer = match answer {
                Err(e) if e.disposition() == Disposition::Reauthenticate => {
                    return Err(RunError::TargetCredentials(e));
                }
                other => other.map_err(|e| e.to_string()),
            };
            checked.insert(key, answer);
        }
        let orphans = plan::orphans(&candidates, &checked, own);
        for o in &orphans {
            if let OrphanAction::Unchecked(why) = &o.action {
                run_log::orphan_unchecked(&o.name, why);
            }
        }
        Ok(orphans)
    }

    /// Writes what the run learnt about the groups it owns (a run that writes, once it
    /// applied its plan).
    pub(super) async fn record_ownership(&self, plan: &Plan, applied: &Applied) {
        let (kept, forgotten) = ownership_after(plan, applied, self.settings.sync.external_id);
        let job = self.settings.job.clone();
        if let Err(e) = self
            .store
            .call(move |s| s.record_managed_of(&job, &kept, &forgotten, &[]))
            .await
        {
            run_log::store_failed("record the groups groupsync owns", &e.to_string());
        }
    }

    /// A successful run found these orphans' AD groups gone: one more run in a row.
    pub(super) async fn count_missing(&self, report: &RunReport) {
        if report.dry_run || report.status() != RunStatus::Succeeded {
            return;
        }
        let missing: Vec<String> = report
            .outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Orphan { .. }))
            .map(|o| o.source_id.clone())
            .collect();
        if missing.is_empty() {
            return;
        }
        let job = self.settings.job.clone();
        if let Err(e) = self
            .store
            .call(move |s| s.record_managed_of(&job, &[], &[], &missing))
            .await
        {
            run_log::store_failed("count the orphans' missing runs", &e.to_string());
        }
    }
}

/// The groups groupsync owns after applying `plan` (created, found carrying our
/// externalId, adopted, renamed or still to be renamed), and the external keys it no
/// longer owns (deleted, gone from the target, or carrying another externalId now).
pub fn ownership_after(
    plan: &Plan,
    applied: &Applied,
    mode: ExternalId,
) -> (Vec<ManagedGroup>, Vec<String>) {
    let kept = plan
        .items
        .iter()
        .zip(&applied.outcomes)
        .filter_map(|(item, outcome)| {
            let (scim_id, name) = match (&item.action, outcome) {
                (_, Some(Outcome::Created { scim_id }))
                | (
                    Action::Exists {
                        managed: true,
                        scim_id,
                        ..
                    },
                    None,
                )
                | (_, Some(Outcome::Adopted { scim_id }))
                | (_, Some(Outcome::Renamed { scim_id, .. })) => (scim_id, &item.group.name),
                (_, Some(Outcome::WouldRename { scim_id, from }))
                | (Action::ReportRename { scim_id, from }, None) => (scim_id, from),
                _ => return None,
            };
            Some(ManagedGroup {
                external_id: plan::external_key(&item.group, mode).to_owned(),
                scim_id: scim_id.clone(),
                name: name.clone(),
                missing_runs: 0,
            })
        })
        .collect();
    let deleted = applied
        .orphans
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Deleted { .. }))
        .map(|o| o.source_id.clone());
    let forgotten = plan
        .orphans
        .iter()
        .filter(|o| o.action == OrphanAction::Forget)
        .map(|o| o.group.external_id.clone())
        .chain(deleted)
        .collect();
    (kept, forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::GroupOutcome;
    use crate::sync::plan::Planned;

    fn item(name: &str, action: Action) -> Planned {
        Planned {
            group: SourceGroup {
                id: format!("id-{name}"),
                name: name.into(),
                value: format!("CN={name}"),
            },
            action,
        }
    }

    fn outcome(key: &str, name: &str, outcome: Outcome) -> GroupOutcome {
        GroupOutcome {
            source_id: key.into(),
            name: name.into(),
            source_name: None,
            outcome,
        }
    }

    #[test]
    fn what_groupsync_owns_after_a_run() {
        let s = |id: &str| id.to_string();
        let plan = Plan {
            items: vec![
                item("New", Action::Create),
                item(
                    "Mine",
                    Action::Exists {
                        scim_id: s("m"),
                        duplicates: 0,
                        managed: true,
                    },
                ),
                item(
                    "Theirs",
                    Action::Exists {
                        scim_id: s("t"),
                        duplicates: 0,
                        managed: false,
                    },
                ),
                item(
                    "Renamed",
                    Action::ReportRename {
                        scim_id: s("r"),
                        from: s("Old"),
                    },
                ),
            ],
            orphans: vec![PlannedOrphan {
                group: ManagedGroup {
                    external_id: s("gone"),
                    scim_id: s("g"),
                    name: s("G"),
                    missing_runs: 0,
                },
                name: s("G"),
                action: OrphanAction::Forget,
            }],
        };
        let applied = Applied {
            outcomes: vec![Some(Outcome::Created { scim_id: s("n") }), None, None, None],
            orphans: vec![outcome(
                "old",
                "Old one",
                Outcome::Deleted { scim_id: s("o") },
            )],
            refused: vec![],
        };
        let (kept, forgotten) = ownership_after(&plan, &applied, ExternalId::Value);
        let kept: Vec<(&str, &str, &str)> = kept
            .iter()
            .map(|m| (m.external_id.as_str(), m.scim_id.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("CN=New", "n", "New"),
                ("CN=Mine", "m", "Mine"),
                ("CN=Renamed", "r", "Old")
            ]
        );
        assert_eq!(forgotten, ["gone", "old"]);
    }
}
