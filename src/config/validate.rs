//! Turns [`RawSettings`] into [`Settings`], one section at a time; each check names its key.

use super::raw::{
    RawCredentials, RawEmail, RawIdentityNow, RawLog, RawPoll, RawSafety, RawScim, RawServer,
    RawSettings, RawStore, RawSync, RawTrigger, RawWebhook,
};
use super::*;
use crate::notify::template;
use secrecy::ExposeSecret;

type R<T> = Result<T, ConfigError>;

pub fn from_raw(raw: RawSettings) -> R<Settings> {
    let cap = max_retry_after(raw.sync.max_retry_after_secs)?;
    Ok(Settings {
        identitynow: identitynow(raw.identitynow, cap)?,
        scim: scim(raw.scim, cap)?,
        email: email(raw.email)?,
        sync: sync(raw.sync)?,
        safety: safety(raw.safety)?,
        log: log(raw.log)?,
        server: server(raw.server)?,
        trigger: trigger(raw.trigger)?,
        webhook: webhook(raw.webhook)?,
        poll: poll(raw.poll)?,
        store: store(raw.store)?,
        job: super::DEFAULT_JOB.to_owned(),
        jobs: vec![],
    })
}

fn required<T>(value: Option<T>, key: &str) -> R<T> {
    value.ok_or_else(|| ConfigError::new(key, "is required but not set"))
}

fn non_empty(value: Option<String>, key: &str) -> R<String> {
    let v = required(value, key)?;
    if v.trim().is_empty() {
        return Err(ConfigError::new(key, "must not be empty"));
    }
    Ok(v)
}

fn http_url(value: Option<String>, key: &str) -> R<Url> {
    let text = non_empty(value, key)?;
    let url = Url::parse(text.trim())
        .map_err(|e| ConfigError::new(key, format!("is not a valid URL ({e}): {text:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            key,
            format!("must be an http(s) URL with a host, got {text:?}"),
        ));
    }
    Ok(url)
}

