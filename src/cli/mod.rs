//! The command line: `run`, `serve`, `sources`, `check`, `executions`, and with the
//! `sandbox` feature (on by default) `demo`, `sandbox` and `bench`.
//!
//! Exit codes: 0 success, 1 the sync failed or some groups failed, 2 bad configuration or
//! usage, 3 another run holds the store's run lease (nothing was done; the message names
//! the holder's host, pid and start; `run --wait` waits for it instead), 4 a guard refused
//! the run (nothing was written; see `[safety]`, override once with `run --force`). The
//! summary goes to stdout; logs go to stderr.

#[cfg(feature = "sandbox")]
mod bench;
#[cfg(feature = "sandbox")]
mod bench_workflow;
mod check;
#[cfg(feature = "sandbox")]
mod demo;
mod executions;
mod out;
mod progress;
#[cfg(feature = "sandbox")]
mod sandbox_cmd;
mod serve;
mod summary;

use crate::config::{self, LogFormat, Settings, StoreSettings};
use crate::report::{RunStatus, RunView};
use crate::store::Store;
use crate::sync::lease::LeaseWait;
use crate::sync::{RunRequest, Syncer, TriggerKind};
use clap::{Parser, Subcommand, ValueEnum};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "groupsync",
    version,
    about = "Creates Alation SCIM groups for the AD groups IdentityNow knows"
)]
pub struct Cli {
    /// Configuration file (TOML). Keys can be overridden by GROUPSYNC_<SECTION>__<KEY>.
    #[arg(long, global = true, env = "GROUPSYNC_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    /// Log format on stderr; overrides `log.format`.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one sync: read the AD source's groups, create the missing ones, send notices.
    Run {
        /// Print the plan; create nothing and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON on stdout instead of the summary.
        #[arg(long)]
        json: bool,
        /// Let this run through the guards (`[safety]`) once: after checking why one
        /// refused the last run.
        #[arg(long)]
        force: bool,
        /// When another run (another process on the same store) holds the run lease, wait
        /// for it to end instead of exiting with status 3.
        #[arg(long)]
        wait: bool,
        /// The job to run (`[[jobs]]`); required when several are configured, unless `--all`.
        #[arg(long, value_name = "NAME", conflicts_with = "all")]
        job: Option<String>,
        /// Run every job, one after the other.
        #[arg(long)]
        all: bool,
    },
    /// Run as a daemon: HTTP server, schedule, webhook and polling triggers, until stopped.
    Serve,
    /// List the tenant's sources with their ids (to find the AD source's id).
    Sources {
        /// Only sources with exactly this name.
        #[arg(long)]
        name: Option<String>,
    },
    /// The execution history kept in the store: `list` the recent runs, `show` one.
    Executions(executions::ExecutionsArgs),
    /// Try every connection a run needs (IdentityNow, SCIM, SMTP, the store), one line each.
    Check {
        /// Also send a test message to the configured recipients.
        #[arg(long)]
        send_test_email: bool,
    },
    /// Start the built-in sandbox, sync twice against it and show what happened.
    #[cfg(feature = "sandbox")]
    Demo(demo::DemoArgs),
    /// Serve a simulated tenant, SCIM server and SMTP sink on this machine until stopped.
    ///
    /// The tenant pages entitlements with offset paging up to 10,000 records (past that,
    /// 400) and with `searchAfter` on /v2026/entitlements. `GET <tenant>/sandbox/stats`
    /// and `GET <scim>/sandbox/stats` answer JSON with the requests served by route, the
    /// 429s, and the most requests in any sliding 10-second window (per client id on the
    /// tenant, overall on the SCIM server).
    #[cfg(feature = "sandbox")]
    Sandbox(Box<sandbox_cmd::SandboxArgs>),
    /// Measure one run against a sandbox with a latency on every request: wall time,
    /// requests, creates, 429s, peak RSS, the floor, and with --baseline the speed-up over
    /// the Workflow's pattern.
    #[cfg(feature = "sandbox")]
    Bench(bench::BenchArgs),
    /// The Workflow's pattern as a plain loop: the process `bench --baseline` measures.
    #[cfg(feature = "sandbox")]
    #[command(hide = true)]
    BenchWorkflow,
}

/// Parses the arguments, runs the command, maps the result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The command runs as a task on the runtime's workers, not as the future `block_on`
    // polls on this thread: every answer an HTTP connection task reads then wakes the run
    // on the worker that read it, instead of waking this thread each time (about 4 % of a
    // 10,000-group run's wall time, BENCHMARKS.md). A panic in it has been printed by the
    // time it is seen here.
    runtime.block_on(async {
        tokio::spawn(dispatch(cli))
            .await
            .unwrap_or(ExitCode::from(1))
    })
}

