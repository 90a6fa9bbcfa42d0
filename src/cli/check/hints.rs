//! What to do about a failed check, by kind of failure.
//!
//! The clients' errors already name the configuration key at fault; a hint adds what an
//! operator needs next: where the credential comes from, which scope is missing, what a
//! URL must look like, what a certificate error means in a container.

use crate::identitynow::{Endpoint, IdnError};
use crate::notify::NotifyError;
use crate::scim::ScimError;

pub const IDN_CREDENTIALS: &str = "401: the client id or secret is wrong, or the personal access \
     token was deleted; create one under Preferences → Personal Access Tokens";
pub const IDN_REVOKED: &str = "401: the token was refused although it was just issued; the PAT's \
     owner may be deactivated";
pub const IDN_SCOPES: &str = "403: the credentials need the scopes idn:sources:read and \
     idn:entitlement:read (a PAT's owner a user level such as SOURCE_ADMIN or ORG_ADMIN); some \
     operations (schemas, v2026 entitlements, load-entitlements) accept only a personal access \
     token, not an API client";
pub const IDN_HOST: &str = "404: identitynow.tenant_url must be the API host \
     https://{tenant}.api.identitynow.com (not the web UI's address), and \
     identitynow.api_version one of beta, v2024, v2025, v2026";
pub const IDN_SOURCE: &str = "`groupsync sources` lists the tenant's sources with their ids";
pub const IDN_FILTER: &str = "400: identitynow.entitlement_filter must be a SailPoint filter such \
     as attribute eq \"memberOf\"";
pub const RATE_LIMITED: &str = "429: another client shares this budget; try again in a minute";
pub const SERVER_FAILING: &str = "the server is failing; try again later";

pub const SCIM_TOKEN: &str = "the SCIM token is wrong or expired (Alation tokens last 1–6 \
     months, and generating a new one revokes the old); with auth = \"basic\", check \
     scim.username and scim.password";
pub const SCIM_FORBIDDEN: &str = "403: the credentials were recognised but refused; check that \
     they are the SCIM credentials of this instance and that no proxy or allow-list blocks this \
     host";
pub const SCIM_PATH: &str = "404: scim.base_url must be the SCIM root and end in /scim/v2, e.g. \
     https://alation.example.com/scim/v2";
pub const SCIM_REDIRECT: &str = "the server redirects (to a login page?), which is not \
     followed: scim.base_url must be the SCIM root on the instance's own host, ending in \
     /scim/v2";
pub const SCIM_FILTER: &str = "groupsync looks groups up with filter=displayName eq \"…\"; the \
     server must support it";
pub const SCIM_NOT_SCIM: &str = "this does not look like a SCIM server: scim.base_url must end \
     in /scim/v2";

pub const TLS: &str = "TLS failed: if the server's certificate comes from a private CA, add \
     the CA to the system's trust store, or point SSL_CERT_FILE at a PEM bundle holding it \
     (the bundle replaces the system store)";
pub const REFUSED: &str = "connection refused: nothing listens there; check the URL's host and \
     port, and firewalls";
pub const DNS: &str = "the host name does not resolve; check the URL's host and the DNS of \
     this machine or pod";
pub const TIMEOUT: &str = "no answer in time: a firewall may drop the packets, or the network \
     needs a proxy (HTTPS_PROXY is honoured for HTTP, not for SMTP)";

pub const SMTP_AUTH: &str = "the SMTP server refused the login: check email.username and \
     email.password";
pub const SMTP_REJECTED: &str = "the SMTP server refused the sender or a recipient: check \
     email.from and email.to (relays often accept only their own domains)";
pub const SMTP_BUSY: &str = "the SMTP server is refusing connections for now (4xx); try again, \
     or ask whether this host may relay";
pub const SMTP_TLS: &str = "email.tls must match the port: starttls on 587 (smtp://), implicit \
     on 465 (smtps://); a private CA must be in the system store or SSL_CERT_FILE";
pub const SMTP_NO_STARTTLS: &str = "email.tls = \"starttls\" but the server does not offer \
     STARTTLS: this port speaks plain SMTP only; use the relay's submission port (587) that \
     offers it, or email.tls = \"none\" for a relay on a trusted network";
pub const SMTP_NOT_TLS: &str = "email.tls = \"implicit\" but the server answered in plain text: \
     this port is not an implicit-TLS port; use email.tls = \"starttls\" here (smtp://, usually \
     587), or the relay's implicit-TLS port (smtps://, usually 465)";
pub const SMTP_UNTRUSTED: &str = "the relay's certificate is not trusted: if it is self-signed or \
     comes from a private CA, add the CA to the system's trust store, or point SSL_CERT_FILE at \
     a PEM bundle holding it (the bundle replaces the system store)";
pub const SMTP_WRONG_HOST: &str = "the relay's certificate is for another name: the host of \
     email.smtp_url must be one of the names the certificate holds (the error lists them), \
     not an IP address or an alias";
pub const SMTP_SILENT: &str = "the server accepted the connection but did not answer: is it a \
     TLS port spoken to in plain text? check email.tls";

pub const STORE_FOLDER: &str = "the folder of store.path cannot be created: it must be on a \
     writable volume (/data in the container image)";
pub const STORE_FILE: &str = "the file must be writable by the user groupsync runs as, on a \
     local disk (SQLite's WAL mode does not work on network file systems)";
pub const STORE_TOO_NEW: &str = "a newer groupsync wrote this store; run that version, or \
     restore a backup taken before the upgrade";

