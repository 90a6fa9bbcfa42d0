//! What goes over the wire: the lookup query, and lenient readers for what comes back.
//!
//! Real SCIM servers bend the RFC in small ways (numbers as strings, `resources` in lower
//! case, no `Resources` at all when nothing matched). These readers accept such answers,
//! but never turn a malformed or contradictory one into "no group".

use super::ScimError;
use crate::domain::TargetGroup;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// The SCIM filter that finds groups named `name`: `displayName eq <JSON string literal>`.
///
/// RFC 7644 §3.4.2.2 takes comparison values as JSON literals, so quotes, backslashes and
/// control characters are escaped exactly as JSON escapes them; a name can therefore never
/// change the filter's logic. The result still needs percent-encoding (see
/// [`lookup_query`]).
pub fn display_name_filter(name: &str) -> String {
    // `Value`'s Display is serde_json's own serialisation and cannot fail.
    format!("displayName eq {}", Value::String(name.to_owned()))
}

/// The query string of a lookup by name, starting at the 1-based `start_index`.
///
/// Every byte but ASCII letters and digits is percent-encoded (a space is `%20`, never `+`),
/// so `& # % + =` in a name cannot split or alter the query on any server.
pub(super) fn lookup_query(name: &str, start_index: usize) -> String {
    let filter = display_name_filter(name);
    let filter = utf8_percent_encode(&filter, NON_ALPHANUMERIC);
    let mut query = format!("filter={filter}&excludedAttributes=members");
    if start_index > 1 {
        query.push_str(&format!("&startIndex={start_index}"));
    }
    query
}

/// The query string of one page of the full listing.
pub(super) fn listing_query(start_index: usize, count: usize) -> String {
    format!("attributes=displayName,externalId&startIndex={start_index}&count={count}")
}

/// One page of a SCIM `ListResponse`, as far as groupsync needs it.
#[derive(Debug)]
pub(super) struct ListPage {
    /// `totalResults`, or the number of resources when the server left it out.
    pub total: usize,
    pub resources: Vec<Value>,
}

/// Reads a `ListResponse` leniently; see the module documentation.
pub(super) fn list_page(body: Value) -> Result<ListPage, ScimError> {
    let Value::Object(mut obj) = body else {
        return Err(malformed("a list response is not a JSON object"));
    };
    let resources = match take_field(&mut obj, "Resources") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(items),
        Some(_) => return Err(malformed("`Resources` is not an array")),
    };
    let total = match field(&obj, "totalResults") {
        None | Some(Value::Null) => resources.as_ref().map_or(0, Vec::len),
        Some(v) => lenient_usize(v)
            .ok_or_else(|| malformed(format!("`totalResults` is not a count: {v}")))?,
    };
    if total > 0 && resources.is_none() {
        return Err(ScimError::Inconsistent {
            detail: format!("the server reports {total} results but sends no `Resources`"),
        });
    }
    Ok(ListPage {
        total,
        resources: resources.unwrap_or_default(),
    })
}

/// What a `ServiceProviderConfig` says about filtering (RFC 7643 §5), each part `None`
/// when the server left it out or sent something unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilterSupport {
    /// `filter.supported`.
    pub supported: Option<bool>,
    /// `filter.maxResults`: the most resources the server returns in one response.
    pub max_results: Option<usize>,
}

/// Reads `filter` from a `ServiceProviderConfig` leniently (any case, counts as strings).
pub(super) fn filter_support(spc: &Value) -> FilterSupport {
    let Some(filter) = spc
        .as_object()
        .and_then(|o| field(o, "filter"))
        .and_then(Value::as_object)
    else {
        return FilterSupport::default();
    };
    FilterSupport {
        supported: field(filter, "supported").and_then(Value::as_bool),
        max_results: field(filter, "maxResults")
            .and_then(lenient_usize)
            .filter(|n| *n > 0),
    }
}

/// The `displayName` of a resource, if it has a string one.
pub(super) fn display_name(resource: &Value) -> Option<&str> {
    resource
        .as_object()
        .and_then(|o| field(o, "displayName"))
        .and_then(Value::as_str)
}

