//! Finding the AD source, by id or by name (`GET /v3/sources`).

use super::Client;
use super::error::{Endpoint, IdnError};
use super::query;
use super::request::Call;
use super::types::Source;
use crate::config::SourceRef;
use std::collections::HashSet;

/// The list endpoints' largest page.
const PAGE: usize = 250;

impl Client {
    /// Every source, or those whose name equals `name` (SailPoint compares names ignoring
    /// case), all pages.
    pub async fn list_sources(&self, name: Option<&str>) -> Result<Vec<Source>, IdnError> {
        let mut sources: Vec<Source> = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let call = self.sources_call(name, sources.len())?;
            let page: Vec<Source> = self.get(&call).await?.json()?;
            let len = page.len();
            for source in page {
                if !seen.insert(source.id.clone()) {
                    return Err(IdnError::Malformed {
                        request: call.label(),
                        problem: format!("source {} was listed twice", source.id),
                    });
                }
                sources.push(source);
            }
            if len < PAGE {
                tracing::debug!(count = sources.len(), "listed sources");
                return Ok(sources);
            }
        }
    }

    fn sources_call(&self, name: Option<&str>, offset: usize) -> Result<Call, IdnError> {
        let mut pairs = Vec::new();
        if let Some(name) = name {
            pairs.push(("filters", query::eq("name", name)));
        }
        pairs.extend([
            ("sorters", "id".to_owned()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
        ]);
        Ok(Call::get(
            Endpoint::Sources,
            self.url(&["v3", "sources"], &pairs)?,
        ))
    }

    /// The configured source. By id: `GET /v3/sources/{id}`. By name: exactly one source
    /// must have it, otherwise the error lists what was found.
    pub async fn resolve_source(&self, source: &SourceRef) -> Result<Source, IdnError> {
        match source {
            SourceRef::Id(id) => self.source_by_id(id).await,
            SourceRef::Name(name) => self.source_by_name(name).await,
        }
    }

    /// The source whose id is `id_or_name`, or else the one source with that name (in
    /// any case). `Ok(Err(all))` when none matches, with every source there is, so that the
    /// caller can name them.
    pub async fn find_source(
        &self,
        id_or_name: &str,
    ) -> Result<Result<Source, Vec<Source>>, IdnError> {
        let all = self.list_sources(None).await?;
        if let Some(found) = all.iter().find(|s| s.id == id_or_name) {
            return Ok(Ok(found.clone()));
        }
        let mut named = all
            .iter()
            .filter(|s| s.name.to_lowercase() == id_or_name.to_lowercase());
        match (named.next(), named.next()) {
            (Some(one), None) => Ok(Ok(one.clone())),
            _ => Ok(Err(all)),
        }
    }

    async fn source_by_id(&self, id: &str) -> Result<Source, IdnError> {
        let call = Call::get(Endpoint::Sources, self.url(&["v3", "sources", id], &[])?);
        match self.get(&call).await {
            Ok(answer) => answer.json(),
            Err(IdnError::NotFound { .. }) => Err(IdnError::SourceNotFound { id: id.to_owned() }),
            Err(e) => Err(e),
        }
    }

    async fn source_by_name(&self, name: &str) -> Result<Source, IdnError> {
        let mut found = self.list_sources(Some(name)).await?;
        match found.len() {
            0 => Err(IdnError::SourceNameNotFound {
                name: name.to_owned(),
            }),
            1 => Ok(found.remove(0)),
            _ => Err(IdnError::SourceNameAmbiguous {
                name: name.to_owned(),
                found: found.into_iter().map(|s| (s.id, s.name)).collect(),
            }),
        }
    }
}
