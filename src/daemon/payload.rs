//! The "Account Aggregation Completed" event as SailPoint posts it, checked field by field.
//!
//! Every top-level field of the trigger input is required by its schema; a delivery
//! missing one, or with one of the wrong type, is refused with the field's path named,
//! so a broken subscription or a test delivery is easy to put right. Unknown fields are
//! ignored (deliveries may carry more, e.g. `_metadata`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// What groupsync needs from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregationCompleted {
    pub source_id: String,
    pub source_name: String,
    /// `Success`, `Failed` or `Terminated`; anything but `Success` is a failure.
    pub status: String,
    pub completed: DateTime<Utc>,
}

impl AggregationCompleted {
    pub fn succeeded(&self) -> bool {
        self.status == "Success"
    }
}

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("field `{0}` is missing")]
    Missing(String),
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
}

const STATS: [&str; 5] = ["scanned", "unchanged", "changed", "added", "removed"];

/// Reads and checks a delivery's body.
pub fn parse(body: &[u8]) -> Result<AggregationCompleted, PayloadError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let root = object(&value, "(the body)")?;
    let source = object(field(root, "", "source")?, "source")?;
    string(field(source, "source.", "type")?, "source.type")?;
    let source_id = string(field(source, "source.", "id")?, "source.id")?;
    let source_name = string(field(source, "source.", "name")?, "source.name")?;
    let status = string(field(root, "", "status")?, "status")?;
    date_time(field(root, "", "started")?, "started")?;
    let completed = date_time(field(root, "", "completed")?, "completed")?;
    for name in ["errors", "warnings"] {
        strings_or_null(field(root, "", name)?, name)?;
    }
    let stats = object(field(root, "", "stats")?, "stats")?;
    for name in STATS {
        let path = format!("stats.{name}");
        count(field(stats, "stats.", name)?, &path)?;
    }
    Ok(AggregationCompleted {
        source_id: source_id.to_owned(),
        source_name: source_name.to_owned(),
        status: status.to_owned(),
        completed,
    })
}

fn field<'a>(
    parent: &'a Map<String, Value>,
    prefix: &str,
    name: &str,
) -> Result<&'a Value, PayloadError> {
    parent
        .get(name)
        .ok_or_else(|| PayloadError::Missing(format!("{prefix}{name}")))
}

