//! A simulated IdentityNow tenant, SCIM 2.0 server and SMTP sink, all on 127.0.0.1.
//!
//! Used by `groupsync demo`, `groupsync sandbox`, the tests and the benchmarks, so that
//! everything can be tried without a SailPoint tenant or an Alation instance.
//! [`Sandbox::start`] binds the three listeners (port 0 picks free ports), seeds them,
//! and [`Sandbox::config_toml`] writes a groupsync configuration that works against them.
//!
//! The servers follow their own rules, not groupsync's: names compare as a Java server
//! compares them ([`names`]), and nothing here depends on the groupsync crate, so a
//! mistake in groupsync cannot be repeated by the stand-in it is tested against.

pub mod faults;
mod latency;
pub mod names;
pub mod scim;
pub mod seed;
pub mod smtp;
pub mod stats;
pub mod tenant;

use faults::FaultPlan;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
pub use tenant::{Credential, WebhookTarget};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The AD source every sandbox tenant has; its id is fixed so configs stay valid.
pub const AD_SOURCE_ID: &str = "2c9180835d191a86015d28455b4b232a";
pub const AD_SOURCE_NAME: &str = "Active Directory";
/// A second source, so that looking a source up by name has something to tell apart.
pub const OTHER_SOURCE_ID: &str = "2c9180835d191a86015d28455b4b232b";
pub const OTHER_SOURCE_NAME: &str = "Workday HR";
/// The Alation SCIM source: SailPoint's SCIM 2.0 connector pointed at the sandbox's SCIM
/// server. Its entitlement aggregation reads that server's groups; at the start it holds
/// the groups already there, created long ago, as an earlier aggregation left them.
pub const SCIM_SOURCE_ID: &str = "2c9180835d191a86015d28455b4b232c";
pub const SCIM_SOURCE_NAME: &str = "Alation SCIM";
/// The name of the directory source when the sandbox simulates the Entra ID connector.
pub const ENTRA_SOURCE_NAME: &str = "Entra ID";

/// Which SailPoint connector the sandbox's directory source simulates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Connector {
    /// The on-premises AD connector: groups under `memberOf`, with DNs as values.
    #[default]
    Ad,
    /// The Entra ID connector: groups under `groups`, with object ids as values, plus
    /// licences and directory roles that are entitlements but not groups.
    Entra,
}

impl Connector {
    /// The source type SailPoint shows for the connector.
    pub fn source_type(self) -> &'static str {
        match self {
            Connector::Ad => "Active Directory - Direct",
            Connector::Entra => "Azure Active Directory",
        }
    }

    /// The name of the sandbox's directory source.
    pub fn source_name(self) -> &'static str {
        match self {
            Connector::Ad => AD_SOURCE_NAME,
            Connector::Entra => ENTRA_SOURCE_NAME,
        }
    }
}

impl std::str::FromStr for Connector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ad" => Ok(Connector::Ad),
            "entra" => Ok(Connector::Entra),
            other => Err(format!("unknown connector {other:?}: use ad or entra")),
        }
    }
}

/// What to start and how to seed it.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub bind: IpAddr,
    pub idn_port: u16,
    pub scim_port: u16,
    pub smtp_port: u16,
    /// Group names in the tenant's directory source.
    pub groups: Vec<String>,
    /// The connector the directory source simulates (its entitlements' shape).
    pub connector: Connector,
    /// Names already present in the SCIM server.
    pub existing: Vec<String>,
    pub token_lifetime: Duration,
    /// Requests per 10 s per client id; `None` turns the limit off.
    pub rate_limit: Option<u32>,
    pub idn_faults: FaultPlan,
    pub scim_faults: FaultPlan,
    /// The SCIM server's cap on `count`.
    pub scim_page_cap: usize,
    /// Whether the SCIM server refuses a second group with the same name (409).
    pub unique_names: bool,
    /// The kind of credential the tenant issues tokens for: an API client (the default,
    /// as the seed's setup creates) or a personal access token.
    pub credential: Credential,
    /// A Maildir the SMTP sink also writes every message to.
    pub maildir: Option<PathBuf>,
    /// Where `POST /sandbox/fire` sends the "Account Aggregation Completed" event.
    pub fire_webhook: Option<WebhookTarget>,
    /// The longest `displayName` the SCIM server accepts (characters); a longer one gets
    /// 400 `invalidValue`. `None`: no limit.
    pub scim_max_name_length: Option<usize>,
    /// The SCIM server serves PATCH (the default); `false`: PATCH answers 501 and
    /// `/ServiceProviderConfig` says it is not supported, so clients must PUT.
    pub scim_patch: bool,
    /// The directory source's id ([`AD_SOURCE_ID`] by default): two sandboxes with
    /// different ids stand for two tenants whose events name different sources.
    pub source_id: String,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            idn_port: 0,
            scim_port: 0,
            smtp_port: 0,
            groups: vec![],
            connector: Connector::Ad,
            existing: vec![],
            token_lifetime: Duration::from_secs(749),
            rate_limit: Some(100),
            idn_faults: FaultPlan::default(),
            scim_faults: FaultPlan::default(),
            scim_page_cap: 1000,
            unique_names: false,
            credential: Credential::ApiClient,
            maildir: None,
            fire_webhook: None,
            scim_max_name_length: None,
            scim_patch: true,
            source_id: AD_SOURCE_ID.into(),
        }
    }
}

