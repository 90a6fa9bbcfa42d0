//! The source's group entitlements, page by page, all or nothing.
//!
//! Every entitlement of the source is read (narrowed by `identitynow.entitlement_filter`
//! when one is set) and only those whose `sourceSchemaObjectType` is `group` are kept, so
//! the on-premises AD connector (groups under `memberOf`) and the Entra ID connector
//! (groups under `groups`, besides licences and roles) need no attribute named. What was
//! kept and left out, by attribute, comes back as a [`Selection`].
//!
//! A sync that creates groups from a half-read listing would look complete and be wrong,
//! so any doubt ends the fetch with an error and no groups: a page that fails, a page that
//! is not a JSON array of entitlements, an id seen twice, or a count that disagrees with
//! `X-Total-Count` (an aggregation changing the listing while we read it).

use super::Client;
use super::ahead::{Ahead, read_ahead};
use super::error::Endpoint;
use super::error::IdnError;
use super::query;
use super::request::{Answer, Call};
use super::split;
use super::types::FetchProgress;
use crate::config::ApiVersion;
use crate::domain::SourceGroup;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, RandomState};

/// Offset paging reaches no further than this many records (the search index's window).
pub const OFFSET_WINDOW: u64 = 10_000;

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

/// The schema object type of the entitlements that are groups.
const GROUP_OBJECT_TYPE: &str = "group";

/// The most entitlements room is made for ahead of reading them (`X-Total-Count` is the
/// server's word; a larger source still reads, growing its list).
const MAX_RESERVED: usize = 1_000_000;

/// How an entitlement without an `attribute` is counted.
const NO_ATTRIBUTE: &str = "(no attribute)";

/// One entitlement as read: the group it would be, and whether it is one.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub group: SourceGroup,
    /// The account attribute holding it (`memberOf` on AD, `groups` on Entra ID).
    pub attribute: Option<String>,
    /// Its `sourceSchemaObjectType` is `group`.
    pub is_group: bool,
}

/// One page as read.
pub(super) struct Page {
    pub entries: Vec<Entry>,
    /// `X-Total-Count`, when the server sent a readable one.
    pub total: Option<u64>,
}

/// The source's group entitlements, and what was read besides them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub groups: Vec<SourceGroup>,
    /// The filter sent (`source.id eq "…"`, and `identitynow.entitlement_filter`).
    pub filter: String,
    /// Group entitlements kept, by attribute.
    pub selected: BTreeMap<String, usize>,
    /// Entitlements of other types (licences, roles, …) left out, by attribute.
    pub left_out: BTreeMap<String, usize>,
    /// How the listing was read.
    pub paging: Paging,
}

impl Selection {
    /// Every attribute seen, groups or not, for a message about an empty selection.
    pub fn attributes_seen(&self) -> String {
        let seen: Vec<String> = self
            .selected
            .iter()
            .chain(&self.left_out)
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        if seen.is_empty() {
            "none: the source has no entitlements that match".to_owned()
        } else {
            seen.join(", ")
        }
    }
}

fn by_attribute(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(a, n)| format!("{n} under {a}"))
        .collect();
    parts.join(", ")
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} group entitlements selected ({}); other entitlements left out: {}; read by {}",
            self.groups.len(),
            by_attribute(&self.selected),
            by_attribute(&self.left_out),
            self.paging,
        )
    }
}

/// How a listing was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Paging {
    /// Offset paging: the listing fits in the 10,000-record window.
    #[default]
    Offset,
    /// `searchAfter` past the window (`api_version = "v2026"`, a personal access token).
    SearchAfter,
    /// Past the window without `searchAfter`: ranges of `created`, each read with offsets.
    Split { parts: usize },
}

impl fmt::Display for Paging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Paging::Offset => f.write_str("offset paging"),
            Paging::SearchAfter => f.write_str("searchAfter paging past 10000"),
            Paging::Split { parts } => write!(
                f,
                "offset paging in {parts} ranges of `created` (past 10000, without searchAfter)"
            ),
        }
    }
}

/// How a listing will be read, decided from its first page's `X-Total-Count` before the
/// rest is asked for (by a run, and said in advance by `groupsync check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// In one listing with offset paging: it fits in the 10,000-record window (or the
    /// server gave no total).
    Offset,
    /// With `searchAfter` past the window (`api_version = "v2026"`, which only a personal
    /// access token may call).
    SearchAfter,
    /// Past the window without `searchAfter`: in ranges of `created`, each read with offsets.
    CreatedRanges,
}

