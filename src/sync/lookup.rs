//! What the target holds under each candidate name, asked before the plan decides.
//!
//! Lookups run with bounded concurrency; if the target refuses our credentials, or
//! cannot be reached for any group, the run stops before its first write.

use super::early_listing::EarlyListing;
use super::plan::{self, ByExternalId, Found, Lookup, LookupError, Lookups};
use super::target_index::TargetIndex;
use super::{Progress, RunError, Syncer};
use crate::config::{ExternalId, TargetLookup};
use crate::domain::{SourceGroup, TargetGroup, fold_name};
use crate::retry::{Classify, Disposition};
use crate::scim::ScimError;
use crate::telemetry::run_log;
use futures_util::StreamExt;
use std::sync::Arc;

impl Syncer {
    /// Looks the candidates up as `sync.target_lookup` says: by name, and by externalId
    /// for those whose name the target does not hold (a listing holds both).
    /// A listing read while the source was read (`early`) answers in place of one read now.
    pub(super) async fn look_up(
        &self,
        candidates: Vec<&SourceGroup>,
        progress: &dyn Progress,
        early: EarlyListing,
    ) -> Result<Found, RunError> {
        let sync = &self.settings.sync;
        let mode = sync.external_id;
        let lists = match sync.target_lookup {
            TargetLookup::PerGroup => false,
            TargetLookup::Listing => true,
            TargetLookup::Auto => early.is_some() || candidates.len() > sync.listing_threshold,
        };
        let listed = if lists {
            let all = match early {
                Some(all) => all,
                None => self.listing().await,
            };
            let auto = sync.target_lookup == TargetLookup::Auto;
            listed_or_each(&candidates, all, progress, auto)?
        } else {
            None
        };
        if let Some(found) = listed {
            return Ok(found);
        }
        let by_name = self.look_up_each(candidates.clone(), progress).await?;
        // only a group whose name the target does not hold would be created: it alone
        // must be asked for by externalId, so that a renamed group of ours is renamed,
        // never created again
        let unmatched: Vec<&SourceGroup> = candidates
            .into_iter()
            .filter(|g| {
                let name = fold_name(&g.name);
                matches!(by_name.get(&name), Some(Ok(found))
                    if !found.iter().any(|t| fold_name(&t.display_name) == name))
            })
            .collect();
        let by_external_id = self.look_up_external_ids(unmatched, mode).await?;
        Ok(Found {
            by_name,
            by_external_id,
            listed: None,
        })
    }

    /// Asks the target for the group carrying each of these groups' external key
    /// (`filter=externalId eq "…"`); when the target refuses that filter, one listing
    /// answers instead. Refused credentials stop the run.
    async fn look_up_external_ids(
        &self,
        groups: Vec<&SourceGroup>,
        mode: ExternalId,
    ) -> Result<ByExternalId, RunError> {
        let keys: Vec<String> = groups
            .iter()
            .map(|g| plan::external_key(g, mode).to_owned())
            .collect();
        let mut results = futures_util::stream::iter(keys)
            .map(|key| async move {
                let _slot = self.target.lookup_slot().await;
                let found = self.target.find_by_external_id(&key).await;
                (key, found)
            })
            .buffer_unordered(self.settings.sync.lookup_concurrency);
        let mut by_external_id = ByExternalId::new();
        let mut unfilterable = vec![];
        while let Some((key, result)) = results.next().await {
            match answer(result, true)? {
                Some(lookup) => by_external_id.insert(key, lookup),
                None => {
                    unfilterable.push(key);
                    continue;
                }
            };
        }
        drop(results);
        if !unfilterable.is_empty() {
            self.look_up_by_listing(
                unfilterable,
                &mut by_external_id,
                TargetIndex::with_external_id,
            )
            .await;
        }
        Ok(by_external_id)
    }

    /// Every target group, in pages of `sync.listing_page_size` (a server that caps a page
    /// lower is still read to the end: paging follows what each page returned).
    async fn list_target(&self) -> Result<Vec<TargetGroup>, ScimError> {
        let page_size = self.settings.sync.listing_page_size;
        self.target.list_groups(page_size).await
    }

    /// The listing `sync.target_lookup` reads: in `auto`, within the target's limit.
    pub(super) async fn listing(&self) -> Result<Vec<TargetGroup>, ScimError> {
        match self.settings.sync.target_lookup {
            TargetLookup::Auto => self.list_target_within_its_limit().await,
            _ => self.list_target().await,
        }
    }

    /// As [`Syncer::list_target`], in pages of the target's `filter.maxResults` when it is
    /// lower than the setting. A `/ServiceProviderConfig` that cannot be read leaves the
    /// setting alone: the listing itself says whether the target lists.
    async fn list_target_within_its_limit(&self) -> Result<Vec<TargetGroup>, ScimError> {
        let setting = self.settings.sync.listing_page_size;
        let page_size = match self.target.filter_support().await {
            Ok(support) => support.max_results.map_or(setting, |max| max.min(setting)),
            Err(e) => {
                run_log::no_service_provider_config(&e);
                setting
            }
        };
        self.target.list_groups(page_size).await
    }