/// A secret given inline or as `<key>_file`, never both. `None` when neither is set.
fn secret(
    inline: Option<SecretString>,
    file: Option<String>,
    key: &str,
) -> R<Option<SecretString>> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            key,
            format!("is set both inline and as `{key}_file`; set only one"),
        )),
        (Some(s), None) if s.expose_secret().is_empty() => {
            Err(ConfigError::new(key, "must not be empty"))
        }
        (Some(s), None) => Ok(Some(s)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(format!("{key}_file"), format!("cannot read {path:?}: {e}"))
            })?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}_file"),
                    format!("{path:?} is empty"),
                ));
            }
            Ok(Some(SecretString::from(value.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

/// `{section}.auth` and the keys it needs: `bearer` takes `{section}.token` (or
/// `token_file`), `basic` takes `{section}.username` and `{section}.password` (or
/// `password_file`). Any other scheme is refused, naming the `schemes` the section offers.
fn credentials(section: &str, keys: RawCredentials, schemes: &str) -> R<Credentials> {
    let key = |name: &str| format!("{section}.{name}");
    let token = secret(keys.token, keys.token_file, &key("token"))?;
    let password = secret(keys.password, keys.password_file, &key("password"))?;
    match keys.auth.as_deref().unwrap_or("bearer") {
        "bearer" => Ok(Credentials::Bearer(required(token, &key("token"))?)),
        "basic" => Ok(Credentials::Basic {
            username: non_empty(keys.username, &key("username"))?,
            password: required(password, &key("password"))?,
        }),
        other => Err(ConfigError::new(
            key("auth"),
            format!("must be {schemes}, got {other:?}"),
        )),
    }
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(v: T, lo: T, hi: T, key: &str) -> R<T> {
    if v < lo || v > hi {
        return Err(ConfigError::new(
            key,
            format!("must be between {lo} and {hi}, got {v}"),
        ));
    }
    Ok(v)
}

fn secs(v: Option<u64>, default: u64, key: &str) -> R<Duration> {
    Ok(Duration::from_secs(in_range(
        v.unwrap_or(default),
        1,
        3600,
        key,
    )?))
}

fn retry_policy(max_retries: Option<usize>, cap: Duration, key: &str) -> R<RetryPolicy> {
    Ok(RetryPolicy {
        max_retries: in_range(max_retries.unwrap_or(4), 0, 20, key)?,
        max_retry_after: cap,
        ..RetryPolicy::default()
    })
}

/// `sync.max_retry_after_secs`: one cap for every client's `Retry-After`.
fn max_retry_after(v: Option<u64>) -> R<Duration> {
    secs(v, 120, "sync.max_retry_after_secs")
}

/// Plain `http://` (or SMTP without TLS) carrying credentials is refused unless the host is
/// this machine or `{section}.allow_insecure_transport = true`.
fn transport(
    section: &str,
    insecure: bool,
    host: &str,
    allowed: Option<bool>,
    what: &str,
) -> R<()> {
    if !insecure || allowed.unwrap_or(false) || is_loopback(host) {
        return Ok(());
    }
    Err(ConfigError::new(
        format!("{section}.allow_insecure_transport"),
        format!(
            "{what} would send credentials unencrypted to {host}; use TLS, or set \
             `{section}.allow_insecure_transport = true` if the network is trusted"
        ),
    ))
}

/// `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn identitynow(mut r: RawIdentityNow, cap: Duration) -> R<IdentityNowSettings> {
    // Checked in the order the keys appear in the file.
    let tenant_url = http_url(r.tenant_url.take(), "identitynow.tenant_url")?;
    transport(
        "identitynow",
        tenant_url.scheme() == "http",
        tenant_url.host_str().unwrap_or_default(),
        r.allow_insecure_transport,
        "identitynow.tenant_url is http://: the client secret and the tokens",
    )?;
    let client_id = non_empty(r.client_id.take(), "identitynow.client_id")?;
    let client_secret = required(
        secret(
            r.client_secret.take(),
            r.client_secret_file.take(),
            "identitynow.client_secret",
        )?,
        "identitynow.client_secret",
    )?;
    let source = match (
        r.source_id.filter(|s| !s.trim().is_empty()),
        r.source_name.filter(|s| !s.trim().is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "identitynow.source_id",
                "set either `source_id` or `source_name`, not both",
            ));
        }
        (Some(id), None) => SourceRef::Id(id.trim().to_owned()),
        (None, Some(name)) => SourceRef::Name(name),
        (None, None) => {
            return Err(ConfigError::new(
                "identitynow.source_id",
                "is required (or set `identitynow.source_name`); `groupsync sources` lists them",
            ));
        }
    };
    let scim_source = r
        .scim_source
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let scim_aggregation_timeout = secs(
        r.scim_aggregation_timeout_secs,
        600,
        "identitynow.scim_aggregation_timeout_secs",
    )?;
    let api_version = match r.api_version.as_deref().unwrap_or("v2025") {
        "beta" => ApiVersion::Beta,
        "v2024" => ApiVersion::V2024,
        "v2025" => ApiVersion::V2025,
        "v2026" => ApiVersion::V2026,
        "v3" => {
            return Err(ConfigError::new(
                "identitynow.api_version",
                "`v3` has no entitlements endpoint; use beta, v2024, v2025 or v2026",
            ));
        }
        other => {
            return Err(ConfigError::new(
                "identitynow.api_version",
                format!("must be one of beta, v2024, v2025, v2026; got {other:?}"),
            ));
        }
    };
    let entitlement_filter = r
        .entitlement_filter
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty());
    Ok(IdentityNowSettings {
        tenant_url,
        client_id,
        client_secret,
        source,
        scim_source,
        scim_aggregation_timeout,
        api_version,
        entitlement_filter,
        page_size: in_range(r.page_size.unwrap_or(250), 1, 250, "identitynow.page_size")?,
        requests_per_10s: in_range(
            r.requests_per_10s.unwrap_or(90),
            1,
            100,
            "identitynow.requests_per_10s",
        )?,
        timeout: secs(r.timeout_secs, 30, "identitynow.timeout_secs")?,
        retry: retry_policy(r.max_retries, cap, "identitynow.max_retries")?,
    })
}

