//! SailPoint's standard collection parameters: `limit` (0..=250), `offset`, `count`,
//! `sorters` and `filters`, validated the way the real API does (bad values → 400), and
//! the page they select, with `X-Total-Count` when `count=true`.

use super::errors::ApiError;
use super::filter::{FieldSpec, Filter};
use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::cmp::Ordering;

/// The largest `limit` list endpoints accept.
pub const MAX_LIMIT: usize = 250;

/// How far the search index behind the entitlement listings pages: `offset + limit` may
/// not pass it (counted from the `searchAfter` position where one is given).
pub const SEARCH_WINDOW: usize = 10_000;

/// One sort key from `sorters` (`-name` = descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sorter {
    pub field: String,
    pub descending: bool,
}

/// What one list request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub limit: usize,
    pub offset: usize,
    pub count: bool,
    pub filter: Filter,
    pub sorters: Vec<Sorter>,
    /// `searchAfter`, split at commas: one value per sorter.
    pub search_after: Option<Vec<String>>,
}

/// What an endpoint allows to filter and sort on.
pub struct Rules {
    pub fields: &'static [FieldSpec],
    pub sorters: &'static [&'static str],
    /// Whether the endpoint takes `searchAfter`; elsewhere the parameter is refused.
    pub search_after: bool,
}

/// The first value of each query parameter (later repeats are ignored).
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn number(pairs: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    match param(pairs, name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "{name}: {v:?} is not a valid value (expected a whole number 0 or more)"
            ))
        }),
    }
}

fn boolean(pairs: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match param(pairs, name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::BadRequest(format!(
            "{name}: {v:?} is not a valid value (expected true or false)"
        ))),
    }
}

fn sorters(text: &str, allowed: &[&str]) -> Result<Vec<Sorter>, ApiError> {
    text.split(',')
        .map(str::trim)
        .map(|s| {
            let (field, descending) = match s.strip_prefix('-') {
                Some(f) => (f, true),
                None => (s, false),
            };
            if allowed.contains(&field) {
                Ok(Sorter {
                    field: field.to_owned(),
                    descending,
                })
            } else {
                Err(ApiError::BadRequest(format!(
                    "sorters: cannot sort on {field:?} (supported: {})",
                    allowed.join(", ")
                )))
            }
        })
        .collect()
}

