//! Why a run stops, typed: each kind asks for a different action from whoever reads it.

use super::plan::LookupError;
use crate::identitynow::IdnError;
use crate::notify::NotifyError;
use crate::report::{ErrorKind, RunFailure};
use crate::retry::{Classify, Disposition};
use crate::scim::ScimError;
use crate::store::StoreError;

/// The clients could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Source(#[from] IdnError),
    #[error(transparent)]
    Target(#[from] ScimError),
    #[error(transparent)]
    Mailer(#[from] NotifyError),
}

/// What stopped a run. The text says what failed and what to check; [`RunError::kind`]
/// says which kind of failure it was, for the history, the alerts and the metrics.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot resolve the AD source: {0}")]
    SourceUnresolved(#[source] IdnError),
    #[error("cannot read the source's groups; nothing was changed: {0}")]
    SourceUnreadable(#[source] IdnError),
    #[error("the SCIM target refused our credentials; nothing was changed: {0}")]
    TargetCredentials(#[source] ScimError),
    #[error("every lookup in the SCIM target failed; nothing was changed: {0}")]
    LookupsFailed(#[source] LookupError),
    #[error("cannot list the SCIM target's groups; nothing was changed: {0}")]
    ListingFailed(#[source] ScimError),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// groupsync was stopped before the run finished; the text says how far it came.
    #[error("{0}")]
    Shutdown(String),
    #[error("the run stopped unexpectedly: {0}")]
    Internal(String),
    #[error("the {guard} guard refused the run; nothing was changed: {detail}")]
    GuardRefused { guard: String, detail: String },
    /// `sync.max_run_secs` passed; the text says how far the run came.
    #[error("the run took longer than sync.max_run_secs ({limit_secs} s) and stopped {at}")]
    Deadline { limit_secs: u64, at: String },
    /// Another process's run holds the store's run lease.
    #[error(
        "another run holds the run lease: {0}; nothing was changed (wait for it to end, or use `groupsync run --wait`)"
    )]
    LeaseHeld(crate::store::lease::Holder),
}

impl RunError {
    /// The target failed while being read: our credentials, or the target itself.
    pub fn target(e: ScimError, otherwise: fn(ScimError) -> RunError) -> RunError {
        if e.disposition() == Disposition::Reauthenticate {
            RunError::TargetCredentials(e)
        } else {
            otherwise(e)
        }
    }

    /// The stable kind, as stored and as the `reason` metric label.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RunError::SourceUnresolved(_) | RunError::SourceUnreadable(_) => {
                ErrorKind::SourceUnreadable
            }
            RunError::TargetCredentials(_) => ErrorKind::TargetCredentials,
            RunError::LookupsFailed(_) | RunError::ListingFailed(_) => ErrorKind::TargetUnreachable,
            RunError::Store(_) => ErrorKind::Store,
            RunError::Shutdown(_) => ErrorKind::Shutdown,
            RunError::Internal(_) => ErrorKind::Internal,
            RunError::GuardRefused { .. } => ErrorKind::GuardRefused,
            RunError::Deadline { .. } => ErrorKind::Deadline,
            RunError::LeaseHeld(_) => ErrorKind::LeaseHeld,
        }
    }

    /// What the report keeps: the kind and the text.
    pub fn failure(&self) -> RunFailure {
        RunFailure::new(self.kind(), self.to_string())
    }
}

impl From<RunError> for RunFailure {
    fn from(e: RunError) -> RunFailure {
        e.failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::Detail;

    #[test]
    fn each_cause_has_its_kind_and_keeps_the_text() {
        let cases = [
            (
                RunError::TargetCredentials(ScimError::Unauthorized {
                    detail: Detail::default(),
                }),
                "target_credentials",
                "refused our credentials",
            ),
            (
                RunError::ListingFailed(ScimError::Connect("refused".into())),
                "target_unreachable",
                "cannot list the SCIM target's groups",
            ),
            (
                RunError::Shutdown("groupsync was stopped".into()),
                "shutdown",
                "groupsync was stopped",
            ),
            (
                RunError::Internal("panicked".into()),
                "internal",
                "stopped unexpectedly",
            ),
            (
                RunError::GuardRefused {
                    guard: "max_creates".into(),
                    detail: "500 creates planned, 100 allowed".into(),
                },
                "guard_refused",
                "500 creates planned",
            ),
            (
                RunError::Deadline {
                    limit_secs: 60,
                    at: "before writing anything".into(),
                },
                "deadline",
                "sync.max_run_secs (60 s)",
            ),
        ];
        for (e, kind, text) in cases {
            assert_eq!(e.kind().as_str(), kind);
            let f = e.failure();
            assert_eq!(f.kind.as_str(), kind);
            assert!(f.message.contains(text), "{f}");
        }
    }

    #[test]
    fn a_target_error_is_credentials_only_when_the_token_was_refused() {
        let refused = ScimError::Unauthorized {
            detail: Detail::default(),
        };
        let down = ScimError::Timeout("30 s".into());
        assert_eq!(
            RunError::target(refused, RunError::ListingFailed).kind(),
            ErrorKind::TargetCredentials
        );
        assert_eq!(
            RunError::target(down, RunError::ListingFailed).kind(),
            ErrorKind::TargetUnreachable
        );
    }
}
