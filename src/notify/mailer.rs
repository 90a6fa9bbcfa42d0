//! Sending notices over SMTP with lettre.

use super::Notice;
use super::text::one_line;
use crate::config::{SmtpSettings, SmtpTls};
use crate::retry::{Classify, Disposition};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use std::fmt;

/// Why a notice could not be sent. Carries lettre's message, never the SMTP password.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot set up the SMTP transport: {0}")]
    Setup(String),
    #[error("cannot build the email: {0}")]
    Message(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("the SMTP server accepted the connection but did not answer NOOP")]
    NotConnected,
}

impl Classify for NotifyError {
    /// A 4xx reply, a refused or dropped connection (also one dropped before a reply) or a
    /// timeout may pass; a 5xx reply
    /// (a refused recipient, failed authentication), a TLS failure or a bad message will not.
    fn disposition(&self) -> Disposition {
        let retry = Disposition::RetryLater { after: None };
        match self {
            NotifyError::Setup(_) | NotifyError::Message(_) => Disposition::GiveUp,
            NotifyError::NotConnected => retry,
            NotifyError::Smtp(e) if e.is_transient() || e.is_timeout() || closed_early(e) => retry,
            NotifyError::Smtp(e)
                if e.is_permanent()
                    || e.is_tls()
                    || e.is_client()
                    || e.is_response()
                    || e.is_transport_shutdown() =>
            {
                Disposition::GiveUp
            }
            // What is left is a connection or network failure.
            NotifyError::Smtp(_) => retry,
        }
    }
}

/// The server closed the connection before a whole reply (e.g. in the middle of a
/// message): lettre reports it as a response error, but it is a dropped connection.
fn closed_early(e: &lettre::transport::smtp::Error) -> bool {
    e.is_response()
        && std::error::Error::source(e).is_some_and(|s| s.to_string() == "incomplete response")
}

impl NotifyError {
    /// The relay, not this message, is the problem: it cannot be reached, refuses our
    /// login (530, 534, 535, 538) or our TLS, or the transport could not be set up. A
    /// notice that met this is kept for later, since fixing the relay's settings lets it
    /// go out; only a refusal of the message itself is final.
    pub fn is_relay_problem(&self) -> bool {
        match self {
            NotifyError::Setup(_) | NotifyError::NotConnected => true,
            NotifyError::Message(_) => false,
            NotifyError::Smtp(e) => {
                e.is_tls()
                    || e.status()
                        .is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535 | 538))
                    || matches!(self.disposition(), Disposition::RetryLater { .. })
            }
        }
    }
}

/// Sends notices to the configured recipients through one SMTP relay (connections pooled).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// The right-hand side of Message-IDs: the sender's domain.
    id_domain: String,
    relay: String,
}

impl fmt::Debug for Mailer {
    /// Names the relay only; the transport holds the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `smtp`: plain text (`tls = none`, a trusted relay only), STARTTLS
    /// (required, not opportunistic) or TLS from the first byte; credentials when set.
    ///
    /// Must be called inside a Tokio runtime: the connection pool starts a task to close
    /// idle connections (outside one, this is an error rather than lettre's panic).
    pub fn new(smtp: &SmtpSettings) -> Result<Mailer, NotifyError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(NotifyError::Setup(
                "the mailer must be created inside a Tokio runtime".into(),
            ));
        }
        let setup = |e: lettre::transport::smtp::Error| NotifyError::Setup(e.to_string());
        let builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(setup)?
            }
            SmtpTls::Implicit => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(setup)?
            }
        };
        let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: smtp.from.clone(),
            to: smtp.to.clone(),
            id_domain: smtp.from.email.domain().to_owned(),
            relay: format!("{}:{}", smtp.host, smtp.port),
        })
    }

    /// Sends `notice` as one message to every configured recipient. The Message-ID comes
    /// from `notice.key`, so sending the same notice again gives the same Message-ID.
    pub async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let message = self.message(notice)?;
        self.transport.send(message).await?;
        Ok(())
    }

    /// How many addresses each message goes to.
    pub fn recipients(&self) -> usize {
        self.to.len()
    }

    /// Connects (with TLS and authentication as configured) and checks the server answers.
    pub async fn test_connection(&self) -> Result<(), NotifyError> {
        if self.transport.test_connection().await? {
            Ok(())
        } else {
            Err(NotifyError::NotConnected)
        }
    }

    fn message(&self, notice: &Notice) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .message_id(Some(message_id(&notice.key, &self.id_domain)))
            // Typed header: lettre encodes it; `one_line` keeps it to a single line even
            // for a notice built by hand.
            .subject(one_line(&notice.subject))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(notice.body.clone())
            .map_err(|e| NotifyError::Message(e.to_string()))
    }
}

/// `<key@domain>`, with every byte of the key other than ASCII letters, digits and `-`
/// written as `=XX`, so any key gives a valid, stable Message-ID.
pub(super) fn message_id(key: &str, domain: &str) -> String {
    let mut local = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            local.push(char::from(b));
        } else {
            local.push_str(&format!("={b:02X}"));
        }
    }
    format!("<{local}@{domain}>")
}
