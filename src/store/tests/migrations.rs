//! The schema from nothing, from version 1, and refusal of a newer one.

use crate::store::{Store, StoreError};
use rusqlite::Connection;

fn version(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn tables(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

const LATEST: i64 = 14;

/// A store at `path` with the first `version` migrations applied, as a release of then left it.
fn migrated_to(path: &std::path::Path, version: usize) -> Connection {
    let conn = Connection::open(path).unwrap();
    for (i, migration) in crate::store::migrations::MIGRATIONS[..version]
        .iter()
        .enumerate()
    {
        conn.execute_batch(migration).unwrap();
        conn.pragma_update(None, "user_version", (i + 1) as i64)
            .unwrap();
    }
    conn
}

#[test]
fn an_empty_store_gets_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    Store::open(&path).unwrap();
    assert_eq!(version(&path), LATEST);
    assert_eq!(
        tables(&path),
        vec![
            "job_leases",
            "known_groups",
            "managed_groups",
            "notices",
            "own_groups",
            "refused_names",
            "reported_batches",
            "run_groups",
            "runs",
            "state"
        ]
    );
}

#[test]
fn a_version_1_store_is_upgraded_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        // what the first release wrote: the state table only
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO state VALUES ('poll.last', 'task-42');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(version(&path), LATEST);
    assert_eq!(
        store.get_state("poll.last").unwrap().as_deref(),
        Some("task-42")
    );
    assert!(store.runs(10, None).unwrap().is_empty());
    // and the new tables work
    let r = super::history::report(0);
    super::history::record(&store, &r, "cli", &[]);
    assert_eq!(store.runs(10, None).unwrap().len(), 1);
    drop(store);
    // opening again changes nothing
    Store::open(&path).unwrap();
    assert_eq!(version(&path), LATEST);
}

#[test]
fn a_newer_store_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert_eq!(version(&path), 99);
}

#[test]
fn runs_and_a_lease_from_before_jobs_become_the_default_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v9.db");
    {
        let conn = migrated_to(&path, 9);
        conn.execute_batch(
            "INSERT INTO lease VALUES (1, 'pod-1', 7, 'run-old', '2025-01-01T00:00:00.000000000Z', \
             '2025-01-01T00:00:00.000000000Z');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let r = super::history::report(0);
    super::history::record(&store, &r, "cli", &[]);
    assert_eq!(store.runs(10, None).unwrap()[0].job, "default");
    assert_eq!(store.lease_holder().unwrap().unwrap().run_id, "run-old");
}

#[test]
fn names_reported_before_stay_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v13.db");
    {
        let conn = migrated_to(&path, 13);
        conn.execute_batch(
            "INSERT INTO reported_groups VALUES \
             ('default', 'finance', 'Finance', 'run-1', '2025-01-01T00:00:00.000000000Z'), \
             ('default', 'hr \"eu\"', 'HR \"EU\"', 'run-1', '2025-01-01T00:00:00.000000000Z'), \
             ('default', 'sales', 'Sales', 'run-2', '2025-01-02T00:00:00.000000000Z'), \
             ('eu', 'finance', 'FINANCE', 'run-3', '2025-01-03T00:00:00.000000000Z');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let default = store.reported_groups("default").unwrap();
    let expected: std::collections::HashSet<String> =
        ["finance", "hr \"eu\"", "sales"].map(String::from).into();
    assert_eq!(default, expected);
    assert_eq!(
        store.reported_groups("eu").unwrap(),
        ["finance".to_owned()].into()
    );
}

#[test]
fn a_run_that_reported_many_names_is_kept_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v13.db");
    {
        let conn = migrated_to(&path, 13);
        let mut insert = conn
            .prepare(
                "INSERT INTO reported_groups VALUES \
                 ('default', ?1, ?2, 'run-1', '2025-01-01T00:00:00.000000000Z')",
            )
            .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..2_345 {
            insert.execute([format!("g{i}"), format!("G{i}")]).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.reported_groups("default").unwrap().len(), 2_345);
    let parts: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM reported_batches", [], |r| r.get(0))
        .unwrap();
    assert_eq!(parts, 3, "1,000 names a row");
}
