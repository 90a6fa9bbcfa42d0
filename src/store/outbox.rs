//! The notice outbox: a notice is written here before it is sent and marked once the mail
//! server took it, so that none is lost when the server is down or the process stops.
//!
//! A sender *claims* a notice for a while before sending it, so that two processes sharing
//! the store (the daemon and a `groupsync run`) never send the same notice at once.

use super::lease::{process_exists, this_host};
use super::{Store, StoreError, ts};
use crate::notify::Notice;
use crate::report::{NoticeOutcome, NoticeState};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// A notice waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedNotice {
    pub notice: Notice,
    pub run_id: Option<String>,
    /// Attempts made so far (each a full round of retries).
    pub attempts: u32,
}

impl Store {
    /// Queues `notices` (of `run_id`, if any); a key already queued is left as it is.
    pub fn enqueue_notices(
        &self,
        run_id: Option<&str>,
        notices: &[Notice],
    ) -> Result<usize, StoreError> {
        enqueue(&self.conn(), run_id, notices, Utc::now()).map_err(|e| self.err(e))
    }

    /// Notices neither sent nor given up, oldest first.
    pub fn pending_notices(&self, limit: usize) -> Result<Vec<QueuedNotice>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT key, subject, body, run_id, attempts FROM notices \
                 WHERE sent_at IS NULL AND failed_at IS NULL ORDER BY seq LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(QueuedNotice {
                    notice: Notice {
                        key: r.get(0)?,
                        subject: r.get(1)?,
                        body: r.get(2)?,
                    },
                    run_id: r.get(3)?,
                    attempts: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Takes `key` for `owner` until `until`, unless it is sent, given up or claimed by
    /// someone else whose claim has not run out and whose process still lives (a claim
    /// names its sender's host and pid, see [`claimant`]: a process killed while sending
    /// must not keep its notices from every other sender until the claim runs out). True
    /// when the claim is ours.
    pub fn claim_notice(
        &self,
        key: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = ts(Utc::now());
        let conn = self.conn();
        let holder: Option<Option<String>> = conn
            .query_row(
                "SELECT claimed_by FROM notices WHERE key = ?1 AND claimed_until >= ?2",
                params![key, now],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let void = holder
            .flatten()
            .filter(|h| h != owner && holder_is_gone(h, &this_host(), process_exists));
        conn.execute(
            "UPDATE notices SET claimed_by = ?2, claimed_until = ?3 \
             WHERE key = ?1 AND sent_at IS NULL AND failed_at IS NULL \
             AND (claimed_until IS NULL OR claimed_until < ?4 OR claimed_by = ?2 \
                  OR claimed_by IS ?5)",
            params![key, owner, ts(until), now, void],
        )
        .map(|changed| changed == 1)
        .map_err(|e| self.err(e))
    }

    /// The mail server took it.
    pub fn notice_sent(&self, key: &str) -> Result<(), StoreError> {
        self.settle(key, "sent_at = ?2, last_error = ?3", None)
    }

    /// Not sent this time, for a reason that may pass: it waits for the next attempt.
    pub fn notice_deferred(&self, key: &str, error: &str) -> Result<(), StoreError> {
        self.settle(key, "last_error = ?3", Some(error))
    }

    /// Refused for good: kept with the reason, never sent.
    pub fn notice_failed(&self, key: &str, error: &str) -> Result<(), StoreError> {
        self.settle(key, "failed_at = ?2, last_error = ?3", Some(error))
    }

    /// Counts an attempt, releases the claim and applies `set` (`?2` is now, `?3` the error).
    fn settle(&self, key: &str, set: &str, error: Option<&str>) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE notices SET {set}, attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL WHERE key = ?1"
        );
        self.conn()
            .execute(&sql, params![key, ts(Utc::now()), error])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The notices of one run and where each is.
    pub fn notices_of_run(&self, run_id: &str) -> Result<Vec<NoticeOutcome>, StoreError> {
        notices_of_run(&self.conn(), run_id).map_err(|e| self.err(e))
    }
}

pub(super) fn enqueue(
    conn: &Connection,
    run_id: Option<&str>,
    notices: &[Notice],
    now: DateTime<Utc>,
) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare(
        "INSERT OR IGNORE INTO notices (key, run_id, subject, body, queued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut added = 0;
    for n in notices {
        added += stmt.execute(params![n.key, run_id, n.subject, n.body, ts(now)])?;
    }
    Ok(added)
}

pub(super) fn notices_of_run(
    conn: &Connection,
    run_id: &str,
) -> rusqlite::Result<Vec<NoticeOutcome>> {
    let mut stmt = conn.prepare(
        "SELECT key, subject, sent_at IS NOT NULL, failed_at IS NOT NULL, last_error \
         FROM notices WHERE run_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([run_id], |r| {
        let state = match (r.get::<_, bool>(2)?, r.get::<_, bool>(3)?) {
            (true, _) => NoticeState::Sent,
            (false, true) => NoticeState::Failed,
            (false, false) => NoticeState::Queued,
        };
        Ok(NoticeOutcome {
            key: r.get(0)?,
            subject: r.get(1)?,
            state,
            error: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The name a sender claims notices under: its host, its pid and `id` (one per sender).
pub fn claimant(id: &str) -> String {
    format!("{}/{}/{id}", this_host(), std::process::id())
}

/// Whether a claim named `holder` (see [`claimant`]) belongs to a process of `host` that
/// `alive` says is gone. A claim from another host, or in another form, is never void.
fn holder_is_gone(holder: &str, host: &str, alive: impl Fn(u32) -> bool) -> bool {
    let mut parts = holder.rsplitn(3, '/');
    let (_id, pid, claimed_on) = (parts.next(), parts.next(), parts.next());
    match (claimed_on, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(h), Some(pid)) => h == host && !alive(pid),
        _ => false,
    }
}

#[cfg(test)]
mod claim_tests {
    use super::*;

    #[test]
    fn only_a_claim_of_a_dead_process_on_this_host_is_void() {
        let dead = |_| false;
        let alive = |_| true;
        assert!(holder_is_gone("h1/42/abc", "h1", dead));
        assert!(!holder_is_gone("h1/42/abc", "h1", alive));
        assert!(!holder_is_gone("h2/42/abc", "h1", dead));
        assert!(!holder_is_gone("abc", "h1", dead));
        assert!(!holder_is_gone("h1/x/abc", "h1", dead));
        let own = claimant("id");
        assert!(own.ends_with(&format!("/{}/id", std::process::id())));
        assert!(!holder_is_gone(&own, &this_host(), process_exists));
    }
}