/// A group resource as a [`TargetGroup`]; it must have an `id` and a `displayName`.
pub(super) fn target_group(resource: &Value) -> Result<TargetGroup, ScimError> {
    let obj = resource
        .as_object()
        .ok_or_else(|| malformed("a group resource is not a JSON object"))?;
    let display_name = display_name(resource)
        .ok_or_else(|| malformed("a group resource has no string `displayName`"))?;
    let id = resource_id(obj).ok_or_else(|| {
        malformed(format!(
            "the group {display_name:?} has no `id` the client can use"
        ))
    })?;
    let external_id = field(obj, "externalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(TargetGroup {
        id,
        display_name: display_name.to_owned(),
        external_id,
    })
}

/// The `id` of a resource, a non-empty string or (leniently) a number.
pub(super) fn resource_id(obj: &Map<String, Value>) -> Option<String> {
    match field(obj, "id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A member of a JSON object, by exact name first, then ignoring ASCII case.
pub(super) fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn take_field(obj: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = obj
        .keys()
        .find(|k| k.as_str() == name)
        .or_else(|| obj.keys().find(|k| k.eq_ignore_ascii_case(name)))?
        .clone();
    obj.remove(&key)
}

/// A count given as a JSON number or as a string of digits (`"3"`).
pub(super) fn lenient_usize(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn malformed(what: impl Into<String>) -> ScimError {
    ScimError::Malformed { what: what.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_is_a_json_literal() {
        assert_eq!(
            display_name_filter(r#"x" or displayName pr or displayName eq "y"#),
            r#"displayName eq "x\" or displayName pr or displayName eq \"y""#
        );
        assert_eq!(
            display_name_filter("a\\b\tc"),
            r#"displayName eq "a\\b\tc""#
        );
    }

    #[test]
    fn later_pages_carry_a_start_index() {
        assert_eq!(
            lookup_query("A", 1),
            "filter=displayName%20eq%20%22A%22&excludedAttributes=members"
        );
        assert!(lookup_query("A", 11).ends_with("&startIndex=11"));
    }

    #[test]
    fn lenient_list_pages() {
        let p = list_page(json!({"totalResults": "2", "resources": [{}, {}]})).unwrap();
        assert_eq!((p.total, p.resources.len()), (2, 2));
        let p = list_page(json!({"totalResults": 0})).unwrap();
        assert_eq!((p.total, p.resources.len()), (0, 0));
        let p = list_page(json!({"Resources": [{}]})).unwrap();
        assert_eq!(p.total, 1);
    }

    #[test]
    fn contradictory_or_malformed_pages_are_errors() {
        let e = list_page(json!({"totalResults": 3})).unwrap_err();
        assert!(matches!(e, ScimError::Inconsistent { .. }), "{e}");
        let e = list_page(json!({"totalResults": "many", "Resources": []})).unwrap_err();
        assert!(matches!(e, ScimError::Malformed { .. }), "{e}");
        let e = list_page(json!([1, 2])).unwrap_err();
        assert!(matches!(e, ScimError::Malformed { .. }), "{e}");
    }

    #[test]
    fn filter_support_is_read_leniently() {
        let spc = json!({"filter": {"supported": true, "maxResults": 200}});
        assert_eq!(
            filter_support(&spc),
            FilterSupport {
                supported: Some(true),
                max_results: Some(200)
            }
        );
        let spc = json!({"Filter": {"Supported": false, "maxResults": "50"}});
        assert_eq!(
            filter_support(&spc),
            FilterSupport {
                supported: Some(false),
                max_results: Some(50)
            }
        );
        assert_eq!(
            filter_support(&json!({"filter": {"maxResults": 0}})),
            FilterSupport::default()
        );
        assert_eq!(filter_support(&json!([])), FilterSupport::default());
    }

    #[test]
    fn groups_need_an_id_and_a_name() {
        let g = target_group(&json!({"id": 7, "DisplayName": "Ops", "externalId": "x"})).unwrap();
        assert_eq!(g.id, "7");
        assert_eq!(g.display_name, "Ops");
        assert_eq!(g.external_id.as_deref(), Some("x"));
        assert!(target_group(&json!({"displayName": "Ops"})).is_err());
        assert!(target_group(&json!({"id": "1"})).is_err());
    }
}
