//! `groupsync executions list|show`: the execution history, read from the store.
//!
//! The store is SQLite in WAL mode, so this reads while a daemon is writing to it.

use super::out;
use super::summary::{counts_line, error_line, notice_line, outcome_line};
use crate::report::{RunView, count};
use crate::store::{OUTCOME_KINDS, OutcomeQuery, RunDetail, RunRecord, Store};
use clap::{Args, Subcommand};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, Args)]
pub struct ExecutionsArgs {
    /// The store to read; by default the configuration's `[store] path`.
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: ExecutionsCommand,
}

#[derive(Debug, Clone, Subcommand)]
enum ExecutionsCommand {
    /// The most recent runs, newest first.
    List {
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only the runs of this job (`[[jobs]]`).
        #[arg(long, value_name = "NAME")]
        job: Option<String>,
    },
    /// One run with the outcome of every group and its notices.
    Show {
        /// The run's id (as `list` shows it).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        outcomes: OutcomeArgs,
    },
}

/// Which of the run's group outcomes `show` prints; only those are read from the store.
#[derive(Debug, Clone, Default, Args)]
struct OutcomeArgs {
    /// Only the groups whose name (or AD name) holds this text, ignoring ASCII case.
    #[arg(long)]
    search: Option<String>,
    /// Only the groups with this outcome (`created`, `existed`, `failed`, …).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(OUTCOME_KINDS))]
    outcome: Option<String>,
    /// Groups per page: all of them unless `--page` is given, then 100.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// The page of groups to print, from 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    page: Option<u64>,
}

/// Groups per page of `show --page` without `--limit`.
const SHOW_PAGE: usize = 100;

impl OutcomeArgs {
    fn query(&self) -> OutcomeQuery {
        let limit = self
            .limit
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX))
            .or(self.page.map(|_| SHOW_PAGE));
        let page = self
            .page
            .map_or(1, |p| usize::try_from(p).unwrap_or(usize::MAX));
        OutcomeQuery {
            kind: self.outcome.clone(),
            search: self.search.clone().filter(|s| !s.is_empty()),
            limit,
            offset: limit.map_or(0, |l| l.saturating_mul(page - 1)),
        }
    }
}

impl ExecutionsArgs {
    /// The store given on the command line, if any (then no configuration is needed).
    pub fn store_path(&self) -> Option<&Path> {
        self.store.as_deref()
    }
}