async fn dispatch(cli: Cli) -> ExitCode {
    let log_format = cli.log_format.map(|f| match f {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    });
    match cli.command {
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::run(args, log_format.unwrap_or(LogFormat::Text)).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => {
            sandbox_cmd::run(*args, log_format.unwrap_or(LogFormat::Text)).await
        }
        #[cfg(feature = "sandbox")]
        Command::Bench(args) => bench::run(args, log_format.unwrap_or(LogFormat::Text)).await,
        #[cfg(feature = "sandbox")]
        Command::BenchWorkflow => match load(&cli.config, log_format) {
            Some(settings) => bench_workflow::run(&settings).await,
            None => ExitCode::from(2),
        },
        Command::Run {
            dry_run,
            json,
            force,
            wait,
            job,
            all,
        } => {
            let Some(settings) = load(&cli.config, log_format) else {
                return ExitCode::from(2);
            };
            let jobs = match chosen_jobs(&settings, job.as_deref(), all) {
                Ok(jobs) => jobs,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            };
            let wait = if wait {
                LeaseWait::Forever
            } else {
                LeaseWait::No
            };
            let request = || RunRequest::new([TriggerKind::Cli], dry_run).forced(force);
            if let [only] = jobs.as_slice()
                && !all
            {
                return run_once(only.clone(), request(), json, wait).await;
            }
            run_jobs(jobs, request, json, wait).await
        }
        Command::Serve => {
            let Some(settings) = load(&cli.config, log_format) else {
                return ExitCode::from(2);
            };
            serve::run(settings).await
        }
        Command::Executions(args) => {
            if let Some(path) = args.store_path() {
                return executions::run(&args, path);
            }
            // only the store is needed: the configuration may be absent or incomplete
            match StoreSettings::load(&cli.config) {
                Ok(store) => executions::run(&args, &store.path),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Check { send_test_email } => match load(&cli.config, log_format) {
            Some(settings) if settings.several_jobs() => {
                // each job's connections in turn, under a line naming it
                let mut worst = ExitCode::SUCCESS;
                for job in settings.all_jobs() {
                    if let Err(code) = out::line(format_args!("job {}:", job.job)) {
                        return code;
                    }
                    let code = check::run(job, send_test_email).await;
                    if worst == ExitCode::SUCCESS {
                        worst = code;
                    }
                }
                worst
            }
            Some(settings) => check::run(&settings, send_test_email).await,
            None => ExitCode::from(2),
        },
        Command::Sources { name } => {
            let Some(settings) = load(&cli.config, log_format) else {
                return ExitCode::from(2);
            };
            sources(settings, name).await
        }
    }
}

/// Loads and validates the configuration and starts logging; prints the error otherwise.
fn load(path: &std::path::Path, log_format: Option<LogFormat>) -> Option<Arc<Settings>> {
    match Settings::load(path, true) {
        Ok(mut s) => {
            if let Some(f) = log_format {
                s.log.format = f;
                for job in &mut s.jobs {
                    job.log.format = f;
                }
            }
            crate::telemetry::init(s.log.format, &s.log.level);
            Some(Arc::new(s))
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// The jobs `run` runs: the one named by `--job`, every one with `--all`, the only one
/// when there is one; an error message otherwise.
fn chosen_jobs(
    settings: &Settings,
    job: Option<&str>,
    all: bool,
) -> Result<Vec<Arc<Settings>>, String> {
    let jobs = settings.all_jobs();
    match job {
        Some(name) => settings
            .job_named(name)
            .map(|j| vec![Arc::new(j.clone())])
            .ok_or_else(|| {
                format!(
                    "no job is called {name:?}; the jobs are: {}",
                    settings.job_names()
                )
            }),
        None if all || jobs.len() == 1 => Ok(jobs.iter().cloned().map(Arc::new).collect()),
        None => Err(format!(
            "{} jobs are configured ({}): name one with --job NAME, or run them all with --all",
            jobs.len(),
            settings.job_names()
        )),
    }
}

/// `run --all` (or `--job` among several): each job in turn, a line naming it before its
/// summary (a JSON array of the reports with `--json`); the exit status is the first job's
/// that did not succeed, else 0.
async fn run_jobs(
    jobs: Vec<Arc<Settings>>,
    request: impl Fn() -> RunRequest,
    json: bool,
    wait: LeaseWait,
) -> ExitCode {
    let mut worst = ExitCode::SUCCESS;
    let mut views = vec![];
    for job in jobs {
        if !json && let Err(code) = out::line(format_args!("job {}:", job.job)) {
            return code;
        }
        let (code, view) = run_job(job, request(), json, wait).await;
        views.extend(view);
        if worst == ExitCode::SUCCESS {
            worst = code;
        }
    }
    if json {
        match serde_json::to_string_pretty(&views) {
            Ok(text) => {
                if let Err(code) = out::line(text) {
                    return code;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    worst
}

/// Exit status of a run skipped because another run holds the store's run lease.
pub const EXIT_LEASE_HELD: u8 = 3;
/// Exit status of a run that a guard refused.
pub const EXIT_REFUSED: u8 = 4;

/// `group schema: account.memberOf → schema "group"`, from the source's schemas when the
/// token may read them (a user's token); a note otherwise. Only names where the groups
/// are: the selection is `sourceSchemaObjectType = group` on every entitlement.
async fn group_schema_line(client: &crate::identitynow::Client, source_id: &str) -> String {
    match client.group_schema(source_id).await {
        Ok(schema) => format!("group schema: {schema}\n"),
        Err(e) => {
            tracing::debug!(error = %e, "source schemas not read");
            "group schema: not read (the token may not read source schemas)\n".to_owned()
        }
    }
}

/// One sync, recorded in the store, with a summary (or JSON) on stdout; exit 1 unless it
/// fully succeeded, 3 when another run held the lease (waiting for it as `wait` says), 4
/// when a guard refused it.
pub(crate) async fn run_once(
    settings: Arc<Settings>,
    request: RunRequest,
    json: bool,
    wait: LeaseWait,
) -> ExitCode {
    let (code, view) = run_job(settings, request, json, wait).await;
    if let Some(view) = view {
        let printed = match serde_json::to_string_pretty(&view) {
            Ok(text) => out::line(text),
            Err(e) => {
                eprintln!("error: {e}");
                Err(ExitCode::from(1))
            }
        };
        if let Err(code) = printed {
            return code;
        }
    }
    code
}

/// One job's sync, recorded in the store, with its summary on stdout, or with `json` its
/// report returned to be printed; the exit status as [`run_once`] says.
async fn run_job(
    settings: Arc<Settings>,
    request: RunRequest,
    json: bool,
    wait: LeaseWait,
) -> (ExitCode, Option<RunView>) {
    let show_progress = !json && settings.log.format == LogFormat::Text;
    let store = match Store::open(&settings.store.path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return (ExitCode::from(2), None);
        }
    };
    let job = settings.job.clone();
    let syncer = match Syncer::new(settings, store) {
        Ok(s) => s.with_lease_wait(wait),
        Err(e) => {
            eprintln!("error: {e}");
            return (ExitCode::from(2), None);
        }
    };
    let progress = progress::Terminal::new(show_progress);
    let report = syncer.run(&request, &progress).await;
    progress.finish();
    let view = json.then(|| RunView::of_report(&report, &request.trigger()).of_job(&job));
    if !json {
        let mut selection = progress.selection().map(|s| s + "\n").unwrap_or_default();
        if request.dry_run
            && let Some(source) = &report.source
        {
            selection += &group_schema_line(syncer.source(), &source.id).await;
        }
        let where_all = format!("groupsync executions show {}", report.run_id);
        let limit = summary::Limit {
            groups: summary::RUN_LISTED,
            where_all: &where_all,
        };
        if let Err(code) = out::print(selection + &summary::render(&report, Some(limit))) {
            return (code, None);
        }
    }
    let code = match report.status() {
        RunStatus::Succeeded | RunStatus::DryRun => ExitCode::SUCCESS,
        RunStatus::PartiallyFailed | RunStatus::Failed | RunStatus::Interrupted => {
            ExitCode::from(1)
        }
        RunStatus::Refused => ExitCode::from(EXIT_REFUSED),
        RunStatus::Skipped => {
            if let Some(e) = &report.error {
                eprintln!("error: {}", e.message);
            }
            ExitCode::from(EXIT_LEASE_HELD)
        }
    };
    (code, view)
}

async fn sources(settings: Arc<Settings>, name: Option<String>) -> ExitCode {
    let client = match crate::identitynow::Client::new(&settings.identitynow) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let printed = match client.list_sources(name.as_deref()).await {
        Ok(list) if list.is_empty() => out::line(format_args!(
            "no sources{}",
            name.map(|n| format!(" named {n:?}")).unwrap_or_default()
        )),
        Ok(list) => {
            let mut table = format!("{:<34}  {:<32}  NAME\n", "ID", "TYPE");
            for s in list {
                let _ = writeln!(
                    table,
                    "{:<34}  {:<32}  {}",
                    s.id,
                    s.source_type.as_deref().unwrap_or("-"),
                    s.name
                );
            }
            out::print(table)
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    printed.err().unwrap_or(ExitCode::SUCCESS)
}
