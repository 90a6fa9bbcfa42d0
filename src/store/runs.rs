//! The execution history: one row per run, one per group outcome of a run.
//!
//! The run's counts are kept beside it so that a list of runs never reads the outcomes.

use super::{INTERRUPTED, RUNNING, Store, StoreError, known, time_at, ts};
use crate::domain::RunId;
use crate::report::{
    CloseLoop, Counts, ErrorKind, GroupOutcome, NoticeOutcome, Outcome, RunFailure, RunReport,
    SourceInfo, Stage,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// One run as the history keeps it, without its group outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    /// The job the run was of (`default` without `[[jobs]]`).
    #[serde(default = "default_job")]
    pub job: String,
    /// What caused it (`cli`, `schedule`, `webhook+schedule`, …).
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `succeeded`, `partially_failed`, `failed`, `refused`, `skipped`, `dry_run`, and while
    /// the run lasts `running`, or `interrupted` when its process stopped before its end (kept
    /// as text, so a status a later version adds still reads back).
    pub status: String,
    pub dry_run: bool,
    pub source: Option<SourceInfo>,
    /// Why the run stopped; runs recorded before kinds were kept read back as `unknown`.
    pub error: Option<RunFailure>,
    pub counts: Counts,
    /// The aggregation of the Alation SCIM source after the run created groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_loop: Option<CloseLoop>,
    /// The stage the run's error stopped it in; none for a run that was not stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Groups found existing as the run before had found them (same name, same target
    /// group): counted in `counts.existed`, their outcomes not kept.
    #[serde(default)]
    pub unchanged: usize,
}

impl RunRecord {
    /// The record of `report`, caused by `trigger`.
    pub fn of(report: &RunReport, trigger: &str) -> RunRecord {
        RunRecord {
            id: report.run_id.0.clone(),
            job: default_job(),
            trigger: trigger.to_owned(),
            started_at: report.started_at,
            finished_at: report.finished_at,
            status: report.status().as_str().to_owned(),
            dry_run: report.dry_run,
            source: report.source.clone(),
            error: report.error.clone(),
            counts: report.counts(),
            close_loop: report.close_loop.clone(),
            stage: report.stage,
            unchanged: 0,
        }
    }

    /// The same record, of the job `job`.
    pub fn of_job(self, job: &str) -> RunRecord {
        RunRecord {
            job: job.to_owned(),
            ..self
        }
    }

    /// The guard that refused the run, if one did (a dry run's guard is not recorded).
    pub fn guard(&self) -> Option<RunFailure> {
        self.error
            .clone()
            .filter(|e| e.kind == ErrorKind::GuardRefused)
    }

    pub fn duration(&self) -> chrono::Duration {
        self.finished_at - self.started_at
    }
}

fn default_job() -> String {
    crate::config::DEFAULT_JOB.to_owned()
}

/// A run with its group outcomes (in source order) and its notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunRecord,
    pub outcomes: Vec<GroupOutcome>,
    pub notices: Vec<NoticeOutcome>,
}

impl RunDetail {
    /// The report the run produced, as it was recorded.
    pub fn into_report(self) -> RunReport {
        let guard = self.run.guard();
        RunReport {
            run_id: RunId(self.run.id),
            started_at: self.run.started_at,
            finished_at: self.run.finished_at,
            dry_run: self.run.dry_run,
            source: self.run.source,
            outcomes: self.outcomes,
            notices: self.notices,
            guard,
            error: self.run.error,
            read: self.run.counts.source,
            stage: self.run.stage,
            close_loop: self.run.close_loop,
        }
    }
}

/// Which of a run's outcomes to read: one page of those of one kind (see
/// [`OUTCOME_KINDS`]) whose name holds `search`, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeQuery {
    pub kind: Option<String>,
    /// Part of the name sent or of the AD name, ignoring ASCII case.
    pub search: Option<String>,
    /// At most this many (`None`: all).
    pub limit: Option<usize>,
    /// Skipping this many.
    pub offset: usize,
}