fn scim(mut r: RawScim, cap: Duration) -> R<ScimSettings> {
    let mut base_url = http_url(r.base_url.take(), "scim.base_url")?;
    transport(
        "scim",
        base_url.scheme() == "http",
        base_url.host_str().unwrap_or_default(),
        r.allow_insecure_transport,
        "scim.base_url is http://: the SCIM token or password",
    )?;
    if !base_url.path().ends_with('/') {
        let path = format!("{}/", base_url.path());
        base_url.set_path(&path);
    }
    let auth = credentials("scim", r.take_credentials(), "`bearer` or `basic`")?;
    let configured = match r.token_expires_at.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(text) => Some(crate::scim::expiry::parse_date(&text).ok_or_else(|| {
            ConfigError::new(
                "scim.token_expires_at",
                format!("is not an RFC 3339 date-time (2026-06-30T00:00:00Z) or date: {text:?}"),
            )
        })?),
    };
    let warn_days = in_range(
        r.token_warn_days.unwrap_or(14),
        0,
        365,
        "scim.token_warn_days",
    )?;
    let token = match &auth {
        Credentials::Bearer(t) => Some(t.expose_secret()),
        Credentials::Basic { .. } => None,
    };
    let token_expiry = crate::scim::expiry::TokenExpiry::of(token, configured, warn_days);
    Ok(ScimSettings {
        base_url,
        auth,
        timeout: secs(r.timeout_secs, 30, "scim.timeout_secs")?,
        retry: retry_policy(r.max_retries, cap, "scim.max_retries")?,
        token_expiry,
        requests_per_second: r
            .requests_per_second
            .map(|n| in_range(n, 1, 10_000, "scim.requests_per_second"))
            .transpose()?,
    })
}

fn mailbox(text: &str, key: &str) -> R<lettre::message::Mailbox> {
    text.trim()
        .parse()
        .map_err(|e| ConfigError::new(key, format!("is not an email address ({e}): {text:?}")))
}

/// `email.max_listed_groups` unless set: a digest of a few dozen kilobytes.
const DEFAULT_MAX_LISTED_GROUPS: usize = 1000;

fn email(mut r: RawEmail) -> R<EmailSettings> {
    let mode = match r.mode.as_deref().unwrap_or("digest") {
        "digest" => EmailMode::Digest,
        "per_group" => EmailMode::PerGroup,
        other => {
            return Err(ConfigError::new(
                "email.mode",
                format!("must be `digest` or `per_group`, got {other:?}"),
            ));
        }
    };
    let template = |given: &mut Option<String>, slot: template::Slot| {
        given.take().unwrap_or_else(|| slot.default.into())
    };
    let subject_template = template(&mut r.subject_template, template::SUBJECT);
    let body_template = template(&mut r.body_template, template::BODY);
    let digest_subject_template =
        template(&mut r.digest_subject_template, template::DIGEST_SUBJECT);
    let digest_body_template = template(&mut r.digest_body_template, template::DIGEST_BODY);
    let summary_subject_template =
        template(&mut r.summary_subject_template, template::SUMMARY_SUBJECT);
    let summary_body_template = template(&mut r.summary_body_template, template::SUMMARY_BODY);
    let repeat = r.repeat.unwrap_or(true);
    let max_listed_groups = in_range(
        r.max_listed_groups.unwrap_or(DEFAULT_MAX_LISTED_GROUPS),
        1,
        1_000_000,
        "email.max_listed_groups",
    )?;
    let smtp = if r.enabled.unwrap_or(true) {
        Some(smtp(r)?)
    } else {
        None
    };
    let settings = EmailSettings {
        smtp,
        mode,
        subject_template,
        body_template,
        digest_subject_template,
        digest_body_template,
        summary_subject_template,
        summary_body_template,
        repeat,
        max_listed_groups,
    };
    template::check(&settings).map_err(|(key, problem)| ConfigError::new(key, problem))?;
    Ok(settings)
}

