//! The source stage: the AD source resolved, then every one of its groups read from
//! IdentityNow, all pages or none. A partial list never drives a create.

use super::{Progress, RunError, Syncer};
use crate::domain::SourceGroup;
use crate::identitynow::FetchProgress;
use crate::report::SourceInfo;

impl Syncer {
    /// The configured AD source (by id or by name).
    pub(super) async fn resolve_source(&self) -> Result<SourceInfo, RunError> {
        let source = self
            .source
            .resolve_source(&self.settings.identitynow.source)
            .await
            .map_err(RunError::SourceUnresolved)?;
        Ok(SourceInfo {
            id: source.id,
            name: source.name,
        })
    }

    /// Every group of the source, or an error: never part of them.
    pub(super) async fn read_groups(
        &self,
        source: &SourceInfo,
        progress: &dyn Progress,
    ) -> Result<Vec<SourceGroup>, RunError> {
        let on_page = |p: FetchProgress| progress.fetched(&p);
        self.source
            .fetch_groups(&source.id, &on_page)
            .await
            .map_err(RunError::SourceUnreadable)
    }
}