impl Reading {
    /// How `total` entitlements are read with `version`.
    pub fn of(total: Option<u64>, version: ApiVersion) -> Reading {
        match total {
            Some(t) if t > OFFSET_WINDOW && version == ApiVersion::V2026 => Reading::SearchAfter,
            Some(t) if t > OFFSET_WINDOW => Reading::CreatedRanges,
            _ => Reading::Offset,
        }
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reading::Offset => "read in one listing with offset paging",
            Reading::SearchAfter => "read with searchAfter",
            Reading::CreatedRanges => "read in ranges of `created` (searchAfter is v2026 only)",
        })
    }
}

/// Which group entitlements a listing keeps as it reads them (`None`: all); the others are
/// counted by attribute and dropped with their page, so a reader looking for a few groups
/// never holds the whole listing.
pub(super) type Keep<'a> = Option<&'a (dyn Fn(&SourceGroup) -> bool + Sync)>;

/// The page read of one filter (the whole listing, or one range of a split listing).
#[derive(Default)]
pub(super) struct Part {
    /// `X-Total-Count` of the part's first page.
    pub total: Option<u64>,
    pub read: usize,
    pub pages: usize,
}

/// What has been read so far, and the checks that keep it whole.
pub(super) struct Listing<'a> {
    pub source_id: &'a str,
    /// The whole listing's `X-Total-Count` (progress, and the split's cross-check).
    pub total: Option<u64>,
    /// A 128-bit digest of each id read (16 bytes, where the ids themselves take 56 with
    /// their set's overhead); two ids share one with a chance of about 10^-29 at 100,000.
    seen: HashSet<u128>,
    digest: [RandomState; 2],
    /// Every entitlement read, groups or not (what `X-Total-Count` counts).
    pub read: usize,
    /// The last id read, where `searchAfter` continues.
    last_id: Option<String>,
    selection: Selection,
    keep: Keep<'a>,
    pub pages: usize,
    pub part: Part,
}

impl<'a> Listing<'a> {
    pub fn new(source_id: &'a str) -> Self {
        Listing {
            source_id,
            total: None,
            seen: HashSet::new(),
            digest: [RandomState::new(), RandomState::new()],
            read: 0,
            last_id: None,
            selection: Selection::default(),
            keep: None,
            pages: 0,
            part: Part::default(),
        }
    }

    /// The same listing keeping only the groups `keep` accepts.
    pub fn keeping(self, keep: Keep<'a>) -> Self {
        Listing { keep, ..self }
    }

    /// The id's digest: two independent 64-bit hashes.
    fn digest(&self, id: &str) -> u128 {
        let [a, b] = &self.digest;
        (u128::from(a.hash_one(id)) << 64) | u128::from(b.hash_one(id))
    }

    pub fn inconsistent(&self, detail: String) -> IdnError {
        IdnError::Inconsistent {
            source_id: self.source_id.to_owned(),
            detail,
        }
    }

    /// Adds a page of the current part; returns how many entitlements it held.
    pub fn take(&mut self, page: Page) -> Result<usize, IdnError> {
        self.pages += 1;
        self.part.pages += 1;
        match (self.part.total, page.total) {
            (None, total) if self.part.pages == 1 => {
                self.part.total = total;
                // the list is made once at its size rather than grown by doubling
                if self.total.is_none()
                    && let Some(n) = total.and_then(|n| usize::try_from(n).ok())
                {
                    if self.keep.is_none() {
                        self.selection.groups.reserve(n.min(MAX_RESERVED));
                    }
                    self.seen.reserve(n.min(MAX_RESERVED));
                }
                self.total = self.total.or(total);
            }
            (Some(first), Some(now)) if first != now => {
                return Err(self.inconsistent(format!(
                    "X-Total-Count was {first} on the first page and {now} on page {}",
                    self.pages
                )));
            }
            _ => {}
        }
        let len = page.entries.len();
        for entry in page.entries {
            if !self.seen.insert(self.digest(&entry.group.id)) {
                let detail = format!(
                    "entitlement {} came twice, again on page {}",
                    entry.group.id, self.pages
                );
                return Err(self.inconsistent(detail));
            }
            self.read += 1;
            self.part.read += 1;
            self.last_id = Some(entry.group.id.clone());
            let attribute = entry.attribute.unwrap_or_else(|| NO_ATTRIBUTE.to_owned());
            let s = &mut self.selection;
            if entry.is_group {
                *s.selected.entry(attribute).or_default() += 1;
                if self.keep.is_none_or(|keep| keep(&entry.group)) {
                    s.groups.push(entry.group);
                }
            } else {
                *s.left_out.entry(attribute).or_default() += 1;
            }
        }
        if let Some(total) = self.part.total
            && self.part.read as u64 > total
        {
            let detail = format!(
                "{} listed, more than the X-Total-Count of {total}",
                self.part.read
            );
            return Err(self.inconsistent(detail));
        }
        Ok(len)
    }

