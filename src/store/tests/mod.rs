//! The store: opening, migrations, history, outbox.

mod history;
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
