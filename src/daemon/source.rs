//! The AD source's id, which webhook events and task-status polls are matched against.
//!
//! Configured by id, it is known at once. Configured by name, it is resolved when first
//! needed and remembered; every run resolves it too, and the daemon learns it from the
//! run's report, so a tenant that was unreachable at start-up costs nothing later.

use crate::config::SourceRef;
use crate::identitynow::{self, IdnError};
use std::sync::Mutex;
use std::time::Duration;

/// How long a webhook or poll waits for the source to be resolved.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The source id could not be learnt.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error(transparent)]
    Source(#[from] IdnError),
}

pub struct AdSource {
    configured: SourceRef,
    client: identitynow::Client,
    known: Mutex<Option<String>>,
}

impl AdSource {
    pub fn new(configured: SourceRef, client: identitynow::Client) -> AdSource {
        let known = match &configured {
            SourceRef::Id(id) => Some(id.clone()),
            SourceRef::Name(_) => None,
        };
        AdSource {
            configured,
            client,
            known: Mutex::new(known),
        }
    }

    fn known(&self) -> Option<String> {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The source id, resolving it (within a few seconds) if not yet known.
    pub async fn id(&self) -> Result<String, ResolveError> {
        if let Some(id) = self.known() {
            return Ok(id);
        }
        let resolved = tokio::time::timeout(
            RESOLVE_TIMEOUT,
            self.client.resolve_source(&self.configured),
        )
        .await
        .map_err(|_| ResolveError::Timeout(RESOLVE_TIMEOUT))??;
        self.learn(&resolved.id);
        Ok(resolved.id)
    }

    /// Remembers the id a run resolved.
    pub fn learn(&self, id: &str) {
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_owned());
    }
}
