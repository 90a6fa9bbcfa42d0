//! Versioned schema migrations, applied in order at open. Each entry moves the schema from
//! version `i` to `i + 1`; a store newer than the code is refused rather than damaged.

use super::StoreError;
use rusqlite::Connection;

/// Append only: never edit a migration that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: trigger state
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 2: execution history, the notice outbox, the groups already reported
    HISTORY,
    // 3: the kind of error that stopped a run (`source_unreadable`, …); NULL for runs
    // recorded before, which read back as `unknown`
    "ALTER TABLE runs ADD COLUMN error_kind TEXT;",
    // 4: the guards read the last successful run of a source
    "CREATE INDEX runs_by_source_status ON runs (source_id, status, started_at);",
    // 5: the run lease (one run at a time per store, across processes) and the journal of
    // the groups groupsync posted, written before each POST
    LEASE_AND_JOURNAL,
    // 6: names the target refused (400), not sent again until the entitlement's name changes
    "CREATE TABLE refused_names (
        source_id TEXT NOT NULL,
        name TEXT NOT NULL,
        detail TEXT NOT NULL,
        refused_at TEXT NOT NULL,
        PRIMARY KEY (source_id, name)
    );",
    // 7: the source name of a group the name template renamed (`name` is the one sent)
    "ALTER TABLE run_groups ADD COLUMN source_name TEXT;",
    // 8: the run's close-the-loop step (the aggregation of the Alation SCIM source), as
    // JSON; NULL when the run had none
    "ALTER TABLE runs ADD COLUMN close_loop TEXT;",
    // 9: the groups groupsync owns (by externalId), how many successful runs in a row
    // found their AD group gone, and the counts of adopted, renamed and orphan groups
    OWNERSHIP,
    // 10: the stage a failed run stopped in (source, plan, guards, apply, record, notify)
    "ALTER TABLE runs ADD COLUMN stage TEXT;",
    // 11: the job of each run (`[[jobs]]`; `default` for the runs before), one run lease
    // per job instead of one per store, and the groups owned per job (one source may go
    // into two targets)
    JOBS,
    // 12: the groups told about and the groups posted, per job (two jobs may hold the
    // same name in two targets)
    PER_JOB_MEMORY,
    // 13: each group's last recorded outcome, so that a group found existing as it was in
    // the run before is counted, not written again; how many a run left out that way
    KNOWN_GROUPS,
    // 14: the names a run's notices reported, in rows of up to 1,000 instead of one per name
    REPORTED_BATCHES,
];

/// A first run tells of every group it found existing, 9,000 of 10,000 at once: as rows,
/// with their index, those names were a third of what the run's record wrote. As JSON
/// arrays of up to 1,000 names each (about 30 KB: a single array of 100,000 names made
/// SQLite allocate 3 MB at once to read it, and the daemon's memory grew with each run), they
/// are a tenth of it. The names read back folded, as before.
const REPORTED_BATCHES: &str = "
CREATE TABLE reported_batches (
    job TEXT NOT NULL,
    run_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    reported_at TEXT NOT NULL,
    -- a JSON array of up to 1,000 names, as the notices wrote them
    names TEXT NOT NULL,
    PRIMARY KEY (job, run_id, part)
);
INSERT INTO reported_batches (job, run_id, part, reported_at, names)
    SELECT job, run_id, part, MIN(reported_at), json_group_array(name)
    FROM (
        SELECT job, run_id, name, reported_at,
            (ROW_NUMBER() OVER (PARTITION BY job, run_id ORDER BY folded_name) - 1) / 1000 AS part
        FROM reported_groups
    )
    GROUP BY job, run_id, part;
DROP TABLE reported_groups;
";

/// The runs of before were the one job's, and so was a lease held while migrating.
const JOBS: &str = "
ALTER TABLE runs ADD COLUMN job TEXT NOT NULL DEFAULT 'default';
CREATE INDEX runs_by_job_source_status ON runs (job, source_id, status, started_at);
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    since TEXT NOT NULL,
    heartbeat TEXT NOT NULL
);
INSERT INTO job_leases (job, host, pid, run_id, since, heartbeat)
    SELECT 'default', host, pid, run_id, since, heartbeat FROM lease;