impl SandboxOptions {
    /// `n` generated groups, `m` of them already in the target, reproducible from `seed`.
    pub fn seeded(n: usize, m: usize, seed: u64) -> SandboxOptions {
        let groups = seed::generate_groups(n, seed);
        let existing = seed::pick_existing(&groups, m, seed);
        SandboxOptions {
            groups,
            existing,
            ..SandboxOptions::default()
        }
    }
}

/// The API client's credentials the sandbox accepts (`Credential::ApiClient`).
pub const CLIENT_ID: &str = "sandbox-client-0000-0000-000000000000";
pub const CLIENT_SECRET: &str = "sandbox-client-secret";
/// The personal access token's credentials the sandbox accepts (`Credential::Pat`).
pub const PAT_CLIENT_ID: &str = "sandbox-pat-0000-0000-0000-000000000000";
pub const PAT_CLIENT_SECRET: &str = "sandbox-pat-secret";

/// The client id and secret of a kind of credential.
pub fn credentials(kind: Credential) -> (&'static str, &'static str) {
    match kind {
        Credential::ApiClient => (CLIENT_ID, CLIENT_SECRET),
        Credential::Pat => (PAT_CLIENT_ID, PAT_CLIENT_SECRET),
    }
}
pub const SCIM_TOKEN: &str = "sandbox-scim-token";
/// The bearer token the written configuration expects on the aggregation webhook.
pub const WEBHOOK_TOKEN: &str = "sandbox-webhook-token";
/// The admin token the written configuration expects on `POST /runs`.
pub const ADMIN_TOKEN: &str = "sandbox-admin-token";

