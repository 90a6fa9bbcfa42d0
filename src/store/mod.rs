//! The SQLite store: execution history, the notice outbox and trigger state.
//!
//! One file (`[store] path`), WAL mode so the daemon writes while a CLI reads, and
//! versioned migrations applied at open (`PRAGMA user_version`). Operations are short;
//! callers on the async runtime run them with `spawn_blocking` when they may be slow.
//! No secret is ever written here.

mod migrations;

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the store's folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "store {path} has schema version {found}, newer than this groupsync knows ({known}); upgrade groupsync"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        })?;
        Self::init(conn, shown)
    }

    /// A private in-memory store (tests, dry runs without a configured store).
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        Self::init(conn, ":memory:".into())
    }

    fn init(mut conn: Connection, path: String) -> Result<Store, StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        migrations::apply(&mut conn, &path)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The connection, for the modules that keep their tables here.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.to_string(),
            source,
        }
    }

    /// A small named value that must survive a restart (e.g. the last aggregation seen).
    pub fn get_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT value FROM state WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO state (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Whether the store accepts a write now (for readiness).
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.set_state("store.last_check", &chrono::Utc::now().to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
