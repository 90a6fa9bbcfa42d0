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
                    .map_err(|e| not_names(row, &e))?;
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

/// The error of a row whose `names` are not a JSON array of texts.
fn not_names(row: &rusqlite::Row<'_>, e: &serde_json::Error) -> rusqlite::Error {
    let run_id: String = row.get(0).unwrap_or_default();
    let problem = format!("the names reported by run {run_id} are not a JSON array of texts: {e}");
    rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, problem.into())
}

/// The names of a row of `reported_batches`, at most: a row is read whole, and SQLite
/// allocates it at once (outside this program's allocator).
const NAMES_PER_ROW: usize = 1_000;

/// The names a run's notices report, as the JSON arrays they are kept as. Built straight
/// from the run's outcomes: at 100,000 groups, a list of copies of the names and then its
/// JSON held 8 MB at the record, the moment a large first run needs the most memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedNames {
    /// JSON arrays of up to [`NAMES_PER_ROW`] names each.
    parts: Vec<String>,
    len: usize,
}

impl ReportedNames {
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> ReportedNames {
        let mut parts = vec![];
        let mut part = Vec::new();
        let mut len = 0;
        for name in names {
            part.push(if len % NAMES_PER_ROW == 0 { b'[' } else { b',' });
            serde_json::to_writer(&mut part, name).expect("a text writes as JSON");
            len += 1;
            if len % NAMES_PER_ROW == 0 {
                parts.push(closed(std::mem::take(&mut part)));
            }
        }
        if !part.is_empty() {
            parts.push(closed(part));
        }
        ReportedNames { parts, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A part's JSON, closed.
fn closed(mut part: Vec<u8>) -> String {
    part.push(b']');
    String::from_utf8(part).expect("JSON is UTF-8")
}

/// Remembers `names` as reported by `run_id` of `job` (inside the caller's transaction): a
/// run's record is written once.
pub(super) fn mark(
    conn: &Connection,
    job: &str,
    run_id: &str,
    names: &ReportedNames,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO reported_batches (job, run_id, part, reported_at, names) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (part, json) in names.parts.iter().enumerate() {
        insert.execute(params![job, run_id, part as i64, ts(now), json])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(names: &ReportedNames) -> Vec<String> {
        let parts = names.parts.iter();
        parts
            .flat_map(|p| serde_json::from_str::<Vec<String>>(p).unwrap())
            .collect()
    }

    #[test]
    fn names_are_written_as_json_arrays_of_texts() {
        let names = ReportedNames::of(["Finance", "HR \"EU\"", "Équipe\\1"]);
        assert_eq!(names.len(), 3);
        assert_eq!(read(&names), ["Finance", "HR \"EU\"", "Équipe\\1"]);
        assert!(ReportedNames::of([]).is_empty());
        assert!(ReportedNames::of([]).parts.is_empty());
    }

    #[test]
    fn many_names_are_split_into_parts_of_at_most_a_thousand() {
        let all: Vec<String> = (0..2_500).map(|i| format!("G{i}")).collect();
        let names = ReportedNames::of(all.iter().map(String::as_str));
        assert_eq!(names.len(), 2_500);
        let sizes: Vec<usize> = names
            .parts
            .iter()
            .map(|p| serde_json::from_str::<Vec<String>>(p).unwrap().len())
            .collect();
        assert_eq!(sizes, [1_000, 1_000, 500]);
        assert_eq!(read(&names), all);
        let exactly = ReportedNames::of(all[..1_000].iter().map(String::as_str));
        assert_eq!(exactly.parts.len(), 1);
    }
}