    fn progress(&self) -> FetchProgress {
        FetchProgress {
            pages: self.pages,
            groups: self.read,
            total: self.total,
        }
    }

    /// The current part is read: its count must be its `X-Total-Count`. The next page
    /// taken starts a new part.
    pub fn finish_part(&mut self) -> Result<(), IdnError> {
        let part = std::mem::take(&mut self.part);
        match part.total {
            Some(total) if total != part.read as u64 => {
                let detail = format!("X-Total-Count said {total}, {} were listed", part.read);
                Err(self.inconsistent(detail))
            }
            _ => Ok(()),
        }
    }

    pub fn finish(mut self, filter: String) -> Result<Selection, IdnError> {
        self.finish_part()?;
        Ok(Selection {
            filter,
            ..self.selection
        })
    }
}

/// What reading a listing needs from the tenant; the [`Client`], or a fake in tests.
pub(super) trait Pages: Sync {
    /// A page's answer as it came, before it is read.
    type Answer: Send + 'static;

    /// The API version the pages are read with (`searchAfter` only on v2026).
    fn version(&self) -> ApiVersion;

    /// How many entitlements to ask for from `cursor`.
    fn page_limit(&self, cursor: &Cursor) -> usize;

    /// The answer to the request of one page of the entitlements matching `filter`, sorted
    /// by id, with `X-Total-Count`.
    fn fetch(
        &self,
        filter: &str,
        cursor: &Cursor,
    ) -> impl Future<Output = Result<Self::Answer, IdnError>> + Send;

    /// Reads the answer of the page at `cursor`: work for the processor alone, so that it
    /// can be done on another thread while the next page's request is out.
    fn read(answer: Self::Answer, cursor: &Cursor) -> Result<Page, IdnError>;

    /// One page, fetched and read.
    fn page(
        &self,
        filter: &str,
        cursor: &Cursor,
    ) -> impl Future<Output = Result<Page, IdnError>> + Send {
        async move { Self::read(self.fetch(filter, cursor).await?, cursor) }
    }

