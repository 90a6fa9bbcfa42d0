//! Recording what the plan settled while the creates are out.
//!
//! Most of a first run's record is the groups it found existing: at 10,000 groups with
//! 9,000 in the target, writing them took longer than 40 creates. Their outcomes are final
//! once the plan is made, so they are written while the creates' requests wait for the
//! target, in small transactions between the creates' own journal entries. The run's
//! record then writes only the rest. A run killed meanwhile keeps them, as it keeps its
//! creates.

use super::apply::RunJournal;
use super::plan::{Action, Plan};
use super::scope::Scoped;
use crate::report::{GroupOutcome, Outcome};
use crate::telemetry::run_log;

/// Outcomes per transaction: a create's journal entry waits for at most one of them (about
/// a millisecond), and 100,000 groups still take few commits.
const CHUNK: usize = 128;

impl RunJournal {
    /// Writes the outcome of every group the plan found existing, and notes their
    /// positions for the record. A store error stops it: the record writes the rest.
    pub async fn settle(&self, plan: &Plan, scoped: &Scoped) {
        let mut settled = vec![false; plan.items.len()];
        let mut chunk = Vec::with_capacity(CHUNK);
        for (i, item) in plan.items.iter().enumerate() {
            let Action::Exists { scim_id, .. } = &item.action else {
                continue;
            };
            chunk.push((
                i,
                GroupOutcome {
                    source_id: item.group.id.clone(),
                    name: item.group.name.clone(),
                    source_name: scoped
                        .source_name(&item.group.id, &item.group.name)
                        .map(str::to_owned),
                    outcome: Outcome::Existed {
                        scim_id: scim_id.clone(),
                    },
                },
            ));
            if chunk.len() == CHUNK && !self.write(&mut chunk, &mut settled).await {
                break;
            }
        }
        if !chunk.is_empty() {
            self.write(&mut chunk, &mut settled).await;
        }
        *self.settled.lock().unwrap_or_else(|p| p.into_inner()) = settled;
    }

    /// The positions [`RunJournal::settle`] wrote, for the record (empty before it ran).
    pub fn take_settled(&self) -> Vec<bool> {
        std::mem::take(&mut *self.settled.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Writes `chunk` (emptied) and marks its positions settled; false if the store failed.
    async fn write(&self, chunk: &mut Vec<(usize, GroupOutcome)>, settled: &mut [bool]) -> bool {
        let outcomes = std::mem::replace(chunk, Vec::with_capacity(CHUNK));
        let positions: Vec<usize> = outcomes.iter().map(|(i, _)| *i).collect();
        let (run_id, job) = (self.run_id.clone(), self.job.clone());
        let written = self
            .store
            .call(move |s| s.journal_settled(&run_id, &job, &outcomes))
            .await;
        match written {
            Ok(()) => {
                positions.into_iter().for_each(|i| settled[i] = true);
                true
            }
            Err(e) => {
                run_log::store_failed("record the groups found existing", &e.to_string());
                false
            }
        }
    }
}
