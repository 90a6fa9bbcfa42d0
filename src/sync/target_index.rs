//! The whole target as one listing read it, indexed for the plan without a second copy.
//!
//! A listing of 90,000 groups used to be copied into a map by name, another by
//! `externalId` and a third keyed by every candidate name: three copies of the target,
//! most of a large run's memory. Here the groups are held once; each index is a sorted
//! list of (hash, position) pairs, 16 bytes a group, and a hit is confirmed by comparing
//! the real strings, so a hash collision can never match the wrong group.

use crate::domain::{TargetGroup, fold_name};
use std::hash::{BuildHasher, RandomState};

/// Every group of the target, found by folded name or by `externalId`.
#[derive(Debug, Default)]
pub struct TargetIndex {
    groups: Vec<TargetGroup>,
    /// (hash of the folded `displayName`, position), sorted.
    names: Vec<(u64, u32)>,
    /// (hash of the `externalId`, position) of the groups that carry one, sorted.
    external_ids: Vec<(u64, u32)>,
    hasher: RandomState,
}

impl TargetIndex {
    /// Indexes `groups`, keeping them as they are (positions fit in `u32`: a listing is
    /// capped far below that).
    pub fn new(groups: Vec<TargetGroup>) -> TargetIndex {
        let hasher = RandomState::new();
        let mut names = Vec::with_capacity(groups.len());
        let mut external_ids = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let at = u32::try_from(i).expect("a listing holds fewer than 2^32 groups");
            names.push((hasher.hash_one(fold_name(&g.display_name)), at));
            if let Some(ext) = &g.external_id {
                external_ids.push((hasher.hash_one(ext.as_str()), at));
            }
        }
        names.sort_unstable();
        external_ids.sort_unstable();
        TargetIndex {
            groups,
            names,
            external_ids,
            hasher,
        }
    }

    /// How many groups the target holds.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups whose [`fold_name`] is `folded`, in listing order.
    pub fn named(&self, folded: &str) -> Vec<&TargetGroup> {
        let hash = self.hasher.hash_one(folded);
        self.at(&self.names, hash)
            .filter(|g| fold_name(&g.display_name) == folded)
            .collect()
    }

    /// The groups carrying `key` as their `externalId`, in listing order.
    pub fn with_external_id(&self, key: &str) -> Vec<&TargetGroup> {
        let hash = self.hasher.hash_one(key);
        self.at(&self.external_ids, hash)
            .filter(|g| g.external_id.as_deref() == Some(key))
            .collect()
    }

    /// The groups of `index` under `hash` (those of another string with the same hash too).
    fn at<'a>(
        &'a self,
        index: &'a [(u64, u32)],
        hash: u64,
    ) -> impl Iterator<Item = &'a TargetGroup> + 'a {
        let from = index.partition_point(|(h, _)| *h < hash);
        index[from..]
            .iter()
            .take_while(move |(h, _)| *h == hash)
            .map(|(_, i)| &self.groups[*i as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgt(id: &str, name: &str, ext: Option<&str>) -> TargetGroup {
        TargetGroup {
            id: id.into(),
            display_name: name.into(),
            external_id: ext.map(str::to_owned),
        }
    }

    fn ids(found: Vec<&TargetGroup>) -> Vec<&str> {
        found.into_iter().map(|g| g.id.as_str()).collect()
    }

    #[test]
    fn names_are_found_ignoring_case_and_every_holder_is_returned_in_order() {
        let index = TargetIndex::new(vec![
            tgt("t1", "Finance", None),
            tgt("t2", "Sales", Some("e2")),
            tgt("t3", "FINANCE", Some("e3")),
        ]);
        assert_eq!(index.len(), 3);
        assert_eq!(ids(index.named(&fold_name("finance"))), ["t1", "t3"]);
        assert_eq!(ids(index.named(&fold_name("SALES"))), ["t2"]);
        assert!(index.named(&fold_name("Finance ")).is_empty());
        assert!(index.named("nothing").is_empty());
    }

    #[test]
    fn external_ids_are_exact_and_groups_without_one_are_not_indexed() {
        let index = TargetIndex::new(vec![
            tgt("t1", "A", None),
            tgt("t2", "B", Some("E2")),
            tgt("t3", "C", Some("e2")),
        ]);
        assert_eq!(ids(index.with_external_id("E2")), ["t2"]);
        assert_eq!(ids(index.with_external_id("e2")), ["t3"]);
        assert!(index.with_external_id("").is_empty());
    }

    #[test]
    fn an_empty_target_answers_every_question_with_nothing() {
        let index = TargetIndex::new(vec![]);
        assert!(index.is_empty());
        assert!(index.named("a").is_empty());
        assert!(index.with_external_id("a").is_empty());
    }
}