DROP TABLE lease;
CREATE TABLE managed_groups_of_jobs (
    job TEXT NOT NULL,
    external_id TEXT NOT NULL,
    scim_id TEXT NOT NULL,
    name TEXT NOT NULL,
    missing_runs INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (job, external_id)
);
INSERT INTO managed_groups_of_jobs (job, external_id, scim_id, name, missing_runs, seen_at)
    SELECT 'default', external_id, scim_id, name, missing_runs, seen_at FROM managed_groups;
DROP TABLE managed_groups;
ALTER TABLE managed_groups_of_jobs RENAME TO managed_groups;
";

/// Rebuilt with the job in their keys; what was there is the `default` job's.
const PER_JOB_MEMORY: &str = "
CREATE TABLE own_groups_of_jobs (
    job TEXT NOT NULL,
    folded_name TEXT NOT NULL,
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    scim_id TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (job, folded_name)
);
INSERT INTO own_groups_of_jobs (job, folded_name, name, run_id, state, scim_id, at)
    SELECT 'default', folded_name, name, run_id, state, scim_id, at FROM own_groups;
DROP TABLE own_groups;
ALTER TABLE own_groups_of_jobs RENAME TO own_groups;
CREATE TABLE reported_groups_of_jobs (
    job TEXT NOT NULL,
    folded_name TEXT NOT NULL,
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    PRIMARY KEY (job, folded_name)
);
INSERT INTO reported_groups_of_jobs (job, folded_name, name, run_id, reported_at)
    SELECT 'default', folded_name, name, run_id, reported_at FROM reported_groups;
DROP TABLE reported_groups;
ALTER TABLE reported_groups_of_jobs RENAME TO reported_groups;
";

/// `known_groups` outlives runs (retention does not prune it): one row per group and job.
const KNOWN_GROUPS: &str = "
CREATE TABLE known_groups (
    job TEXT NOT NULL,
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    scim_id TEXT,
    run_id TEXT NOT NULL,
    PRIMARY KEY (job, source_id)
);
ALTER TABLE runs ADD COLUMN groups_unchanged INTEGER NOT NULL DEFAULT 0;
";

/// `managed_groups` outlives runs (retention does not prune it).
const OWNERSHIP: &str = "
CREATE TABLE managed_groups (
    external_id TEXT PRIMARY KEY,
    scim_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- successful runs in a row that found the AD group gone; reset when it is back
    missing_runs INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL
);
ALTER TABLE runs ADD COLUMN groups_adopted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN groups_would_adopt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN groups_renamed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN groups_would_rename INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN groups_orphans INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN groups_would_delete INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN groups_deleted INTEGER NOT NULL DEFAULT 0;
";

/// One row at most in `lease`; `own_groups` outlives runs (retention does not prune it).
const LEASE_AND_JOURNAL: &str = "
CREATE TABLE lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    since TEXT NOT NULL,
    heartbeat TEXT NOT NULL
);
CREATE TABLE own_groups (
    folded_name TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    -- `posting` before the POST, `created` once the target confirmed it
    state TEXT NOT NULL,
    scim_id TEXT,
    at TEXT NOT NULL
);
CREATE INDEX runs_by_status ON runs (status);
";

/// Timestamps are UTC RFC 3339 with nine fraction digits, so text order is time order.
const HISTORY: &str = "
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    trigger TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    source_id TEXT,
    source_name TEXT,
    error TEXT,
    groups_source INTEGER NOT NULL,
    groups_created INTEGER NOT NULL,
    groups_existed INTEGER NOT NULL,
    groups_would_create INTEGER NOT NULL,
    groups_skipped INTEGER NOT NULL,
    groups_failed INTEGER NOT NULL
);
CREATE INDEX runs_by_start ON runs (started_at, id);

CREATE TABLE run_groups (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    scim_id TEXT,
    -- the skip reason or the error, as people read it
    reason TEXT,
    -- the skip reason as JSON, so that it reads back exactly
    skip TEXT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX run_groups_by_outcome ON run_groups (run_id, outcome);

-- Not tied to runs: a notice waits here until it is sent, whatever happens to its run.
CREATE TABLE notices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    run_id TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until TEXT,
    sent_at TEXT,
    failed_at TEXT
);
CREATE INDEX notices_by_run ON notices (run_id);

CREATE TABLE reported_groups (
    folded_name TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    reported_at TEXT NOT NULL
);
";

pub(super) fn apply(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(wrap)?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        // another process opening the same new store may have got there first: the
        // version is read again under the write lock
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(wrap)?;
        let now: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(wrap)?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
    Ok(())
}
