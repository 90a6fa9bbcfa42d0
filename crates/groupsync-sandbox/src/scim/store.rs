//! The groups a [`super::ScimServer`] holds, in creation order, indexed by id and by
//! folded name (for the optional uniqueness rule).
//!
//! It lives behind a `std::sync::Mutex`: every operation is short and never awaits.

use super::group::{Group, GroupInput};
use chrono::{SecondsFormat, Utc};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Store {
    groups: Vec<Group>,
    /// id → position in `groups`.
    index: HashMap<String, usize>,
    /// folded displayName → how many groups carry it.
    names: HashMap<String, usize>,
    /// The last version handed out; versions are unique across groups.
    revision: u64,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Store {
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    pub fn get(&self, id: &str) -> Option<&Group> {
        self.index.get(id).map(|&at| &self.groups[at])
    }

    /// Whether another group than `except` (an id) carries this folded name.
    pub fn name_taken(&self, folded: &str, except: Option<&str>) -> bool {
        let count = self.names.get(folded).copied().unwrap_or(0);
        let own = except
            .and_then(|id| self.get(id))
            .is_some_and(|g| g.folded == folded);
        count > usize::from(own)
    }

    /// Stores a new group under a fresh UUID.
    pub fn insert(&mut self, input: GroupInput) -> &Group {
        self.revision += 1;
        let group = Group::new(
            uuid::Uuid::new_v4().to_string(),
            input,
            now(),
            self.revision,
        );
        *self.names.entry(group.folded.clone()).or_default() += 1;
        self.index.insert(group.id.clone(), self.groups.len());
        self.groups.push(group);
        &self.groups[self.groups.len() - 1]
    }

    /// Replaces the stored group with the same id, bumping its version and
    /// `lastModified`; `None` if it is gone.
    pub fn update(&mut self, mut group: Group) -> Option<&Group> {
        let at = *self.index.get(&group.id)?;
        self.revision += 1;
        group.version = self.revision;
        group.last_modified = now();
        let old = std::mem::replace(&mut self.groups[at], group);
        self.forget_name(&old.folded);
        *self
            .names
            .entry(self.groups[at].folded.clone())
            .or_default() += 1;
        Some(&self.groups[at])
    }

    pub fn remove(&mut self, id: &str) -> Option<Group> {
        let at = self.index.remove(id)?;
        let group = self.groups.remove(at);
        self.forget_name(&group.folded);
        for later in &self.groups[at..] {
            if let Some(position) = self.index.get_mut(&later.id) {
                *position -= 1;
            }
        }
        Some(group)
    }

    fn forget_name(&mut self, folded: &str) {
        if let Some(count) = self.names.get_mut(folded) {
            *count -= 1;
            if *count == 0 {
                self.names.remove(folded);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> GroupInput {
        GroupInput {
            display_name: name.into(),
            external_id: None,
            members: vec![],
        }
    }

    #[test]
    fn keeps_order_index_and_names_in_step() {
        let mut store = Store::default();
        let a = store.insert(input("Alpha")).id.clone();
        let b = store.insert(input("Beta")).id.clone();
        let c = store.insert(input("ALPHA")).id.clone();
        assert!(store.name_taken("alpha", None));
        assert!(store.name_taken("alpha", Some(&a)), "C still carries it");
        assert!(!store.name_taken("beta", Some(&b)), "B's own name");

        let removed = store.remove(&a).unwrap();
        assert_eq!(removed.display_name, "Alpha");
        assert!(store.get(&a).is_none());
        assert_eq!(store.get(&c).unwrap().display_name, "ALPHA");
        let order: Vec<&str> = store.iter().map(|g| g.display_name.as_str()).collect();
        assert_eq!(order, ["Beta", "ALPHA"]);

        let mut renamed = store.get(&c).unwrap().clone();
        let before = renamed.version;
        renamed.set_display_name("Gamma".into());
        let after = store.update(renamed).unwrap();
        assert!(after.version > before);
        assert!(!store.name_taken("alpha", None));
        assert!(store.name_taken("gamma", None));
        assert!(store.remove(&a).is_none());
    }
}
