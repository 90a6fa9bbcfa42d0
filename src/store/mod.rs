//! The SQLite store: execution history, the notice outbox and trigger state.
//!
//! One file (`[store] path`), WAL mode so the daemon writes while a CLI reads, and
//! versioned migrations applied at open (`PRAGMA user_version`). Operations are short;
//! callers on the async runtime run them with `spawn_blocking` when they may be slow.
//! No secret is ever written here. The run lease ([`lease`]) and the journal of a run in
//! progress live here too, so that every process on one store sees them.

mod journal;
mod known;
pub mod lease;
mod managed;
mod migrations;
mod outbox;
mod record;
mod refused;
mod reported;
mod runs;

pub use journal::{INTERRUPTED, JournalEntry, RUNNING};
pub use outbox::{QueuedNotice, claimant};
pub use record::Recording;
pub use reported::ReportedNames;
pub use runs::{OUTCOME_KINDS, OutcomeQuery, RunDetail, RunRecord};

use chrono::{DateTime, SecondsFormat, Utc};
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
    /// Asked about a run the store does not hold (e.g. `before=` an unknown id).
    #[error("no execution with id {0:?}")]
    UnknownRun(String),
    #[error("store task failed: {0}")]
    Task(String),
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
        // A commit reaches the write-ahead log before it returns, so a killed process loses
        // nothing; only the last commits before a power cut may be lost, never the file's
        // consistency. Syncing every commit to disk cost a create's journal writes more
        // than the request itself, and a group the journal lost is still found by the next
        // run's lookup before anything is created.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        migrations::apply(&mut conn, &path)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.into(),
        })
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
        put_state(&self.conn(), key, value).map_err(|e| self.err(e))
    }

    /// Runs `f` on a blocking thread: store calls wait on the disk and, when another
    /// process holds the write lock, for up to the busy timeout.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Whether the store accepts a write now (for readiness).
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.set_state("store.last_check", &chrono::Utc::now().to_rfc3339())
    }
}

fn put_state(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO state (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(|_| ())
}

/// How times are written: UTC with nine fraction digits, so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a time written by [`ts`].
fn time_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(idx)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
        })
}

#[cfg(test)]
mod tests;
