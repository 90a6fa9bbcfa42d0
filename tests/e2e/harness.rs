//! What the end-to-end tests share: a sandbox with groupsync configured for it
//! ([`spawn_app`]), the binary with a clean environment ([`groupsync`]), and a few checks.

use groupsync::config::Settings;
use groupsync::domain::{SourceGroup, fold_name};
use groupsync::retry::RetryPolicy;
use groupsync::sync::plan::{self, Rules};
use groupsync_sandbox::{Sandbox, SandboxOptions};
use std::collections::HashSet;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use tempfile::TempDir;

/// A running sandbox (tenant, SCIM server, SMTP sink on 127.0.0.1) and groupsync configured
/// for it: the sandbox's configuration written to a file, the store in a temporary folder.
/// It reads as the [`Sandbox`] it holds (`app.scim`, `app.smtp`, `app.tenant`).
pub struct TestApp {
    sandbox: Sandbox,
    dir: TempDir,
    /// The configuration file the sandbox wrote, for the binary's `--config`.
    pub config: PathBuf,
    /// Where groupsync keeps its history (created on first use).
    pub store: PathBuf,
}

/// Starts the sandbox with `opts` and configures groupsync for it.
pub async fn spawn_app(opts: SandboxOptions) -> TestApp {
    let sandbox = Sandbox::start(opts)
        .await
        .expect("sandbox starts on 127.0.0.1");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("groupsync.toml");
    std::fs::write(&config, sandbox.config_toml()).expect("the configuration is written");
    let store = dir.path().join("data/groupsync.db");
    TestApp {
        sandbox,
        dir,
        config,
        store,
    }
}

impl TestApp {
    /// Settings read from the sandbox's configuration with the app's store, and these
    /// environment overrides (`GROUPSYNC_<SECTION>__<KEY>`), which win.
    pub fn settings(&self, overrides: &[(&str, &str)]) -> Arc<Settings> {
        let store = self.store.display().to_string();
        let env = [("GROUPSYNC_STORE__PATH", store.as_str())]
            .iter()
            .chain(overrides)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::from_toml_and_env(&self.sandbox.config_toml(), &env)
            .expect("the sandbox writes a valid configuration");
        Arc::new(settings)
    }

    /// The temporary folder the configuration and the store live in.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The binary with `--config` and the store of this app; the subcommand follows.
    pub fn command(&self) -> Command {
        let mut cmd = groupsync();
        cmd.env("GROUPSYNC_STORE__PATH", &self.store)
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    /// The names of the groups in the sandbox's SCIM server.
    pub fn target_names(&self) -> Vec<String> {
        self.sandbox
            .scim
            .groups()
            .into_iter()
            .map(|g| g.display_name)
            .collect()
    }

    /// Stops the sandbox's servers and waits for them.
    pub async fn stop(self) {
        self.sandbox.stop().await;
    }
}

impl Deref for TestApp {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

/// The groupsync binary, with no `RUST_LOG`, `GROUPSYNC_CONFIG` or other `GROUPSYNC_*`
/// variable of the test's own environment.
pub fn groupsync() -> Command {
    scrubbed(Command::new(env!("CARGO_BIN_EXE_groupsync")))
}

/// `cmd` without `RUST_LOG` and every `GROUPSYNC_*` variable of the test's own environment.
pub fn scrubbed(mut cmd: Command) -> Command {
    cmd.env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GROUPSYNC_")) {
        cmd.env_remove(k);
    }
    cmd
}

/// Runs `cmd` to the end off the runtime's threads, so the sandbox keeps answering.
pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary starts"))
        .await
        .expect("the blocking task finishes")
}

/// Source groups as the plan sees them, from bare names.
fn as_source(names: &[String]) -> Vec<SourceGroup> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| SourceGroup {
            id: format!("{i}"),
            name: n.clone(),
            value: String::new(),
        })
        .collect()
}

/// How many creates a correct first run makes: the candidates not already in the target
/// (`max_name_length` as `sync.max_name_length`; `None`, the default, is no cap).
pub fn expected_creates(
    groups: &[String],
    existing: &[String],
    max_name_length: Option<usize>,
) -> usize {
    let present: HashSet<String> = existing.iter().map(|n| fold_name(n)).collect();
    let source = as_source(groups);
    plan::candidates(&source, Rules { max_name_length })
        .iter()
        .filter(|g| !present.contains(&fold_name(&g.name)))
        .count()
}

/// Panics when two target groups share a name (ignoring case).
pub fn assert_no_duplicates(names: impl IntoIterator<Item = String>) {
    let mut seen = HashSet::new();
    for n in names {
        assert!(
            seen.insert(fold_name(&n)),
            "group {n:?} exists twice in the target"
        );
    }
}

/// Peers (scim2-server, aiosmtpd) run in CI; locally a test that needs them says so and
/// returns, unless GROUPSYNC_REQUIRE_PEERS=1, where a missing peer is a failure.
pub fn peer(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("GROUPSYNC_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!(
                    "{var} is not set but GROUPSYNC_REQUIRE_PEERS=1: the CI peers did not start"
                );
            }
            eprintln!("{var} not set: this test needs the peers that .ci/run starts; not run here");
            None
        }
    }
}

/// A GET carrying `token` as a bearer token (the admin token of the daemon's pages).
pub async fn get_with_token(url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Retries short enough for a test that makes the mail server refuse.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 1,
        min_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(10),
        ..RetryPolicy::default()
    }
}

/// Asserts that every notice of the recorded run `run_id` was sent.
pub fn assert_notices_sent(store: &groupsync::store::Store, run_id: &str) {
    let recorded = store
        .run(run_id)
        .unwrap()
        .expect("the run is in the history");
    assert!(
        recorded
            .notices
            .iter()
            .all(|n| n.state == groupsync::report::NoticeState::Sent),
        "{:?}",
        recorded.notices
    );
}

/// The standard output of a command that must have succeeded; both outputs are shown when
/// it did not.
pub fn stdout_of_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