impl Collection {
    /// Reads and validates the parameters from a raw query string.
    pub fn parse(query: Option<&str>, rules: &Rules) -> Result<Collection, ApiError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let limit = number(&pairs, "limit", MAX_LIMIT)?;
        if limit > MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit: {limit} is out of range (0 to {MAX_LIMIT})"
            )));
        }
        let filter = match param(&pairs, "filters") {
            None => Filter::default(),
            Some(text) => Filter::parse(text, rules.fields)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        };
        let sorters = match param(&pairs, "sorters") {
            None | Some("") => Vec::new(),
            Some(text) => sorters(text, rules.sorters)?,
        };
        let search_after = match param(&pairs, "searchAfter") {
            None => None,
            Some(_) if !rules.search_after => {
                return Err(ApiError::BadRequest(
                    "searchAfter: not a parameter of this endpoint".into(),
                ));
            }
            Some(text) => {
                let values: Vec<String> = text.split(',').map(str::to_owned).collect();
                if values.len() != sorters.len() {
                    return Err(ApiError::BadRequest(format!(
                        "searchAfter: {} value(s) for {} sorter(s); searchAfter length must \
                         match the number of sorters",
                        values.len(),
                        sorters.len()
                    )));
                }
                Some(values)
            }
        };
        Ok(Collection {
            limit,
            offset: number(&pairs, "offset", 0)?,
            count: boolean(&pairs, "count")?,
            filter,
            sorters,
            search_after,
        })
    }

    /// Refuses a page that reaches past the search window, as the search backend does.
    pub fn check_window(&self) -> Result<(), ApiError> {
        if self.offset.saturating_add(self.limit) > SEARCH_WINDOW {
            return Err(ApiError::BadRequest(format!(
                "offset + limit: {} + {} is more than {SEARCH_WINDOW}, the most records offset \
                 paging reaches; filter the listing into smaller parts or page with searchAfter",
                self.offset, self.limit
            )));
        }
        Ok(())
    }

    /// Compares two items' sort keys (one value per sorter) in the sorters' order.
    fn compare(&self, a: &[String], b: &[String]) -> Ordering {
        self.sorters
            .iter()
            .zip(a.iter().zip(b))
            .map(|(s, (x, y))| if s.descending { y.cmp(x) } else { x.cmp(y) })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }

    /// Where the page starts in `items` (sorted by [`Collection::sort`]): after the
    /// `searchAfter` values, or at the beginning.
    pub fn start<T>(&self, items: &[T], key: impl Fn(&T, &str) -> String) -> usize {
        let Some(after) = &self.search_after else {
            return 0;
        };
        items.partition_point(|t| {
            let k: Vec<String> = self.sorters.iter().map(|s| key(t, &s.field)).collect();
            self.compare(&k, after) != Ordering::Greater
        })
    }

    /// Orders `items` by the sorters; `key` gives an item's value for a sort field and is
    /// called once per item and sorter. Items equal on every sorter keep their incoming
    /// order (the sort is stable).
    pub fn sort<T>(&self, items: &mut Vec<T>, key: impl Fn(&T, &str) -> String) {
        if self.sorters.is_empty() {
            return;
        }
        let mut keyed: Vec<(Vec<String>, T)> = items
            .drain(..)
            .map(|t| (self.sorters.iter().map(|s| key(&t, &s.field)).collect(), t))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| self.compare(a, b));
        items.extend(keyed.into_iter().map(|(_, t)| t));
    }

    /// The page `offset..offset+limit` of `items`, rendered by `render`, as a JSON array
    /// response (with `X-Total-Count` when asked for).
    pub fn page<T, J: Serialize>(&self, items: &[T], render: impl Fn(&T) -> J) -> Response {
        self.page_from(items, 0, render)
    }

    /// Like [`Collection::page`], with `offset` counted from `start`; `X-Total-Count`
    /// still tells every item.
    pub fn page_from<T, J: Serialize>(
        &self,
        items: &[T],
        start: usize,
        render: impl Fn(&T) -> J,
    ) -> Response {
        let page: Vec<J> = items
            .iter()
            .skip(start.saturating_add(self.offset))
            .take(self.limit)
            .map(render)
            .collect();
        self.answer(items.len(), &page)
    }

    /// A page already taken, as a JSON array response; `total` is what `X-Total-Count`
    /// tells when `count=true`.
    pub fn answer<J: Serialize>(&self, total: usize, page: &[J]) -> Response {
        let mut resp = (StatusCode::OK, Json(page)).into_response();
        if self.count {
            resp.headers_mut()
                .insert("x-total-count", HeaderValue::from(total));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::filter::Op;

    const RULES: Rules = Rules {
        fields: &[FieldSpec {
            name: "name",
            ops: &[Op::Eq],
        }],
        sorters: &["name", "id"],
        search_after: true,
    };

    #[test]
    fn defaults_and_bounds() {
        let c = Collection::parse(None, &RULES).unwrap();
        assert_eq!((c.limit, c.offset, c.count), (250, 0, false));
        let c = Collection::parse(Some("limit=0&offset=500&count=true"), &RULES).unwrap();
        assert_eq!((c.limit, c.offset, c.count), (0, 500, true));
        for bad in [
            "limit=251",
            "limit=-1",
            "limit=ten",
            "offset=-3",
            "count=yes",
        ] {
            let err = Collection::parse(Some(bad), &RULES).unwrap_err();
            let name = bad.split('=').next().unwrap();
            assert!(err.to_string().contains(name), "{bad}: {err}");
        }
    }

    #[test]
    fn the_window_and_search_after() {
        let c = Collection::parse(Some("offset=9750&limit=250"), &RULES).unwrap();
        assert!(c.check_window().is_ok());
        let c = Collection::parse(Some("offset=9760&limit=250"), &RULES).unwrap();
        assert!(c.check_window().unwrap_err().to_string().contains("10000"));
        let c = Collection::parse(Some("sorters=name,id&searchAfter=b,1"), &RULES).unwrap();
        assert_eq!(c.search_after, Some(vec!["b".into(), "1".into()]));
        let mut items = vec![("b", "2"), ("a", "1"), ("b", "1"), ("c", "0")];
        let key = |t: &(&str, &str), f: &str| if f == "name" { t.0 } else { t.1 }.to_owned();
        c.sort(&mut items, key);
        assert_eq!(c.start(&items, key), 2, "strictly after (b, 1)");
        let c = Collection::parse(Some("sorters=-name,id&searchAfter=b,2"), &RULES).unwrap();
        c.sort(&mut items, key);
        assert_eq!(items[c.start(&items, key)], ("a", "1"));
        for bad in [
            "searchAfter=x",
            "sorters=name,id&searchAfter=x",
            "sorters=id&searchAfter=a,b",
        ] {
            let err = Collection::parse(Some(bad), &RULES).unwrap_err();
            assert!(err.to_string().contains("searchAfter"), "{bad}: {err}");
        }
        let elsewhere = Rules {
            search_after: false,
            ..RULES
        };
        let err = Collection::parse(Some("sorters=id&searchAfter=a"), &elsewhere).unwrap_err();
        assert!(err.to_string().contains("not a parameter"), "{err}");
    }

    #[test]
    fn sorters_are_checked_and_applied() {
        let c = Collection::parse(Some("sorters=-name,id"), &RULES).unwrap();
        let mut items = vec![("b", "2"), ("a", "1"), ("b", "1")];
        c.sort(&mut items, |t, f| {
            if f == "name" { t.0 } else { t.1 }.to_owned()
        });
        assert_eq!(items, vec![("b", "1"), ("b", "2"), ("a", "1")]);
        let err = Collection::parse(Some("sorters=owner"), &RULES).unwrap_err();
        assert!(err.to_string().contains("owner"));
    }
}
