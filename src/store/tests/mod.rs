//! The store: opening, migrations, history, outbox.

mod history;
mod known;
mod lease;
mod migrations;
mod outbox;

use crate::store::Store;

#[test]
fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/groupsync.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get_state("poll.last").unwrap(), None);
    store.set_state("poll.last", "a").unwrap();
    store.set_state("poll.last", "b").unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get_state("poll.last").unwrap().as_deref(), Some("b"));
    store.check_writable().unwrap();
}

#[test]
fn a_reader_can_open_while_the_writer_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let writer = Store::open(&path).unwrap();
    writer.set_state("k", "v").unwrap();
    let reader = Store::open(&path).unwrap();
    assert_eq!(reader.get_state("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn the_history_reads_while_another_process_is_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let daemon = Store::open(&path).unwrap();
    let run = history::report(0);
    history::record(&daemon, &run, "schedule", &[]);
    // another connection (a daemon mid-run) holds the write lock
    let busy = rusqlite::Connection::open(&path).unwrap();
    busy.execute_batch("BEGIN IMMEDIATE; INSERT INTO state VALUES ('k', 'v');")
        .unwrap();
    let started = std::time::Instant::now();
    let cli = Store::open(&path).unwrap();
    let runs = cli.runs(10, None).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(cli.run(&run.run_id.0).unwrap().is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the reader did not wait for the writer"
    );
    busy.execute_batch("COMMIT").unwrap();
}
