//! The source stage: the AD source resolved, then every one of its groups read from
//! IdentityNow, all pages or none. A partial list never drives a create.

use super::{Progress, RunError, Syncer};
use crate::identitynow::{FetchProgress, Selection};
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

    /// Every group of the source, or an error: never part of them. `progress` is told
    /// what was selected and left out.
    pub(super) async fn read_groups(
        &self,
        source: &SourceInfo,
        progress: &dyn Progress,
    ) -> Result<Selection, RunError> {
        let on_page = |p: FetchProgress| progress.fetched(&p);
        let selection = self
            .source
            .fetch_selection(&source.id, &on_page)
            .await
            .map_err(RunError::SourceUnreadable)?;
        progress.selected(&selection);
        Ok(selection)
    }
}
