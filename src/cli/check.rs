//! `groupsync check`: tries every connection a run needs, one line per check, and says
//! what to do about each failure.
//!
//! It is what an operator runs after filling in the configuration, after rotating a
//! secret, and when a run fails: a token from IdentityNow, the AD source, the first page
//! of its groups, its group schema, the Alation SCIM source, which IdentityNow operations
//! the token may use (`access`), the SCIM server's discovery document and an authenticated
//! lookup, the SMTP relay (a test message only when asked), and the store. Nothing is
//! created in SCIM, and no aggregation is started.
//! Retries are cut to one, so that a wrong URL is reported in seconds, not after the
//! back-off a real run would sit through. Exit status: 0 when every check passed, 1 when
//! one failed (2, for a configuration that does not load, comes from the caller).

use crate::config::{ApiVersion, Settings, SmtpSettings, SmtpTls};
use crate::identitynow::{self, IdnError, OFFSET_WINDOW, Reading};
use crate::notify::{Mailer, Notice, NotifyError};
use crate::scim::expiry::{ExpirySource, ExpiryState, TokenExpiry};
use crate::scim::{self, ScimError};
use crate::store::{Store, StoreError};
use std::fmt;
use std::process::ExitCode;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    /// Works, but something looks off; does not fail the check.
    Warn,
    /// Not tried: turned off, or it needs an earlier check that failed.
    Skip,
    Fail,
}

/// One line of output: `ok   scim groups: …` or `FAIL … — hint: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    status: Status,
    name: &'static str,
    detail: String,
    hint: Option<&'static str>,
}