/// The outcome kinds as stored (and as `?outcome=` filters name them).
pub const OUTCOME_KINDS: [&str; 12] = [
    "created",
    "existed",
    "would_create",
    "skipped",
    "failed",
    "adopted",
    "would_adopt",
    "renamed",
    "would_rename",
    "orphan",
    "would_delete",
    "deleted",
];

const RUN_COLUMNS: &str = "id, trigger, started_at, finished_at, status, dry_run, source_id, \
     source_name, error, groups_source, groups_created, groups_existed, groups_would_create, \
     groups_skipped, groups_failed, error_kind, close_loop, groups_adopted, groups_would_adopt, \
     groups_renamed, groups_would_rename, groups_orphans, groups_would_delete, groups_deleted, job, \
     stage, groups_unchanged";

impl Store {
    /// The most recent runs, newest first; with `before`, those that started before that run.
    pub fn runs(&self, limit: usize, before: Option<&str>) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_of(None, limit, before)
    }

    /// As [`Store::runs`], only the runs of `job` when it is given.
    pub fn runs_of(
        &self,
        job: Option<&str>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.conn();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let result = match before {
            None => {
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE (?2 IS NULL OR job = ?2) \
                     ORDER BY started_at DESC, id DESC LIMIT ?1"
                );
                query_runs(&conn, &sql, params![limit, job])
            }
            Some(id) => {
                let started: Option<String> = conn
                    .query_row("SELECT started_at FROM runs WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(|e| self.err(e))?;
                let started = started.ok_or_else(|| StoreError::UnknownRun(id.to_owned()))?;
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE (started_at, id) < (?1, ?2) \
                     AND (?4 IS NULL OR job = ?4) ORDER BY started_at DESC, id DESC LIMIT ?3"
                );
                query_runs(&conn, &sql, params![started, id, limit, job])
            }
        };
        result.map_err(|e| self.err(e))
    }

    /// The names of the jobs the history holds runs of, in name order.
    pub fn jobs_in_history(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut stmt = conn.prepare("SELECT DISTINCT job FROM runs ORDER BY job")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// The most recent run that succeeded.
    pub fn last_success(&self) -> Result<Option<RunRecord>, StoreError> {
        self.last_success_in(None)
    }

    /// The most recent run that succeeded, of `job` when it is given.
    pub fn last_success_in(&self, job: Option<&str>) -> Result<Option<RunRecord>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'succeeded' AND (?1 IS NULL OR job = ?1) \
             ORDER BY started_at DESC, id DESC LIMIT 1"
        );
        self.conn()
            .query_row(&sql, [job], run_from_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The most recent successful run of the AD source `source_id` by the job `default`:
    /// what the guards of a configuration without `[[jobs]]` compare a run with.
    pub fn last_success_of(&self, source_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.last_success_of_job(crate::config::DEFAULT_JOB, source_id)
    }

    /// The most recent successful run of the AD source `source_id` by `job`: what the
    /// guards compare a run of that job with.
    pub fn last_success_of_job(
        &self,
        job: &str,
        source_id: &str,
    ) -> Result<Option<RunRecord>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'succeeded' AND job = ?1 \
             AND source_id = ?2 ORDER BY started_at DESC, id DESC LIMIT 1"
        );
        self.conn()
            .query_row(&sql, [job, source_id], run_from_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// One run with all its outcomes and notices, if the store holds it.
    pub fn run(&self, id: &str) -> Result<Option<RunDetail>, StoreError> {
        self.run_filtered(id, None)
    }

    /// As [`Store::run`], with only the outcomes of one kind (see [`OUTCOME_KINDS`]).
    pub fn run_filtered(
        &self,
        id: &str,
        outcome: Option<&str>,
    ) -> Result<Option<RunDetail>, StoreError> {
        let query = OutcomeQuery {
            kind: outcome.map(str::to_owned),
            ..OutcomeQuery::default()
        };
        Ok(self.run_page(id, &query)?.map(|(detail, _)| detail))
    }

    /// One run with the outcomes `query` asks for (only those are read) and its notices,
    /// and how many outcomes match `query` in all; `None` if the store does not hold it.
    pub fn run_page(
        &self,
        id: &str,
        query: &OutcomeQuery,
    ) -> Result<Option<(RunDetail, usize)>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        let run = conn
            .query_row(&sql, [id], run_from_row)
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(run) = run else {
            return Ok(None);
        };
        let read = || -> rusqlite::Result<_> {
            let pattern = query.search.as_deref().map(like_pattern);
            let matching: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM run_groups WHERE {OUTCOME_FILTER}"),
                params![id, query.kind, pattern],
                |r| r.get(0),
            )?;
            let limit = query
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
            let outcomes = outcomes_where(&conn, params![id, query.kind, pattern, limit, offset])?;
            let notices = super::outbox::notices_of_run(&conn, id)?;
            Ok((outcomes, notices, matching.max(0) as usize))
        };
        let (outcomes, notices, matching) = read().map_err(|e| self.err(e))?;
        Ok(Some((
            RunDetail {
                run,
                outcomes,
                notices,
            },
            matching,
        )))
    }

    /// Sets a recorded run's close-the-loop step.
    pub fn set_close_loop(&self, id: &str, close_loop: &CloseLoop) -> Result<(), StoreError> {
        let json = serde_json::to_string(close_loop).unwrap_or_default();
        self.conn()
            .execute(
                "UPDATE runs SET close_loop = ?2 WHERE id = ?1",
                params![id, json],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Sets a recorded run's end and status (the notices, sent after recording, can change it).
    pub fn finish_run(
        &self,
        id: &str,
        finished_at: DateTime<Utc>,
        status: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE runs SET finished_at = ?2, status = ?3 WHERE id = ?1",
                params![id, ts(finished_at), status],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Deletes the runs that started before `cutoff` (their outcomes go with them) and the
    /// notices of that age that were sent or given up. Notices still waiting are kept.
    pub fn prune(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let conn = self.conn();
        let cutoff = ts(cutoff);
        let runs = conn
            .execute("DELETE FROM runs WHERE started_at < ?1", [&cutoff])
            .map_err(|e| self.err(e))?;
        conn.execute(
            "DELETE FROM notices WHERE queued_at < ?1 AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)",
            [&cutoff],
        )
        .map_err(|e| self.err(e))?;
        Ok(runs)
    }
}

/// Writes a run's row (inside the caller's transaction): a new one, or over the row the run
/// wrote when it started (`running`, or marked `interrupted` by another process), so that
/// the outcomes it journaled meanwhile stay. A run recorded already is not recorded again:
/// that is an error.
pub(super) fn put_run(conn: &Connection, run: &RunRecord) -> rusqlite::Result<()> {
    let c = &run.counts;
    let changed = conn.execute(
        &format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
             ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, 0) \
             ON CONFLICT (id) DO UPDATE SET {} WHERE runs.status IN ('{RUNNING}', '{INTERRUPTED}')",
            overwritten_columns()
        ),
        params![
            run.id,
            run.trigger,
            ts(run.started_at),
            ts(run.finished_at),
            run.status,
            run.dry_run,
            run.source.as_ref().map(|s| &s.id),
            run.source.as_ref().map(|s| &s.name),
            run.error.as_ref().map(|e| &e.message),
            c.source as i64,
            c.created as i64,
            c.existed as i64,
            c.would_create as i64,
            c.skipped as i64,
            c.failed as i64,
            run.error.as_ref().map(|e| e.kind.as_str()),
            run.close_loop
                .as_ref()
                .and_then(|l| serde_json::to_string(l).ok()),
            c.adopted as i64,
            c.would_adopt as i64,
            c.renamed as i64,
            c.would_rename as i64,
            c.orphans as i64,
            c.would_delete as i64,
            c.deleted as i64,
            run.job,
            run.stage.map(Stage::as_str),
        ],
    )?;
    if changed == 1 {
        Ok(())
    } else {
        Err(rusqlite::Error::StatementChangedRows(changed))
    }
}