    /// When the oldest entitlement matching `filter` was created (`None`: no entitlement,
    /// or no readable `created`).
    fn oldest(
        &self,
        filter: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, IdnError>> + Send;
}

/// Reads every entitlement matching `filter`, page by page, all or an error: offset
/// paging, with `searchAfter` past the window on v2026, and ranges of `created` past it
/// on the other versions.
pub(super) async fn read_listing<P: Pages>(
    tenant: &P,
    source_id: &str,
    filter: String,
    keep: Keep<'_>,
    progress: &(dyn Fn(FetchProgress) + Send + Sync),
) -> Result<Selection, IdnError> {
    let first = tenant.page(&filter, &Cursor::Offset(0)).await?;
    let reading = Reading::of(first.total, tenant.version());
    let (listing, paging) = match (reading, first.total) {
        (Reading::CreatedRanges, Some(total)) => {
            let (listing, parts) =
                split::read(tenant, source_id, &filter, total, keep, progress).await?;
            (listing, Paging::Split { parts })
        }
        _ => {
            let mut listing = Listing::new(source_id).keeping(keep);
            read_pages(tenant, &filter, first, &mut listing, progress).await?;
            let paging = match reading {
                Reading::SearchAfter => Paging::SearchAfter,
                _ => Paging::Offset,
            };
            (listing, paging)
        }
    };
    let (pages, total) = (listing.pages, listing.total);
    let mut selection = listing.finish(filter)?;
    selection.paging = paging;
    tracing::info!(
        source_id,
        groups = selection.groups.len(),
        selected = %by_attribute(&selection.selected),
        left_out = %by_attribute(&selection.left_out),
        pages,
        total,
        %paging,
        "fetched the source's group entitlements"
    );
    Ok(selection)
}

/// Takes `first` and the pages after it, until a short page or the part's total.
pub(super) async fn read_pages<P: Pages>(
    tenant: &P,
    filter: &str,
    first: Page,
    listing: &mut Listing<'_>,
    progress: &(dyn Fn(FetchProgress) + Send + Sync),
) -> Result<(), IdnError> {
    let mut cursor = Cursor::Offset(0);
    let mut page = first;
    let mut ahead = None;
    loop {
        let limit = tenant.page_limit(&cursor);
        let len = listing.take(page)?;
        tracing::debug!(
            source_id = listing.source_id,
            page = listing.pages,
            %cursor,
            groups = len,
            total = listing.part.total,
            "entitlement page"
        );
        progress(listing.progress());
        if len < limit {
            return Ok(());
        }
        match next_cursor(tenant.version(), listing)? {
            Some(next) => cursor = next,
            None => return Ok(()),
        }
        let answer = match ahead.take() {
            Some(Ahead { at, answer }) if at == cursor => answer?,
            // asked for in vain: the page before it was not what its count promised
            _ => tenant.fetch(filter, &cursor).await?,
        };
        (page, ahead) = read_ahead(tenant, filter, answer, &cursor, listing.part.total).await?;
    }
}

/// After a full page: where the next one starts, or `None` when all are read.
fn next_cursor(version: ApiVersion, listing: &Listing<'_>) -> Result<Option<Cursor>, IdnError> {
    let (read, total) = (listing.part.read as u64, listing.part.total);
    if read >= OFFSET_WINDOW && total == Some(read) {
        // All are here; the empty page that would confirm it lies past the window.
        return Ok(None);
    }
    let beyond_window = total.map_or(read >= OFFSET_WINDOW, |t| t > OFFSET_WINDOW);
    if !beyond_window {
        return Ok(Some(Cursor::Offset(read)));
    }
    match &listing.last_id {
        Some(last) if version == ApiVersion::V2026 => Ok(Some(Cursor::After(last.clone()))),
        _ => Err(IdnError::TooManyForOffsetPaging {
            source_id: listing.source_id.to_owned(),
            total: total.unwrap_or(read),
            version: version.as_path(),
        }),
    }
}

impl Pages for Client {
    type Answer = Answer;

    fn version(&self) -> ApiVersion {
        self.inner.settings.api_version
    }

    /// The page size, shortened so that an offset page ends at the 10,000-record window
    /// (the search backend refuses a request past it, even for a source just under it).
    fn page_limit(&self, cursor: &Cursor) -> usize {
        let page_size = self.inner.settings.page_size as usize;
        match cursor {
            Cursor::Offset(offset) => {
                page_size.min(OFFSET_WINDOW.saturating_sub(*offset).max(1) as usize)
            }
            Cursor::After(_) => page_size,
        }
    }

    async fn fetch(&self, filter: &str, cursor: &Cursor) -> Result<Answer, IdnError> {
        self.list(filter, "id", self.page_limit(cursor), cursor)
            .await
    }

    fn read(answer: Answer, cursor: &Cursor) -> Result<Page, IdnError> {
        read_page(&answer, cursor)
    }

