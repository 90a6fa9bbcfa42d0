//! Query parameters of `GET /Groups` (RFC 7644 §3.4.2): paging, `attributes` and
//! `excludedAttributes`, and the ListResponse they shape.

use super::error::ScimError;
use super::group::attribute_key;
use serde::Serialize;
use serde_json::{Map, Value};

pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Attributes returned whatever the projection says (`returned: always`).
const ALWAYS: [&str; 3] = ["schemas", "id", "meta"];

/// The parameters of one list request, already normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub filter: Option<String>,
    /// 1-based; values below 1 become 1.
    pub start_index: usize,
    /// At most the server's page size; negative becomes 0, absent the maximum.
    pub count: usize,
    pub projection: Projection,
}

/// `attributes` / `excludedAttributes`, names lower-cased and without the schema URN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Projection {
    #[default]
    All,
    Only(Vec<Name>),
    Except(Vec<Name>),
}

/// `attr` or `attr.sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    attr: String,
    sub: Option<String>,
}

/// Decodes a query string into pairs (`+` is a space, as clients such as Entra send it).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The first value of a parameter, its name compared ignoring ASCII case.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

impl ListParams {
    pub fn parse(raw: Option<&str>, max_page_size: usize) -> Result<Self, ScimError> {
        let pairs = query_pairs(raw);
        let start_index = match param(&pairs, "startIndex") {
            Some(v) => usize::try_from(integer("startIndex", v)?.max(1)).unwrap_or(usize::MAX),
            None => 1,
        };
        let count = match param(&pairs, "count") {
            Some(v) => usize::try_from(integer("count", v)?.max(0))
                .unwrap_or(usize::MAX)
                .min(max_page_size),
            None => max_page_size,
        };
        Ok(ListParams {
            filter: param(&pairs, "filter").map(str::to_owned),
            start_index,
            count,
            projection: Projection::from_pairs(&pairs)?,
        })
    }
}

/// An integer parameter; out-of-range values saturate rather than fail.
fn integer(name: &str, value: &str) -> Result<i64, ScimError> {
    let text = value.trim();
    let digits = text.trim_start_matches(['-', '+']);
    let well_formed = !digits.is_empty()
        && text.len() - digits.len() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(ScimError::invalid_value(format!(
            "{name} must be an integer, not {value:?}"
        )));
    }
    Ok(text.parse().unwrap_or(if text.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    }))
}

impl Projection {
    /// Reads `attributes` / `excludedAttributes` from a raw query string.
    pub fn from_query(raw: Option<&str>) -> Result<Self, ScimError> {
        Self::from_pairs(&query_pairs(raw))
    }

    fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ScimError> {
        match (
            param(pairs, "attributes"),
            param(pairs, "excludedAttributes"),
        ) {
            (Some(_), Some(_)) => Err(ScimError::invalid_value(
                "attributes and excludedAttributes are mutually exclusive",
            )),
            (Some(list), None) => Ok(Projection::Only(names(list))),
            (None, Some(list)) => Ok(Projection::Except(names(list))),
            (None, None) => Ok(Projection::All),
        }
    }

    /// What this projection does to the attribute `lower` (its name lower-cased).
    pub fn keep(&self, lower: &str) -> Keep<'_> {
        let (names, keep_listed) = match self {
            Projection::All => return Keep::Whole,
            Projection::Only(names) => (names, true),
            Projection::Except(names) => (names, false),
        };
        if ALWAYS.contains(&lower) {
            return Keep::Whole;
        }
        let listed: Vec<&Name> = names.iter().filter(|n| n.attr == lower).collect();
        let whole = listed.iter().any(|n| n.sub.is_none());
        let subs: Vec<&str> = listed.iter().filter_map(|n| n.sub.as_deref()).collect();
        match (keep_listed, whole, subs.is_empty()) {
            (true, true, _) | (false, false, true) => Keep::Whole,
            (true, false, true) | (false, true, _) => Keep::Drop,
            (keep, false, false) => Keep::Subs { subs, keep },
        }
    }

    /// Trims a resource to what was asked for; unknown names are ignored.
    pub fn apply(&self, resource: Value) -> Value {
        if *self == Projection::All {
            return resource;
        }
        let Value::Object(object) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in object {
            let kept = match self.keep(&key.to_lowercase()) {
                Keep::Whole => Some(value),
                Keep::Drop => None,
                Keep::Subs { subs, keep } => {
                    Some(each_object(value, |m| keep_subs(m, &subs, keep)))
                }
            };
            if let Some(value) = kept {
                out.insert(key, value);
            }
        }
        Value::Object(out)
    }
}

/// What a projection does to one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep<'a> {
    Whole,
    Drop,
    /// Keeps (`keep`) or drops the listed sub-attributes (lower-cased) of each value; a
    /// simple value is kept as it is.
    Subs {
        subs: Vec<&'a str>,
        keep: bool,
    },
}

impl Keep<'_> {
    /// Whether the sub-attribute `lower` of a kept value stays.
    pub fn keeps_sub(&self, lower: &str) -> bool {
        match self {
            Keep::Whole => true,
            Keep::Drop => false,
            Keep::Subs { subs, keep } => subs.contains(&lower) == *keep,
        }
    }
}

