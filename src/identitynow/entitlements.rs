//! The AD source's group entitlements, page by page, all or nothing.
//!
//! A sync that creates groups from a half-read listing would look complete and be wrong,
//! so any doubt ends the fetch with an error and no groups: a page that fails, a page that
//! is not a JSON array of entitlements, an id seen twice, or a count that disagrees with
//! `X-Total-Count` (an aggregation changing the listing while we read it).

use super::Client;
use super::error::Endpoint;
use super::error::IdnError;
use super::query;
use super::request::{Answer, Call};
use super::types::FetchProgress;
use crate::config::ApiVersion;
use crate::domain::SourceGroup;
use serde_json::Value;
use std::collections::HashSet;

/// Offset paging reaches no further than this many records (the search index's window).
const OFFSET_WINDOW: u64 = 10_000;

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cursor {
    Offset(u64),
    /// `searchAfter` (v2026 only): the last id of the previous page, sorted by id.
    After(String),
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cursor::Offset(o) => write!(f, "offset {o}"),
            Cursor::After(id) => write!(f, "after id {id}"),
        }
    }
}

/// One page as read.
pub(super) struct Page {
    pub groups: Vec<SourceGroup>,
    /// `X-Total-Count`, when the server sent a readable one.
    pub total: Option<u64>,
}

/// What has been read so far, and the checks that keep it whole.
struct Listing<'a> {
    source_id: &'a str,
    total: Option<u64>,
    seen: HashSet<String>,
    groups: Vec<SourceGroup>,
    pages: usize,
}

impl<'a> Listing<'a> {
    fn new(source_id: &'a str) -> Self {
        Listing {
            source_id,
            total: None,
            seen: HashSet::new(),
            groups: Vec::new(),
            pages: 0,
        }
    }

    fn inconsistent(&self, detail: String) -> IdnError {
        IdnError::Inconsistent {
            source_id: self.source_id.to_owned(),
            detail,
        }
    }

    /// Adds a page; returns how many groups it held.
    fn take(&mut self, page: Page) -> Result<usize, IdnError> {
        self.pages += 1;
        match (self.total, page.total) {
            (None, total) if self.pages == 1 => self.total = total,
            (Some(first), Some(now)) if first != now => {
                return Err(self.inconsistent(format!(
                    "X-Total-Count was {first} on the first page and {now} on page {}",
                    self.pages
                )));
            }
            _ => {}
        }
        let len = page.groups.len();
        for group in page.groups {
            if !self.seen.insert(group.id.clone()) {
                let detail = format!(
                    "entitlement {} came twice, again on page {}",
                    group.id, self.pages
                );
                return Err(self.inconsistent(detail));
            }
            self.groups.push(group);
        }
        if let Some(total) = self.total
            && self.groups.len() as u64 > total
        {
            let detail = format!(
                "{} listed, more than the X-Total-Count of {total}",
                self.groups.len()
            );
            return Err(self.inconsistent(detail));
        }
        Ok(len)
    }

    fn progress(&self) -> FetchProgress {
        FetchProgress {
            pages: self.pages,
            groups: self.groups.len(),
            total: self.total,
        }
    }

    fn finish(self) -> Result<Vec<SourceGroup>, IdnError> {
        if let Some(total) = self.total
            && total != self.groups.len() as u64
        {
            let detail = format!(
                "X-Total-Count said {total}, {} were listed",
                self.groups.len()
            );
            return Err(self.inconsistent(detail));
        }
        Ok(self.groups)
    }
}

impl Client {
    /// Every group entitlement of the source, all pages or an error: a partial list is
    /// never returned. `progress` is told after each page.
    pub async fn fetch_groups(
        &self,
        source_id: &str,
        progress: &(dyn Fn(FetchProgress) + Send + Sync),
    ) -> Result<Vec<SourceGroup>, IdnError> {
        let mut listing = Listing::new(source_id);
        let mut cursor = Cursor::Offset(0);
        loop {
            let limit = self.page_limit(&cursor);
            let page = self.entitlement_page(source_id, &cursor).await?;
            let len = listing.take(page)?;
            tracing::debug!(
                source_id,
                page = listing.pages,
                %cursor,
                groups = len,
                total = listing.total,
                "entitlement page"
            );
            progress(listing.progress());
            if len < limit {
                break;
            }
            match self.next_cursor(&listing)? {
                Some(next) => cursor = next,
                None => break,
            }
        }
        let (pages, total) = (listing.pages, listing.total);
        let groups = listing.finish()?;
        tracing::info!(
            source_id,
            groups = groups.len(),
            pages,
            total,
            "fetched the source's group entitlements"
        );
        Ok(groups)
    }

    /// After a full page: where the next one starts, or `None` when all are read.
    fn next_cursor(&self, listing: &Listing<'_>) -> Result<Option<Cursor>, IdnError> {
        let read = listing.groups.len() as u64;
        if read >= OFFSET_WINDOW && listing.total == Some(read) {
            // All are here; the empty page that would confirm it lies past the window.
            return Ok(None);
        }
        let beyond_window = listing
            .total
            .map_or(read >= OFFSET_WINDOW, |t| t > OFFSET_WINDOW);
        if !beyond_window {
            return Ok(Some(Cursor::Offset(read)));
        }
        let version = self.inner.settings.api_version;
        match listing.groups.last() {
            Some(last) if version == ApiVersion::V2026 => Ok(Some(Cursor::After(last.id.clone()))),
            _ => Err(IdnError::TooManyForOffsetPaging {
                source_id: listing.source_id.to_owned(),
                total: listing.total.unwrap_or(read),
                version: version.as_path(),
            }),
        }
    }