    /// Asks the target about every candidate name. Stops the run when the target
    /// refuses our credentials or every lookup failed: then it is the target, not a group.
    async fn look_up_each(
        &self,
        candidates: Vec<&SourceGroup>,
        progress: &dyn Progress,
    ) -> Result<Lookups, RunError> {
        let total = candidates.len();
        let mut done = 0;
        let mut lookups = Lookups::new();
        // Owned names in the stream keep the run's future `Send` (spawnable by the daemon).
        let names: Vec<String> = candidates.iter().map(|g| g.name.clone()).collect();
        let mut results = futures_util::stream::iter(names)
            .map(|name| async move {
                let _slot = self.target.lookup_slot().await;
                let found = self.target.find_by_display_name(&name).await;
                (fold_name(&name), found)
            })
            .buffer_unordered(self.settings.sync.lookup_concurrency);
        let mut unfilterable = vec![];
        while let Some((key, result)) = results.next().await {
            done += 1;
            progress.checked(done, total);
            match answer(result, false)? {
                Some(lookup) => lookups.insert(key, lookup),
                None => {
                    unfilterable.push(key);
                    continue;
                }
            };
        }
        drop(results);
        if !unfilterable.is_empty() {
            self.look_up_by_listing(unfilterable, &mut lookups, TargetIndex::named)
                .await;
        }
        if lookups.values().all(Result::is_err) {
            // Every lookup failed (or there were none): one of the errors says why.
            if let Some(e) = lookups.into_values().find_map(Result::err) {
                return Err(RunError::LookupsFailed(e));
            }
            return Ok(Lookups::new());
        }
        Ok(lookups)
    }

    /// Some servers cannot filter on names with special characters (400 invalidFilter);
    /// for those keys, list every group once and compare locally, as RFC 7644 allows.
    /// `find` answers a key as `lookups` is keyed (by folded name, or by externalId).
    async fn look_up_by_listing(
        &self,
        keys: Vec<String>,
        lookups: &mut Lookups,
        find: for<'a> fn(&'a TargetIndex, &str) -> Vec<&'a TargetGroup>,
    ) {
        run_log::filter_refused(keys.len());
        let listing = self.list_target().await.map(TargetIndex::new);
        let listing = listing.map_err(Arc::new);
        for key in keys {
            let result = match &listing {
                Ok(index) => Ok(find(index, &key).into_iter().cloned().collect()),
                Err(e) => Err(LookupError::Listing(e.clone())),
            };
            lookups.insert(key, result);
        }
    }
}

/// The lookups the listing answers. A listing that fails stops the run: without it
/// nothing is known. Only in `auto` does a target that refuses to list (an answer retrying
/// cannot change) get a lookup per group instead (`None`).
fn listed_or_each(
    candidates: &[&SourceGroup],
    all: Result<Vec<TargetGroup>, ScimError>,
    progress: &dyn Progress,
    auto: bool,
) -> Result<Option<Found>, RunError> {
    match all {
        Ok(all) => Ok(Some(found_in_listing(candidates, all, progress))),
        Err(e) if auto && e.disposition() == Disposition::GiveUp => {
            run_log::listing_refused(&e, candidates.len());
            Ok(None)
        }
        Err(e) => Err(RunError::target(e, RunError::ListingFailed)),
    }
}

/// The lookups of `candidates` answered by a listing of the whole target: the listing is
/// indexed as it is, not copied.
pub(crate) fn found_in_listing(
    candidates: &[&SourceGroup],
    all: Vec<TargetGroup>,
    progress: &dyn Progress,
) -> Found {
    let found = Found::listed(TargetIndex::new(all));
    progress.checked(candidates.len(), candidates.len());
    found
}

/// What one filtered lookup's answer means: its result, `None` when the target cannot
/// filter on it (a listing answers instead), or the run's end when it refuses our
/// credentials. With `refusal_lists`, any refusal retrying cannot change (a server that
/// does not filter on `externalId` may say so with 400, 404 or 501) is answered by the
/// listing too; a failure that may pass stays the group's lookup failure.
fn answer(
    result: Result<Vec<TargetGroup>, ScimError>,
    refusal_lists: bool,
) -> Result<Option<Lookup>, RunError> {
    match result {
        Ok(found) => Ok(Some(Ok(found))),
        Err(e) if e.disposition() == Disposition::Reauthenticate => {
            Err(RunError::TargetCredentials(e))
        }
        Err(ScimError::InvalidFilter { .. }) => Ok(None),
        Err(e) if refusal_lists && e.disposition() == Disposition::GiveUp => Ok(None),
        Err(e) => Ok(Some(Err(LookupError::Target(e)))),
    }
}
