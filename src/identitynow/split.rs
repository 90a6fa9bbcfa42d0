//! Past the 10,000-record window without `searchAfter`: the listing in ranges of `created`.
//!
//! Offset paging reaches no further than 10,000 records per filter, and `searchAfter` is
//! only on `/v2026/entitlements`, which an API client's token may not call. So a larger
//! listing is cut by creation time: the span from the oldest entitlement to now is halved
//! until each range holds no more than the window, and each range is read with offsets.
//!
//! The ranges are `created lt t1`, `created ge t1 and created lt t2`, …, `created ge tn`:
//! open at both ends, they cover every instant exactly once, so an entitlement created
//! while the listing is read still falls in one. That they were read whole is proved, not
//! assumed: ids are unique across ranges, each range's count is its `X-Total-Count`, and
//! the ranges' totals add up to the unfiltered total. A mismatch is read once more, then
//! fails; more than 10,000 entitlements created in one millisecond cannot be split at all.

use super::entitlements::{Cursor, Keep, Listing, OFFSET_WINDOW, Page, Pages, read_pages};
use super::error::IdnError;
use super::types::FetchProgress;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// A range of creation times: `from` ≤ created < `to`, open where `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// The span halved: `from` or the oldest entitlement, `to` or now.
    low: DateTime<Utc>,
    high: DateTime<Utc>,
}

/// An instant as the filters write it: RFC 3339 in UTC, to the millisecond.
pub(super) fn instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Range {
    /// The filter of the range: `filter`, and its bounds.
    fn filter(&self, filter: &str) -> String {
        let mut out = filter.to_owned();
        if let Some(from) = &self.from {
            out += &format!(" and created ge {}", instant(from));
        }
        if let Some(to) = &self.to {
            out += &format!(" and created lt {}", instant(to));
        }
        out
    }

    /// The earlier and the later half, or `None` when the span is one millisecond.
    fn halves(&self) -> Option<(Range, Range)> {
        let span = (self.high - self.low).num_milliseconds();
        if span < 2 {
            return None;
        }
        let mid = self.low + TimeDelta::milliseconds(span / 2);
        let earlier = Range {
            to: Some(mid),
            high: mid,
            ..*self
        };
        let later = Range {
            from: Some(mid),
            low: mid,
            ..*self
        };
        Some((earlier, later))
    }
}

