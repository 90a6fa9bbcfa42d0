//! `groupsync bench`: one run against a sandbox with a latency on every request, measured.
//!
//! Each measured run is `groupsync run` as a child process (its summary is read only when
//! it fails) against a fresh sandbox served by this process, with the sandbox's written
//! configuration (and the usual `GROUPSYNC_…` overrides) and a store of its own. The requests, creates and 429s come
//! from the sandbox's stats; the peak RSS is the child's (`VmHWM`, sampled while it runs),
//! so the sandbox's memory is not in it.
//!
//! `--baseline` measures the Workflow's pattern on a fresh sandbox with the same data: a
//! plain loop of its requests, one at a time (`bench_workflow.rs`, run as its own process
//! as `groupsync run` is), with none of groupsync's code between it and the services.
//!
//! The floor is the time the unavoidable requests take at that latency with the
//! configuration's concurrency and rate limit; see [`floor`].

use super::out;
use super::sandbox_cmd::parse_credential;
use crate::config::{LogFormat, Settings, TargetLookup};
use clap::Args;
use groupsync_sandbox::faults::FaultPlan;
use groupsync_sandbox::{Credential, Sandbox, SandboxOptions};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

/// The sandbox SCIM server's cap on a listing page.
const SCIM_PAGE_CAP: usize = 1000;
/// The rate limiter's window.
const WINDOW: Duration = Duration::from_secs(10);
/// How often the child's `VmHWM` is read while it runs.
const RSS_SAMPLE: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Number of generated AD groups in the source.
    #[arg(long, default_value_t = 10_000)]
    groups: usize,
    /// How many of them already exist in the target.
    #[arg(long, default_value_t = 9_000)]
    existing: usize,
    /// The time every request of both services takes, in milliseconds (the sandbox's work
    /// of answering counts toward it).
    #[arg(long, default_value_t = 5)]
    latency_ms: u64,
    /// Also measure the Workflow's pattern (a lookup per group and a create per missing
    /// group, one at a time) on a fresh sandbox with the same data.
    #[arg(long)]
    baseline: bool,
    /// Print one JSON object instead of the text.
    #[arg(long)]
    json: bool,
    /// The kind of credential the tenant issues tokens for (`pat` is needed for
    /// `/v2026/entitlements`, which reads sources past 10,000 groups).
    #[arg(long, default_value = "api-client", value_parser = parse_credential)]
    credential: Credential,
    /// Seed of the generated names.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also run `groupsync serve` on a fresh sandbox, ask it for this many runs one after
    /// another and print its resident set after each (whether its memory grows with runs).
    #[arg(long)]
    daemon_runs: Option<usize>,
}

/// One measured run, as `--json` prints it.
#[derive(Debug, Serialize)]
struct RunFigures {
    label: &'static str,
    wall_s: f64,
    requests: Requests,
    creates: u64,
    rate_limited: u64,
    peak_rss_mib: f64,
}

#[derive(Debug, Serialize)]
struct Requests {
    identitynow: u64,
    scim: u64,
}

#[derive(Debug, Serialize)]
struct Figures {
    runs: Vec<RunFigures>,
    speedup: Option<f64>,
    floor_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon: Option<daemon::DaemonFigures>,
}

#[path = "bench_daemon.rs"]
mod daemon;

pub async fn run(args: BenchArgs, log_format: LogFormat) -> ExitCode {
    crate::telemetry::init(log_format, "warn");
    if args.existing > args.groups {
        eprintln!(
            "error: --existing ({}) cannot be more than --groups ({}): the existing groups are \
             picked among the source's",
            args.existing, args.groups
        );
        return ExitCode::from(2);
    }
    match bench(&args).await {
        Ok(code) | Err(code) => code,
    }
}

