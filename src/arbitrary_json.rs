//! Arbitrary JSON for the parsers' property tests: any value, with the keys the parsers
//! look for (in varied case) mixed into objects so that generated documents get past the
//! first checks, plus documents nested far deeper than any parser should follow.

use proptest::prelude::*;
use serde_json::{Number, Value};

/// Keys the parsers read, as they are spelt and in another case.
const KEYS: &[&str] = &[
    "id",
    "ID",
    "name",
    "displayName",
    "displayname",
    "externalId",
    "Resources",
    "resources",
    "totalResults",
    "TotalResults",
    "itemsPerPage",
    "startIndex",
    "schemas",
    "detail",
    "scimType",
    "status",
    "filter",
    "supported",
    "maxResults",
    "source",
    "type",
    "started",
    "completed",
    "errors",
    "warnings",
    "stats",
    "scanned",
    "added",
    "attribute",
    "sourceSchemaObjectType",
    "completionStatus",
    "percentComplete",
    "trackingId",
    "messages",
    "text",
    "error",
    "message",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("a finite number", |f| Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        key().prop_map(Value::String),
        Just(Value::String("2020-06-29T22:01:50.474Z".into())),
        Just(Value::String("SUCCESS".into())),
    ]
}

/// Any JSON value, up to a few levels deep.
pub fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Any bytes, or the text of any JSON value with some bytes changed.
pub fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (
            any_json(),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3)
        )
            .prop_map(|(v, edits)| {
                let mut bytes = v.to_string().into_bytes();
                for (at, b) in edits {
                    if !bytes.is_empty() {
                        let i = at % bytes.len();
                        bytes[i] = b;
                    }
                }
                bytes
            }),
    ]
}

/// `depth` arrays nested in one another, `[[[…]]]`.
pub fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` objects nested under `key`, `{"key":{"key":…}}`.
pub fn nested_objects(key: &str, depth: usize) -> String {
    format!(
        "{}null{}",
        format!("{{\"{key}\":").repeat(depth),
        "}".repeat(depth)
    )
}