/// A running sandbox. Dropping it does not stop it: call [`Sandbox::stop`].
pub struct Sandbox {
    pub tenant: tenant::Tenant,
    pub scim: scim::ScimServer,
    pub smtp: smtp::SmtpSink,
    pub idn_addr: SocketAddr,
    pub scim_addr: SocketAddr,
    pub smtp_addr: SocketAddr,
    /// The kind of credential the tenant accepts.
    pub credential: Credential,
    /// The connector the directory source simulates.
    pub connector: Connector,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Sandbox {
    pub async fn start(opts: SandboxOptions) -> std::io::Result<Sandbox> {
        let idn_listener = TcpListener::bind((opts.bind, opts.idn_port)).await?;
        let scim_listener = TcpListener::bind((opts.bind, opts.scim_port)).await?;
        let smtp_listener = TcpListener::bind((opts.bind, opts.smtp_port)).await?;
        let (idn_addr, scim_addr, smtp_addr) = (
            idn_listener.local_addr()?,
            scim_listener.local_addr()?,
            smtp_listener.local_addr()?,
        );
        let (client_id, client_secret) = credentials(opts.credential);
        let tenant = tenant::Tenant::new(tenant::TenantOptions {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            credential: opts.credential,
            token_lifetime: opts.token_lifetime,
            rate_limit: opts.rate_limit,
            faults: opts.idn_faults.clone(),
            aggregation_delay: Duration::from_secs(3),
            sources: vec![
                tenant::SimSource {
                    id: opts.source_id.clone(),
                    name: opts.connector.source_name().into(),
                    source_type: opts.connector.source_type().into(),
                    groups: opts.groups.clone(),
                },
                tenant::SimSource {
                    id: OTHER_SOURCE_ID.into(),
                    name: OTHER_SOURCE_NAME.into(),
                    source_type: "Workday".into(),
                    groups: vec![],
                },
                tenant::SimSource {
                    id: SCIM_SOURCE_ID.into(),
                    name: SCIM_SOURCE_NAME.into(),
                    source_type: "SCIM 2.0".into(),
                    groups: vec![],
                },
            ],
        });
        let scim = scim::ScimServer::new(scim::ScimOptions {
            auth: scim::ScimServerAuth::Bearer(SCIM_TOKEN.into()),
            max_page_size: opts.scim_page_cap,
            unique_display_names: opts.unique_names,
            max_name_length: opts.scim_max_name_length,
            faults: opts.scim_faults.clone(),
            patch: opts.scim_patch,
        });
        for name in &opts.existing {
            scim.insert_group(name);
        }
        let read = scim.clone();
        tenant.set_feed(SCIM_SOURCE_ID, move || {
            let groups = read.groups().into_iter();
            groups.map(|g| (g.id, g.display_name)).collect()
        });
        // the groups already in Alation were aggregated into the SCIM source long ago
        tenant.aggregated_earlier(SCIM_SOURCE_ID);
        let smtp = match opts.maildir {
            Some(dir) => smtp::SmtpSink::with_maildir(dir)?,
            None => smtp::SmtpSink::new(),
        };
        let idn_app = tenant.router_with(smtp.clone(), opts.fire_webhook, &opts.source_id);
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(tenant::serve_router(
                idn_app,
                idn_listener,
                shutdown.clone(),
            )),
            tokio::spawn(scim.clone().serve(scim_listener, shutdown.clone())),
            tokio::spawn(smtp.clone().serve(smtp_listener, shutdown.clone())),
        ];
        Ok(Sandbox {
            tenant,
            scim,
            smtp,
            idn_addr,
            scim_addr,
            smtp_addr,
            credential: opts.credential,
            connector: opts.connector,
            shutdown,
            tasks,
        })
    }

    pub fn idn_url(&self) -> String {
        format!("http://{}", self.idn_addr)
    }

    pub fn scim_url(&self) -> String {
        format!("http://{}/scim/v2", self.scim_addr)
    }

    /// The client id and secret the tenant accepts.
    pub fn client_credentials(&self) -> (&'static str, &'static str) {
        credentials(self.credential)
    }

    /// A complete groupsync configuration for this sandbox, with the credentials of the
    /// kind it was started with.
    pub fn config_toml(&self) -> String {
        let (client_id, client_secret) = self.client_credentials();
        format!(
            r#"# groupsync configuration for the sandbox started by `groupsync sandbox`.
[identitynow]
tenant_url = "{idn}"
# {kind}
client_id = "{client_id}"
client_secret = "{client_secret}"
source_name = "{source_name}"
# the Alation SCIM source: aggregated after a run that created groups
scim_source = "{SCIM_SOURCE_ID}"

[scim]
base_url = "{scim}"
auth = "bearer"
token = "{SCIM_TOKEN}"

[email]
smtp_url = "smtp://{smtp}"
tls = "none"
from = "groupsync <groupsync@sandbox.test>"
to = ["iam-team@sandbox.test"]
mode = "digest"
"#,
            idn = self.idn_url(),
            source_name = self.connector.source_name(),
            kind = match self.credential {
                Credential::ApiClient => "an API client (client credentials, no user)",
                Credential::Pat => "a personal access token (an ORG_ADMIN's)",
            },
            scim = self.scim_url(),
            smtp = self.smtp_addr,
        )
    }

    /// The daemon's sections, for trying `groupsync serve` by hand against this sandbox:
    /// a schedule every five minutes, the webhook with a bearer token, `POST /runs`.
    pub fn daemon_toml(&self) -> String {
        format!(
            r#"
[server]
listen = "127.0.0.1:8080"
admin_token = "{ADMIN_TOKEN}"

[trigger]
schedule = "*/5 * * * *"
timezone = "UTC"

[webhook]
enabled = true
auth = "bearer"
token = "{WEBHOOK_TOKEN}"
"#
        )
    }

    /// Stops the three servers and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