fn wrong(field: &str, expected: &'static str) -> PayloadError {
    PayloadError::WrongType {
        field: field.to_owned(),
        expected,
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, PayloadError> {
    v.as_object().ok_or_else(|| wrong(path, "an object"))
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, PayloadError> {
    v.as_str().ok_or_else(|| wrong(path, "a string"))
}

fn date_time(v: &Value, path: &str) -> Result<DateTime<Utc>, PayloadError> {
    let text = v
        .as_str()
        .ok_or_else(|| wrong(path, "a date-time string"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            wrong(
                path,
                "an RFC 3339 date-time such as 2020-06-29T22:02:04.090Z",
            )
        })
}

fn strings_or_null(v: &Value, path: &str) -> Result<(), PayloadError> {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
        _ => Err(wrong(path, "an array of strings or null")),
    }
}

fn count(v: &Value, path: &str) -> Result<u64, PayloadError> {
    v.as_u64()
        .ok_or_else(|| wrong(path, "a whole number, 0 or more"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "source": { "type": "SOURCE", "id": "2c91808", "name": "HR Active Directory" },
            "status": "Success",
            "started": "2020-06-29T22:01:50.474Z",
            "completed": "2020-06-29T22:02:04.090Z",
            "errors": [],
            "warnings": ["Account Skipped"],
            "stats": { "scanned": 200, "unchanged": 190, "changed": 6, "added": 4, "removed": 3 },
            "_metadata": { "invocationId": "x" }
        })
    }

    fn parse_value(v: &Value) -> Result<AggregationCompleted, PayloadError> {
        parse(v.to_string().as_bytes())
    }

    #[test]
    fn the_documented_example_parses() {
        let e = parse_value(&sample()).unwrap();
        assert_eq!(e.source_id, "2c91808");
        assert_eq!(e.source_name, "HR Active Directory");
        assert!(e.succeeded());
        assert_eq!(e.completed.to_rfc3339(), "2020-06-29T22:02:04.090+00:00");
    }

    #[test]
    fn null_errors_and_warnings_are_allowed() {
        let mut v = sample();
        v["errors"] = Value::Null;
        v["warnings"] = Value::Null;
        assert!(parse_value(&v).is_ok());
    }

    #[test]
    fn each_missing_field_is_named() {
        for path in [
            "source",
            "status",
            "started",
            "completed",
            "errors",
            "warnings",
            "stats",
        ] {
            let mut v = sample();
            v.as_object_mut().unwrap().remove(path);
            assert_eq!(parse_value(&v), Err(PayloadError::Missing(path.into())));
        }
        for name in ["type", "id", "name"] {
            let mut v = sample();
            v["source"].as_object_mut().unwrap().remove(name);
            assert_eq!(
                parse_value(&v),
                Err(PayloadError::Missing(format!("source.{name}")))
            );
        }
        for name in STATS {
            let mut v = sample();
            v["stats"].as_object_mut().unwrap().remove(name);
            assert_eq!(
                parse_value(&v),
                Err(PayloadError::Missing(format!("stats.{name}")))
            );
        }
    }

    #[test]
    fn wrong_types_are_named() {
        let cases: [(&str, Value, &str); 7] = [
            ("status", json!(5), "status"),
            ("source", json!("AD"), "source"),
            ("completed", json!("yesterday"), "completed"),
            ("started", json!(1593468110), "started"),
            ("errors", json!([1]), "errors"),
            ("warnings", json!("none"), "warnings"),
            ("stats", json!([]), "stats"),
        ];
        for (key, value, path) in cases {
            let mut v = sample();
            v[key] = value;
            match parse_value(&v) {
                Err(PayloadError::WrongType { field, .. }) => assert_eq!(field, path),
                other => panic!("{key}: {other:?}"),
            }
        }
        let mut v = sample();
        v["stats"]["added"] = json!(-1);
        let e = parse_value(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `stats.added` must be a whole number, 0 or more"
        );
        let mut v = sample();
        v["source"]["id"] = json!(42);
        assert_eq!(
            parse_value(&v).unwrap_err().to_string(),
            "field `source.id` must be a string"
        );
    }

    #[test]
    fn not_json_and_not_an_object_are_refused() {
        assert!(matches!(
            parse(b"{\"source\":"),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(
            parse(b"[1,2]"),
            Err(PayloadError::WrongType { field, .. }) if field == "(the body)"
        ));
    }

    #[test]
    fn other_statuses_are_failures() {
        let mut v = sample();
        v["status"] = json!("Terminated");
        assert!(!parse_value(&v).unwrap().succeeded());
    }

    /// Deliveries anyone could post: the parser answers each with a value or an error,
    /// never a panic, and an error names what is wrong.
    mod props {
        use super::*;
        use crate::arbitrary_json::{any_body, any_json, nested_arrays, nested_objects};
        use proptest::prelude::*;

        /// Whether a value has the kind a field needs.
        type Fits = fn(&Value) -> bool;

        /// Every field the schema requires, by path, with whether a value has its kind.
        const FIELDS: &[(&str, Fits)] = &[
            ("source", Value::is_object),
            ("source.type", Value::is_string),
            ("source.id", Value::is_string),
            ("source.name", Value::is_string),
            ("status", Value::is_string),
            ("started", Value::is_string),
            ("completed", Value::is_string),
            ("errors", |v| v.is_null() || v.is_array()),
            ("warnings", |v| v.is_null() || v.is_array()),
            ("stats", Value::is_object),
            ("stats.scanned", Value::is_number),
            ("stats.removed", Value::is_number),
        ];

        fn set(root: &mut Value, path: &str, to: Value) {
            let mut at = root;
            let mut parts = path.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    at[part] = to;
                    return;
                }
                at = &mut at[part];
            }
        }

        fn wrong_field() -> impl Strategy<Value = (&'static str, Value)> {
            (proptest::sample::select(FIELDS), any_json())
                .prop_filter("a value of another kind", |((_, fits), v)| !fits(v))
                .prop_map(|((path, _), v)| (path, v))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes_are_refused_or_read_never_a_panic(body in any_body()) {
                if let Err(e) = parse(&body) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }

            #[test]
            fn arbitrary_json_that_is_no_object_is_refused_as_the_body(v in any_json()) {
                let result = parse(v.to_string().as_bytes());
                if !v.is_object() {
                    let is_body_error = matches!(
                        &result,
                        Err(PayloadError::WrongType { field, .. }) if field == "(the body)"
                    );
                    prop_assert!(is_body_error, "{result:?}");
                }
            }

            #[test]
            fn a_field_of_the_wrong_type_is_refused_and_named((path, value) in wrong_field()) {
                let mut v = sample();
                set(&mut v, path, value);
                match parse_value(&v) {
                    Err(e) => prop_assert!(e.to_string().contains(path), "{e} does not name {path}"),
                    Ok(read) => prop_assert!(false, "read {read:?} with {path} of the wrong type"),
                }
            }
        }

        #[test]
        fn ten_thousand_nested_arrays_are_not_json_not_a_stack_overflow() {
            for body in [
                nested_arrays(10_000),
                nested_objects("source", 10_000),
                format!("{{\"stats\":{}}}", nested_arrays(10_000)),
            ] {
                assert!(
                    matches!(parse(body.as_bytes()), Err(PayloadError::NotJson(_))),
                    "{}",
                    &body[..40]
                );
            }
        }

        #[test]
        fn huge_strings_are_read_or_refused_by_their_field() {
            let huge = "x".repeat(4 << 20);
            let mut v = sample();
            v["source"]["name"] = json!(huge);
            assert_eq!(parse_value(&v).unwrap().source_name.len(), 4 << 20);
            for path in ["stats.added", "completed", "errors"] {
                let mut v = sample();
                set(&mut v, path, json!(huge));
                let e = parse_value(&v).unwrap_err();
                assert!(e.to_string().contains(path), "{e}");
                assert!(
                    e.to_string().len() < 200,
                    "the error does not echo the string"
                );
            }
        }
    }
}