impl Line {
    fn new(status: Status, name: &'static str, detail: impl Into<String>) -> Line {
        Line {
            status,
            name,
            detail: detail.into(),
            hint: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, hint: Option<&'static str>) -> Line {
        Line {
            hint,
            ..Line::new(Status::Fail, name, detail)
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Fail => "FAIL",
        };
        write!(f, "{status:<4} {}", self.name)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if let Some(hint) = self.hint {
            write!(f, " — hint: {hint}")?;
        }
        Ok(())
    }
}

/// Prints each line as soon as it is known, and remembers whether any failed.
#[derive(Default)]
struct Printer {
    failed: bool,
}

impl Printer {
    fn put(&mut self, line: Line) {
        self.failed |= line.status == Status::Fail;
        // a stdout that cannot be written (other than closed) fails the command
        self.failed |= super::out::line(&line).is_err();
    }
}

/// Runs every check and prints one line for each.
pub async fn run(settings: &Settings, send_test_email: bool) -> ExitCode {
    let settings = quick(settings);
    let mut out = Printer::default();
    identitynow_checks(&settings, &mut out).await;
    scim_checks(&settings, &mut out).await;
    if let Some(expiry) = &settings.scim.token_expiry {
        out.put(token_expiry_line(expiry, chrono::Utc::now()));
    }
    smtp_checks(&settings, send_test_email, &mut out).await;
    out.put(store_check(&settings).await);
    if out.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The settings with at most one retry per call.
fn quick(settings: &Settings) -> Settings {
    let mut s = settings.clone();
    s.identitynow.retry.max_retries = s.identitynow.retry.max_retries.min(1);
    s.scim.retry.max_retries = s.scim.retry.max_retries.min(1);
    s
}

async fn identitynow_checks(settings: &Settings, out: &mut Printer) {
    let names = [
        "identitynow token",
        "identitynow source",
        "identitynow groups",
    ];
    let skip_rest = |out: &mut Printer, from: usize, why: &str| {
        for name in &names[from..] {
            out.put(Line::new(Status::Skip, name, why));
        }
    };
    let client = match identitynow::Client::new(&settings.identitynow) {
        Ok(c) => c,
        Err(e) => return out.put(idn_failure(names[0], &e)),
    };
    if let Err(e) = client.check_token().await {
        out.put(idn_failure(names[0], &e));
        return skip_rest(out, 1, "needs a token");
    }
    out.put(Line::new(Status::Ok, names[0], ""));
    let source = match client.resolve_source(&settings.identitynow.source).await {
        Ok(s) => s,
        Err(e) => {
            out.put(idn_failure(names[1], &e));
            return skip_rest(out, 2, "needs the source");
        }
    };
    out.put(Line::new(
        Status::Ok,
        names[1],
        format!("{:?} ({})", source.name, source.id),
    ));
    out.put(match client.first_page(&source.id).await {
        Ok(page) => groups_line(names[2], &page, settings.identitynow.api_version),
        Err(e) => idn_failure(names[2], &e),
    });
    out.put(access::schema_line(&client, &source.id).await);
    out.put(access::scim_source_line(settings, &client).await);
    access::access_lines(settings, &client, &source.id, out).await;
}

/// How many group entitlements there are, and how a run will read them with `version`.
fn groups_line(
    name: &'static str,
    page: &identitynow::probe::FirstPage,
    version: ApiVersion,
) -> Line {
    let count = page.total.unwrap_or(page.returned as u64);
    if count == 0 {
        let mut line = Line::new(Status::Warn, name, "no group entitlements match");
        line.hint = Some(
            "check identitynow.entitlement_filter, and that the source's groups have been \
             aggregated (an entitlement aggregation, not only an account aggregation)",
        );
        return line;
    }
    let sample = page
        .sample
        .as_deref()
        .map(|s| format!(", e.g. {s:?}"))
        .unwrap_or_default();
    let total = match page.total {
        Some(t) => format!("{t} group entitlements"),
        None => format!("{} on the first page (no total given)", page.returned),
    };
    let reading = match page.reading {
        Reading::Offset => page.reading.to_string(),
        beyond => format!(
            "more than {OFFSET_WINDOW} with api_version {}: {beyond}",
            version.as_path()
        ),
    };
    Line::new(Status::Ok, name, format!("{total}{sample}; {reading}"))
}

async fn scim_checks(settings: &Settings, out: &mut Printer) {
    let client = match scim::Client::new(&settings.scim) {
        Ok(c) => c,
        Err(e) => return out.put(scim_failure("scim groups", &e)),
    };
    out.put(match client.service_provider_config().await {
        Ok(doc) => discovery_line(&doc),
        Err(ScimError::NotFound { .. }) => Line::new(
            Status::Warn,
            "scim discovery",
            "no /ServiceProviderConfig (404); groupsync does not need it, the groups check decides",
        ),
        Err(e) => scim_failure("scim discovery", &e),
    });
    let probe = format!("groupsync-check-{}", uuid::Uuid::new_v4());
    out.put(match client.find_by_display_name(&probe).await {
        Ok(found) if found.is_empty() => Line::new(
            Status::Ok,
            "scim groups",
            "an authenticated lookup by displayName answered (no match, as expected)",
        ),
        Ok(found) => Line::fail(
            "scim groups",
            format!(
                "a lookup of the unique name {probe:?} matched {}",
                crate::report::count(found.len(), "group")
            ),
            Some("the server does not filter by displayName correctly"),
        ),
        Err(e) => scim_failure("scim groups", &e),
    });
}

/// When the SCIM token expires: ok until `scim.token_warn_days` before, then a warning
/// with the date and the days left, a failure once past.
fn token_expiry_line(expiry: &TokenExpiry, now: chrono::DateTime<chrono::Utc>) -> Line {
    const NAME: &str = "scim token expiry";
    let from = match expiry.source {
        ExpirySource::Jwt => "the token's exp",
        ExpirySource::Configured => "scim.token_expires_at",
    };
    match expiry.state(now) {
        ExpiryState::Later => Line::new(
            Status::Ok,
            NAME,
            format!(
                "expires on {} ({} days left, from {from})",
                expiry.date(),
                (expiry.at - now).num_days()
            ),
        ),
        ExpiryState::Soon { .. } => {
            Line::new(Status::Warn, NAME, expiry.warning(now).unwrap_or_default())
        }
        ExpiryState::Expired => Line::fail(NAME, expiry.expired(), None),
    }
}

/// What the discovery document says about filtering, which the lookups rely on.
fn discovery_line(doc: &serde_json::Value) -> Line {
    let filter = doc.get("filter");
    let supported = filter
        .and_then(|f| f.get("supported"))
        .and_then(serde_json::Value::as_bool);
    let max = filter
        .and_then(|f| f.get("maxResults"))
        .and_then(serde_json::Value::as_u64)
        .map(|m| format!(" (maxResults {m})"))
        .unwrap_or_default();
    match supported {
        Some(false) => Line::new(
            Status::Warn,
            "scim discovery",
            "the server says it does not support filters; groupsync looks groups up by displayName",
        ),
        Some(true) => Line::new(
            Status::Ok,
            "scim discovery",
            format!("filtering supported{max}"),
        ),
        None => Line::new(Status::Ok, "scim discovery", "answered"),
    }
}

async fn smtp_checks(settings: &Settings, send_test_email: bool, out: &mut Printer) {
    let Some(smtp) = &settings.email.smtp else {
        out.put(Line::new(
            Status::Skip,
            "smtp",
            "email is disabled (email.enabled = false)",
        ));
        // Asked for a test message that cannot be sent: that is a failure.
        let status = if send_test_email {
            Status::Fail
        } else {
            Status::Skip
        };
        return out.put(Line::new(status, "smtp test email", "email is disabled"));
    };
    let connected = match Mailer::new(smtp) {
        Ok(mailer) => mailer.test_connection().await.map(|()| mailer),
        Err(e) => Err(e),
    };
    let mailer = match connected {
        Ok(m) => m,
        Err(e) => {
            out.put(smtp_failure("smtp", smtp, &e));
            let why = "needs a connection";
            return out.put(Line::new(Status::Skip, "smtp test email", why));
        }
    };
    out.put(Line::new(Status::Ok, "smtp", relay(smtp)));
    out.put(if send_test_email {
        test_email(&mailer, smtp).await
    } else {
        let why = "not sent (--send-test-email sends one)";
        Line::new(Status::Skip, "smtp test email", why)
    });
}

/// One message to the configured recipients, through the connection just checked.
async fn test_email(mailer: &Mailer, smtp: &SmtpSettings) -> Line {
    let notice = Notice {
        key: format!("check/{}", uuid::Uuid::new_v4()),
        subject: "groupsync test message".into(),
        body: "groupsync check --send-test-email sent this message: notices from groupsync \
               reach this address."
            .into(),
    };
    match mailer.send(&notice).await {
        Ok(()) => {
            let to: Vec<String> = smtp.to.iter().map(|m| m.email.to_string()).collect();
            Line::new(
                Status::Ok,
                "smtp test email",
                format!("sent to {}", to.join(", ")),
            )
        }
        Err(e) => smtp_failure("smtp test email", smtp, &e),
    }
}

/// `mail.example.com:587 (starttls, as groupsync)`.
fn relay(smtp: &SmtpSettings) -> String {
    let tls = match smtp.tls {
        SmtpTls::None => "no TLS",
        SmtpTls::StartTls => "starttls",
        SmtpTls::Implicit => "implicit TLS",
    };
    let user = smtp
        .credentials
        .as_ref()
        .map(|(u, _)| format!(", as {u}"))
        .unwrap_or_default();
    format!("{}:{} ({tls}{user})", smtp.host, smtp.port)
}

async fn store_check(settings: &Settings) -> Line {
    let path = settings.store.path.clone();
    let shown = path.display().to_string();
    let opened = tokio::task::spawn_blocking(move || {
        let store = Store::open(&path)?;
        store.check_writable()
    })
    .await;
    match opened {
        Ok(Ok(())) => Line::new(Status::Ok, "store", format!("{shown} (writable)")),
        Ok(Err(e)) => Line::fail("store", e.to_string(), Some(store_hint(&e))),
        Err(e) => Line::fail("store", format!("the check itself failed: {e}"), None),
    }
}

fn idn_failure(name: &'static str, e: &IdnError) -> Line {
    Line::fail(name, e.to_string(), hints::identitynow(e))
}

fn scim_failure(name: &'static str, e: &ScimError) -> Line {
    let detail = match e {
        // The only SCIM error whose message does not carry its status.
        ScimError::Unauthorized { .. } => format!("401 {e}"),
        _ => e.to_string(),
    };
    Line::fail(name, detail, hints::scim(e))
}

/// A failed SMTP check names the host and port it tried, which a TLS or DNS error alone
/// does not.
fn smtp_failure(name: &'static str, smtp: &SmtpSettings, e: &NotifyError) -> Line {
    let detail = format!("{}:{}: {e}", smtp.host, smtp.port);
    Line::fail(name, detail, hints::smtp(e))
}

fn store_hint(e: &StoreError) -> &'static str {
    match e {
        StoreError::Folder { .. } => hints::STORE_FOLDER,
        StoreError::Sqlite { .. } | StoreError::UnknownRun(_) | StoreError::Task(_) => {
            hints::STORE_FILE
        }
        StoreError::TooNew { .. } => hints::STORE_TOO_NEW,
    }
}

mod access;
mod hints;

#[cfg(test)]
mod tests;
