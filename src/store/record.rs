//! Recording a run: the run, its outcomes, its notices, the groups it reports and the
//! failure-alert state, written in one transaction before any notice is sent; a run that
//! succeeded also forgets the known groups gone from the source (see [`known`]).

use super::{
    ReportedNames, RunRecord, Store, StoreError, known, outbox, put_state, reported, runs,
};
use crate::notify::Notice;
use crate::report::{GroupOutcome, RunStatus};
use chrono::Utc;

/// The state key that says whether the last (non-dry) run of the `default` job failed, for
/// failure alerts; another job's is [`failing_key`] of its name.
pub const FAILING_KEY: &str = "alerts.failing";

/// The failure-alert state key of `job`: each job alerts, and recovers, on its own.
pub fn failing_key(job: &str) -> String {
    if job == crate::config::DEFAULT_JOB {
        FAILING_KEY.to_owned()
    } else {
        format!("{FAILING_KEY}.{job}")
    }
}

/// Everything a run leaves in the store.
#[derive(Debug, Clone, Copy)]
pub struct Recording<'a> {
    pub run: &'a RunRecord,
    pub outcomes: &'a [GroupOutcome],
    /// Queued for sending, tied to the run.
    pub notices: &'a [Notice],
    /// Names the notices report; they are not reported again.
    pub reported: &'a ReportedNames,
    /// The new failure-alert state (`None` leaves it as it is, e.g. for a dry run).
    pub failing: Option<bool>,
    /// The positions of `outcomes` written already while the run went on
    /// ([`Store::journal_settled`]); empty when none were.
    pub settled: &'a [bool],
}

impl Store {
    /// Writes everything a run leaves, all or nothing.
    pub fn record(&self, r: &Recording<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let write = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            let now = Utc::now();
            let tx = conn.transaction()?;
            // the row the run wrote when it started (or that another process marked
            // interrupted) becomes the record, its settled outcomes stay, and its journaled
            // creates give way to the whole outcomes; a run recorded already is not
            // recorded again
            runs::put_run(&tx, r.run)?;
            tx.execute(
                "DELETE FROM run_groups WHERE run_id = ?1 AND outcome = 'created'",
                [r.run.id.as_str()],
            )?;
            runs::insert_outcomes(&tx, r.run, r.outcomes, r.settled)?;
            // only a run that read the whole source knows which groups are gone from it
            if r.run.status == RunStatus::Succeeded.as_str() && !r.run.dry_run {
                known::forget_unmet(&tx, &r.run.job, r.outcomes)?;
            }
            outbox::enqueue(&tx, Some(&r.run.id), r.notices, now)?;
            reported::mark(&tx, &r.run.job, &r.run.id, r.reported, now)?;
            if let Some(failing) = r.failing {
                let key = failing_key(&r.run.job);
                put_state(&tx, &key, if failing { "yes" } else { "no" })?;
            }
            tx.commit()
        };
        write(&mut conn).map_err(|e| self.err(e))
    }

    /// Whether the last recorded run of `job` failed: `None` before its first run.
    pub fn failing(&self, job: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.get_state(&failing_key(job))?.map(|v| v == "yes"))
    }
}