pub fn identitynow(e: &IdnError) -> Option<&'static str> {
    match e {
        IdnError::BadCredentials { .. } => Some(IDN_CREDENTIALS),
        IdnError::Unauthorized(_) => Some(IDN_REVOKED),
        IdnError::Forbidden { .. } => Some(IDN_SCOPES),
        IdnError::NotFound {
            endpoint: Endpoint::Entitlements,
            ..
        }
        | IdnError::UnexpectedStatus(_)
        | IdnError::TokenResponse(_) => Some(IDN_HOST),
        IdnError::TokenEndpoint { status, .. } => match status {
            429 => Some(RATE_LIMITED),
            500..=599 => Some(SERVER_FAILING),
            _ => Some(IDN_HOST),
        },
        IdnError::NotFound { .. }
        | IdnError::SourceNotFound { .. }
        | IdnError::SourceNameNotFound { .. }
        | IdnError::SourceNameAmbiguous { .. } => Some(IDN_SOURCE),
        IdnError::BadRequest {
            endpoint: Endpoint::Entitlements,
            ..
        } => Some(IDN_FILTER),
        IdnError::RateLimited { .. } => Some(RATE_LIMITED),
        IdnError::Server { .. } => Some(SERVER_FAILING),
        IdnError::Transport { .. } | IdnError::TokenTransport { .. } => transport(&e.to_string()),
        _ => None,
    }
}

pub fn scim(e: &ScimError) -> Option<&'static str> {
    match e {
        ScimError::Unauthorized { .. } => Some(SCIM_TOKEN),
        ScimError::Forbidden { .. } => Some(SCIM_FORBIDDEN),
        ScimError::NotFound { .. } => Some(SCIM_PATH),
        ScimError::InvalidFilter { .. } => Some(SCIM_FILTER),
        ScimError::Rejected { status, .. } if (300..400).contains(status) => Some(SCIM_REDIRECT),
        ScimError::Malformed { .. } => Some(SCIM_NOT_SCIM),
        ScimError::RateLimited { .. } => Some(RATE_LIMITED),
        ScimError::Server { .. } => Some(SERVER_FAILING),
        ScimError::Connect(text) | ScimError::Timeout(text) | ScimError::Transport(text) => {
            transport(text).or(matches!(e, ScimError::Timeout(_)).then_some(TIMEOUT))
        }
        _ => None,
    }
}

/// The ways TLS to an SMTP relay goes wrong that have a fix of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTlsProblem {
    /// STARTTLS asked of a server that does not offer it (no STARTTLS after EHLO).
    NoStartTls,
    /// Implicit TLS against a plain port: the handshake got an SMTP greeting back.
    NotTls,
    /// The certificate does not lead to a trusted CA.
    Untrusted,
    /// The certificate is valid, but not for the host name groupsync connected to.
    WrongHost,
}

impl SmtpTlsProblem {
    pub fn hint(self) -> &'static str {
        match self {
            SmtpTlsProblem::NoStartTls => SMTP_NO_STARTTLS,
            SmtpTlsProblem::NotTls => SMTP_NOT_TLS,
            SmtpTlsProblem::Untrusted => SMTP_UNTRUSTED,
            SmtpTlsProblem::WrongHost => SMTP_WRONG_HOST,
        }
    }
}

/// Which TLS problem an SMTP error's message (lettre's, with rustls's causes) tells of.
pub fn smtp_tls_problem(text: &str) -> Option<SmtpTlsProblem> {
    let t = text.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&["starttls is not supported"]) {
        Some(SmtpTlsProblem::NoStartTls)
    } else if any(&[
        "invalidcontenttype",
        "corrupt message",
        "wrong version number",
    ]) {
        Some(SmtpTlsProblem::NotTls)
    } else if any(&["not valid for name", "notvalidforname"]) {
        Some(SmtpTlsProblem::WrongHost)
    } else if any(&[
        "unknownissuer",
        "unknown issuer",
        "badsignature",
        "self-signed",
        "self signed",
        "unknownca",
    ]) {
        Some(SmtpTlsProblem::Untrusted)
    } else {
        None
    }
}

pub fn smtp(e: &NotifyError) -> Option<&'static str> {
    let NotifyError::Smtp(inner) = e else {
        return matches!(e, NotifyError::NotConnected).then_some(SMTP_SILENT);
    };
    if let Some(problem) = smtp_tls_problem(&e.to_string()) {
        return Some(problem.hint());
    }
    let code = inner.status().map(|c| c.to_string()).unwrap_or_default();
    if inner.is_tls() {
        Some(SMTP_TLS)
    } else if ["530", "534", "535", "538"].contains(&code.as_str()) {
        Some(SMTP_AUTH)
    } else if inner.is_permanent() {
        Some(SMTP_REJECTED)
    } else if inner.is_transient() {
        Some(SMTP_BUSY)
    } else {
        transport(&e.to_string()).or(inner.is_timeout().then_some(TIMEOUT))
    }
}

/// A hint for a transport failure, from its message (which carries the causes): the
/// clients wrap different error types, but the operating system's words are the same.
pub fn transport(text: &str) -> Option<&'static str> {
    let t = text.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&["certificate", "tls", "handshake", "ssl"]) {
        Some(TLS)
    } else if any(&["connection refused"]) {
        Some(REFUSED)
    } else if any(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no address associated",
        "temporary failure in name resolution",
    ]) {
        Some(DNS)
    } else if any(&["timed out", "timeout", "no answer in time"]) {
        Some(TIMEOUT)
    } else {
        None
    }
}
