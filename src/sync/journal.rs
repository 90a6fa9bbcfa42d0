//! Where a run writes its creates as they happen: the group before its POST, its outcome
//! once the target confirmed it (see [`crate::store`]'s journal).
//!
//! The entries of the creates out at once are committed together. Each entry waits for
//! its own commit before its caller goes on (a group is never posted before its `posting`
//! entry is in the store), but while one transaction is written the entries that arrive
//! meanwhile gather, and the next transaction takes them all. With four creates out, a
//! first run wrote two small transactions a create; SQLite rewrites every page a
//! transaction touches, so most of its write-ahead log, and of the checkpoints that copy
//! it, was the same few pages written again and again.

use crate::report::GroupOutcome;
use crate::store::{JournalEntry, Store};
use crate::telemetry::run_log;
use chrono::Utc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The journal of one run.
pub struct RunJournal {
    pub(super) store: Store,
    pub(super) run_id: String,
    pub(super) job: String,
    /// The plan positions whose outcomes are written already (see [`super::settle`]).
    pub(super) settled: Mutex<Vec<bool>>,
    commits: GroupCommit,
}

/// Entries waiting for a transaction, and which transactions are written.
#[derive(Default)]
struct GroupCommit {
    waiting: Mutex<Waiting>,
    /// One transaction at a time; whoever holds this writes everything waiting.
    writer: tokio::sync::Mutex<()>,
    /// The transactions numbered below this are written.
    written: AtomicU64,
}

#[derive(Default)]
struct Waiting {
    /// The number of the transaction the waiting entries will go in.
    next: u64,
    entries: Vec<JournalEntry>,
}

impl RunJournal {
    pub fn new(store: &Store, run_id: &str, job: &str) -> RunJournal {
        RunJournal {
            store: store.clone(),
            run_id: run_id.to_owned(),
            job: job.to_owned(),
            settled: Mutex::default(),
            commits: GroupCommit::default(),
        }
    }

    /// Notes `name` as about to be posted; returns once that is in the store (or the
    /// store failed, which is logged: the create goes on, as the run's record will hold it).
    pub async fn posting(&self, name: &str) {
        let name = name.to_owned();
        self.commit(JournalEntry::Posting { name }).await;
    }

    /// Writes the confirmed create of the group at `position` in the plan.
    pub async fn created(&self, position: usize, outcome: &GroupOutcome) {
        let outcome = outcome.clone();
        self.commit(JournalEntry::Created { position, outcome })
            .await;
    }

    /// Adds `entry` to the next transaction and returns once that transaction is written:
    /// by this caller when no one else was writing, or by one who took it along.
    async fn commit(&self, entry: JournalEntry) {
        let commits = &self.commits;
        let mine = {
            let mut waiting = commits
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiting.entries.push(entry);
            waiting.next
        };
        let _writer = commits.writer.lock().await;
        if commits.written.load(Ordering::Acquire) > mine {
            // a writer before us took our entry along
            return;
        }
        let entries = {
            let mut waiting = commits
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            waiting.next += 1;
            std::mem::take(&mut waiting.entries)
        };
        let id = self.run_id.clone();
        if let Err(e) = self
            .store
            .call(move |s| s.journal(&id, &entries, Utc::now()))
            .await
        {
            run_log::store_failed("journal a create", &e.to_string());
        }
        commits.written.store(mine + 1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Outcome, RunReport};
    use crate::store::RunRecord;

    fn journal_of_a_running_run() -> (Store, RunJournal) {
        let store = Store::in_memory().unwrap();
        let report = RunReport::started(crate::domain::RunId::new(), Utc::now(), false);
        let mut run = RunRecord::of(&report, "cli");
        run.status = crate::store::RUNNING.to_owned();
        store.begin_run(&run).unwrap();
        let journal = RunJournal::new(&store, &run.id, "default");
        (store, journal)
    }

    fn created(i: usize) -> GroupOutcome {
        GroupOutcome {
            source_id: format!("e{i}"),
            name: format!("Group {i}"),
            source_name: None,
            outcome: Outcome::Created {
                scim_id: format!("s{i}"),
            },
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_entry_is_written_once_whoever_writes_it() {
        let (store, journal) = journal_of_a_running_run();
        let journal = &journal;
        let writes = (0..200).map(|i| async move {
            let group = created(i);
            journal.posting(&group.name).await;
            // once `posting` returns, its entry is in the store
            assert!(store_knows(journal, &group.name), "{} posted", group.name);
            journal.created(i, &group).await;
        });
        futures_util::future::join_all(writes).await;
        let detail = store
            .run(&journal.run_id)
            .unwrap()
            .expect("the run is kept");
        assert_eq!(detail.run.counts.created, 200, "each create counted once");
        let names: std::collections::HashSet<&str> =
            detail.outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(detail.outcomes.len(), 200, "each outcome written once");
        assert_eq!(names.len(), 200);
        assert_eq!(store.own_groups("default").unwrap().len(), 200);
    }

    fn store_knows(journal: &RunJournal, name: &str) -> bool {
        let folded = crate::domain::fold_name(name);
        journal
            .store
            .own_groups(&journal.job)
            .unwrap()
            .contains(&folded)
    }
}