    async fn oldest(&self, filter: &str) -> Result<Option<DateTime<Utc>>, IdnError> {
        let cursor = Cursor::Offset(0);
        let answer = self.list(filter, "created", 1, &cursor).await?;
        let items: Vec<Value> =
            serde_json::from_slice(&answer.body).map_err(|e| IdnError::Malformed {
                request: answer.label.clone(),
                problem: format!("the oldest entitlement is not a JSON array: {e}"),
            })?;
        Ok(items
            .first()
            .and_then(|item| item.get("created"))
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)))
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
        Ok(self.fetch_selection(source_id, progress).await?.groups)
    }

    /// Like [`Client::fetch_groups`], with what was selected and left out, by attribute.
    pub async fn fetch_selection(
        &self,
        source_id: &str,
        progress: &(dyn Fn(FetchProgress) + Send + Sync),
    ) -> Result<Selection, IdnError> {
        let filter = self.entitlement_filter(source_id);
        read_listing(self, source_id, filter, None, progress).await
    }

    /// The group entitlements of any source (the Alation SCIM source, say), all pages:
    /// `identitynow.entitlement_filter`, which is written for the AD source, is not applied.
    pub async fn source_groups(&self, source_id: &str) -> Result<Selection, IdnError> {
        let filter = query::eq("source.id", source_id);
        read_listing(self, source_id, filter, None, &|_| {}).await
    }

    /// The group entitlements of any source created at or after `since`, all pages of that
    /// narrower listing (past the window as any listing), keeping only those `keep`
    /// accepts: the others are counted in the [`Selection`], not returned.
    pub async fn source_groups_since(
        &self,
        source_id: &str,
        since: DateTime<Utc>,
        keep: &(dyn Fn(&SourceGroup) -> bool + Sync),
    ) -> Result<Selection, IdnError> {
        let filter = created_since(source_id, &since);
        read_listing(self, source_id, filter, Some(keep), &|_| {}).await
    }

    /// The filter of every entitlement page: the source, and the configured filter.
    fn entitlement_filter(&self, source_id: &str) -> String {
        let filter = query::eq("source.id", source_id);
        match &self.inner.settings.entitlement_filter {
            Some(extra) => query::and(&filter, extra),
            None => filter,
        }
    }

    /// One page of the source's group entitlements, from `cursor`, with the filter, sort
    /// and count of a real run.
    pub(super) async fn entitlement_page(
        &self,
        source_id: &str,
        cursor: &Cursor,
    ) -> Result<Page, IdnError> {
        self.page(&self.entitlement_filter(source_id), cursor).await
    }

    /// One request of the listing: `limit` entitlements from `cursor`, sorted by `sorters`,
    /// with `X-Total-Count`. Every one waits for the rate limiter.
    async fn list(
        &self,
        filter: &str,
        sorters: &str,
        limit: usize,
        cursor: &Cursor,
    ) -> Result<Answer, IdnError> {
        let settings = &self.inner.settings;
        let mut pairs = vec![
            ("filters", filter.to_owned()),
            ("sorters", sorters.to_owned()),
            ("limit", limit.to_string()),
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
        call.what = Some(if sorters == "id" {
            format!("entitlements at {cursor}")
        } else {
            format!("entitlements sorted by {sorters}")
        });
        self.get(&call).await
    }
}

/// `source.id eq "…" and created ge …`: the source's entitlements created at or after
/// `since`, the instant written as the ranges of a split listing write theirs.
fn created_since(source_id: &str, since: &DateTime<Utc>) -> String {
    format!(
        "{} and created ge {}",
        query::eq("source.id", source_id),
        split::instant(since)
    )
}

pub(super) fn read_page(answer: &Answer, cursor: &Cursor) -> Result<Page, IdnError> {
    let entries = match Wire::entries(&answer.body) {
        Some(entries) => entries,
        None => read_entries(answer, cursor)?,
    };
    Ok(Page {
        entries,
        total: total_count(answer),
    })
}

/// The fields of an entitlement a run reads. Read this way, the dozens of others an
/// entitlement carries are skipped rather than built into values and dropped, which
/// halves the time a page of 250 takes to read.
#[derive(serde::Deserialize)]
struct Wire {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    attribute: Option<Value>,
    #[serde(default, rename = "sourceSchemaObjectType")]
    object_type: Option<Value>,
}

impl Wire {
    /// Every entitlement of a well-formed page; `None` when anything is amiss, for
    /// [`read_entries`] to say what.
    fn entries(body: &[u8]) -> Option<Vec<Entry>> {
        let items: Vec<Wire> = serde_json::from_slice(body).ok()?;
        items.into_iter().map(Wire::entry).collect()
    }

    /// As [`entry`] reads it, or `None` where `entry` finds fault.
    fn entry(self) -> Option<Entry> {
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let id = text(self.id).filter(|id| !id.is_empty())?;
        let name = text(self.name)?;
        Some(Entry {
            group: SourceGroup {
                id,
                name,
                value: text(self.value).unwrap_or_default(),
            },
            attribute: text(self.attribute),
            is_group: text(self.object_type)
                .is_some_and(|t| t.eq_ignore_ascii_case(GROUP_OBJECT_TYPE)),
        })
    }
}

/// A page's entitlements read as JSON values, saying which item is wrong and how.
fn read_entries(answer: &Answer, cursor: &Cursor) -> Result<Vec<Entry>, IdnError> {
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
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            entry(item).map_err(|why| malformed(format!("item {i} of the page at {cursor} {why}")))
        })
        .collect()
}

