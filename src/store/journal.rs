//! The journal of a run in progress, so that a run killed half-way leaves a trace.
//!
//! A run's row is written when it starts (status `running`). Before each POST the group is
//! written to `own_groups` as `posting`; once the target confirms it, its outcome is
//! written to the run and the group becomes `created`, in one small transaction. A later
//! run reads `own_groups` to know which groups found in the target are groupsync's own
//! (told about nobody). A run still `running` while no live process holds its lease is
//! marked `interrupted` by the next groupsync process that opens the store for a run.

use super::{Store, StoreError, lease, runs, ts};
use crate::domain::fold_name;
use crate::report::{ErrorKind, GroupOutcome};
use chrono::{DateTime, Utc};
use rusqlite::{Transaction, TransactionBehavior, params};
use std::collections::HashSet;

/// The status of a run whose row is written and whose end is not.
pub const RUNNING: &str = "running";
/// The status of a run whose process stopped before recording its end.
pub const INTERRUPTED: &str = "interrupted";

impl Store {
    /// Writes the row of a run that starts now (`run.status` should be [`RUNNING`]).
    pub fn begin_run(&self, run: &runs::RunRecord) -> Result<(), StoreError> {
        runs::put_run(&self.conn(), run).map_err(|e| self.err(e))
    }

    /// Notes, before posting it, that `run_id` is about to create `name` (a run's journal
    /// writes its entries together, [`Store::journal`]; this one alone is for tests).
    #[cfg(test)]
    pub fn journal_posting(
        &self,
        run_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let entry = JournalEntry::Posting {
            name: name.to_owned(),
        };
        self.journal(run_id, std::slice::from_ref(&entry), now)
    }

    /// Writes a create the target confirmed: the run's outcome at `position` (its place in
    /// the plan) and the group as groupsync's own (alone: for tests, as above).
    #[cfg(test)]
    pub fn journal_created(
        &self,
        run_id: &str,
        position: usize,
        outcome: &GroupOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let entry = JournalEntry::Created {
            position,
            outcome: outcome.clone(),
        };
        self.journal(run_id, std::slice::from_ref(&entry), now)
    }

    /// Writes `entries` in order, in one transaction: those of several groups whose
    /// creates are out at once are committed together (see `sync::apply`'s journal).
    pub fn journal(
        &self,
        run_id: &str,
        entries: &[JournalEntry],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let write = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for entry in entries {
                match entry {
                    JournalEntry::Posting { name } => posting(&tx, run_id, name, now)?,
                    JournalEntry::Created { position, outcome } => {
                        created(&tx, run_id, *position, outcome, now)?;
                    }
                }
            }
            tx.commit()
        };
        write(&mut conn).map_err(|e| self.err(e))
    }

    /// Writes outcomes the plan settled (groups found existing) at their positions, while
    /// the run's creates are still out: at 100,000 groups they are most of what a run
    /// records, and they need not wait for the creates. The run's record then skips them
    /// ([`super::Recording::settled`]). A group found as the last run found it is counted
    /// in the run's `groups_unchanged` rather than kept, as the record does.
    pub fn journal_settled(
        &self,
        run_id: &str,
        job: &str,
        settled: &[(usize, GroupOutcome)],
    ) -> Result<(), StoreError> {
        let at = runs::Written {
            run_id,
            job,
            remember: true,
        };
        let mut conn = self.conn();
        let write = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            runs::write_outcomes(&tx, &at, settled.iter().map(|(i, o)| (*i, o)))?;
            tx.commit()
        };
        write(&mut conn).map_err(|e| self.err(e))
    }

    /// The folded names of the groups `job` posted (confirmed or not): found in its
    /// target, they are its own.
    pub fn own_groups(&self, job: &str) -> Result<HashSet<String>, StoreError> {
        self.texts("SELECT folded_name FROM own_groups WHERE job = ?1", job)
    }

    /// Marks `interrupted` every run still `running` that no live process holds the lease
    /// for (judged at `now`, with `alive` telling whether a pid of this host exists), with
    /// what its journal says it did. Returns their ids.
    pub fn recover_interrupted(
        &self,
        now: DateTime<Utc>,
        alive: impl Fn(u32) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let me = lease::Claimant::this_process("");
        let live: Vec<String> = self
            .lease_holders()?
            .into_iter()
            .filter(|h| !lease::may_take(h, &me, now, lease::STALE_AFTER, &alive))
            .map(|h| h.run_id)
            .collect();
        let mut conn = self.conn();
        let write = |conn: &mut rusqlite::Connection| -> rusqlite::Result<Vec<String>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id FROM runs WHERE status = ?1")?;
                let rows = stmt.query_map([RUNNING], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()?
            };
            let ids: Vec<String> = ids.into_iter().filter(|id| !live.contains(id)).collect();
            for id in &ids {
                let created: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM run_groups WHERE run_id = ?1 AND outcome = 'created'",
                    [id],
                    |r| r.get(0),
                )?;
                let last: Option<String> = tx.query_row(
                    "SELECT MAX(at) FROM own_groups WHERE run_id = ?1",
                    [id],
                    |r| r.get(0),
                )?;
                let error = format!(
                    "the run stopped before it finished (its process was killed or its machine stopped); \
                     {created} group(s) it created are recorded, and the next run looks the rest up again"
                );
                tx.execute(
                    "UPDATE runs SET status = ?2, finished_at = MAX(started_at, COALESCE(?3, started_at)), \
                     error = ?4, error_kind = ?5, groups_created = ?6 WHERE id = ?1",
                    params![
                        id,
                        INTERRUPTED,
                        last,
                        error,
                        ErrorKind::Interrupted.as_str(),
                        created
                    ],
                )?;
            }
            tx.commit()?;
            Ok(ids)
        };
        write(&mut conn).map_err(|e| self.err(e))
    }
}

/// One write of a run's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// `name` is about to be posted.
    Posting { name: String },
    /// The target confirmed the create of the group at `position` in the plan.
    Created {
        position: usize,
        outcome: GroupOutcome,
    },
}

fn posting(
    tx: &Transaction<'_>,
    run_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO own_groups (job, folded_name, name, run_id, state, at) \
         VALUES (COALESCE((SELECT job FROM runs WHERE id = ?3), 'default'), \
         ?1, ?2, ?3, 'posting', ?4)",
    )?
    .execute(params![fold_name(name), name, run_id, ts(now)])
    .map(|_| ())
}

fn created(
    tx: &Transaction<'_>,
    run_id: &str,
    position: usize,
    outcome: &GroupOutcome,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    runs::insert_outcome(tx, run_id, position, outcome)?;
    tx.prepare_cached("UPDATE runs SET groups_created = groups_created + 1 WHERE id = ?1")?
        .execute([run_id])?;
    let scim_id = match &outcome.outcome {
        crate::report::Outcome::Created { scim_id } => Some(scim_id.as_str()),
        _ => None,
    };
    tx.prepare_cached(
        "INSERT INTO own_groups (job, folded_name, name, run_id, state, scim_id, at) \
         VALUES (COALESCE((SELECT job FROM runs WHERE id = ?3), 'default'), \
         ?1, ?2, ?3, 'created', ?4, ?5) ON CONFLICT(job, folded_name) DO UPDATE \
         SET state = 'created', scim_id = excluded.scim_id, at = excluded.at",
    )?
    .execute(params![
        fold_name(&outcome.name),
        outcome.name,
        run_id,
        scim_id,
        ts(now)
    ])
    .map(|_| ())
}