fn smtp(r: RawEmail) -> R<SmtpSettings> {
    let url = non_empty(r.smtp_url, "email.smtp_url")?;
    let parsed = Url::parse(url.trim()).map_err(|e| {
        ConfigError::new(
            "email.smtp_url",
            format!("is not a valid URL ({e}): {url:?}"),
        )
    })?;
    let (default_tls, default_port) = match parsed.scheme() {
        "smtp" => (SmtpTls::StartTls, 587),
        "smtps" => (SmtpTls::Implicit, 465),
        other => {
            return Err(ConfigError::new(
                "email.smtp_url",
                format!("must start with smtp:// or smtps://, got {other}://"),
            ));
        }
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ConfigError::new("email.smtp_url", "has no host"))?
        .trim_matches(['[', ']'])
        .to_owned();
    let tls = match r.tls.as_deref() {
        None => default_tls,
        Some("none") => SmtpTls::None,
        Some("starttls") => SmtpTls::StartTls,
        Some("implicit") => SmtpTls::Implicit,
        Some(other) => {
            return Err(ConfigError::new(
                "email.tls",
                format!("must be `none`, `starttls` or `implicit`, got {other:?}"),
            ));
        }
    };
    let password = secret(r.password, r.password_file, "email.password")?;
    let credentials = match (r.username.filter(|u| !u.is_empty()), password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new(
                "email.password",
                "is required when `email.username` is set",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "email.username",
                "is required when `email.password` is set",
            ));
        }
    };
    transport(
        "email",
        tls == SmtpTls::None && credentials.is_some(),
        &host,
        r.allow_insecure_transport,
        "email.tls = \"none\" with email.username: the SMTP password",
    )?;
    let from = mailbox(&non_empty(r.from, "email.from")?, "email.from")?;
    let to_list = required(r.to, "email.to")?;
    if to_list.is_empty() {
        return Err(ConfigError::new(
            "email.to",
            "must list at least one address",
        ));
    }
    let to = to_list
        .iter()
        .map(|t| mailbox(t, "email.to"))
        .collect::<R<Vec<_>>>()?;
    Ok(SmtpSettings {
        host,
        port: parsed.port().unwrap_or(default_port),
        tls,
        credentials,
        from,
        to,
        timeout: secs(r.timeout_secs, 30, "email.timeout_secs")?,
    })
}

fn sync(r: RawSync) -> R<SyncSettings> {
    let scope = crate::sync::scope::Scope::compile(&r)?;
    let target_lookup = match r.target_lookup.as_deref().unwrap_or("auto") {
        "auto" => TargetLookup::Auto,
        "per_group" => TargetLookup::PerGroup,
        "listing" => TargetLookup::Listing,
        other => {
            return Err(ConfigError::new(
                "sync.target_lookup",
                format!("must be `auto`, `per_group` or `listing`, got {other:?}"),
            ));
        }
    };
    let external_id = match r.external_id.as_deref().unwrap_or("id") {
        "id" => ExternalId::Id,
        "value" => ExternalId::Value,
        other => {
            return Err(ConfigError::new(
                "sync.external_id",
                format!("must be `id` or `value`, got {other:?}"),
            ));
        }
    };
    Ok(SyncSettings {
        max_name_length: r
            .max_name_length
            .map(|n| in_range(n, 1, 65_536, "sync.max_name_length"))
            .transpose()?,
        lookup_concurrency: in_range(
            r.lookup_concurrency.unwrap_or(8),
            1,
            64,
            "sync.lookup_concurrency",
        )?,
        create_concurrency: in_range(
            r.create_concurrency.unwrap_or(8),
            1,
            64,
            "sync.create_concurrency",
        )?,
        target_lookup,
        listing_threshold: in_range(
            r.listing_threshold.unwrap_or(100),
            0,
            1_000_000,
            "sync.listing_threshold",
        )?,
        listing_page_size: in_range(
            r.listing_page_size.unwrap_or(500),
            1,
            10_000,
            "sync.listing_page_size",
        )?,
        max_run: Duration::from_secs(in_range(
            r.max_run_secs.unwrap_or(3600),
            1,
            86_400,
            "sync.max_run_secs",
        )?),
        max_retry_after: max_retry_after(r.max_retry_after_secs)?,
        scope,
        external_id,
        adopt: r.adopt.unwrap_or(false),
        rename: r.rename.unwrap_or(false),
        delete_orphans: r.delete_orphans.unwrap_or(false),
    })
}

