//! `groupsync bench --daemon-runs N`: whether a daemon's memory grows with its runs.
//!
//! Starts `groupsync serve` as a child process on the bench's sandbox (the sandbox's
//! written configuration, a fresh store, a port on 127.0.0.1 and an admin token of its
//! own), asks it for `N` manual runs one after another through `POST /runs`, waits for
//! each through `GET /runs/{id}`, and reads the child's resident set (`VmRSS`) after each.
//! The child is killed by its handle at the end, whatever happened.

use super::{BenchArgs, failed};
use groupsync_sandbox::Sandbox;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

/// How often a run's end is asked for.
const POLL: Duration = Duration::from_millis(200);
/// The longest one run may take here.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// The daemon's resident set after each run, as `--json` prints it.
#[derive(Debug, Serialize)]
pub(super) struct DaemonFigures {
    pub runs: usize,
    /// `VmRSS` after each run, in MiB.
    pub rss_mib: Vec<f64>,
    /// After the last run over after the first.
    pub growth: f64,
}

/// The child, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) async fn measure(args: &BenchArgs, runs: usize) -> Result<DaemonFigures, ExitCode> {
    let (sb, dir) = super::fresh_sandbox(args, "daemon").await?;
    let result = serve_and_run(&sb, &dir, runs).await;
    sb.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let rss_mib = result?;
    let growth = match (rss_mib.first(), rss_mib.last()) {
        (Some(first), Some(last)) if *first > 0.0 => last / first,
        _ => 0.0,
    };
    Ok(DaemonFigures {
        runs,
        rss_mib,
        growth,
    })
}

async fn serve_and_run(sb: &Sandbox, dir: &Path, runs: usize) -> Result<Vec<f64>, ExitCode> {
    std::fs::create_dir_all(dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let config = dir.join("groupsync.toml");
    std::fs::write(&config, sb.config_toml())
        .map_err(|e| failed(format!("cannot write {}: {e}", config.display())))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| failed(format!("cannot find a free port: {e}")))?
        .port();
    let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let store = dir.join("groupsync.db").display().to_string();
    let listen = format!("127.0.0.1:{port}");
    let overrides = [
        ("GROUPSYNC_STORE__PATH", store.as_str()),
        ("GROUPSYNC_SERVER__LISTEN", listen.as_str()),
        ("GROUPSYNC_SERVER__ADMIN_TOKEN", token.as_str()),
    ];
    let exe = std::env::current_exe()
        .map_err(|e| failed(format!("cannot find the groupsync binary: {e}")))?;
    let child = Command::new(exe)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .envs(overrides)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(format!("cannot start groupsync serve: {e}")))?;
    let daemon = Daemon(child);
    let status = PathBuf::from(format!("/proc/{}/status", daemon.0.id()));
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    wait_healthy(&http, &base).await?;
    let mut rss = Vec::with_capacity(runs);
    for n in 1..=runs {
        let id = start_run(&http, &base, &token).await?;
        wait_finished(&http, &base, &token, &id).await?;
        let kib = vm_rss_kib(&status).ok_or_else(|| failed("the daemon exited".into()))?;
        eprintln!(
            "daemon run {n} of {runs}: VmRSS {:.1} MiB",
            kib as f64 / 1024.0
        );
        rss.push(kib as f64 / 1024.0);
    }
    drop(daemon);
    Ok(rss)
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> Result<(), ExitCode> {
    for _ in 0..300 {
        if let Ok(resp) = http.get(format!("{base}/healthz")).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    Err(failed(
        "the daemon did not answer /healthz within a minute".into(),
    ))
}

async fn start_run(http: &reqwest::Client, base: &str, token: &str) -> Result<String, ExitCode> {
    let resp = http
        .post(format!("{base}/runs"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| failed(format!("POST /runs: {e}")))?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| failed(format!("POST /runs: {e}")))?;
    body["run_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| failed(format!("POST /runs answered {body}")))
}

async fn wait_finished(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Result<(), ExitCode> {
    let deadline = tokio::time::Instant::now() + RUN_LIMIT;
    while tokio::time::Instant::now() < deadline {
        let resp = http
            .get(format!("{base}/runs/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| failed(format!("GET /runs/{id}: {e}")))?;
        if resp.status() == reqwest::StatusCode::OK {
            let body: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| failed(format!("GET /runs/{id}: {e}")))?;
            return match body["status"].as_str() {
                Some("succeeded") => Ok(()),
                other => Err(failed(format!(
                    "daemon run {id} ended {other:?}: {}",
                    body["error"]
                ))),
            };
        }
        tokio::time::sleep(POLL).await;
    }
    Err(failed(format!(
        "daemon run {id} took longer than {RUN_LIMIT:?}"
    )))
}

/// `VmRSS` of the process whose `/proc/<pid>/status` is `path`, in KiB.
fn vm_rss_kib(path: &Path) -> Option<u64> {
    super::status_kib(path, "VmRSS:")
}
