//! Reading: lookups by name, the full listing, the service provider configuration.
//! Every read is safe to repeat, so each HTTP call goes through [`crate::retry::retry`].

use super::error::from_status;
use super::listing_wire::{self, GroupPage};
use super::wire::{self, FilterSupport};
use super::{Client, ScimError};
use crate::domain::{TargetGroup, fold_name};
use crate::upstream::Reply;
use serde_json::Value;
use url::Url;

/// A guard against a server whose `totalResults` never runs out.
const MAX_PAGES: usize = 10_000;

/// The most entries a listing reserves room for from its `totalResults`: a server that
/// overstates it cannot make the client reserve more than this.
const MAX_RESERVED: usize = 1_000_000;

impl Client {
    /// Groups whose `displayName` equals `name` ignoring case ([`fold_name`]).
    ///
    /// The filter is only a hint to the server: every returned resource is checked here,
    /// so a server that ignores or loosens the filter cannot make groupsync skip a create.
    /// Follows pages when `totalResults` is more than one page. An empty vector means
    /// "not found"; any failure is an error, never an empty vector.
    pub async fn find_by_display_name(&self, name: &str) -> Result<Vec<TargetGroup>, ScimError> {
        let wanted = fold_name(name);
        let matching = self
            .all_pages(
                |start, _| wire::lookup_query(name, start),
                None,
                |body, headers| {
                    value_page(body, headers, |r| match wire::display_name(&r) {
                        Some(d) if fold_name(d) == wanted => wire::target_group(&r).map(Some),
                        _ => Ok(None),
                    })
                },
            )
            .await?;
        Ok(dedup_by_id(matching))
    }

    /// Every group, paged with `startIndex`/`count` and asking only for `displayName` and
    /// `externalId`, for a bulk comparison. Resources without a `displayName` are skipped.
    /// Each page is turned into compact [`TargetGroup`]s as it arrives, so no more than one
    /// page of the server's JSON is held at a time.
    pub async fn list_groups(&self, page_size: usize) -> Result<Vec<TargetGroup>, ScimError> {
        if page_size == 0 {
            return Err(ScimError::InvalidArgument(
                "the page size of a group listing must be at least 1".into(),
            ));
        }
        let groups = self
            .all_pages(wire::listing_query, Some(page_size), |body, headers| {
                // read straight into groups; a page that is anything but plainly well
                // formed is read as values, to be read leniently or told what is wrong
                match listing_wire::group_page(body) {
                    Some(page) => Ok(page),
                    None => listing_page_leniently(body, headers),
                }
            })
            .await?;
        Ok(dedup_by_id(groups))
    }

    /// `GET {base}ServiceProviderConfig`, as the server sent it (what it supports:
    /// filtering, paging limits, authentication schemes).
    pub async fn service_provider_config(&self) -> Result<Value, ScimError> {
        self.get_json(&self.spc_url).await
    }

    /// What `/ServiceProviderConfig` says about filtering and the size of a page.
    pub async fn filter_support(&self) -> Result<FilterSupport, ScimError> {
        self.service_provider_config()
            .await
            .map(|spc| wire::filter_support(&spc))
    }

    /// Reads every page, `query(start_index, count)` building each page's query, until
    /// `totalResults` is reached; `read` turns each page's body into what the caller holds
    /// on to, and the body is dropped. The listing is complete or an error:
    /// a page that comes back empty (or short of the last one) before `totalResults`, more
    /// resources than `totalResults`, or a `totalResults` that changes between pages is
    /// [`ScimError::IncompleteListing`], never a shorter list.
    async fn all_pages<T>(
        &self,
        query: impl Fn(usize, usize) -> String,
        count: Option<usize>,
        mut read: impl FnMut(&[u8], &http::HeaderMap) -> Result<GroupPage<T>, ScimError>,
    ) -> Result<Vec<T>, ScimError> {
        let mut kept = Vec::new();
        // Resources the server returned so far, kept or not.
        let mut seen = 0;
        let mut start = 1;
        let mut total = None;
        for _ in 0..MAX_PAGES {
            let url = self.groups_url_with(&query(start, count.unwrap_or(0)));
            let (body, headers) = self.get_body(&url).await?;
            let page = read(&body, &headers)?;
            drop(body);
            if total.is_none() {
                // made once at its size rather than grown by doubling (a third of it unused)
                kept.reserve(page.total.min(MAX_RESERVED));
            }
            let expected = *total.get_or_insert(page.total);
            if page.total != expected {
                return Err(ScimError::IncompleteListing {
                    detail: format!(
                        "totalResults changed from {expected} to {} between pages",
                        page.total
                    ),
                });
            }
            let returned = page.returned;
            if returned == 0 && seen == 0 && expected > 0 {
                return Err(inconsistent(page.total));
            }
            seen += returned;
            if seen > expected {
                return Err(ScimError::IncompleteListing {
                    detail: format!(
                        "{seen} resources returned, more than the totalResults of {expected}"
                    ),
                });
            }
            kept.extend(page.groups);
            if seen == expected {
                return Ok(kept);
            }
            if returned == 0 {
                return Err(ScimError::IncompleteListing {
                    detail: format!(
                        "a page came back empty after {seen} of the {expected} results"
                    ),
                });
            }
            start += returned;
        }
        Err(ScimError::Inconsistent {
            detail: format!("still more results after {MAX_PAGES} pages"),
        })
    }

