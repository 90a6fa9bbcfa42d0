//! SCIM answers read from arbitrary input: each reader gives a value or a typed error,
//! never a panic, and never turns a malformed answer into "no group".

use super::super::ScimError;
use super::super::error::from_status;
use super::super::wire::{filter_support, list_page, target_group};
use crate::arbitrary_json::{any_body, any_json, nested_arrays};
use http::{HeaderMap, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A list response: arbitrary JSON, or a `ListResponse` whose parts are arbitrary.
fn list_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json(),
        (any_json(), proptest::collection::vec(any_json(), 0..5))
            .prop_map(|(total, items)| { json!({"totalResults": total, "Resources": items}) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_list_page_is_read_or_refused_never_a_panic(body in list_body()) {
        match list_page(body) {
            Ok(page) => {
                for resource in &page.resources {
                    if let Err(e) = target_group(resource) {
                        prop_assert!(matches!(e, ScimError::Malformed { .. }), "{e}");
                    }
                }
            }
            Err(e) => prop_assert!(
                matches!(e, ScimError::Malformed { .. } | ScimError::Inconsistent { .. }),
                "{e}"
            ),
        }
    }

    #[test]
    fn a_group_has_an_id_and_its_name_or_is_malformed(resource in any_json()) {
        match target_group(&resource) {
            Ok(g) => prop_assert!(!g.id.trim().is_empty()),
            Err(e) => prop_assert!(matches!(e, ScimError::Malformed { .. }), "{e}"),
        }
    }

    #[test]
    fn a_service_provider_config_is_read_leniently_never_a_panic(spc in any_json()) {
        let support = filter_support(&spc);
        prop_assert!(support.max_results != Some(0));
    }

    #[test]
    fn an_error_answer_is_typed_by_its_status_whatever_its_body(
        body in any_body(),
        code in 400u16..600,
    ) {
        let e = from_status(StatusCode::from_u16(code).unwrap(), &HeaderMap::new(), &body);
        match code {
            401 => prop_assert!(matches!(e, ScimError::Unauthorized { .. }), "{e}"),
            403 => prop_assert!(matches!(e, ScimError::Forbidden { .. }), "{e}"),
            429 => prop_assert!(matches!(e, ScimError::RateLimited { .. }), "{e}"),
            500..=599 => prop_assert!(matches!(e, ScimError::Server { .. }), "{e}"),
            _ => {}
        }
        let _ = e.to_string();
    }
}

#[test]
fn a_body_nested_ten_thousand_deep_is_no_stack_overflow() {
    let body = nested_arrays(10_000);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    let e = from_status(StatusCode::BAD_GATEWAY, &HeaderMap::new(), body.as_bytes());
    assert!(matches!(e, ScimError::Server { .. }), "{e}");
}
