//! The groups groupsync owns, keyed by the `externalId` it gave them: those it created,
//! adopted, renamed or found carrying their entitlement's `externalId`. A run reads them to
//! find its orphans (owned groups whose AD group is gone), and counts the successful runs
//! in a row that found each orphan's AD group gone: deletion waits for the second. Each job
//! (`[[jobs]]`) owns its own: one source synchronised into two targets owns a group in each.

use super::{Store, StoreError, ts};
use crate::domain::ManagedGroup;
use chrono::Utc;
use rusqlite::params;

impl Store {
    /// Every group the job `default` owns (the only job without `[[jobs]]`).
    pub fn managed_groups(&self) -> Result<Vec<ManagedGroup>, StoreError> {
        self.managed_groups_of(crate::config::DEFAULT_JOB)
    }

    /// Every group the job `job` owns.
    pub fn managed_groups_of(&self, job: &str) -> Result<Vec<ManagedGroup>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT external_id, scim_id, name, missing_runs FROM managed_groups \
                 WHERE job = ?1 ORDER BY external_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([job], |r| {
                Ok(ManagedGroup {
                    external_id: r.get(0)?,
                    scim_id: r.get(1)?,
                    name: r.get(2)?,
                    missing_runs: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Writes what a run found: `kept` are owned (their AD group exists; the count of
    /// missing runs restarts), `forgotten` no longer are (deleted, gone from the target,
    /// or carrying another `externalId` now). With `missing`, a successful run found
    /// these orphans' AD groups gone once more.
    pub fn record_managed(
        &self,
        kept: &[ManagedGroup],
        forgotten: &[String],
        missing: &[String],
    ) -> Result<(), StoreError> {
        self.record_managed_of(crate::config::DEFAULT_JOB, kept, forgotten, missing)
    }

    /// As [`Store::record_managed`], for the groups of the job `job`.
    pub fn record_managed_of(
        &self,
        job: &str,
        kept: &[ManagedGroup],
        forgotten: &[String],
        missing: &[String],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let write = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            let now = ts(Utc::now());
            for g in kept {
                tx.execute(
                    "INSERT INTO managed_groups (job, external_id, scim_id, name, missing_runs, seen_at) \
                     VALUES (?5, ?1, ?2, ?3, 0, ?4) ON CONFLICT(job, external_id) DO UPDATE SET \
                     scim_id = excluded.scim_id, name = excluded.name, missing_runs = 0, \
                     seen_at = excluded.seen_at",
                    params![g.external_id, g.scim_id, g.name, now, job],
                )?;
            }
            for id in forgotten {
                tx.execute(
                    "DELETE FROM managed_groups WHERE job = ?1 AND external_id = ?2",
                    [job, id],
                )?;
            }
            for id in missing {
                tx.execute(
                    "UPDATE managed_groups SET missing_runs = missing_runs + 1 \
                     WHERE job = ?1 AND external_id = ?2",
                    [job, id],
                )?;
            }
            tx.commit()
        };
        write(&mut conn).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(ext: &str) -> ManagedGroup {
        ManagedGroup {
            external_id: ext.into(),
            scim_id: format!("s-{ext}"),
            name: format!("G {ext}"),
            missing_runs: 0,
        }
    }

    #[test]
    fn missing_runs_count_up_and_restart_when_the_group_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .record_managed(&[group("a"), group("b")], &[], &[])
            .unwrap();
        store.record_managed(&[], &[], &["a".into()]).unwrap();
        store.record_managed(&[], &[], &["a".into()]).unwrap();
        let all = store.managed_groups().unwrap();
        assert_eq!(all[0].missing_runs, 2);
        assert_eq!(all[1].missing_runs, 0);
        store
            .record_managed(&[group("a")], &["b".into()], &[])
            .unwrap();
        assert_eq!(store.managed_groups().unwrap(), vec![group("a")]);
    }
}