/// Reads the listing of `filter` (`total` entitlements, more than the window) in ranges of
/// `created`; once more from the start if it changed while it was read. Returns the
/// listing read (the groups `keep` accepts) and how many ranges it took.
pub(super) async fn read<'a, P: Pages>(
    tenant: &P,
    source_id: &'a str,
    filter: &str,
    total: u64,
    keep: Keep<'a>,
    progress: &(dyn Fn(FetchProgress) + Send + Sync),
) -> Result<(Listing<'a>, usize), IdnError> {
    tracing::info!(
        source_id,
        total,
        version = tenant.version().as_path(),
        "more than {OFFSET_WINDOW} entitlements and no searchAfter: reading them in ranges \
         of `created`"
    );
    let mut total = total;
    let mut again = true;
    loop {
        let mut listing = Listing::new(source_id).keeping(keep);
        match read_once(tenant, filter, total, &mut listing, progress).await {
            Ok(parts) => return Ok((listing, parts)),
            Err(e @ IdnError::Inconsistent { .. }) if again => {
                tracing::warn!(source_id, error = %e, "reading the entitlements once more");
                again = false;
                let first = tenant.page(filter, &Cursor::Offset(0)).await?;
                total = count(&first, filter)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `X-Total-Count` of a range's first page, which the proof needs.
fn count(page: &Page, filter: &str) -> Result<u64, IdnError> {
    page.total.ok_or_else(|| IdnError::Malformed {
        request: format!("entitlements where {filter}"),
        problem: "no X-Total-Count, which reading in ranges of `created` needs to prove \
                  every entitlement was read"
            .to_owned(),
    })
}

async fn read_once<P: Pages>(
    tenant: &P,
    filter: &str,
    total: u64,
    listing: &mut Listing<'_>,
    progress: &(dyn Fn(FetchProgress) + Send + Sync),
) -> Result<usize, IdnError> {
    listing.total = Some(total);
    let too_many = || IdnError::TooManyForOffsetPaging {
        source_id: listing.source_id.to_owned(),
        total,
        version: tenant.version().as_path(),
    };
    let oldest = tenant.oldest(filter).await?.ok_or_else(too_many)?;
    let now = Utc::now().max(oldest + TimeDelta::milliseconds(1));
    let whole = Range {
        from: None,
        to: None,
        low: oldest,
        high: now,
    };
    // The whole is known to be too large: start with its halves.
    let (earlier, later) = whole
        .halves()
        .ok_or_else(|| same_instant(listing, total, &oldest))?;
    let mut stack = vec![later, earlier];
    let (mut parts, mut sum) = (0, 0);
    while let Some(range) = stack.pop() {
        let part_filter = range.filter(filter);
        let first = tenant.page(&part_filter, &Cursor::Offset(0)).await?;
        let part_total = count(&first, &part_filter)?;
        if part_total > OFFSET_WINDOW {
            let (earlier, later) = range
                .halves()
                .ok_or_else(|| same_instant(listing, part_total, &range.low))?;
            stack.push(later);
            stack.push(earlier);
            continue;
        }
        read_pages(tenant, &part_filter, first, listing, progress).await?;
        listing.finish_part()?;
        tracing::debug!(filter = %part_filter, total = part_total, "entitlement range read");
        parts += 1;
        sum += part_total;
    }
    if sum != total {
        return Err(listing.inconsistent(format!(
            "the {parts} ranges of `created` hold {sum} entitlements, the whole listing {total}"
        )));
    }
    Ok(parts)
}

fn same_instant(listing: &Listing<'_>, count: u64, at: &DateTime<Utc>) -> IdnError {
    IdnError::TooManyInOneInstant {
        source_id: listing.source_id.to_owned(),
        count,
        at: instant(at),
    }
}

#[cfg(test)]
mod tests {
    use super::super::entitlements::{Paging, group_entry};
    use super::*;
    use crate::config::ApiVersion;
    use crate::domain::SourceGroup;
    use std::sync::Mutex;

    /// A tenant in memory: entitlements with ids and creation times, offset paging inside
    /// the window, the `created ge/lt` bounds of the filter, `X-Total-Count`.
    struct Fake {
        items: Mutex<Vec<(String, DateTime<Utc>)>>,
        page_size: usize,
        requests: Mutex<Vec<String>>,
        /// Created after this many requests, once: an entitlement aggregated mid-read.
        arrives: Option<(usize, DateTime<Utc>)>,
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::milliseconds(1_600_000_000_000 + ms)
    }

    impl Fake {
        fn new(times: impl IntoIterator<Item = i64>) -> Fake {
            let items = times
                .into_iter()
                .enumerate()
                .map(|(i, t)| (format!("{i:08}"), at(t)))
                .collect();
            Fake {
                items: Mutex::new(items),
                page_size: 250,
                requests: Mutex::new(Vec::new()),
                arrives: None,
            }
        }

        /// Every `created {op}` bound of the filter, the narrowest by `pick`.
        fn bound(
            filter: &str,
            op: &str,
            pick: fn(DateTime<Utc>, DateTime<Utc>) -> DateTime<Utc>,
        ) -> Option<DateTime<Utc>> {
            filter
                .split(&format!("created {op} "))
                .skip(1)
                .filter_map(|rest| {
                    let text = rest.split(' ').next()?;
                    Some(DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc))
                })
                .reduce(pick)
        }

        fn matching(&self, filter: &str) -> Vec<(String, DateTime<Utc>)> {
            let ge = Self::bound(filter, "ge", DateTime::max);
            let lt = Self::bound(filter, "lt", DateTime::min);
            let mut items: Vec<_> = self
                .items
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, t)| ge.is_none_or(|g| *t >= g) && lt.is_none_or(|l| *t < l))
                .cloned()
                .collect();
            items.sort();
            items
        }

        fn log(&self, filter: &str) {
            let mut requests = self.requests.lock().unwrap();
            requests.push(filter.to_owned());
            if let Some((n, t)) = self.arrives
                && requests.len() == n
            {
                self.items.lock().unwrap().push(("late".into(), t));
            }
        }

        fn requests(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    impl Pages for Fake {
        type Answer = Page;

        fn read(page: Page, _: &Cursor) -> Result<Page, IdnError> {
            Ok(page)
        }

        fn version(&self) -> ApiVersion {
            ApiVersion::V2025
        }

        fn page_limit(&self, cursor: &Cursor) -> usize {
            match cursor {
                Cursor::Offset(o) => self.page_size.min((OFFSET_WINDOW - o) as usize).max(1),
                Cursor::After(_) => unreachable!("no searchAfter on v2025"),
            }
        }

        async fn fetch(&self, filter: &str, cursor: &Cursor) -> Result<Page, IdnError> {
            self.log(filter);
            let Cursor::Offset(offset) = cursor else {
                unreachable!("no searchAfter on v2025")
            };
            let limit = self.page_limit(cursor);
            assert!(
                *offset as usize + limit <= OFFSET_WINDOW as usize,
                "past the window"
            );
            let items = self.matching(filter);
            let entries = items
                .iter()
                .skip(*offset as usize)
                .take(limit)
                .map(|(id, _)| group_entry(id))
                .collect();
            Ok(Page {
                entries,
                total: Some(items.len() as u64),
            })
        }

        async fn oldest(&self, filter: &str) -> Result<Option<DateTime<Utc>>, IdnError> {
            self.log(filter);
            Ok(self.matching(filter).iter().map(|(_, t)| *t).min())
        }
    }

    async fn read_all(fake: &Fake) -> Result<(Vec<String>, usize), IdnError> {
        let first = fake.page("f", &Cursor::Offset(0)).await?;
        let total = first.total.unwrap();
        let (listing, parts) = read(fake, "src", "f", total, None, &|_| {}).await?;
        assert_eq!(listing.total, Some(listing.read as u64));
        let selection = listing.finish(String::new())?;
        Ok((selection.groups.into_iter().map(|g| g.id).collect(), parts))
    }

    fn assert_each_once(ids: &[String], n: usize) {
        let mut sorted = ids.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), n, "each once");
        assert_eq!(ids.len(), n);
    }

    #[tokio::test]
    async fn twenty_five_thousand_spread_over_years_are_read_once_each() {
        let year = 365 * 86_400_000_i64;
        let fake = Fake::new((0..25_000).map(|i| (i * 7_919 * 1_000_003) % (5 * year)));
        let (ids, parts) = read_all(&fake).await.unwrap();
        assert_each_once(&ids, 25_000);
        assert!((3..=8).contains(&parts), "{parts} ranges");
        // Every page of every range, a probe per range split, the oldest, the first page.
        assert!(fake.requests() < 25_000 / 250 + 20, "{}", fake.requests());
    }

    #[tokio::test]
    async fn a_listing_narrowed_by_created_ge_is_split_within_its_bound_keeping_a_few() {
        use super::super::entitlements::read_listing;
        // 30,000 a second apart; the 25,000 from the 5,000th on are asked for.
        let fake = Fake::new((0..30_000).map(|i| i * 1_000));
        let filter = format!("f and created ge {}", instant(&at(5_000_000)));
        let keep = |g: &SourceGroup| g.name.ends_with("777");
        let selection = read_listing(&fake, "src", filter, Some(&keep), &|_| {})
            .await
            .unwrap();
        assert!(matches!(selection.paging, Paging::Split { .. }));
        assert_eq!(selection.selected.get("memberOf"), Some(&25_000));
        let kept: Vec<&str> = selection.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(kept.len(), 25, "{kept:?}");
        assert!(
            kept.iter()
                .all(|id| id.ends_with("777") && *id >= "00005000")
        );
    }

    #[tokio::test]
    async fn crowded_instants_are_split_to_the_millisecond() {
        // 10,000 in one millisecond and 5,000 in the next: each range fits exactly.
        let fake = Fake::new((0..15_000).map(|i| if i < 10_000 { 0 } else { 1 }));
        let (ids, _) = read_all(&fake).await.unwrap();
        assert_each_once(&ids, 15_000);
    }

    #[tokio::test]
    async fn more_than_the_window_in_one_instant_fails_naming_the_fix() {
        let fake = Fake::new((0..10_001).map(|i| if i < 10_001 { 5 } else { 0 }));
        let e = read_all(&fake).await.unwrap_err();
        assert!(
            matches!(&e, IdnError::TooManyInOneInstant { count: 10_001, .. }),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("personal access token") && text.contains("v2026"),
            "{text}"
        );

        let mut fake = Fake::new((0..10_500).map(|i| if i < 10_001 { 5 } else { 9_000 }));
        fake.page_size = 100;
        let e = read_all(&fake).await.unwrap_err();
        assert!(matches!(e, IdnError::TooManyInOneInstant { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn an_entitlement_created_during_the_read_is_read_again_not_lost() {
        let mut fake = Fake::new((0..12_000).map(|i| i * 1_000));
        // Arrives after the oldest was probed, in a range read already.
        fake.arrives = Some((3, at(5)));
        let (ids, _) = read_all(&fake).await.unwrap();
        assert_each_once(&ids, 12_001);
    }

    #[tokio::test]
    async fn a_listing_that_keeps_changing_fails() {
        struct Moving(Fake);
        impl Pages for Moving {
            type Answer = Page;
            fn read(page: Page, _: &Cursor) -> Result<Page, IdnError> {
                Ok(page)
            }
            fn version(&self) -> ApiVersion {
                self.0.version()
            }
            fn page_limit(&self, cursor: &Cursor) -> usize {
                self.0.page_limit(cursor)
            }
            async fn fetch(&self, filter: &str, cursor: &Cursor) -> Result<Page, IdnError> {
                let mut page = self.0.page(filter, cursor).await?;
                // The unfiltered total always says one more than the ranges hold.
                if !filter.contains("created") {
                    page.total = page.total.map(|t| t + 1);
                }
                Ok(page)
            }
            async fn oldest(&self, filter: &str) -> Result<Option<DateTime<Utc>>, IdnError> {
                self.0.oldest(filter).await
            }
        }
        let moving = Moving(Fake::new((0..11_000).map(|i| i * 10)));
        let first = moving.page("f", &Cursor::Offset(0)).await.unwrap();
        let e = read(&moving, "src", "f", first.total.unwrap(), None, &|_| {})
            .await
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("hold 11000 entitlements, the whole listing 11001"),
            "{e}"
        );
    }

    #[test]
    fn ranges_are_open_at_the_ends_and_meet_without_gaps() {
        let whole = Range {
            from: None,
            to: None,
            low: at(0),
            high: at(10),
        };
        let (a, b) = whole.halves().unwrap();
        assert_eq!(a.filter("f"), "f and created lt 2020-09-13T12:26:40.005Z");
        assert_eq!(b.filter("f"), "f and created ge 2020-09-13T12:26:40.005Z");
        let (c, d) = b.halves().unwrap();
        assert_eq!(c.to, d.from);
        assert_eq!(d.to, None);
        let one = Range {
            low: at(3),
            high: at(4),
            ..whole
        };
        assert_eq!(one.halves(), None);
    }
}
