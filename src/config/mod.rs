//! Configuration: loaded once (TOML file, then `GROUPSYNC_<SECTION>__<KEY>` environment
//! variables), then validated into domain types. Every error names the key at fault.
//!
//! Secrets are [`SecretString`]s: read from the file, the environment or a `<key>_file`
//! (as Docker and Kubernetes mount them), and never printed (`Debug` is redacted).

pub mod keys;
pub(crate) mod raw;
mod source;
mod validate;

use crate::retry::RetryPolicy;
use secrecy::SecretString;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use url::Url;

pub use validate::from_raw;

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "config/groupsync.toml";
/// The prefix of environment overrides: `GROUPSYNC_SCIM__TOKEN` sets `scim.token`.
pub const ENV_PREFIX: &str = "GROUPSYNC_";

/// A configuration problem, naming the key (`section.key`) and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration key `{key}`: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Why the configuration could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "configuration file {path} does not exist (its path comes from --config, else the \
         GROUPSYNC_CONFIG environment variable, else {DEFAULT_PATH}). To start, copy \
         config/groupsync.example.toml to {path} and fill it in, or run \
         `groupsync sandbox --write-config {path}` to try groupsync against local stand-ins"
    )]
    Missing { path: String },
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file is not valid TOML. The message never repeats the line (it may hold a secret).
    #[error("{place}: {problem}")]
    Syntax { place: Place, problem: String },
    /// A key the code does not read, or a value of the wrong type.
    #[error("{place}: configuration key `{key}`: {problem}")]
    Key {
        place: Place,
        key: String,
        problem: String,
    },
    #[error("configuration is not valid: {0}")]
    Parse(String),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Where a configuration problem was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    File {
        file: String,
        line: usize,
        column: usize,
    },
    Env(String),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Place::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub identitynow: IdentityNowSettings,
    pub scim: ScimSettings,
    pub email: EmailSettings,
    pub sync: SyncSettings,
    pub safety: SafetySettings,
    pub log: LogSettings,
    pub server: ServerSettings,
    pub trigger: TriggerSettings,
    pub webhook: WebhookSettings,
    pub poll: PollSettings,
    pub store: StoreSettings,
    /// The job these settings are (`default` without `[[jobs]]`).
    pub job: String,
    /// Every job, each with its whole settings (the top level with the job's keys over it),
    /// in the order written; these settings are the first. Empty in a job's own settings.
    pub jobs: Vec<Settings>,
}

/// The name of the one job of a configuration without `[[jobs]]`.
pub const DEFAULT_JOB: &str = "default";

/// The daemon's HTTP server (`groupsync serve`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: std::net::SocketAddr,
    /// Guards `POST /runs`, and the dashboard, `/executions` and `GET /runs/{id}` unless
    /// `public_dashboard`; `None` disables them.
    pub admin_token: Option<SecretString>,
    /// How long a shutdown waits for the group operation in flight.
    pub shutdown_grace: Duration,
    /// The dashboard, `/executions` and `GET /runs/{id}` without the admin token.
    pub public_dashboard: bool,
    /// `server.protect_dashboard` was set: the daemon warns that it is deprecated.
    pub deprecated_protect_dashboard: bool,
    /// A connection that has not sent a whole request head by then is closed.
    pub header_read_timeout: Duration,
    /// A request not answered by then gets 408.
    pub request_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How often the readiness checks run in the background (`/readyz` answers from them).
    pub readiness_interval: Duration,
}

/// The cron trigger.
#[derive(Debug, Clone)]
pub struct TriggerSettings {
    /// `None` when no schedule is configured.
    pub schedule: Option<Schedule>,
}

/// A validated cron expression (5 fields, or 6 with seconds) in a named time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub expression: String,
    pub cron: croner::Cron,
    pub timezone: chrono_tz::Tz,
}

/// A Bearer token or Basic credentials: what groupsync sends to the SCIM server, or what
/// a webhook delivery must carry.
#[derive(Debug, Clone)]
pub enum Credentials {
    Bearer(SecretString),
    Basic {
        username: String,
        password: SecretString,
    },
}

/// How the aggregation webhook authenticates SailPoint's deliveries.
#[derive(Debug, Clone)]
pub enum WebhookAuth {
    Credentials(Credentials),
    /// Only with `allow_unauthenticated = true`; a warning is logged at start-up.
    None,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `None` when the webhook is disabled.
    pub auth: Option<WebhookAuth>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct PollSettings {
    /// `None` when polling is disabled.
    pub interval: Option<Duration>,
    pub start_group_aggregation: bool,
    pub aggregation_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: std::path::PathBuf,
    pub retention_days: u32,
}

#[derive(Debug, Clone)]
pub struct IdentityNowSettings {
    /// `https://{tenant}.api.identitynow.com`; the token URL is `{tenant_url}/oauth/token`.
    pub tenant_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub source: SourceRef,
    /// The Alation SCIM source in IdentityNow (its id or its name): after a run that
    /// created groups, an entitlement aggregation of it makes them entitlements. `None`:
    /// the loop is left to the operator.
    pub scim_source: Option<String>,
    /// How long a run follows that aggregation before recording it as not finished.
    pub scim_aggregation_timeout: Duration,
    pub api_version: ApiVersion,
    /// Joined to `source.id eq "…"` with `and` to narrow what is read; `None` (the
    /// default, or configured empty) reads every entitlement of the source. Either way only
    /// entitlements whose `sourceSchemaObjectType` is `group` become groups.
    pub entitlement_filter: Option<String>,
    /// Entitlements per page, 1..=250 (the API's maximum).
    pub page_size: u32,
    /// Our own ceiling under the tenant's 100 requests per 10 s per client id.
    pub requests_per_10s: u32,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

/// How the AD source is named in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    Id(String),
    Name(String),
}

/// The API version prefix used for entitlements (there is no `/v3/entitlements`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    Beta,
    V2024,
    V2025,
    V2026,
}

