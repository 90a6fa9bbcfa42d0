//! Each group's last recorded outcome (`known_groups`), keyed by the job and the group's
//! entitlement id (an orphan's `externalId`, which is the same). A group found existing as the last run that
//! recorded it found it (same name, same target group) is *unchanged*: the run counts it
//! and keeps no row for it, so that a run over a large source that changes little writes
//! little. Everything else is kept: created, failed, skipped, adopted, renamed, orphan and
//! deleted groups, and a group found existing for the first time or after another outcome.
//! Dry runs read this table but do not change it.
//!
//! Rows outlive runs, so a group gone from the source would keep its row for ever: a run
//! that succeeded, having read the whole source, forgets the groups of its job it did not
//! meet ([`forget_unmet`]).

use super::runs::columns;
use crate::report::{GroupOutcome, Outcome};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// Whether `o` is a group `job` found existing as it was last recorded.
pub(super) fn unchanged(conn: &Connection, job: &str, o: &GroupOutcome) -> rusqlite::Result<bool> {
    let Outcome::Existed { scim_id } = &o.outcome else {
        return Ok(false);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM known_groups \
         WHERE job = ?4 AND source_id = ?1 AND outcome = 'existed' AND name = ?2 \
         AND scim_id = ?3",
    )?;
    Ok(stmt
        .query_row(params![o.source_id, o.name, scim_id, job], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Remembers `o` as its group's last outcome in `job` (recorded by `run_id`).
pub(super) fn remember(
    conn: &Connection,
    job: &str,
    run_id: &str,
    o: &GroupOutcome,
) -> rusqlite::Result<()> {
    let (kind, scim_id, _, _) = columns(&o.outcome);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO known_groups (source_id, name, outcome, scim_id, run_id, job) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (job, source_id) DO UPDATE SET name = excluded.name, \
         outcome = excluded.outcome, scim_id = excluded.scim_id, run_id = excluded.run_id",
    )?;
    stmt.execute(params![o.source_id, o.name, kind, scim_id, run_id, job])?;
    Ok(())
}

/// Forgets the groups of `job` that none of `outcomes` names: those of a whole run (every
/// group it read, and the orphans it found), so what is left is what the source still
/// holds. Returns how many were forgotten.
pub(super) fn forget_unmet(
    conn: &Connection,
    job: &str,
    outcomes: &[GroupOutcome],
) -> rusqlite::Result<usize> {
    let met: HashSet<&str> = outcomes.iter().map(|o| o.source_id.as_str()).collect();
    let unmet: Vec<String> = {
        let mut stmt = conn.prepare_cached("SELECT source_id FROM known_groups WHERE job = ?1")?;
        let ids = stmt.query_map([job], |r| r.get::<_, String>(0))?;
        let mut unmet = Vec::new();
        for id in ids {
            let id = id?;
            if !met.contains(id.as_str()) {
                unmet.push(id);
            }
        }
        unmet
    };
    let mut delete =
        conn.prepare_cached("DELETE FROM known_groups WHERE job = ?1 AND source_id = ?2")?;
    for id in &unmet {
        delete.execute(params![job, id])?;
    }
    Ok(unmet.len())
}