fn safety(r: RawSafety) -> R<SafetySettings> {
    let d = SafetySettings::default();
    Ok(SafetySettings {
        max_source_drop_percent: in_range(
            r.max_source_drop_percent
                .unwrap_or(d.max_source_drop_percent),
            0,
            100,
            "safety.max_source_drop_percent",
        )?,
        max_create_percent: in_range(
            r.max_create_percent.unwrap_or(d.max_create_percent),
            0,
            100,
            "safety.max_create_percent",
        )?,
        creates_always_allowed: in_range(
            r.creates_always_allowed.unwrap_or(d.creates_always_allowed),
            0,
            1_000_000,
            "safety.creates_always_allowed",
        )?,
        max_deletes_per_run: in_range(
            r.max_deletes_per_run.unwrap_or(d.max_deletes_per_run),
            0,
            1_000_000,
            "safety.max_deletes_per_run",
        )?,
    })
}

fn log(r: RawLog) -> R<LogSettings> {
    let format = match r.format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(ConfigError::new(
                "log.format",
                format!("must be `text` or `json`, got {other:?}"),
            ));
        }
    };
    Ok(LogSettings {
        format,
        level: r.level.unwrap_or_else(|| "info".into()),
    })
}

fn server(r: RawServer) -> R<ServerSettings> {
    let listen_text = r.listen.unwrap_or_else(|| "0.0.0.0:8080".into());
    let listen = listen_text.trim().parse().map_err(|_| {
        ConfigError::new(
            "server.listen",
            format!("must be an address and port like 0.0.0.0:8080, got {listen_text:?}"),
        )
    })?;
    let admin_token = secret(r.admin_token, r.admin_token_file, "server.admin_token")?;
    let public_dashboard = match (r.public_dashboard, r.protect_dashboard) {
        (Some(public), Some(protect)) if public == protect => {
            return Err(ConfigError::new(
                "server.protect_dashboard",
                "contradicts `server.public_dashboard`; remove it (it is replaced by `server.public_dashboard`)",
            ));
        }
        (Some(public), _) => public,
        (None, Some(protect)) => !protect,
        (None, None) => false,
    };
    Ok(ServerSettings {
        listen,
        admin_token,
        shutdown_grace: Duration::from_secs(in_range(
            r.shutdown_grace_secs.unwrap_or(30),
            1,
            3600,
            "server.shutdown_grace_secs",
        )?),
        public_dashboard,
        deprecated_protect_dashboard: r.protect_dashboard.is_some(),
        header_read_timeout: secs(
            r.header_read_timeout_secs,
            10,
            "server.header_read_timeout_secs",
        )?,
        request_timeout: secs(r.request_timeout_secs, 30, "server.request_timeout_secs")?,
        max_connections: in_range(
            r.max_connections.unwrap_or(256),
            1,
            65_536,
            "server.max_connections",
        )?,
        readiness_interval: secs(
            r.readiness_interval_secs,
            15,
            "server.readiness_interval_secs",
        )?,
    })
}

fn trigger(r: RawTrigger) -> R<TriggerSettings> {
    let timezone_text = r.timezone.unwrap_or_else(|| "UTC".into());
    let timezone: chrono_tz::Tz = timezone_text.trim().parse().map_err(|_| {
        ConfigError::new(
            "trigger.timezone",
            format!("is not an IANA time zone name (e.g. Europe/Berlin): {timezone_text:?}"),
        )
    })?;
    let schedule = match r.schedule.filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(expression) => {
            let cron = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Optional)
                .build()
                .parse(expression.trim())
                .map_err(|e| {
                    ConfigError::new(
                        "trigger.schedule",
                        format!("is not a cron expression ({e}): {expression:?}"),
                    )
                })?;
            Some(Schedule {
                expression: expression.trim().to_owned(),
                cron,
                timezone,
            })
        }
    };
    Ok(TriggerSettings { schedule })
}

