//! Names the target refused (400, e.g. too long for it), keyed by entitlement id and name:
//! a later run reports them as still refused without sending them again, until the
//! entitlement's name changes (a new key).

use super::{Store, StoreError, ts};
use crate::sync::apply::RefusedName;
use crate::sync::plan::Refused;
use chrono::Utc;
use rusqlite::params;

impl Store {
    /// Every refused name, with the target's detail.
    pub fn refused_names(&self) -> Result<Refused, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT source_id, name, detail FROM refused_names")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Remembers names refused in this run; an entitlement's earlier refused names (under
    /// another name) are forgotten.
    pub fn remember_refused(&self, names: &[RefusedName]) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let write = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            let now = ts(Utc::now());
            for n in names {
                tx.execute(
                    "DELETE FROM refused_names WHERE source_id = ?1",
                    params![n.source_id],
                )?;
                tx.execute(
                    "INSERT INTO refused_names (source_id, name, detail, refused_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![n.source_id, n.name, n.detail, now],
                )?;
            }
            tx.commit()
        };
        write(&mut conn).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(id: &str, name: &str) -> RefusedName {
        RefusedName {
            source_id: id.into(),
            name: name.into(),
            detail: format!("{name} is too long"),
        }
    }

    #[test]
    fn refused_names_are_kept_per_entitlement_and_name() {
        let store = Store::in_memory().unwrap();
        assert!(store.refused_names().unwrap().is_empty());
        store
            .remember_refused(&[refused("e1", "Long"), refused("e2", "Other")])
            .unwrap();
        store.remember_refused(&[refused("e1", "Longer")]).unwrap();
        let all = store.refused_names().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[&("e1".to_string(), "Longer".to_string())],
            "Longer is too long"
        );
        assert!(all.contains_key(&("e2".to_string(), "Other".to_string())));
    }
}