/// Runs the command against the store at `path`.
pub fn run(args: &ExecutionsArgs, path: &Path) -> ExitCode {
    if !path.exists() {
        eprintln!(
            "no executions recorded yet: the store {} does not exist",
            path.display()
        );
        return match args.command {
            ExecutionsCommand::List { json: true, .. } => {
                out::line("[]").err().unwrap_or(ExitCode::SUCCESS)
            }
            ExecutionsCommand::List { .. } => ExitCode::SUCCESS,
            ExecutionsCommand::Show { .. } => ExitCode::from(1),
        };
    }
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let printed = match &args.command {
        ExecutionsCommand::List { limit, json, job } => list(&store, *limit, *json, job.as_deref()),
        ExecutionsCommand::Show { id, json, outcomes } => {
            show(&store, id, &outcomes.query(), *json)
        }
    };
    match printed {
        Ok(text) => out::print(text).err().unwrap_or(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The text of `list`, of one job's runs when `job` is given; the table has a JOB column
/// when the history holds runs of several jobs.
fn list(store: &Store, limit: usize, json: bool, job: Option<&str>) -> Result<String, String> {
    let runs = store.runs_of(job, limit, None).map_err(|e| e.to_string())?;
    if json {
        return to_json(&runs);
    }
    let jobs = store.jobs_in_history().map_err(|e| e.to_string())?;
    Ok(table(&runs, jobs.len() > 1))
}

/// The text of `show`; as JSON, the shape `groupsync run --json` prints.
fn show(store: &Store, id: &str, query: &OutcomeQuery, json: bool) -> Result<String, String> {
    let (detail, matching) = store
        .run_page(id, query)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no execution with id {id:?}"))?;
    if json {
        return to_json(&RunView::from(detail));
    }
    let mut out = details(&detail);
    if *query != OutcomeQuery::default() {
        let _ = writeln!(out, "{}", page_line(query, detail.outcomes.len(), matching));
    }
    Ok(out)
}

/// Which groups of those matching `query` were printed.
fn page_line(query: &OutcomeQuery, printed: usize, matching: usize) -> String {
    let which = match (&query.kind, &query.search) {
        (None, None) => String::new(),
        (Some(kind), None) => format!(" {kind}"),
        (None, Some(q)) => format!(" whose name holds {q:?}"),
        (Some(kind), Some(q)) => format!(" {kind} whose name holds {q:?}"),
    };
    if printed == 0 {
        return format!("no groups printed of the {matching}{which}");
    }
    let first = query.offset + 1;
    format!(
        "groups {first}-{} of the {matching}{which}",
        query.offset + printed
    )
}

/// Pretty JSON and a newline.
fn to_json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| e.to_string())
}

/// One line per run; the trigger comes late because it can be long (`webhook+schedule`),
/// then the counts of adopted, renamed, orphan and deleted groups that are not zero.
/// What a dry run would have created has its own column: it was not created.
/// With `with_job`, the job of each run follows its id.
pub fn table(runs: &[RunRecord], with_job: bool) -> String {
    let width = runs.iter().map(|r| r.job.len()).max().unwrap_or(0).max(3);
    let job = |name: &str| {
        if with_job {
            format!("{name:<width$}  ")
        } else {
            String::new()
        }
    };
    let mut out = format!(
        "{:<36}  {}{:<19}  {:>8}  {:<16}  {:>7} {:>12} {:>7} {:>7} {:>6}  {:<16}  OWNED GROUPS\n",
        "ID",
        job("JOB"),
        "STARTED (UTC)",
        "DURATION",
        "STATUS",
        "CREATED",
        "WOULD CREATE",
        "EXISTED",
        "SKIPPED",
        "FAILED",
        "TRIGGER"
    );
    for r in runs {
        let c = &r.counts;
        let _ = writeln!(
            out,
            "{:<36}  {}{:<19}  {:>8}  {:<16}  {:>7} {:>12} {:>7} {:>7} {:>6}  {:<16}  {}",
            r.id,
            job(&r.job),
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            seconds(r),
            r.status,
            c.created,
            c.would_create,
            c.existed,
            c.skipped,
            c.failed,
            r.trigger,
            super::summary::owned_counts(c)
        );
    }
    out
}

/// A run still going has no duration yet.
fn seconds(r: &RunRecord) -> String {
    if r.status == crate::store::RUNNING {
        return "-".into();
    }
    format!("{:.2}s", r.duration().num_milliseconds() as f64 / 1000.0)
}

/// The run, then every group (names quoted so that odd whitespace shows), then notices.
pub fn details(d: &RunDetail) -> String {
    let r = &d.run;
    let c = &r.counts;
    let mut out = format!("run {}  {}\n", r.id, r.status);
    if r.job != crate::config::DEFAULT_JOB {
        let _ = writeln!(out, "job {}", r.job);
    }
    let _ = writeln!(
        out,
        "trigger {}, started {} UTC, took {}",
        r.trigger,
        r.started_at.format("%Y-%m-%d %H:%M:%S"),
        seconds(r)
    );
    if let Some(s) = &r.source {
        let _ = writeln!(out, "source {} ({})", s.name, s.id);
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "{}", error_line(e));
    }
    let _ = writeln!(out, "{}", counts_line(c));
    if r.unchanged > 0 {
        let _ = writeln!(
            out,
            "{} found existing as in the run before: counted, not listed",
            count(r.unchanged, "group")
        );
    }
    for o in &d.outcomes {
        let _ = writeln!(out, "{}", outcome_line(o));
    }
    for n in &d.notices {
        let _ = writeln!(out, "{}", notice_line(n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunId;
    use crate::report::{GroupOutcome, Outcome, RunReport};
    use chrono::Utc;

    fn record(dry_run: bool, outcome: Outcome) -> RunRecord {
        let mut r = RunReport::started(RunId::new(), Utc::now(), dry_run);
        r.outcomes = (0..3)
            .map(|i| GroupOutcome {
                source_id: format!("e{i}"),
                name: format!("Group {i}"),
                source_name: None,
                outcome: outcome.clone(),
            })
            .collect();
        RunRecord::of(&r, "cli")
    }

    /// The numbers of a run's line, after its id, start, duration and status.
    fn numbers(line: &str) -> Vec<&str> {
        line.split_whitespace().skip(5).take(5).collect()
    }

    #[test]
    fn a_dry_run_would_create_in_its_own_column_never_as_created() {
        let dry = record(true, Outcome::WouldCreate);
        let real = record(
            false,
            Outcome::Created {
                scim_id: "s".into(),
            },
        );
        let printed = table(&[dry.clone(), real.clone()], false);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>()[5..11],
            ["CREATED", "WOULD", "CREATE", "EXISTED", "SKIPPED", "FAILED"]
        );
        assert!(lines[1].starts_with(&dry.id) && lines[2].starts_with(&real.id));
        assert_eq!(numbers(lines[1]), ["0", "3", "0", "0", "0"], "{printed}");
        assert_eq!(numbers(lines[2]), ["3", "0", "0", "0", "0"], "{printed}");
    }

    #[test]
    fn adopted_renamed_and_orphan_groups_are_counted_after_the_trigger() {
        let orphans = record(
            false,
            Outcome::Orphan {
                scim_id: "s".into(),
            },
        );
        let plain = record(
            false,
            Outcome::Created {
                scim_id: "s".into(),
            },
        );
        let printed = table(&[orphans, plain], false);
        let lines: Vec<&str> = printed.lines().collect();
        assert!(
            lines[0].ends_with("TRIGGER           OWNED GROUPS"),
            "{printed}"
        );
        assert!(
            lines[1].ends_with("cli               orphans 3"),
            "{printed}"
        );
        assert!(lines[2].trim_end().ends_with("cli"), "{printed}");
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;

    #[test]
    fn the_job_column_follows_the_id_when_there_are_several_jobs() {
        let run = |job: &str| {
            let report = crate::report::RunReport::started(
                crate::domain::RunId::new(),
                chrono::Utc::now(),
                false,
            );
            RunRecord::of(&report, "cli").of_job(job)
        };
        let printed = table(&[run("us-east"), run("eu")], true);
        let lines: Vec<Vec<&str>> = printed
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0][..3], ["ID", "JOB", "STARTED"]);
        assert_eq!(lines[1][1], "us-east");
        assert_eq!(lines[2][1], "eu");
        assert!(!table(&[run("eu")], false).contains("JOB"));
    }
}
