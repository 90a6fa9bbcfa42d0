//! `per_group` and `listing` must plan the same actions on the same data.
//!
//! The plan is a pure function of the source groups and the lookups, so the property is
//! checked at that seam: one generated target answers both ways. Per group, it answers
//! like a SCIM server's `displayName eq` (ignoring case the way Java's `equalsIgnoreCase`
//! does, the sandbox's rule) and groupsync re-checks each answer as the client does;
//! as a listing, groupsync compares every group locally ([`found_in_listing`]). Every
//! other target group carries the externalId of the source group of the same position, so
//! managed groups under their own or another name (renames) are planned both ways too.

use super::Quiet;
use super::lookup::found_in_listing;
use super::plan::{self, Found, Lookups, Ownership, Rules};
use crate::config::ExternalId;
use crate::domain::{SourceGroup, TargetGroup, fold_name};
use groupsync_sandbox::names::fold_case;
use proptest::prelude::*;

const RULES: Rules = Rules {
    max_name_length: Some(64),
};

/// Pieces of names: quotes, backslashes, spaces, letters whose case rules differ between
/// languages and libraries, emoji (one with a joiner).
const PIECES: &[&str] = &[
    "a",
    "B",
    "Finance",
    "ops",
    " ",
    "  ",
    "\"",
    "\\",
    "'",
    "é",
    "É",
    "ß",
    "SS",
    "ẞ",
    "ſ",
    "s",
    "S",
    "İ",
    "i",
    "I",
    "ı",
    "\u{307}",
    "Σ",
    "σ",
    "ς",
    "\u{212A}",
    "k",
    "K",
    "Ω",
    "\u{2126}",
    "ω",
    "ǅ",
    "ǆ",
    "Ǆ",
    "😀",
    "👩\u{200D}💻",
    "東京",
    "-",
    "_",
    "%",
    "&",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => proptest::collection::vec(proptest::sample::select(PIECES), 1..6)
            .prop_map(|p| p.concat()),
        // long names, some over the length limit
        1 => (proptest::sample::select(PIECES), 20..40usize).prop_map(|(p, n)| p.repeat(n)),
    ]
}

/// A spelling of `name` that a case-insensitive comparison may take for the same name.
fn variant(name: &str, how: u8) -> String {
    match how % 4 {
        0 => name.to_owned(),
        1 => name.to_uppercase(),
        2 => name.to_lowercase(),
        _ => name
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let mapped: Vec<char> = if i % 2 == 0 {
                    c.to_uppercase().collect()
                } else {
                    c.to_lowercase().collect()
                };
                mapped
            })
            .collect(),
    }
}

/// Source names, and a target holding case variants of some of them and other names.
fn data() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    proptest::collection::vec(name(), 0..10).prop_flat_map(|source| {
        let n = source.len().max(1);
        let picks = proptest::collection::vec((0..n, any::<u8>()), 0..12);
        let others = proptest::collection::vec(name(), 0..4);
        (Just(source), picks, others).prop_map(|(source, picks, others)| {
            let mut target: Vec<String> = picks
                .into_iter()
                .filter_map(|(i, how)| source.get(i).map(|s| variant(s, how)))
                .collect();
            target.extend(others);
            (source, target)
        })
    })
}

/// The lookups a run makes one group at a time: the server returns what its own
/// comparison matches, and the client keeps the groups whose names fold to the same key.
fn per_group(candidates: &[&SourceGroup], target: &[TargetGroup]) -> Lookups {
    candidates
        .iter()
        .map(|g| {
            let wanted = fold_name(&g.name);
            let found = target
                .iter()
                .filter(|t| fold_case(&t.display_name) == fold_case(&g.name))
                .filter(|t| fold_name(&t.display_name) == wanted)
                .cloned()
                .collect();
            (wanted, Ok(found))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn per_group_and_listing_plan_the_same((source, target) in data()) {
        let groups: Vec<SourceGroup> = source
            .iter()
            .enumerate()
            .map(|(i, name)| SourceGroup { id: format!("s{i}"), name: name.clone(), value: String::new() })
            .collect();
        let target: Vec<TargetGroup> = target
            .iter()
            .enumerate()
            .map(|(i, name)| TargetGroup {
                id: format!("t{i}"),
                display_name: name.clone(),
                external_id: (i % 2 == 0).then(|| format!("s{i}")),
            })
            .collect();
        let candidates = plan::candidates(&groups, RULES);
        let each = per_group(&candidates, &target);
        let mode = ExternalId::Id;
        let by_external_id = candidates
            .iter()
            .filter(|g| !plan::found_managed(g, &each, mode))
            .map(|g| {
                let key = plan::external_key(g, mode);
                let ours = target
                    .iter()
                    .filter(|t| t.external_id.as_deref() == Some(key))
                    .cloned()
                    .collect();
                (key.to_owned(), Ok(ours))
            })
            .collect();
        let each = Found {
            by_name: each,
            by_external_id,
            listed: None,
        };
        let listed = found_in_listing(&candidates, target.clone(), &Quiet);
        let own = Ownership::default();
        prop_assert_eq!(
            plan::plan(&groups, &each, RULES, own, &plan::Refused::new()),
            plan::plan(&groups, &listed, RULES, own, &plan::Refused::new())
        );
    }
}