    /// One GET, retried under the client's policy while the error says "retry later".
    pub(super) async fn get_json(&self, url: &Url) -> Result<Value, ScimError> {
        let (body, headers) = self.get_body(url).await?;
        json(&body, &headers)
    }

    /// One GET's successful body and headers, retried as [`Client::get_json`] is.
    async fn get_body(&self, url: &Url) -> Result<(Vec<u8>, http::HeaderMap), ScimError> {
        let operation = crate::retry::Operation::new("SCIM target", format!("GET {}", url.path()));
        crate::retry::retry(&self.retry, &operation, || self.get_body_once(url.clone())).await
    }

    async fn get_body_once(&self, url: Url) -> Result<(Vec<u8>, http::HeaderMap), ScimError> {
        let Reply {
            status,
            headers,
            body,
        } = self
            .exchange(self.request(reqwest::Method::GET, url))
            .await?;
        tracing::debug!(status = status.as_u16(), bytes = body.len(), "SCIM GET");
        if !status.is_success() {
            return Err(from_status(status, &headers, &body));
        }
        Ok((body, headers))
    }
}

/// A successful body as JSON, or what it is instead.
fn json(body: &[u8], headers: &http::HeaderMap) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|e| ScimError::Malformed {
        what: format!(
            "the body is not JSON ({e}), content type {}",
            content_type(headers)
        ),
    })
}

/// A page read leniently as JSON values, `keep` turning each resource into what the
/// caller holds on to (or `None`).
fn value_page<T>(
    body: &[u8],
    headers: &http::HeaderMap,
    mut keep: impl FnMut(Value) -> Result<Option<T>, ScimError>,
) -> Result<GroupPage<T>, ScimError> {
    let page = wire::list_page(json(body, headers)?)?;
    let returned = page.resources.len();
    let mut groups = Vec::new();
    for resource in page.resources {
        if let Some(item) = keep(resource)? {
            groups.push(item);
        }
    }
    Ok(GroupPage {
        total: page.total,
        returned,
        groups,
    })
}

/// A page of the full listing read as JSON values: every resource with a string
/// `displayName` is a group (and must have an `id`), the others are skipped.
pub(super) fn listing_page_leniently(
    body: &[u8],
    headers: &http::HeaderMap,
) -> Result<GroupPage, ScimError> {
    value_page(body, headers, |r| match wire::display_name(&r) {
        Some(_) => wire::target_group(&r).map(Some),
        None => Ok(None),
    })
}

fn inconsistent(total: usize) -> ScimError {
    ScimError::Inconsistent {
        detail: format!("the server reports {total} results but returns none"),
    }
}

pub(super) fn content_type(headers: &http::HeaderMap) -> &str {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
}

/// Paging is stateless, so a group can come back on two pages while the set changes.
fn dedup_by_id(mut groups: Vec<TargetGroup>) -> Vec<TargetGroup> {
    // positions sorted by id (4 bytes each, where a set would copy every id); of equal
    // ids, the first listed is kept
    let mut order: Vec<u32> = (0..groups.len())
        .map(|i| u32::try_from(i).expect("a listing holds fewer than 2^32 groups"))
        .collect();
    let id = |i: u32| groups[i as usize].id.as_str();
    order.sort_unstable_by(|a, b| id(*a).cmp(id(*b)).then(a.cmp(b)));
    let mut repeated = vec![false; groups.len()];
    for pair in order.windows(2) {
        if id(pair[0]) == id(pair[1]) {
            repeated[pair[1] as usize] = true;
        }
    }
    let mut position = 0;
    groups.retain(|_| {
        position += 1;
        !repeated[position - 1]
    });
    groups
}

#[cfg(test)]
mod dedup_tests {
    use super::*;

    fn g(id: &str, name: &str) -> TargetGroup {
        TargetGroup {
            id: id.into(),
            display_name: name.into(),
            external_id: None,
        }
    }

    #[test]
    fn a_group_listed_twice_is_kept_once_where_it_was_first_listed() {
        let listed = vec![
            g("b", "B"),
            g("a", "A"),
            g("b", "B again"),
            g("c", "C"),
            g("a", "A again"),
            g("b", "B thrice"),
        ];
        let kept: Vec<(String, String)> = dedup_by_id(listed)
            .into_iter()
            .map(|t| (t.id, t.display_name))
            .collect();
        let want = [("b", "B"), ("a", "A"), ("c", "C")].map(|(i, n)| (i.into(), n.into()));
        assert_eq!(kept, want);
        assert!(dedup_by_id(vec![]).is_empty());
    }
}