fn webhook(mut r: RawWebhook) -> R<WebhookSettings> {
    let max_body_bytes = in_range(
        r.max_body_kib.unwrap_or(256),
        1,
        10_240,
        "webhook.max_body_kib",
    )? * 1024;
    if !r.enabled.unwrap_or(false) {
        return Ok(WebhookSettings {
            auth: None,
            max_body_bytes,
        });
    }
    let keys = r.take_credentials();
    let auth = if keys.auth.as_deref() == Some("none") {
        if !r.allow_unauthenticated.unwrap_or(false) {
            return Err(ConfigError::new(
                "webhook.auth",
                "`none` accepts events from anyone; set `webhook.allow_unauthenticated = true` to allow it",
            ));
        }
        WebhookAuth::None
    } else {
        let schemes = "`bearer`, `basic` or `none`";
        WebhookAuth::Credentials(credentials("webhook", keys, schemes)?)
    };
    Ok(WebhookSettings {
        auth: Some(auth),
        max_body_bytes,
    })
}

fn poll(r: RawPoll) -> R<PollSettings> {
    let interval = in_range(
        r.interval_secs.unwrap_or(300),
        10,
        86_400,
        "poll.interval_secs",
    )?;
    Ok(PollSettings {
        interval: r
            .enabled
            .unwrap_or(false)
            .then(|| Duration::from_secs(interval)),
        start_group_aggregation: r.start_group_aggregation.unwrap_or(false),
        aggregation_timeout: Duration::from_secs(in_range(
            r.aggregation_timeout_secs.unwrap_or(1800),
            10,
            86_400,
            "poll.aggregation_timeout_secs",
        )?),
    })
}

pub(super) fn store(r: RawStore) -> R<StoreSettings> {
    let path = r.path.unwrap_or_else(|| "data/groupsync.db".into());
    if path.trim().is_empty() {
        return Err(ConfigError::new("store.path", "must not be empty"));
    }
    Ok(StoreSettings {
        path: path.into(),
        retention_days: in_range(
            r.retention_days.unwrap_or(90),
            1,
            36_500,
            "store.retention_days",
        )?,
    })
}

/// One `[[jobs]]` table's settings, checked against the jobs before it: its name is
/// `[a-z0-9_-]+` and not taken, and no earlier job reads the same source into the same
/// target. Its errors name the key as `jobs.<name>.<section>.<key>`.
pub(super) fn job(name: String, raw: RawSettings, before: &[Settings]) -> R<Settings> {
    let label = if name.is_empty() {
        format!("jobs[{}]", before.len())
    } else {
        format!("jobs.{name}")
    };
    let name_key = format!("{label}.name");
    if name.is_empty() {
        return Err(ConfigError::new(
            name_key,
            "is required: every `[[jobs]]` table has a name",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(ConfigError::new(
            name_key,
            format!("must be lower-case letters, digits, `_` and `-`, got {name:?}"),
        ));
    }
    if before.iter().any(|j| j.job == name) {
        return Err(ConfigError::new(
            name_key,
            format!("two jobs are called {name:?}; each job needs its own name"),
        ));
    }
    let mut settings =
        from_raw(raw).map_err(|e| ConfigError::new(format!("{label}.{}", e.key), e.problem))?;
    settings.job = name;
    let same = before.iter().find(|j| {
        j.identitynow.tenant_url == settings.identitynow.tenant_url
            && j.identitynow.source == settings.identitynow.source
            && j.scim.base_url == settings.scim.base_url
    });
    if let Some(other) = same {
        return Err(ConfigError::new(
            format!("{label}.scim.base_url"),
            format!(
                "job {:?} already reads the same source into the same target ({}); \
                 give each job its own source or target",
                other.job, settings.scim.base_url
            ),
        ));
    }
    Ok(settings)
}
