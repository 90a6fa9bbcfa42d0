//! The target's listing, read while the source is still being read.
//!
//! The two services are independent, and a run that lists the target needs both before it
//! can plan: reading them one after the other made a run wait for the sum of the two. So
//! as soon as the source's first page says how many entitlements it has (`X-Total-Count`),
//! the listing starts beside the remaining pages when it is the one `sync.target_lookup`
//! calls for (`listing`, or `auto` above `sync.listing_threshold`).
//!
//! Nothing is decided from it before the source is read in full: the plan still waits for
//! both. A source read that fails drops the listing where it is (it only reads). Without a
//! count on the first page the listing waits for the source, as before, and `auto` decides
//! on the groups in scope. The count comes from the run's progress ([`super::Counted`]).

use super::{SourceCount, Syncer};
use crate::config::TargetLookup;
use crate::domain::TargetGroup;
use crate::scim::ScimError;

/// The listing read early, whatever its result; `None` when none was read.
pub(super) type EarlyListing = Option<Result<Vec<TargetGroup>, ScimError>>;

/// Whether a source of `total` entitlements is listed in the target rather than looked up
/// group by group, before the groups in scope are known.
pub(super) fn lists_early(mode: TargetLookup, threshold: usize, total: u64) -> bool {
    match mode {
        TargetLookup::Listing => true,
        TargetLookup::Auto => total > threshold as u64,
        TargetLookup::PerGroup => false,
    }
}

impl Syncer {
    /// The target's listing, once the source's count says it is needed; `None` when the
    /// count never came (the source's first page had none, or its read failed).
    pub(super) async fn list_target_early(&self, total: SourceCount) -> EarlyListing {
        let total = total.await.ok()?;
        let sync = &self.settings.sync;
        if !lists_early(sync.target_lookup, sync.listing_threshold, total) {
            return None;
        }
        Some(self.listing().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_early_as_the_mode_and_the_threshold_say() {
        assert!(lists_early(TargetLookup::Listing, 100, 0));
        assert!(lists_early(TargetLookup::Auto, 100, 101));
        assert!(!lists_early(TargetLookup::Auto, 100, 100));
        assert!(!lists_early(TargetLookup::PerGroup, 0, 1_000_000));
    }
}
