//! The groups already reported in a notice, so that a group found existing is told about
//! once, not on every run. Kept per job, as the names each run reported (see migration 14),
//! and compared folded: that is how the target tells groups apart, and each job has its own
//! target and notices.

use super::{Store, StoreError, ts};
use crate::domain::fold_name;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use std::collections::HashSet;

impl Store {
    /// The folded names of every group `job` reported so far.
    pub fn reported_groups(&self, job: &str) -> Result<HashSet<String>, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<HashSet<String>> {
            let mut stmt =
                conn.prepare("SELECT run_id, names FROM reported_batches WHERE job = ?1")?;
            let mut rows = stmt.query([job])?;
            let mut folded = HashSet::new();
            while let Some(row) = rows.next()? {
                let names: Vec<String> = serde_json::from_str(row.get_ref(1)?.as_str()?)
                    .map_err(|e| {
                        let run_id: String = row.get(0).unwrap_or_default();
                        rusqlite::Error::FromSqlConversionFailure(
                            1,
                            rusqlite::types::Type::Text,
                            format!("the names reported by run {run_id} are not a JSON array of texts: {e}").into(),
                        )
                    })?;
                folded.extend(names.iter().map(|n| fold_name(n)));
            }
            Ok(folded)
        };
        read().map_err(|e| self.err(e))
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

/// Remembers `names` as reported by `run_id` of `job` (inside the caller's transaction), as
/// one row: a run's record is written once.
pub(super) fn mark(
    conn: &Connection,
    job: &str,
    run_id: &str,
    names: &[String],
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let names = serde_json::to_string(names)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    conn.execute(
        "INSERT INTO reported_batches (job, run_id, reported_at, names) VALUES (?1, ?2, ?3, ?4)",
        params![job, run_id, ts(now), names],
    )?;
    Ok(())
}
