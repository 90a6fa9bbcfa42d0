//! The groups already reported in a notice, so that a group found existing is told about
//! once, not on every run. Keyed by the job and the folded name: that is how the target tells
//! groups apart, and each job has its own target and notices.

use super::{Store, StoreError, ts};
use crate::domain::fold_name;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use std::collections::HashSet;

impl Store {
    /// The folded names of every group `job` reported so far.
    pub fn reported_groups(&self, job: &str) -> Result<HashSet<String>, StoreError> {
        self.texts(
            "SELECT folded_name FROM reported_groups WHERE job = ?1",
            job,
        )
    }

    /// The first column of the rows of `sql` given `param`, as a set of texts.
    pub(super) fn texts(&self, sql: &str, param: &str) -> Result<HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([param], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// Remembers `names` as reported by `run_id` of `job` (inside the caller's transaction).
pub(super) fn mark(
    conn: &Connection,
    job: &str,
    run_id: &str,
    names: &[String],
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "INSERT OR IGNORE INTO reported_groups (job, folded_name, name, run_id, reported_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for name in names {
        stmt.execute(params![job, fold_name(name), name, run_id, ts(now)])?;
    }
    Ok(())
}
