//! The run lease: one run at a time per job for a store, whichever process asks
//! (`groupsync run`, a CronJob, `groupsync serve`); runs of two jobs may overlap.
//!
//! A job's lease is one row: who holds it (host, pid, run id, since) and the holder's last
//! heartbeat. A holder refreshes the heartbeat every [`HEARTBEAT`] while its run lasts and
//! deletes the row when it ends. Another process may take the lease over when the holder
//! is gone: its heartbeat is older than [`STALE_AFTER`], or it ran on this host and its
//! process no longer exists (a killed `groupsync run` is taken over at once).
//!
//! Whether a lease may be taken is [`may_take`], a function of the clock and of what is
//! known about the holder's process, so it is tested without waiting.

use super::{Store, StoreError, time_at, ts};
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// How often a holder refreshes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A heartbeat older than this means the holder is gone (three missed heartbeats).
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// Who holds the lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub run_id: String,
    pub since: DateTime<Utc>,
    pub heartbeat: DateTime<Utc>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} on host {} (pid {}) since {}",
            self.run_id,
            self.host,
            self.pid,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Who asks for the lease, and how it judges the current holder.
#[derive(Debug, Clone)]
pub struct Claimant {
    pub host: String,
    pub pid: u32,
    pub run_id: String,
    /// The job whose lease is asked for (`default` without `[[jobs]]`).
    pub job: String,
}

impl Claimant {
    /// This process, for the run `run_id` of the job `default`.
    pub fn this_process(run_id: &str) -> Claimant {
        Claimant {
            host: this_host(),
            pid: std::process::id(),
            run_id: run_id.to_owned(),
            job: crate::config::DEFAULT_JOB.to_owned(),
        }
    }

    /// The same claimant, for the lease of `job`.
    pub fn for_job(self, job: &str) -> Claimant {
        Claimant {
            job: job.to_owned(),
            ..self
        }
    }
}

/// This machine's name (the pod's name under Kubernetes).
pub fn this_host() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the process `pid` exists on this host. Where that cannot be told (no `/proc`),
/// it is taken to exist, and only the heartbeat decides.
pub fn process_exists(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Whether `claimant` may take the lease `held` at `now`: the holder's heartbeat is older
/// than `stale_after`, or the holder ran on the claimant's host and `alive` says its
/// process is gone. A claimant never takes its own run's lease from itself: it holds it.
pub fn may_take(
    held: &Holder,
    claimant: &Claimant,
    now: DateTime<Utc>,
    stale_after: Duration,
    alive: impl Fn(u32) -> bool,
) -> bool {
    if held.run_id == claimant.run_id && held.host == claimant.host && held.pid == claimant.pid {
        return true;
    }
    let stale = TimeDelta::from_std(stale_after).unwrap_or(TimeDelta::MAX);
    if now - held.heartbeat > stale {
        return true;
    }
    held.host == claimant.host && held.pid != claimant.pid && !alive(held.pid)
}

/// What asking for the lease gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Ours now; `took_over` names the holder that was gone.
    Yes { took_over: Option<Holder> },
    /// Someone else holds it.
    HeldBy(Holder),
}

impl Store {
    /// Takes the lease of the claimant's job at `now` if it is free or its holder is gone.
    pub fn acquire_lease(
        &self,
        claimant: &Claimant,
        now: DateTime<Utc>,
        alive: impl Fn(u32) -> bool,
    ) -> Result<Acquired, StoreError> {
        let mut conn = self.conn();
        let run = |conn: &mut rusqlite::Connection| -> rusqlite::Result<Acquired> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held = tx
                .query_row(HOLDER_OF_JOB, [&claimant.job], holder_from_row)
                .optional()?;
            if let Some(h) = &held
                && !may_take(h, claimant, now, STALE_AFTER, &alive)
            {
                return Ok(Acquired::HeldBy(h.clone()));
            }
            tx.execute(
                "INSERT INTO job_leases (job, host, pid, run_id, since, heartbeat) VALUES (?5, ?1, ?2, ?3, ?4, ?4) \
                 ON CONFLICT(job) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
                 run_id = excluded.run_id, since = excluded.since, heartbeat = excluded.heartbeat",
                params![claimant.host, claimant.pid, claimant.run_id, ts(now), claimant.job],
            )?;
            tx.commit()?;
            let took_over = held.filter(|h| h.run_id != claimant.run_id);
            Ok(Acquired::Yes { took_over })
        };
        run(&mut conn).map_err(|e| self.err(e))
    }

    /// Refreshes the heartbeat of `run_id`'s lease; false when the lease is no longer its own
    /// (taken over after a pause longer than [`STALE_AFTER`]).
    pub fn heartbeat_lease(&self, run_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.conn()
            .execute(
                "UPDATE job_leases SET heartbeat = ?2 WHERE run_id = ?1",
                params![run_id, ts(now)],
            )
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    /// Gives the lease of `run_id` back (nothing if another run holds it now).
    pub fn release_lease(&self, run_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM job_leases WHERE run_id = ?1", [run_id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The current holder of the job `default`'s lease (the only job without `[[jobs]]`),
    /// whether alive or not.
    pub fn lease_holder(&self) -> Result<Option<Holder>, StoreError> {
        self.lease_holder_of(crate::config::DEFAULT_JOB)
    }

    /// The current holder of `job`'s lease, whether alive or not.
    pub fn lease_holder_of(&self, job: &str) -> Result<Option<Holder>, StoreError> {
        self.conn()
            .query_row(HOLDER_OF_JOB, [job], holder_from_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The holders of every job's lease, whether alive or not.
    pub fn lease_holders(&self) -> Result<Vec<Holder>, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<Holder>> {
            let mut stmt =
                conn.prepare("SELECT host, pid, run_id, since, heartbeat FROM job_leases")?;
            let rows = stmt.query_map([], holder_from_row)?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }
}

const HOLDER_OF_JOB: &str =
    "SELECT host, pid, run_id, since, heartbeat FROM job_leases WHERE job = ?1";

fn holder_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Holder> {
    Ok(Holder {
        host: r.get(0)?,
        pid: r.get(1)?,
        run_id: r.get(2)?,
        since: time_at(r, 3)?,
        heartbeat: time_at(r, 4)?,
    })
}