/// `col = excluded.col` for every column a run's record overwrites: all but its id and the
/// count of unchanged groups, which the outcomes written so far have started.
fn overwritten_columns() -> String {
    RUN_COLUMNS
        .split(',')
        .map(str::trim)
        .filter(|c| !matches!(*c, "id" | "groups_unchanged"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a run's outcomes (inside the caller's transaction), but those at the positions
/// `settled` marks, which are written already ([`Store::journal_settled`]).
pub(super) fn insert_outcomes(
    conn: &Connection,
    run: &RunRecord,
    outcomes: &[GroupOutcome],
    settled: &[bool],
) -> rusqlite::Result<()> {
    let fresh = outcomes
        .iter()
        .enumerate()
        .filter(|(i, _)| !settled.get(*i).copied().unwrap_or(false));
    let at = Written {
        run_id: &run.id,
        job: &run.job,
        remember: !run.dry_run,
    };
    write_outcomes(conn, &at, fresh)
}

/// Where outcomes are written: the run, its job, and whether its groups' outcomes are
/// remembered as their last (not for a dry run).
pub(super) struct Written<'a> {
    pub run_id: &'a str,
    pub job: &'a str,
    pub remember: bool,
}

/// Writes outcomes at their positions, each group found as the last run found it counted
/// rather than kept (see [`known`]); the count is added to the run's.
pub(super) fn write_outcomes<'a>(
    conn: &Connection,
    at: &Written<'_>,
    outcomes: impl IntoIterator<Item = (usize, &'a GroupOutcome)>,
) -> rusqlite::Result<()> {
    let mut unchanged = 0_i64;
    for (i, o) in outcomes {
        if known::unchanged(conn, at.job, o)? {
            unchanged += 1;
            continue;
        }
        insert_outcome(conn, at.run_id, i, o)?;
        if at.remember {
            known::remember(conn, at.job, at.run_id, o)?;
        }
    }
    if unchanged > 0 {
        conn.execute(
            "UPDATE runs SET groups_unchanged = groups_unchanged + ?2 WHERE id = ?1",
            params![at.run_id, unchanged],
        )?;
    }
    Ok(())
}

/// Writes one outcome of a run, at its place in the plan.
pub(super) fn insert_outcome(
    conn: &Connection,
    run_id: &str,
    position: usize,
    o: &GroupOutcome,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO run_groups \
         (run_id, position, source_id, name, outcome, scim_id, reason, skip, source_name) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let (kind, scim_id, reason, skip) = columns(&o.outcome);
    stmt.execute(params![
        run_id,
        position as i64,
        o.source_id,
        o.name,
        kind,
        scim_id,
        reason,
        skip,
        o.source_name
    ])?;
    Ok(())
}

/// An outcome as (kind, scim id, readable reason, skip reason as JSON).
pub(super) fn columns(o: &Outcome) -> (&'static str, Option<&str>, Option<String>, Option<String>) {
    match o {
        Outcome::Created { scim_id } => ("created", Some(scim_id), None, None),
        Outcome::Existed { scim_id } => ("existed", Some(scim_id), None, None),
        Outcome::WouldCreate => ("would_create", None, None, None),
        Outcome::Skipped { reason } => (
            "skipped",
            None,
            Some(reason.to_string()),
            serde_json::to_string(reason).ok(),
        ),
        Outcome::Failed { error } => ("failed", None, Some(error.clone()), None),
        Outcome::Adopted { scim_id } => ("adopted", Some(scim_id), None, None),
        Outcome::WouldAdopt { scim_id } => ("would_adopt", Some(scim_id), None, None),
        Outcome::Renamed { scim_id, from } => ("renamed", Some(scim_id), Some(from.clone()), None),
        Outcome::WouldRename { scim_id, from } => {
            ("would_rename", Some(scim_id), Some(from.clone()), None)
        }
        Outcome::Orphan { scim_id } => ("orphan", Some(scim_id), None, None),
        Outcome::WouldDelete { scim_id } => ("would_delete", Some(scim_id), None, None),
        Outcome::Deleted { scim_id } => ("deleted", Some(scim_id), None, None),
    }
}

fn query_runs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<RunRecord>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, run_from_row)?;
    rows.collect()
}

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let count = |i: usize| -> rusqlite::Result<usize> { Ok(r.get::<_, i64>(i)?.max(0) as usize) };
    let source_id: Option<String> = r.get(6)?;
    let source_name: Option<String> = r.get(7)?;
    let error: Option<String> = r.get(8)?;
    let error_kind: Option<String> = r.get(15)?;
    let close_loop: Option<String> = r.get(16)?;
    let close_loop = close_loop
        .map(|json| serde_json::from_str(&json).map_err(|e| unreadable(16, e.to_string())))
        .transpose()?;
    Ok(RunRecord {
        id: r.get(0)?,
        job: r.get(24)?,
        trigger: r.get(1)?,
        started_at: time_at(r, 2)?,
        finished_at: time_at(r, 3)?,
        status: r.get(4)?,
        dry_run: r.get(5)?,
        source: source_id.map(|id| SourceInfo {
            id,
            name: source_name.unwrap_or_default(),
        }),
        error: error.map(|message| RunFailure {
            kind: error_kind
                .as_deref()
                .map_or(ErrorKind::Unknown, ErrorKind::parse),
            message,
        }),
        counts: Counts {
            source: count(9)?,
            created: count(10)?,
            existed: count(11)?,
            would_create: count(12)?,
            skipped: count(13)?,
            failed: count(14)?,
            adopted: count(17)?,
            would_adopt: count(18)?,
            renamed: count(19)?,
            would_rename: count(20)?,
            orphans: count(21)?,
            would_delete: count(22)?,
            deleted: count(23)?,
        },
        close_loop,
        stage: r
            .get::<_, Option<String>>(25)?
            .as_deref()
            .and_then(Stage::parse),
        unchanged: count(26)?,
    })
}