/// The measurements and their print-out; `Err` carries the exit status of a failure.
async fn bench(args: &BenchArgs) -> Result<ExitCode, ExitCode> {
    let (ours, settings) = measure(args, "groupsync", "run").await?;
    let floor_input = FloorInput::of(&settings, args);
    let mut runs = vec![ours];
    if args.baseline {
        runs.push(measure(args, "workflow", "bench-workflow").await?.0);
    }
    let speedup = match runs.as_slice() {
        [ours, workflow] if ours.wall_s > 0.0 => Some(workflow.wall_s / ours.wall_s),
        _ => None,
    };
    let daemon = match args.daemon_runs.filter(|n| *n > 0) {
        Some(n) => Some(daemon::measure(args, n).await?),
        None => None,
    };
    let figures = Figures {
        runs,
        speedup,
        floor_s: floor(&floor_input).as_secs_f64(),
        daemon,
    };
    if args.json {
        match serde_json::to_string(&figures) {
            Ok(text) => out::line(text)?,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitCode::from(1));
            }
        }
    } else {
        out::print(render(args, &figures, &floor_input))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How the target is read, for the floor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TargetRead {
    /// One listing, its pages one after another, this many groups a page.
    Listing { page_size: usize },
    /// A lookup per candidate, this many at a time.
    PerGroup { concurrency: usize },
}

/// What the floor depends on.
#[derive(Debug, Clone, PartialEq)]
struct FloorInput {
    groups: usize,
    existing: usize,
    latency: Duration,
    /// Entitlements per page.
    page_size: usize,
    /// IdentityNow requests allowed in any 10 seconds.
    requests_per_10s: usize,
    target: TargetRead,
    create_concurrency: usize,
}

impl FloorInput {
    fn of(settings: &Settings, args: &BenchArgs) -> FloorInput {
        let sync = &settings.sync;
        let listing = TargetRead::Listing {
            page_size: sync.listing_page_size.min(SCIM_PAGE_CAP),
        };
        let per_group = TargetRead::PerGroup {
            concurrency: sync.lookup_concurrency,
        };
        let target = match sync.target_lookup {
            TargetLookup::Listing => listing,
            TargetLookup::Auto if args.groups > sync.listing_threshold => listing,
            TargetLookup::Auto | TargetLookup::PerGroup => per_group,
        };
        FloorInput {
            groups: args.groups,
            existing: args.existing,
            latency: Duration::from_millis(args.latency_ms),
            page_size: settings.identitynow.page_size as usize,
            requests_per_10s: settings.identitynow.requests_per_10s as usize,
            target,
            create_concurrency: sync.create_concurrency,
        }
    }

    fn creates(&self) -> usize {
        self.groups.saturating_sub(self.existing)
    }

    /// Token, source, then the entitlement pages (at least one).
    fn identitynow_requests(&self) -> usize {
        2 + self.groups.div_ceil(self.page_size.max(1)).max(1)
    }

    /// Listing pages (at least one) or lookups.
    fn target_reads(&self) -> usize {
        match self.target {
            TargetRead::Listing { page_size } => self.existing.div_ceil(page_size.max(1)).max(1),
            TargetRead::PerGroup { .. } => self.groups,
        }
    }

    /// The requests the targets allow: entitlement pages + target reads + creates + 3
    /// (token, source, and the target's `/ServiceProviderConfig`).
    fn request_budget(&self) -> usize {
        self.identitynow_requests() - 2 + self.target_reads() + self.creates() + 3
    }
}

/// The time the unavoidable requests take, as a run makes them:
///
/// - IdentityNow: the token, the source and the entitlement pages, one after another, at
///   most `requests_per_10s` in any 10 seconds (a slot counts from its answer, as
///   groupsync's limiter counts it);
/// - the target's listing pages, one after another, beside the entitlement pages from the
///   moment the first of them has told the source's count (the token, the source and that
///   page); or the lookups, `lookup_concurrency` at a time, once the source is read (they
///   need its names);
/// - then the creates, `create_concurrency` at a time.
///
/// The target's `/ServiceProviderConfig` read and the empty page that may end a listing
/// are left out: the floor is a lower bound.
fn floor(f: &FloorInput) -> Duration {
    let latency = f.latency;
    // sequential requests under the sliding window: request k waits for the answer of
    // request k - limit to be a window old
    let limit = f.requests_per_10s.max(1);
    let mut answers: Vec<Duration> = Vec::with_capacity(f.identitynow_requests());
    for k in 0..f.identitynow_requests() {
        let after_previous = answers.last().copied().unwrap_or_default();
        let start = match k.checked_sub(limit) {
            Some(j) => after_previous.max(answers[j] + WINDOW),
            None => after_previous,
        };
        answers.push(start + latency);
    }
    let identitynow = answers.last().copied().unwrap_or_default();
    let waves = |n: usize, at_once: usize| latency * n.div_ceil(at_once.max(1)) as u32;
    let read = match f.target {
        TargetRead::Listing { .. } => {
            let counted = answers.get(2).copied().unwrap_or(identitynow);
            identitynow.max(counted + waves(f.target_reads(), 1))
        }
        TargetRead::PerGroup { concurrency } => identitynow + waves(f.groups, concurrency),
    };
    read + waves(f.creates(), f.create_concurrency)
}

/// The text print-out: one block per run, then the comparison.
fn render(args: &BenchArgs, figures: &Figures, f: &FloorInput) -> String {
    let mut text = format!(
        "bench: {} AD groups, {} already in the target, {} ms per request on both services\n",
        args.groups, args.existing, args.latency_ms
    );
    for run in &figures.runs {
        let how = if run.label == "workflow" {
            "the Workflow's pattern, a plain loop: token, source, the entitlement pages, then \
             for each group a lookup by displayName and, when missing, a create, one request at \
             a time (its emails left out)"
        } else {
            "groupsync run with the sandbox's configuration and its defaults"
        };
        let _ = write!(
            text,
            "\n{}: {how}\n  wall time     {:.2} s\n  requests      identitynow {}, scim {}\n  \
             creates       {}\n  429s          {}\n  peak RSS      {:.1} MiB (the groupsync run \
             process alone, sampled every {} ms)\n",
            run.label,
            run.wall_s,
            run.requests.identitynow,
            run.requests.scim,
            run.creates,
            run.rate_limited,
            run.peak_rss_mib,
            RSS_SAMPLE.as_millis()
        );
    }
    let target = match f.target {
        TargetRead::Listing { page_size } => {
            format!("listing pages of {page_size}, beside the entitlement pages")
        }
        TargetRead::PerGroup { concurrency } => format!("lookups {concurrency} at a time"),
    };
    let _ = write!(
        text,
        "\nfloor         {:.2} s ({} IdentityNow requests at most {} per 10 s, {} target reads \
         ({target}), {} creates {} at a time)\nrequest budget {} (entitlement pages + target reads \
         + creates + 3)\n",
        figures.floor_s,
        f.identitynow_requests(),
        f.requests_per_10s,
        f.target_reads(),
        f.creates(),
        f.create_concurrency,
        f.request_budget()
    );
    if let Some(ours) = figures.runs.first()
        && figures.floor_s > 0.0
    {
        let _ = writeln!(text, "wall / floor  {:.2}", ours.wall_s / figures.floor_s);
    }
    if let Some(speedup) = figures.speedup {
        let _ = writeln!(
            text,
            "speed-up      {speedup:.1}x over the Workflow's pattern"
        );
    }
    if let Some(d) = &figures.daemon {
        let first = d.rss_mib.first().copied().unwrap_or_default();
        let last = d.rss_mib.last().copied().unwrap_or_default();
        let _ = writeln!(
            text,
            "\ndaemon: groupsync serve, {} manual runs one after another\n  RSS after run 1 \
             {first:.1} MiB, after run {} {last:.1} MiB ({:.2}x)",
            d.runs, d.runs, d.growth
        );
    }
    text
}

/// The sandbox's options for this bench: the seeded data, the latency on both services.
fn sandbox_options(args: &BenchArgs) -> SandboxOptions {
    let latency = FaultPlan {
        latency: Duration::from_millis(args.latency_ms),
        rules: vec![],
    };
    let groups = plain_groups(args.groups, args.seed);
    SandboxOptions {
        existing: groupsync_sandbox::seed::pick_existing(&groups, args.existing, args.seed),
        groups,
        idn_faults: latency.clone(),
        scim_faults: latency,
        scim_page_cap: SCIM_PAGE_CAP,
        credential: args.credential,
        ..SandboxOptions::default()
    }
}

/// `n` of the sandbox's generated names, without its deliberately awkward ones (case twins,
/// names over the length limit, quotes, spaces at the ends, …): those belong to the tests,
/// and here every group is either found or created, so a run creates `groups − existing`.
fn plain_groups(n: usize, seed: u64) -> Vec<String> {
    let plain = |name: &str| {
        name.len() <= 64
            && name.trim() == name
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
    };
    let mut asked = n + n / 10 + 16;
    loop {
        let mut seen = HashSet::new();
        let names: Vec<String> = groupsync_sandbox::seed::generate_groups(asked, seed)
            .into_iter()
            .filter(|name| plain(name) && seen.insert(name.to_lowercase()))
            .take(n)
            .collect();
        if names.len() == n {
            return names;
        }
        asked *= 2;
    }
}

/// The process environment with `overrides` laid over it.
fn environment(overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

/// A fresh sandbox with the bench's data, and a folder (not made yet) for the measured
/// process's configuration and store, named after `label`.
async fn fresh_sandbox(args: &BenchArgs, label: &str) -> Result<(Sandbox, PathBuf), ExitCode> {
    let sb = Sandbox::start(sandbox_options(args))
        .await
        .map_err(|e| failed(format!("cannot start the sandbox: {e}")))?;
    let dir = std::env::temp_dir().join(format!("groupsync-bench-{}-{label}", std::process::id()));
    Ok((sb, dir))
}

/// Starts a fresh sandbox, runs `groupsync <command>` once against it as a child process,
/// and reads the sandbox's stats. Also returns the settings the child ran with.
async fn measure(
    args: &BenchArgs,
    label: &'static str,
    command: &str,
) -> Result<(RunFigures, Settings), ExitCode> {
    let (sb, dir) = fresh_sandbox(args, label).await?;
    let result = run_child(&sb, &dir, command).await;
    let figures = result.map(|(settings, wall, peak_rss_kib)| {
        let idn = sb.tenant.stats();
        let scim = sb.scim.stats().to_json();
        let count = |v: &serde_json::Value, key: &str| v[key].as_u64().unwrap_or(0);
        let figures = RunFigures {
            label,
            wall_s: wall.as_secs_f64(),
            requests: Requests {
                identitynow: count(&idn, "requests"),
                scim: count(&scim, "requests"),
            },
            creates: sb.scim.create_count(),
            rate_limited: count(&idn, "rate_limited") + count(&scim, "rate_limited"),
            peak_rss_mib: peak_rss_kib as f64 / 1024.0,
        };
        (figures, settings)
    });
    sb.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

/// Writes the sandbox's configuration into `dir` and runs `groupsync <command>` on it
/// with a fresh store there: the settings it ran with, its wall time and its peak RSS in
/// KiB.
async fn run_child(
    sb: &Sandbox,
    dir: &Path,
    command: &str,
) -> Result<(Settings, Duration, u64), ExitCode> {
    let failed = |what: String| {
        eprintln!("error: {what}");
        ExitCode::from(1)
    };
    let store = dir.join("groupsync.db");
    let store_path = store.display().to_string();
    let overrides = [("GROUPSYNC_STORE__PATH", store_path.as_str())];
    let text = sb.config_toml();
    let settings = Settings::from_toml_and_env(&text, &environment(&overrides)).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    std::fs::create_dir_all(dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let config = dir.join("groupsync.toml");
    std::fs::write(&config, &text)
        .map_err(|e| failed(format!("cannot write {}: {e}", config.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| failed(format!("cannot find the groupsync binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--config")
        .arg(&config)
        .arg(command)
        .envs(overrides.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| failed(format!("cannot start groupsync {command}: {e}")))?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    let mut peak_kib = 0;
    let output: Output = loop {
        if let Some(kib) = vm_hwm_kib(&status_file) {
            peak_kib = peak_kib.max(kib);
        }
        tokio::select! {
            done = &mut waiting => match done {
                Ok(Ok(output)) => break output,
                Ok(Err(e)) => return Err(failed(format!("groupsync {command}: {e}"))),
                Err(e) => return Err(failed(format!("groupsync {command}: {e}"))),
            },
            () = tokio::time::sleep(RSS_SAMPLE) => {}
        }
    };
    let wall = started.elapsed();
    if !output.status.success() {
        return Err(failed(format!(
            "groupsync {command} ended with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok((settings, wall, peak_kib))
}

/// `VmHWM` (peak resident set) of the process whose `/proc/<pid>/status` is `path`, in KiB;
/// `None` once the process has exited or where `/proc` is missing.
fn vm_hwm_kib(path: &Path) -> Option<u64> {
    status_kib(path, "VmHWM:")
}

/// The figure on the line of `/proc/<pid>/status` that starts with `key`, in KiB.
fn status_kib(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Says what failed; the exit status of a failed measurement.
fn failed(what: String) -> ExitCode {
    eprintln!("error: {what}");
    ExitCode::from(1)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> FloorInput {
        FloorInput {
            groups: 10_000,
            existing: 9_000,
            latency: Duration::from_millis(5),
            page_size: 250,
            requests_per_10s: 90,
            target: TargetRead::Listing { page_size: 500 },
            create_concurrency: 4,
        }
    }

    #[test]
    fn the_floor_adds_the_sequential_pages_and_the_waves_of_creates() {
        let f = input();
        // 2 + 40 IdentityNow requests, beside them 18 listing pages, then 1,000 creates in
        // 250 waves of 4
        assert_eq!(f.identitynow_requests(), 42);
        assert_eq!(f.target_reads(), 18);
        assert_eq!(f.request_budget(), 40 + 18 + 1_000 + 3);
        assert_eq!(floor(&f), Duration::from_millis(5 * (42 + 250)));
        // a listing longer than the source's pages: it starts after the third request
        let long_listing = FloorInput {
            target: TargetRead::Listing { page_size: 100 },
            ..input()
        };
        assert_eq!(long_listing.target_reads(), 90);
        assert_eq!(
            floor(&long_listing),
            Duration::from_millis(5 * (3 + 90 + 250))
        );

        let per_group = FloorInput {
            target: TargetRead::PerGroup { concurrency: 8 },
            ..input()
        };
        assert_eq!(per_group.target_reads(), 10_000);
        assert_eq!(
            floor(&per_group),
            Duration::from_millis(5 * (42 + 1_250 + 250))
        );

        // nothing to create and a tiny source: token, source, one page, then one listing page
        let small = FloorInput {
            groups: 10,
            existing: 10,
            ..input()
        };
        assert_eq!(floor(&small), Duration::from_millis(5 * 4));
    }

    #[test]
    fn the_rate_limit_holds_back_sources_of_many_pages() {
        // 402 IdentityNow requests at 90 per 10 s: the 361st..402nd wait for four windows
        let f = FloorInput {
            groups: 100_000,
            existing: 90_000,
            latency: Duration::ZERO,
            ..input()
        };
        assert_eq!(f.identitynow_requests(), 402);
        assert_eq!(floor(&f), WINDOW * 4);
        // with a latency, a slot counts from its answer: each window adds one latency
        let slow = FloorInput {
            latency: Duration::from_millis(5),
            ..f
        };
        let identitynow = WINDOW * 4 + Duration::from_millis(5) * (4 + 42);
        // the 180 listing pages are read long before the source's last page
        let creates = Duration::from_millis(5) * 2_500;
        assert_eq!(floor(&slow), identitynow + creates);
    }
}
