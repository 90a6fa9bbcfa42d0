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

/// The names a run's notices report, as the JSON array they are kept as. Built straight
/// from the run's outcomes: at 100,000 groups, a list of copies of the names and then its
/// JSON held 8 MB at the record, the moment a large first run needs the most memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedNames {
    json: String,
    len: usize,
}

impl ReportedNames {
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> ReportedNames {
        let mut json = Vec::from(*b"[");
        let mut len = 0;
        for name in names {
            if len > 0 {
                json.push(b',');
            }
            serde_json::to_writer(&mut json, name).expect("a text writes as JSON");
            len += 1;
        }
        json.push(b']');
        let json = String::from_utf8(json).expect("JSON is UTF-8");
        ReportedNames { json, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Remembers `names` as reported by `run_id` of `job` (inside the caller's transaction), as
/// one row: a run's record is written once.
pub(super) fn mark(
    conn: &Connection,
    job: &str,
    run_id: &str,
    names: &ReportedNames,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO reported_batches (job, run_id, reported_at, names) VALUES (?1, ?2, ?3, ?4)",
        params![job, run_id, ts(now), names.json],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_as_a_json_array_of_texts() {
        let names = ReportedNames::of(["Finance", "HR \"EU\"", "Équipe\\1"]);
        assert_eq!(names.len(), 3);
        let back: Vec<String> = serde_json::from_str(&names.json).unwrap();
        assert_eq!(back, ["Finance", "HR \"EU\"", "Équipe\\1"]);
        assert!(ReportedNames::of([]).is_empty());
        assert_eq!(ReportedNames::of([]).json, "[]");
    }
}
