//! Every group name survives the trip through a lookup: the filter groupsync builds, read
//! by the sandbox's SCIM filter parser (a parser groupsync does not share), compares
//! `displayName` with exactly that name, whatever quotes, backslashes, control
//! characters, spaces or other Unicode the name holds.

use super::super::wire::{display_name_filter, lookup_query};
use groupsync_sandbox::scim::filter::{self, CompValue, CompareOp, Filter};
use proptest::prelude::*;

/// Pieces that break naive quoting, mixed with anything else.
const AWKWARD: &[&str] = &[
    "\"",
    "\\",
    "\\\"",
    "\"\\",
    "'",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\u{0}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "%",
    "&",
    "+",
    "=",
    "#",
    "?",
    "/",
    "(",
    ")",
    "[",
    "]",
    " or ",
    " and ",
    "eq",
    "pr",
    "é",
    "ß",
    "İ",
    "東京",
    "😀",
    "👩\u{200D}💻",
    "\u{d7ff}",
    "\u{e000}",
    "\u{10ffff}",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::collection::vec(proptest::sample::select(AWKWARD), 1..8)
            .prop_map(|p| p.concat()),
        1 => any::<String>(),
        1 => proptest::collection::vec(
            prop_oneof![any::<char>().prop_map(String::from), proptest::sample::select(AWKWARD).prop_map(str::to_owned)],
            0..12,
        )
        .prop_map(|p| p.concat()),
    ]
}

/// The name a parsed filter compares `displayName` with for equality.
fn compared_name(parsed: Filter) -> Result<String, String> {
    match parsed {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(s),
        } if path.uri.is_none() && path.name == "displayName" && path.sub.is_none() => Ok(s),
        other => Err(format!("not displayName eq \"…\": {other:?}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_filter_gives_back_exactly_the_name(name in name()) {
        let text = display_name_filter(&name);
        let parsed = filter::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(compared_name(parsed), Ok(name));
    }

    #[test]
    fn the_lookup_query_decodes_to_the_same_filter(name in name(), start in 1usize..5000) {
        let query = lookup_query(&name, start);
        let filters: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "filter")
            .map(|(_, v)| v.into_owned())
            .collect();
        prop_assert_eq!(filters.len(), 1, "{}", query);
        let parsed = filter::parse(&filters[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(compared_name(parsed), Ok(name));
    }
}
