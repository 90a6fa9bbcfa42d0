//! `groupsync sandbox`: serve the simulated tenant, SCIM server and SMTP sink until stopped.
//!
//! The first lines on stdout say where each service listens and which credentials to use;
//! request logs go to stderr.

use super::out;
use super::serve::wait_for_signal;
use crate::config::LogFormat;
use clap::Args;
use groupsync_sandbox::faults::FaultPlan;
use groupsync_sandbox::tenant::{FIRE_PATH, MAIL_PATH, STATS_PATH};
use groupsync_sandbox::{
    self as sandbox, Connector, Credential, Sandbox, SandboxOptions, WebhookTarget, seed,
};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address to listen on (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port of the simulated IdentityNow tenant (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    idn_port: u16,
    /// Port of the SCIM server.
    #[arg(long, default_value_t = 0)]
    scim_port: u16,
    /// Port of the SMTP sink.
    #[arg(long, default_value_t = 0)]
    smtp_port: u16,
    /// Number of generated AD groups.
    #[arg(long, default_value_t = 300)]
    groups: usize,
    /// How many of them already exist in the SCIM server.
    #[arg(long, default_value_t = 40)]
    existing: usize,
    /// Seed of the generated names (same seed, same names).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// AD group names from a file, one per line (UTF-8), instead of generated ones.
    #[arg(long)]
    groups_file: Option<PathBuf>,
    /// Names already present in the SCIM server, from a file, one per line.
    #[arg(long)]
    existing_file: Option<PathBuf>,
    /// The time every HTTP request takes, in milliseconds: an answer leaves no sooner than
    /// this after its request came in (the work of answering counts toward it).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Faults for the tenant, e.g. "503@7,reset@13,401@40".
    #[arg(long, default_value = "")]
    idn_faults: String,
    /// Faults for the SCIM server, e.g. "429@5:/scim/v2/Groups", "late=1500@2:POST:/scim/v2/Groups",
    /// "cut@1", "total+1@1", "nofilter@1".
    #[arg(long, default_value = "")]
    scim_faults: String,
    /// Lifetime of the tenant's access tokens, in seconds.
    #[arg(long, default_value_t = 749)]
    token_lifetime_secs: u64,
    /// Turn off the tenant's rate limit (100 requests / 10 s per client id).
    #[arg(long)]
    no_rate_limit: bool,
    /// The SCIM server's cap on the page size.
    #[arg(long, default_value_t = 1000)]
    scim_page_cap: usize,
    /// The SCIM server refuses duplicate display names with 409.
    #[arg(long)]
    unique_names: bool,
    /// The kind of credential the tenant issues tokens for: `api-client` (an API client
    /// with the client-credentials grant, no user behind it) or `pat` (an ORG_ADMIN's
    /// personal access token). Operations whose official `security` lists only a user's
    /// token (`/v2026/entitlements`, `load-entitlements`, …) refuse an API client's with 403.
    #[arg(long, default_value = "api-client", value_parser = parse_credential)]
    credential: Credential,
    /// The connector the directory source simulates: `ad` (the on-premises AD connector,
    /// groups under `memberOf`) or `entra` (the Entra ID connector, groups under `groups`,
    /// plus licences and directory roles that are not groups).
    #[arg(long, default_value = "ad", value_parser = parse_connector)]
    connector: Connector,
    /// The SCIM server refuses a `displayName` longer than this many characters (400
    /// invalidValue).
    #[arg(long)]
    scim_max_name_length: Option<usize>,
    /// The SCIM server does not support PATCH: it answers 501 and its
    /// `/ServiceProviderConfig` says so, so adoptions and renames are sent as PUT.
    #[arg(long)]
    scim_no_patch: bool,
    /// Write a complete groupsync configuration for this sandbox to FILE (with the
    /// client id and secret of --credential).
    #[arg(long, value_name = "FILE")]
    write_config: Option<PathBuf>,
    /// Also write every message the SMTP sink receives to this Maildir (created with its
    /// new/, cur/ and tmp/ if missing); `GET {identitynow}/sandbox/mail` lists them too.
    #[arg(long, value_name = "DIR")]
    maildir: Option<PathBuf>,
    /// Where `POST {identitynow}/sandbox/fire` sends the "Account Aggregation Completed"
    /// event, with the Bearer token after a comma (default: the written configuration's
    /// webhook token).
    #[arg(long, value_name = "URL[,TOKEN]", value_parser = parse_webhook)]
    fire_webhook: Option<WebhookTarget>,
}

fn parse_connector(text: &str) -> Result<Connector, String> {
    text.parse()
}

pub(super) fn parse_credential(text: &str) -> Result<Credential, String> {
    text.parse()
}

/// `URL` or `URL,TOKEN`; the URL must be http or https.
fn parse_webhook(text: &str) -> Result<WebhookTarget, String> {
    let (url, token) = match text.split_once(',') {
        Some((url, token)) => (url, token),
        None => (text, sandbox::WEBHOOK_TOKEN),
    };
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must be an http or https URL"));
    }
    if token.is_empty() {
        return Err("the token after the comma is empty".into());
    }
    Ok(WebhookTarget {
        url: url.to_owned(),
        bearer_token: token.to_owned(),
    })
}

