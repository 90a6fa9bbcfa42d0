//! IdentityNow's answers read from arbitrary input: each reader gives a value or a typed
//! error, never a panic.

use super::super::entitlements::{Cursor, read_page};
use super::super::request::Answer;
use super::super::{ApiFailure, IdnError, Source, TaskStatus};
use crate::arbitrary_json::{any_body, any_json, nested_arrays};
use http::{HeaderMap, HeaderValue, StatusCode};
use proptest::prelude::*;
use serde_json::Value;

fn answer(body: Vec<u8>, total: Option<&str>) -> Answer {
    let mut headers = HeaderMap::new();
    if let Some(v) = total.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert("x-total-count", v);
    }
    Answer {
        label: "GET /v2025/entitlements".into(),
        headers,
        body,
    }
}

/// An entitlements page: mostly arrays of objects, some of them entitlement-like.
fn page_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_body(),
        proptest::collection::vec(any_json(), 0..6)
            .prop_map(|items| { Value::Array(items).to_string().into_bytes() }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_entitlements_page_is_read_or_malformed_never_a_panic(
        body in page_body(),
        total in proptest::option::of("[ -~]{0,12}"),
        offset in any::<u64>(),
    ) {
        match read_page(&answer(body, total.as_deref()), &Cursor::Offset(offset)) {
            Ok(page) => {
                for e in &page.entries {
                    prop_assert!(!e.group.id.is_empty());
                }
            }
            Err(e) => prop_assert!(matches!(e, IdnError::Malformed { .. }), "{e}"),
        }
    }

    #[test]
    fn an_error_body_of_any_bytes_is_read_with_its_status(
        body in any_body(),
        code in 400u16..600,
    ) {
        let status = StatusCode::from_u16(code).unwrap();
        let failure = ApiFailure::parse("GET /v2025/entitlements".into(), status, &body);
        prop_assert_eq!(failure.status, code);
        let _ = failure.to_string();
    }

    #[test]
    fn sources_and_task_statuses_are_read_or_refused_never_a_panic(v in any_json()) {
        let text = v.to_string();
        let _ = serde_json::from_str::<Source>(&text);
        if let Ok(task) = serde_json::from_str::<TaskStatus>(&text) {
            let _ = (task.completion(), task.succeeded());
        }
        let typed = answer(text.into_bytes(), None).json::<Vec<Source>>();
        if let Err(e) = typed {
            prop_assert!(matches!(e, IdnError::Malformed { .. }), "{e}");
        }
    }
}

#[test]
fn a_page_nested_ten_thousand_deep_is_malformed() {
    let page = answer(nested_arrays(10_000).into_bytes(), None);
    let read = read_page(&page, &Cursor::Offset(0));
    assert!(matches!(read, Err(IdnError::Malformed { .. })));
    assert!(page.json::<Vec<Source>>().is_err());
}