impl ApiVersion {
    pub fn as_path(self) -> &'static str {
        match self {
            ApiVersion::Beta => "beta",
            ApiVersion::V2024 => "v2024",
            ApiVersion::V2025 => "v2025",
            ApiVersion::V2026 => "v2026",
        }
    }

    /// `v2024` and `v2025` were experimental for entitlements until mid-2025; the header
    /// is harmless once an endpoint is public, so it is sent for those versions.
    pub fn wants_experimental_header(self) -> bool {
        matches!(self, ApiVersion::V2024 | ApiVersion::V2025)
    }
}

#[derive(Debug, Clone)]
pub struct ScimSettings {
    /// Ends with `/scim/v2` for Alation; `Groups` is appended to it.
    pub base_url: Url,
    pub auth: Credentials,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// When the SCIM token expires (its JWT `exp`, else `scim.token_expires_at`) and how
    /// long before groupsync warns; `None` when neither says.
    pub token_expiry: Option<crate::scim::expiry::TokenExpiry>,
    /// At most this many SCIM requests in any second; `None` (the default): no pace.
    pub requests_per_second: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `None` when `email.enabled = false`: nothing is sent.
    pub smtp: Option<SmtpSettings>,
    pub mode: EmailMode,
    pub subject_template: String,
    pub body_template: String,
    pub digest_subject_template: String,
    pub digest_body_template: String,
    /// `per_group` mode: the one message per run listing the groups skipped and failed.
    pub summary_subject_template: String,
    pub summary_body_template: String,
    /// `per_group` mode: repeat the notice for a group on every run (the Workflow's
    /// behaviour) or send it once per group.
    pub repeat: bool,
    /// The most groups a list of the digest or the summary names; the rest are counted
    /// (a first run on a large tenant finds tens of thousands existing).
    pub max_listed_groups: usize,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, SecretString)>,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text; only for a trusted relay on the same host or network.
    None,
    /// Upgrade with STARTTLS (port 587), required.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailMode {
    /// One message per run listing groups found existing and groups created.
    Digest,
    /// One message per group that already exists, as the IdentityNow Workflow does.
    PerGroup,
}

/// How the target is asked which groups it already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetLookup {
    /// The default: [`TargetLookup::Listing`] when the run has more candidates than
    /// `sync.listing_threshold` and the target lists its groups, [`TargetLookup::PerGroup`]
    /// otherwise (and when the target refuses the listing).
    Auto,
    /// `GET /Groups?filter=displayName eq "…"` per source group, as the Workflow does.
    PerGroup,
    /// One paged listing of every group, compared locally: a few requests instead of one
    /// per group, for large sources and servers that list well.
    Listing,
}

/// What groupsync writes as a group's `externalId`, and so how it knows its own groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExternalId {
    /// The entitlement id (the default): stable when the AD group is renamed.
    #[default]
    Id,
    /// The entitlement's `value` (the group's DN on AD, which changes with its name).
    Value,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Longer names are skipped with a reason instead of being sent to the target; `None`
    /// (the default): no cap, the target's own refusal (400) is reported instead.
    pub max_name_length: Option<usize>,
    pub lookup_concurrency: usize,
    pub create_concurrency: usize,
    pub target_lookup: TargetLookup,
    /// `auto` reads the target as one listing when a run has more candidate groups than this.
    ///
    /// The default, 100, comes from counting requests: a per-group run makes one lookup per
    /// candidate, a listing makes one `/ServiceProviderConfig` read plus one request per
    /// page (`listing_page_size` groups each). Above 100 candidates the listing makes fewer
    /// requests for any target of up to 49,000 groups at 500 a page, and it already was
    /// the faster mode: 10,000 groups (9,000 in the target) at 5 ms a request took 11.4 s
    /// per group and 2.3 s as a listing.
    pub listing_threshold: usize,
    /// The most groups asked for per listing page; with `auto`, the target's
    /// `filter.maxResults` wins when it is lower.
    pub listing_page_size: usize,
    /// A run that has taken longer stops before its next write and fails (`deadline`).
    pub max_run: Duration,
    /// The longest `Retry-After` obeyed (IdentityNow, SCIM, SMTP); a longer one waits this long.
    pub max_retry_after: Duration,
    /// Which source groups are synchronised and under which name (`include_names`,
    /// `exclude_dns`, `name_prefix`, …).
    pub scope: crate::sync::scope::Scope,
    /// What a created group carries as its `externalId`: a target group carrying its
    /// entitlement's is groupsync's own (managed).
    pub external_id: ExternalId,
    /// Take over a same-named group without `externalId` by setting ours on it.
    pub adopt: bool,
    /// Rename a managed group whose AD group was renamed (otherwise it is only reported).
    pub rename: bool,
    /// Delete a managed group whose AD group is gone (within `safety.max_deletes_per_run`).
    pub delete_orphans: bool,
}

