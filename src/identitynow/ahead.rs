//! Asking for the next entitlement page while the last one is read.
//!
//! Reading a page of 250 entitlements (about 230 KB) came between one request's answer and
//! the next request: at 5 ms a request, a page took 6.6 ms from one answer to the next, and
//! with the reading beside the next request it takes 6.0 ms (the rest is the loopback and
//! the sandbox's timer). Where the next page's start is certain before the page is read
//! (offset paging inside the window, with the listing's count known), its request goes out
//! first and the page is read on another thread meanwhile. Still one request at a time,
//! and one per page: a page asked for in vain takes a source whose count was wrong, which
//! fails the read.

use super::entitlements::{Cursor, OFFSET_WINDOW, Page, Pages};
use super::error::IdnError;

/// The answer to the request of the page at `at`, made before it was known to be needed.
pub(super) struct Ahead<A> {
    pub at: Cursor,
    pub answer: Result<A, IdnError>,
}

/// Reads `answer`, the page at `cursor`, and when the page after it is certain, asks for
/// that page meanwhile.
pub(super) async fn read_ahead<P: Pages>(
    tenant: &P,
    filter: &str,
    answer: P::Answer,
    cursor: &Cursor,
    total: Option<u64>,
) -> Result<(Page, Option<Ahead<P::Answer>>), IdnError> {
    let Some(after) = following(cursor, tenant.page_limit(cursor), total) else {
        return Ok((P::read(answer, cursor)?, None));
    };
    let at = cursor.clone();
    let reading = tokio::task::spawn_blocking(move || P::read(answer, &at));
    let (fetched, read) = futures_util::future::join(tenant.fetch(filter, &after), reading).await;
    let page = match read {
        Ok(page) => page?,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            return Err(IdnError::Malformed {
                request: format!("entitlements at {cursor}"),
                problem: format!("the page could not be read: {e}"),
            });
        }
    };
    let ahead = Ahead {
        at: after,
        answer: fetched,
    };
    Ok((page, Some(ahead)))
}

/// Where the page after a full one at `cursor` starts, when that is certain before the
/// page is read: offset paging inside the window, with the count of what is listed known
/// and more than the pages so far. (Where `searchAfter` needs the page's last id, it is
/// not.)
fn following(cursor: &Cursor, limit: usize, total: Option<u64>) -> Option<Cursor> {
    let Cursor::Offset(offset) = cursor else {
        return None;
    };
    let (end, total) = (offset + limit as u64, total?);
    (end < total && total <= OFFSET_WINDOW).then_some(Cursor::Offset(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiVersion;
    use crate::identitynow::entitlements::{Listing, group_entry, read_pages};
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `ids` in pages of `page_size`, each page saying `total`; counts what is asked.
    struct Counting {
        ids: usize,
        page_size: usize,
        total: u64,
        asked: Mutex<Vec<u64>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Counting {
        fn new(ids: usize, page_size: usize, total: u64) -> Counting {
            Counting {
                ids,
                page_size,
                total,
                asked: Mutex::default(),
                in_flight: AtomicUsize::new(0),
                most_in_flight: AtomicUsize::new(0),
            }
        }
    }

    impl Pages for Counting {
        type Answer = Page;

        fn version(&self) -> ApiVersion {
            ApiVersion::V2025
        }

        fn page_limit(&self, _: &Cursor) -> usize {
            self.page_size
        }

        async fn fetch(&self, _: &str, cursor: &Cursor) -> Result<Page, IdnError> {
            let Cursor::Offset(offset) = cursor else {
                unreachable!("offset paging only")
            };
            self.asked.lock().unwrap().push(*offset);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let entries = (*offset as usize..self.ids)
                .take(self.page_size)
                .map(|i| group_entry(&format!("{i:06}")))
                .collect();
            Ok(Page {
                entries,
                total: Some(self.total),
            })
        }

        fn read(page: Page, _: &Cursor) -> Result<Page, IdnError> {
            Ok(page)
        }

        async fn oldest(&self, _: &str) -> Result<Option<DateTime<Utc>>, IdnError> {
            unreachable!("inside the window")
        }
    }

    async fn read(tenant: &Counting) -> Result<usize, IdnError> {
        let first = tenant.page("f", &Cursor::Offset(0)).await?;
        let mut listing = Listing::new("src");
        read_pages(tenant, "f", first, &mut listing, &|_| {}).await?;
        Ok(listing.finish("f".into())?.groups.len())
    }

    fn asked(tenant: &Counting) -> Vec<u64> {
        tenant.asked.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_page_is_asked_for_once_in_order_and_one_at_a_time() {
        let tenant = Counting::new(1_050, 100, 1_050);
        assert_eq!(read(&tenant).await.unwrap(), 1_050);
        let offsets: Vec<u64> = (0..=10).map(|p| p * 100).collect();
        assert_eq!(asked(&tenant), offsets);
        assert_eq!(tenant.most_in_flight.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_count_that_promised_more_still_fails_the_read() {
        // the last page is short of what the count promised: nothing asked in vain
        let tenant = Counting::new(950, 100, 1_000);
        let e = read(&tenant).await.unwrap_err();
        assert!(e.to_string().contains("X-Total-Count said 1000"), "{e}");
        assert_eq!(asked(&tenant).len(), 10);

        // a page short before the last: the page after it was asked for in vain, once
        let tenant = Counting::new(850, 100, 1_000);
        let e = read(&tenant).await.unwrap_err();
        assert!(e.to_string().contains("X-Total-Count said 1000"), "{e}");
        assert_eq!(
            asked(&tenant),
            vec![0, 100, 200, 300, 400, 500, 600, 700, 800, 900]
        );
    }

    #[test]
    fn the_next_page_is_certain_only_with_offsets_a_count_and_more_to_come() {
        let at = |o| Cursor::Offset(o);
        assert_eq!(following(&at(0), 250, Some(1_000)), Some(at(250)));
        assert_eq!(following(&at(750), 250, Some(1_000)), None, "the last page");
        assert_eq!(following(&at(0), 250, None), None, "no count");
        assert_eq!(
            following(&at(0), 250, Some(20_000)),
            None,
            "past the window"
        );
        let after = Cursor::After("x".into());
        assert_eq!(following(&after, 250, Some(1_000)), None, "searchAfter");
    }
}
