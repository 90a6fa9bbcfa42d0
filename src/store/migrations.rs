//! Versioned schema migrations, applied in order at open. Each entry moves the schema from
//! version `i` to `i + 1`; a store newer than the code is refused rather than damaged.

use super::StoreError;
use rusqlite::Connection;

/// Append only: never edit a migration that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: trigger state
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
];

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
        let tx = conn.transaction().map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
    Ok(())
}