/// The outcomes of run `?1`, of kind `?2` (all when NULL), whose name or AD name is
/// LIKE `?3` (all when NULL).
const OUTCOME_FILTER: &str = "run_id = ?1 AND (?2 IS NULL OR outcome = ?2) \
     AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\' OR source_name LIKE ?3 ESCAPE '\\')";

/// `search` as a LIKE pattern matching any name that holds it.
fn like_pattern(search: &str) -> String {
    let mut out = String::from("%");
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The outcomes [`OUTCOME_FILTER`] selects, `?4` at most (all when negative) after `?5`.
fn outcomes_where(
    conn: &Connection,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<GroupOutcome>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT source_id, name, outcome, scim_id, reason, skip, source_name FROM run_groups \
         WHERE {OUTCOME_FILTER} ORDER BY position LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(params, |r| {
        Ok(GroupOutcome {
            source_id: r.get(0)?,
            name: r.get(1)?,
            source_name: r.get(6)?,
            outcome: outcome_from(r)?,
        })
    })?;
    rows.collect()
}

fn outcome_from(r: &Row<'_>) -> rusqlite::Result<Outcome> {
    let kind: String = r.get(2)?;
    let text = |i: usize| -> rusqlite::Result<String> {
        Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
    };
    let (scim_id, reason) = (|| text(3), || text(4));
    Ok(match kind.as_str() {
        "created" => Outcome::Created {
            scim_id: scim_id()?,
        },
        "existed" => Outcome::Existed {
            scim_id: scim_id()?,
        },
        "would_create" => Outcome::WouldCreate,
        "skipped" => {
            let json: String = r.get(5)?;
            let reason = serde_json::from_str(&json).map_err(|e| unreadable(5, e.to_string()))?;
            Outcome::Skipped { reason }
        }
        "failed" => Outcome::Failed { error: reason()? },
        "adopted" => Outcome::Adopted {
            scim_id: scim_id()?,
        },
        "would_adopt" => Outcome::WouldAdopt {
            scim_id: scim_id()?,
        },
        "renamed" => Outcome::Renamed {
            scim_id: scim_id()?,
            from: reason()?,
        },
        "would_rename" => Outcome::WouldRename {
            scim_id: scim_id()?,
            from: reason()?,
        },
        "orphan" => Outcome::Orphan {
            scim_id: scim_id()?,
        },
        "would_delete" => Outcome::WouldDelete {
            scim_id: scim_id()?,
        },
        "deleted" => Outcome::Deleted {
            scim_id: scim_id()?,
        },
        other => return Err(unreadable(2, format!("unknown outcome {other:?}"))),
    })
}

fn unreadable(column: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, why.into())
}