/// The guards checked before a run's first write (`[safety]`); see `sync::guards`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafetySettings {
    /// A run is refused when the source has lost more than this percentage of the groups
    /// the last successful run read from it.
    pub max_source_drop_percent: u32,
    /// A run is refused when it would create more than this percentage of the source's
    /// groups (once a successful run exists).
    pub max_create_percent: u32,
    /// Up to this many creates never trip the percentage: on a small source one new
    /// group is already more than 10 %.
    pub creates_always_allowed: u32,
    /// The most managed groups one run may delete (`sync.delete_orphans`); more refuse
    /// the run. 0 (the default): orphans are only reported.
    pub max_deletes_per_run: u32,
}

impl Default for SafetySettings {
    fn default() -> SafetySettings {
        SafetySettings {
            max_source_drop_percent: 50,
            max_create_percent: 10,
            creates_always_allowed: 5,
            max_deletes_per_run: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `groupsync=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// Loads the file at `path` (if it exists, or fails if `required`) and overlays the
    /// process environment.
    pub fn load(path: &Path, required: bool) -> Result<Settings, LoadError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_with_env(path, required, &env)
    }

    /// As [`Settings::load`], with the environment given (tests never touch the process's).
    pub fn load_with_env(
        path: &Path,
        required: bool,
        env: &HashMap<String, String>,
    ) -> Result<Settings, LoadError> {
        let text = read_file(path, required)?;
        Self::from_named_toml_and_env(&path.display().to_string(), &text, env)
    }

    /// Parses TOML text, overlays `GROUPSYNC_<SECTION>__<KEY>` variables, validates.
    pub fn from_toml_and_env(
        text: &str,
        env: &HashMap<String, String>,
    ) -> Result<Settings, LoadError> {
        Self::from_named_toml_and_env("<configuration>", text, env)
    }

    /// As [`Settings::from_toml_and_env`], naming the file `name` in error messages.
    pub fn from_named_toml_and_env(
        name: &str,
        text: &str,
        env: &HashMap<String, String>,
    ) -> Result<Settings, LoadError> {
        let (top, jobs) = source::read_jobs(name, text, env)?;
        if jobs.is_empty() {
            let mut only = from_raw(top)?;
            only.jobs = vec![only.clone()];
            return Ok(only);
        }
        let mut all = Vec::with_capacity(jobs.len());
        for job in jobs {
            all.push(validate::job(job.name, job.settings, &all)?);
        }
        let mut first = all[0].clone();
        first.jobs = all;
        Ok(first)
    }

    /// Every job's settings (one, `default`, without `[[jobs]]`).
    pub fn all_jobs(&self) -> &[Settings] {
        if self.jobs.is_empty() {
            std::slice::from_ref(self)
        } else {
            &self.jobs
        }
    }

    /// Whether `[[jobs]]` configured more than one job.
    pub fn several_jobs(&self) -> bool {
        self.all_jobs().len() > 1
    }

    /// The settings of the job called `name`.
    pub fn job_named(&self, name: &str) -> Option<&Settings> {
        self.all_jobs().iter().find(|j| j.job == name)
    }

    /// The job names, comma-separated, for messages.
    pub fn job_names(&self) -> String {
        let names: Vec<&str> = self.all_jobs().iter().map(|j| j.job.as_str()).collect();
        names.join(", ")
    }
}

impl StoreSettings {
    /// Only the `[store]` section, from the file at `path` if it exists and the
    /// environment: what reading the history needs. The rest of the configuration may be
    /// missing or incomplete.
    pub fn load(path: &Path) -> Result<StoreSettings, LoadError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// As [`StoreSettings::load`], with the environment given.
    pub fn load_with_env(
        path: &Path,
        env: &HashMap<String, String>,
    ) -> Result<StoreSettings, LoadError> {
        let text = read_file(path, false)?;
        let raw = source::read(&path.display().to_string(), &text, env)?;
        Ok(validate::store(raw.store)?)
    }
}

/// The text of the configuration file; empty when it does not exist and is not `required`.
fn read_file(path: &Path, required: bool) -> Result<String, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(String::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LoadError::Missing {
            path: path.display().to_string(),
        }),
        Err(source) => Err(LoadError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod jobs_tests;
#[cfg(test)]
mod tests;