    /// How many entitlements to ask for from `cursor`: the page size, shortened so that an
    /// offset page ends at the 10,000-record window (the search backend refuses a request
    /// past it, even for a source just under the window).
    fn page_limit(&self, cursor: &Cursor) -> usize {
        let page_size = self.inner.settings.page_size as usize;
        match cursor {
            Cursor::Offset(offset) => {
                page_size.min(OFFSET_WINDOW.saturating_sub(*offset).max(1) as usize)
            }
            Cursor::After(_) => page_size,
        }
    }

    /// One page of the source's group entitlements, from `cursor`, with the filter, sort
    /// and count of a real run.
    pub(super) async fn entitlement_page(
        &self,
        source_id: &str,
        cursor: &Cursor,
    ) -> Result<Page, IdnError> {
        let settings = &self.inner.settings;
        let mut filter = query::eq("source.id", source_id);
        if let Some(extra) = &settings.entitlement_filter {
            filter = format!("{filter} and {extra}");
        }
        let mut pairs = vec![
            ("filters", filter),
            ("sorters", "id".to_owned()),
            ("limit", self.page_limit(cursor).to_string()),
        ];
        pairs.push(match cursor {
            Cursor::Offset(offset) => ("offset", offset.to_string()),
            Cursor::After(id) => ("searchAfter", id.clone()),
        });
        pairs.push(("count", "true".to_owned()));
        let mut call = Call::get(
            Endpoint::Entitlements,
            self.url(&[settings.api_version.as_path(), "entitlements"], &pairs)?,
        );
        call.experimental = settings.api_version.wants_experimental_header();
        let answer = self.get(&call).await?;
        read_page(&answer, cursor)
    }
}

fn read_page(answer: &Answer, cursor: &Cursor) -> Result<Page, IdnError> {
    let malformed = |problem: String| IdnError::Malformed {
        request: answer.label.clone(),
        problem,
    };
    let items = match serde_json::from_slice::<Value>(&answer.body) {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            return Err(malformed(format!(
                "the page at {cursor} is {}, not a JSON array",
                kind(&other)
            )));
        }
        Err(e) => return Err(malformed(format!("the page at {cursor} is not JSON: {e}"))),
    };
    let groups = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            group(item).map_err(|why| malformed(format!("item {i} of the page at {cursor} {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        groups,
        total: total_count(answer),
    })
}

/// An entitlement as a [`SourceGroup`]; `id` and `name` must be strings.
fn group(item: &Value) -> Result<SourceGroup, String> {
    let text = |key: &str| item.get(key).and_then(Value::as_str);
    let id = text("id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("has no `id` (it is {})", kind(item)))?;
    let name = text("name").ok_or_else(|| format!("(entitlement {id}) has no `name`"))?;
    Ok(SourceGroup {
        id: id.to_owned(),
        name: name.to_owned(),
    })
}

/// `X-Total-Count`, ignored (with a warning) when unreadable: it is only a cross-check.
fn total_count(answer: &Answer) -> Option<u64> {
    let raw = answer.headers.get("x-total-count")?;
    let parsed = raw.to_str().ok().and_then(|s| s.trim().parse().ok());
    if parsed.is_none() {
        tracing::warn!(
            value = %String::from_utf8_lossy(raw.as_bytes()),
            "ignoring an unreadable X-Total-Count"
        );
    }
    parsed
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], total: Option<u64>) -> Page {
        Page {
            groups: ids
                .iter()
                .map(|id| SourceGroup {
                    id: (*id).into(),
                    name: format!("G{id}"),
                })
                .collect(),
            total,
        }
    }

    #[test]
    fn the_first_pages_total_is_the_reference() {
        let mut l = Listing::new("src");
        assert_eq!(l.take(page(&["a", "b"], Some(3))).unwrap(), 2);
        assert_eq!(l.take(page(&["c"], None)).unwrap(), 1);
        assert_eq!(l.finish().unwrap().len(), 3);

        let mut l = Listing::new("src");
        l.take(page(&["a"], Some(3))).unwrap();
        let e = l.take(page(&["b"], Some(4))).unwrap_err();
        assert!(
            e.to_string()
                .contains("was 3 on the first page and 4 on page 2"),
            "{e}"
        );
    }

    #[test]
    fn repeats_overshoots_and_shortfalls_are_refused() {
        let mut l = Listing::new("src");
        l.take(page(&["a", "b"], None)).unwrap();
        assert!(matches!(
            l.take(page(&["b"], None)),
            Err(IdnError::Inconsistent { .. })
        ));

        let mut l = Listing::new("src");
        assert!(l.take(page(&["a", "b"], Some(1))).is_err());

        let mut l = Listing::new("src");
        l.take(page(&["a"], Some(2))).unwrap();
        assert!(matches!(l.finish(), Err(IdnError::Inconsistent { .. })));
    }

    #[test]
    fn items_need_string_ids_and_names() {
        let g =
            group(&serde_json::json!({"id": "1", "name": "N", "value": "CN=N", "x": 1})).unwrap();
        assert_eq!((g.id.as_str(), g.name.as_str()), ("1", "N"));
        assert!(
            group(&serde_json::json!({"name": "N"}))
                .unwrap_err()
                .contains("no `id`")
        );
        assert!(group(&serde_json::json!({"id": 5, "name": "N"})).is_err());
        let e = group(&serde_json::json!({"id": "7", "name": null})).unwrap_err();
        assert!(
            e.contains("entitlement 7") && e.contains("no `name`"),
            "{e}"
        );
        assert!(
            group(&serde_json::json!("just text"))
                .unwrap_err()
                .contains("a string")
        );
    }
}
