//! Holding the store's run lease while a run lasts: taking it (at once, or waiting), a task
//! that refreshes its heartbeat, and giving it back when the run ends.
//!
//! The rules (who may take a lease, when a holder counts as gone) are in
//! [`crate::store::lease`]; this module adds time.

use crate::store::lease::{self, Acquired, Claimant, Holder};
use crate::store::{Store, StoreError};
use crate::telemetry::run_log;
use chrono::Utc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a run waits for a lease another process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseWait {
    /// Not at all: the run is skipped (`groupsync run` without `--wait`).
    No,
    /// Until the lease is free, however long (`groupsync run --wait`).
    Forever,
    /// Up to this long, then the run is skipped (the daemon).
    Upto(Duration),
}

/// How often a waiting run asks for the lease again.
pub const POLL: Duration = Duration::from_secs(1);

/// The lease, held while this value lives (dropping it gives the lease back); its heartbeat
/// is refreshed by a task.
pub struct RunLease {
    store: Store,
    run_id: String,
    heartbeat: JoinHandle<()>,
}

impl RunLease {
    /// Takes `job`'s lease for `run_id`, waiting as `wait` says; `Err(holder)` when another
    /// run of the job still holds it. Runs left `running` by a holder that is gone are marked
    /// `interrupted`.
    pub async fn take(
        store: &Store,
        run_id: &str,
        job: &str,
        wait: LeaseWait,
    ) -> Result<Result<RunLease, Holder>, StoreError> {
        let claimant = Claimant::this_process(run_id).for_job(job);
        let deadline = match wait {
            LeaseWait::No => Some(Instant::now()),
            LeaseWait::Forever => None,
            LeaseWait::Upto(d) => Some(Instant::now() + d),
        };
        let mut told = false;
        loop {
            let c = claimant.clone();
            let acquired = store
                .call(move |s| s.acquire_lease(&c, Utc::now(), lease::process_exists))
                .await?;
            match acquired {
                Acquired::Yes { took_over } => {
                    if let Some(gone) = &took_over {
                        run_log::lease_taken_over(gone);
                    }
                    let recovered = store
                        .call(|s| s.recover_interrupted(Utc::now(), lease::process_exists))
                        .await?;
                    run_log::runs_interrupted(&recovered);
                    return Ok(Ok(RunLease::hold(store.clone(), run_id.to_owned())));
                }
                Acquired::HeldBy(holder) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Err(holder));
                    }
                    if !told {
                        run_log::lease_waiting(&holder);
                        told = true;
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    fn hold(store: Store, run_id: String) -> RunLease {
        let (s, id) = (store.clone(), run_id.clone());
        let heartbeat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease::HEARTBEAT);
            tick.tick().await;
            loop {
                tick.tick().await;
                let id = id.clone();
                match s.call(move |s| s.heartbeat_lease(&id, Utc::now())).await {
                    Ok(true) => {}
                    Ok(false) => run_log::lease_lost(),
                    Err(e) => run_log::store_failed("refresh the run lease", &e.to_string()),
                }
            }
        });
        RunLease {
            store,
            run_id,
            heartbeat,
        }
    }
}

impl Drop for RunLease {
    /// Also when a run is dropped half-way (the daemon's shutdown): its process is alive, so
    /// the lease is given back rather than left to go stale.
    fn drop(&mut self) {
        self.heartbeat.abort();
        let _ = self.store.release_lease(&self.run_id);
    }
}
