//! The configuration as written: every field optional, so that validation (in
//! `super::validate`) can say which key is missing instead of serde's generic message.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    #[serde(default)]
    pub identitynow: RawIdentityNow,
    #[serde(default)]
    pub scim: RawScim,
    #[serde(default)]
    pub email: RawEmail,
    #[serde(default)]
    pub sync: RawSync,
    #[serde(default)]
    pub safety: RawSafety,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub trigger: RawTrigger,
    #[serde(default)]
    pub webhook: RawWebhook,
    #[serde(default)]
    pub poll: RawPoll,
    #[serde(default)]
    pub store: RawStore,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub admin_token: Option<SecretString>,
    pub admin_token_file: Option<String>,
    pub shutdown_grace_secs: Option<u64>,
    pub public_dashboard: Option<bool>,
    /// Deprecated: the opposite of `public_dashboard`, still read.
    pub protect_dashboard: Option<bool>,
    pub header_read_timeout_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub readiness_interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    pub schedule: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub enabled: Option<bool>,
    pub auth: Option<String>,
    pub token: Option<SecretString>,
    pub token_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<String>,
    pub allow_unauthenticated: Option<bool>,
    pub max_body_kib: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    pub enabled: Option<bool>,
    pub interval_secs: Option<u64>,
    pub start_group_aggregation: Option<bool>,
    pub aggregation_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub path: Option<String>,
    pub retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityNow {
    pub tenant_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<String>,
    pub source_id: Option<String>,
    pub source_name: Option<String>,
    pub scim_source: Option<String>,
    pub scim_aggregation_timeout_secs: Option<u64>,
    pub api_version: Option<String>,
    pub entitlement_filter: Option<String>,
    pub page_size: Option<u32>,
    pub requests_per_10s: Option<u32>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<usize>,
    pub allow_insecure_transport: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScim {
    pub base_url: Option<String>,
    pub auth: Option<String>,
    pub token: Option<SecretString>,
    pub token_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<String>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<usize>,
    pub allow_insecure_transport: Option<bool>,
    pub token_expires_at: Option<String>,
    pub token_warn_days: Option<u32>,
    pub requests_per_second: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub enabled: Option<bool>,
    pub smtp_url: Option<String>,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<String>,
    pub from: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub to: Option<Vec<String>>,
    pub mode: Option<String>,
    pub subject_template: Option<String>,
    pub body_template: Option<String>,
    pub digest_subject_template: Option<String>,
    pub digest_body_template: Option<String>,
    pub summary_subject_template: Option<String>,
    pub summary_body_template: Option<String>,
    pub timeout_secs: Option<u64>,
    pub repeat: Option<bool>,
    pub max_listed_groups: Option<usize>,
    pub allow_insecure_transport: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub max_name_length: Option<usize>,
    pub lookup_concurrency: Option<usize>,
    pub create_concurrency: Option<usize>,
    pub target_lookup: Option<String>,
    pub listing_threshold: Option<usize>,
    pub listing_page_size: Option<usize>,
    pub max_retry_after_secs: Option<u64>,
    pub max_run_secs: Option<u64>,
    pub include_names: Option<Vec<String>>,
    pub exclude_names: Option<Vec<String>>,
    pub include_dns: Option<Vec<String>>,
    pub exclude_dns: Option<Vec<String>>,
    pub patterns_case_sensitive: Option<bool>,
    pub name_strip_prefix: Option<String>,
    pub name_case: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub external_id: Option<String>,
    pub adopt: Option<bool>,
    pub rename: Option<bool>,
    pub delete_orphans: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSafety {
    pub max_source_drop_percent: Option<u32>,
    pub max_create_percent: Option<u32>,
    pub creates_always_allowed: Option<u32>,
    pub max_deletes_per_run: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

/// Accepts a TOML array or one comma-separated string (as an environment variable gives).
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::Many(v)) => Some(v),
        Some(OneOrMany::One(s)) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        ),
    })
}

/// The credential keys `[scim]` and `[webhook]` share, taken out of their section to be
/// validated by one function.
#[derive(Debug, Default)]
pub struct RawCredentials {
    pub auth: Option<String>,
    pub token: Option<SecretString>,
    pub token_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<String>,
}

/// `take_credentials()` for each section that has the credential keys.
macro_rules! take_credentials {
    ($($section:ty),+) => {$(
        impl $section {
            pub fn take_credentials(&mut self) -> RawCredentials {
                RawCredentials {
                    auth: self.auth.take(),
                    token: self.token.take(),
                    token_file: self.token_file.take(),
                    username: self.username.take(),
                    password: self.password.take(),
                    password_file: self.password_file.take(),
                }
            }
        }
    )+};
}

take_credentials!(RawScim, RawWebhook);
