//! Email notices: what a run has to tell (pure, in [`compose`] and [`once`]), sending it
//! over SMTP ([`Mailer`]) and the outbox that keeps it until it is sent ([`Outbox`]).
//!
//! Group names come from Active Directory and end up in subjects: they are flattened to
//! one line before use, and the subject is written through lettre's typed header, which
//! encodes anything that is not plain printable ASCII. A name can therefore never add a
//! header of its own.

mod compose;
mod mailer;
pub mod once;
mod outbox;
pub mod template;
mod text;

#[cfg(test)]
mod tests;

pub use compose::compose;
pub use mailer::{Mailer, NotifyError};
pub use outbox::{Flushed, Outbox};

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Stable across resends (`{run_id}/digest`, `{run_id}/exists/{source_id}`,
    /// `{run_id}/not-created`); the
    /// Message-ID is derived from it, so a repeated notice is recognisable as such.
    pub key: String,
    pub subject: String,
    pub body: String,
}