fn names(list: &str) -> Vec<Name> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            let key = attribute_key(n);
            match key.split_once('.') {
                Some((attr, sub)) => Name {
                    attr: attr.to_owned(),
                    sub: Some(sub.to_owned()),
                },
                None => Name {
                    attr: key,
                    sub: None,
                },
            }
        })
        .collect()
}

/// Applies `f` to an object, or to each object of an array (multi-valued complex).
fn each_object(value: Value, f: impl Fn(Map<String, Value>) -> Map<String, Value>) -> Value {
    match value {
        Value::Object(m) => Value::Object(f(m)),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(m) => Value::Object(f(m)),
                other => other,
            })
            .collect(),
        other => other,
    }
}

/// Keeps (or drops, with `keep == false`) the listed sub-attributes.
fn keep_subs(object: Map<String, Value>, subs: &[&str], keep: bool) -> Map<String, Value> {
    object
        .into_iter()
        .filter(|(key, _)| subs.contains(&key.to_lowercase().as_str()) == keep)
        .collect()
}

/// The ListResponse body; `Resources` is always present, even when empty. Fields in
/// sorted order, as a `serde_json::Value` object writes its keys.
#[derive(Debug, Serialize)]
pub struct ListResponse<R> {
    #[serde(rename = "Resources")]
    resources: Vec<R>,
    #[serde(rename = "itemsPerPage")]
    items_per_page: usize,
    schemas: [&'static str; 1],
    #[serde(rename = "startIndex")]
    start_index: usize,
    #[serde(rename = "totalResults")]
    total_results: usize,
}

pub fn list_response<R: Serialize>(
    total: usize,
    start_index: usize,
    resources: Vec<R>,
) -> ListResponse<R> {
    ListResponse {
        items_per_page: resources.len(),
        resources,
        schemas: [LIST_URN],
        start_index,
        total_results: total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(query: &str) -> Result<ListParams, ScimError> {
        ListParams::parse(Some(query), 100)
    }

    #[test]
    fn paging_parameters_are_normalised() {
        let p = params("").unwrap();
        assert_eq!((p.start_index, p.count, p.filter), (1, 100, None));
        let p = params("startIndex=0&count=-3").unwrap();
        assert_eq!((p.start_index, p.count), (1, 0));
        let p = params("STARTINDEX=7&Count=1000").unwrap();
        assert_eq!((p.start_index, p.count), (7, 100));
        let p = params("count=99999999999999999999999&startIndex=-99999999999999999999").unwrap();
        assert_eq!((p.start_index, p.count), (1, 100));
        let p = params("filter=displayName+eq+%22a+b%22").unwrap();
        assert_eq!(p.filter.as_deref(), Some(r#"displayName eq "a b""#));
    }

    #[test]
    fn non_numeric_paging_is_invalid_value() {
        for query in [
            "count=abc",
            "startIndex=x",
            "count=",
            "count=1.5",
            "count=--1",
        ] {
            let err = params(query).expect_err(query);
            assert_eq!(err.scim_type, Some("invalidValue"), "{query}");
        }
        let both = params("attributes=id&excludedAttributes=displayName").unwrap_err();
        assert_eq!(both.scim_type, Some("invalidValue"));
    }

    fn resource() -> Value {
        json!({
            "schemas": ["s"], "id": "1", "displayName": "D", "externalId": "E",
            "meta": {"created": "c", "version": "v"},
            "members": [{"value": "u1", "display": "U1"}, {"value": "u2"}],
        })
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn project(query: &str) -> Value {
        Projection::from_query(Some(query))
            .unwrap()
            .apply(resource())
    }

    #[test]
    fn projection_keeps_always_returned_attributes() {
        let only = project("attributes=DISPLAYNAME,bogus");
        assert_eq!(keys(&only), ["displayName", "id", "meta", "schemas"]);
        let urn = project("attributes=urn:ietf:params:scim:schemas:core:2.0:Group:externalId");
        assert_eq!(urn["externalId"], "E");
        assert!(urn.get("displayName").is_none());
        let except = project("excludedAttributes=members,displayName,id,meta");
        assert_eq!(keys(&except), ["externalId", "id", "meta", "schemas"]);
    }

    #[test]
    fn projection_of_sub_attributes() {
        let only = project("attributes=members.value");
        assert_eq!(only["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        let except = project("excludedAttributes=members.display");
        assert_eq!(except["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        assert_eq!(except["displayName"], "D");
    }

    #[test]
    fn list_response_counts_what_it_returns() {
        let value = |body| serde_json::to_value(body).unwrap();
        let body: Value = value(list_response(5, 3, vec![json!({"id": "a"})]));
        assert_eq!(body["totalResults"], 5);
        assert_eq!(body["startIndex"], 3);
        assert_eq!(body["itemsPerPage"], 1);
        let empty: Vec<Value> = vec![];
        assert_eq!(value(list_response(0, 1, empty))["Resources"], json!([]));
    }
}