impl SandboxArgs {
    /// Validated options; errors name the flag.
    pub fn options(&self) -> Result<SandboxOptions, String> {
        let groups = match &self.groups_file {
            Some(path) => seed::read_names(path)?,
            None => seed::generate_groups(self.groups, self.seed),
        };
        let existing = match &self.existing_file {
            Some(path) => seed::read_names(path)?,
            None if self.groups_file.is_some() => vec![],
            None => seed::pick_existing(&groups, self.existing.min(groups.len()), self.seed),
        };
        let latency = Duration::from_millis(self.latency_ms);
        let plan = |rules: &str, flag: &str| {
            FaultPlan::parse(rules)
                .map(|rules| FaultPlan { latency, rules })
                .map_err(|e| format!("--{flag}: {e}"))
        };
        Ok(SandboxOptions {
            bind: self.bind,
            idn_port: self.idn_port,
            scim_port: self.scim_port,
            smtp_port: self.smtp_port,
            groups,
            connector: self.connector,
            existing,
            token_lifetime: Duration::from_secs(self.token_lifetime_secs.max(1)),
            rate_limit: (!self.no_rate_limit).then_some(100),
            idn_faults: plan(&self.idn_faults, "idn-faults")?,
            scim_faults: plan(&self.scim_faults, "scim-faults")?,
            scim_page_cap: self.scim_page_cap.max(1),
            unique_names: self.unique_names,
            credential: self.credential,
            maildir: self.maildir.clone(),
            fire_webhook: self.fire_webhook.clone(),
            scim_max_name_length: self.scim_max_name_length,
            scim_patch: !self.scim_no_patch,
            ..SandboxOptions::default()
        })
    }
}

pub async fn run(args: SandboxArgs, log_format: LogFormat) -> ExitCode {
    crate::telemetry::init(log_format, "info");
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (groups, existing) = (opts.groups.len(), opts.existing.len());
    let sb = match Sandbox::start(opts).await {
        Ok(sb) => sb,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return ExitCode::from(1);
        }
    };
    let (client_id, client_secret) = sb.client_credentials();
    let mut services = format!(
        "identitynow {}\nscim {}\nsmtp {}\ncredential {}\nclient_id {client_id}\n\
         client_secret {client_secret}\nscim_token {}\nwebhook_token {}\nadmin_token {}\n\
         stats {}{STATS_PATH} {}/sandbox/stats\nmail {}{MAIL_PATH}\n\
         source {} {:?} ({groups} groups, {existing} already in SCIM)\n\
         scim_source {} {:?}\n",
        sb.idn_url(),
        sb.scim_url(),
        sb.smtp_addr,
        sb.credential.as_str(),
        sandbox::SCIM_TOKEN,
        sandbox::WEBHOOK_TOKEN,
        sandbox::ADMIN_TOKEN,
        sb.idn_url(),
        sb.scim_url(),
        sb.idn_url(),
        sandbox::AD_SOURCE_ID,
        sb.connector.source_name(),
        sandbox::SCIM_SOURCE_ID,
        sandbox::SCIM_SOURCE_NAME
    );
    if let Some(dir) = sb.smtp.maildir() {
        services += &format!("maildir {}\n", dir.display());
    }
    if let Some(target) = &args.fire_webhook {
        services += &format!("fire POST {}{FIRE_PATH} -> {}\n", sb.idn_url(), target.url);
    }
    if let Some(path) = &args.write_config {
        if let Err(e) = std::fs::write(path, sb.config_toml() + &sb.daemon_toml()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            sb.stop().await;
            return ExitCode::from(1);
        }
        services += &format!("config {}\n", path.display());
    }
    if let Err(code) = out::print(services) {
        sb.stop().await;
        return code;
    }
    wait_for_signal().await;
    sb.stop().await;
    ExitCode::SUCCESS
}