/// An entitlement as an [`Entry`]: a group when its `sourceSchemaObjectType` is `group`
/// (in any case), whatever attribute holds it.
fn entry(item: &Value) -> Result<Entry, String> {
    let text = |key: &str| item.get(key).and_then(Value::as_str);
    Ok(Entry {
        group: group(item)?,
        attribute: text("attribute").map(str::to_owned),
        is_group: text("sourceSchemaObjectType")
            .is_some_and(|t| t.eq_ignore_ascii_case(GROUP_OBJECT_TYPE)),
    })
}

/// An entitlement as a [`SourceGroup`]; `id` and `name` must be strings, `value` (the
/// group's DN) is kept when it is one.
fn group(item: &Value) -> Result<SourceGroup, String> {
    let text = |key: &str| item.get(key).and_then(Value::as_str);
    let id = text("id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("has no `id` (it is {})", kind(item)))?;
    let name = text("name").ok_or_else(|| format!("(entitlement {id}) has no `name`"))?;
    Ok(SourceGroup {
        id: id.to_owned(),
        name: name.to_owned(),
        value: text("value").unwrap_or_default().to_owned(),
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

/// A group entitlement of the tests' fake tenants: id `id`, name `G{id}`.
#[cfg(test)]
pub(super) fn group_entry(id: &str) -> Entry {
    Entry {
        group: SourceGroup {
            id: id.into(),
            name: format!("G{id}"),
            value: String::new(),
        },
        attribute: Some("memberOf".into()),
        is_group: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], total: Option<u64>) -> Page {
        Page {
            entries: ids.iter().map(|id| group_entry(id)).collect(),
            total,
        }
    }

    #[test]
    fn the_first_pages_total_is_the_reference() {
        let mut l = Listing::new("src");
        assert_eq!(l.take(page(&["a", "b"], Some(3))).unwrap(), 2);
        assert_eq!(l.take(page(&["c"], None)).unwrap(), 1);
        assert_eq!(l.finish(String::new()).unwrap().groups.len(), 3);

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
        assert!(matches!(
            l.finish(String::new()),
            Err(IdnError::Inconsistent { .. })
        ));
    }

    #[test]
    fn entitlements_created_since_an_instant_are_asked_for_by_source_and_created_ge() {
        let since = DateTime::parse_from_rfc3339("2026-03-01T09:15:00.5+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            created_since("2c91", &since),
            r#"source.id eq "2c91" and created ge 2026-03-01T08:15:00.500Z"#
        );
    }

    #[test]
    fn a_listing_keeping_some_groups_counts_every_one() {
        let wanted = |g: &SourceGroup| g.name == "Gb";
        let mut l = Listing::new("src").keeping(Some(&wanted));
        l.take(page(&["a", "b"], Some(3))).unwrap();
        l.take(page(&["c"], None)).unwrap();
        let selection = l.finish(String::new()).unwrap();
        let ids: Vec<&str> = selection.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["b"]);
        assert_eq!(selection.selected.get("memberOf"), Some(&3));
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

#[cfg(test)]
mod wire_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_quick_reading_reads_what_the_full_one_reads() {
        let page = json!([
            {"id": "a", "name": "A", "value": "CN=A", "attribute": "memberOf",
             "sourceSchemaObjectType": "group", "description": "x", "owner": {"id": "o"}},
            {"id": "b", "name": "B", "value": 7, "sourceSchemaObjectType": "GROUP"},
            {"id": "c", "name": "C", "attribute": null, "sourceSchemaObjectType": "license",
             "privileged": false, "segments": []},
        ]);
        let body = serde_json::to_vec(&page).unwrap();
        let quick = Wire::entries(&body).expect("a well-formed page");
        let full: Vec<Entry> = page
            .as_array()
            .unwrap()
            .iter()
            .map(|item| entry(item).unwrap())
            .collect();
        assert_eq!(quick, full);
        assert_eq!(quick.len(), 3);
        assert!(quick[1].is_group && quick[1].group.value.is_empty());
        for bad in [
            json!([{"name": "no id"}]),
            json!([{"id": "", "name": "x"}]),
            json!([{"id": "x", "name": 3}]),
            json!({"not": "an array"}),
            json!(["text"]),
        ] {
            let body = serde_json::to_vec(&bad).unwrap();
            assert!(Wire::entries(&body).is_none(), "{bad}");
        }
    }
}
