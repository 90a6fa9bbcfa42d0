//! Types shared by every stage of a run: what the source says, what the target holds.
//!
//! Kept free of I/O so the plan stage can stay a pure function over them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::BuildHasher;

/// One AD group as IdentityNow reports it (an entitlement of the AD source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceGroup {
    /// The entitlement id in IdentityNow (32 hex characters in a real tenant).
    pub id: String,
    /// The display name; this becomes the SCIM `displayName`.
    pub name: String,
    /// The entitlement's `value`: the group's DN on AD, its object id on Entra ID. The
    /// SCIM `externalId` with `sync.external_id = "value"`.
    #[serde(default)]
    pub value: String,
}

/// One group as the SCIM target holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// The SCIM resource id assigned by the target.
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
}

/// A group groupsync owns, as the store remembers it (see `store::managed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedGroup {
    /// The `externalId` groupsync gave it (the entitlement id, or its `value`).
    pub external_id: String,
    pub scim_id: String,
    /// Its name in the target when last seen.
    pub name: String,
    /// Successful runs in a row that found its AD group gone.
    pub missing_runs: u32,
}

/// The key under which names are compared: SCIM `displayName` is `caseExact: false`
/// (RFC 7643 §8.7.1), so two names that differ only by case are the same group.
///
/// Every comparison of names in groupsync goes through this one function, so the
/// policy can change in one place.
///
/// Names are lower-cased, except `İ` (capital I with a dot), which stays as it is: its
/// lower case is two characters (`i` and a combining dot), and a SCIM server comparing one
/// character at a time (Java's `equalsIgnoreCase`) does not find `i̇` when asked for `İ`.
/// Folding it would make a listing find a group a lookup by name does not, so the two
/// lookup modes would plan differently.
///
/// It runs several times per group in a plan, so the common cases take one copy: ASCII
/// names (lower-cased in place of a table lookup), and names without `İ`.
pub fn fold_name(name: &str) -> String {
    const DOTTED_CAPITAL_I: char = '\u{130}';
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    if !name.contains(DOTTED_CAPITAL_I) {
        return name.to_lowercase();
    }
    name.split(DOTTED_CAPITAL_I)
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(&DOTTED_CAPITAL_I.to_string())
}

/// Calls `each` once per class of `positions` whose names (`name`) fold alike
/// ([`fold_name`]), with the class's positions in ascending order.
///
/// A map keyed by the folded names would copy every name (10 MB at 100,000 groups); this
/// sorts a (hash, position) pair per name instead, 16 bytes each, and compares the names
/// themselves only where hashes are equal, so a collision never joins two names.
pub fn each_name_class<'a>(
    positions: impl IntoIterator<Item = usize>,
    name: impl Fn(usize) -> &'a str,
    mut each: impl FnMut(&[usize]),
) {
    let hasher = std::hash::RandomState::new();
    let mut keyed: Vec<(u64, usize)> = positions
        .into_iter()
        .map(|i| (hasher.hash_one(fold_name(name(i))), i))
        .collect();
    keyed.sort_unstable();
    for same_hash in keyed.chunk_by(|a, b| a.0 == b.0) {
        if let [(_, only)] = same_hash {
            each(&[*only]);
            continue;
        }
        let mut rest: Vec<usize> = same_hash.iter().map(|(_, i)| *i).collect();
        while let Some(&head) = rest.first() {
            let folded = fold_name(name(head));
            let (same, other): (Vec<usize>, Vec<usize>) =
                rest.iter().partition(|i| fold_name(name(**i)) == folded);
            each(&same);
            rest = other;
        }
    }
}

/// The position among `same` (ascending) with the smallest entitlement id; the earliest
/// of equal ids.
pub fn first_by_id<'a>(same: &[usize], id: impl Fn(usize) -> &'a str) -> usize {
    let mut first = same[0];
    for &i in &same[1..] {
        if id(i) < id(first) {
            first = i;
        }
    }
    first
}

/// Identifies one run in logs, reports and the history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunId(pub String);

impl RunId {
    /// A new, time-ordered id (UUID v7), so ids sort by start time.
    pub fn new() -> Self {
        RunId(uuid::Uuid::now_v7().to_string())
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_including_non_ascii() {
        assert_eq!(fold_name("Finance"), fold_name("FINANCE"));
        assert_eq!(fold_name("Équipe"), fold_name("éQUIPE"));
        assert_ne!(fold_name("Finance "), fold_name("Finance"));
        assert_eq!(fold_name("İSTANBUL-Ops"), "İstanbul-ops");
        assert_ne!(fold_name("İ"), fold_name("i\u{307}"));
        // the quick paths fold as the general one does
        let general = |n: &str| {
            n.split('\u{130}')
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        };
        for name in [
            "SG_Sales-EMEA 01",
            "Équipe ÆØÅ",
            "ΣΊΣΥΦΟΣ",
            "Straße",
            "KELVIN \u{212A}",
            "a\u{130}B\u{130}",
        ] {
            assert_eq!(fold_name(name), general(name).join("\u{130}"), "{name}");
        }
    }

    #[test]
    fn names_that_fold_alike_form_one_class_in_position_order() {
        let names = ["Ops", "Sales", "OPS", "İ", "ops", "i\u{307}", "sales "];
        let mut classes = vec![];
        each_name_class(0..names.len(), |i| names[i], |c| classes.push(c.to_vec()));
        classes.sort();
        assert_eq!(classes, [vec![0, 2, 4], vec![1], vec![3], vec![5], vec![6]]);
        let mut none = 0;
        each_name_class(std::iter::empty(), |i| names[i], |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn run_ids_are_unique_and_ordered() {
        let a = RunId::new();
        let b = RunId::new();
        assert_ne!(a, b);
        assert!(a.0 < b.0);
    }
}
