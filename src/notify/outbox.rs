//! Sending what waits in the store's outbox, oldest first, each notice with jittered
//! retries. A notice is marked sent right after the server took it; one the server could
//! not take now stays queued (and so do the ones after it: the server is down), one it
//! refused for good is marked failed.
//!
//! Exactly once, as far as SMTP allows: a notice is claimed in the store before sending,
//! so two senders never race, and its Message-ID comes from its key, so the one case left
//! (the process stops between the server's reply and the mark) resends the same message.

use super::{Mailer, Notice};
use crate::report::{NoticeOutcome, NoticeState};
use crate::retry::{Operation, RetryPolicy, retry};
use crate::store::{QueuedNotice, Store, StoreError};
use crate::telemetry::run_log;
use serde::Serialize;
use std::sync::Arc;

/// How long a claim keeps other senders off a notice: longer than a send with its retries.
const CLAIM: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// Notices taken from the store per flush.
const BATCH: usize = 1000;

/// Sends the store's outbox; cheap to clone (clones share the one-flush-at-a-time lock).
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    mailer: Mailer,
    retry: RetryPolicy,
    /// Names this sender in claims.
    owner: Arc<str>,
    /// One flush at a time in this process.
    flushing: Arc<tokio::sync::Mutex<()>>,
}

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Flushed {
    pub sent: usize,
    /// Still queued: the mail server could not take them now.
    pub waiting: usize,
    pub failed: usize,
}

enum Delivery {
    Sent,
    Waiting,
    Failed,
    /// Another sender holds it.
    Elsewhere,
}

impl Outbox {
    pub fn new(store: Store, mailer: Mailer, retry: RetryPolicy) -> Outbox {
        Outbox {
            store,
            mailer,
            retry,
            owner: crate::store::claimant(&uuid::Uuid::new_v4().to_string()).into(),
            flushing: Arc::default(),
        }
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends every notice waiting in the store; stops trying at the first one the server
    /// could not take now (the others wait for the next flush).
    pub async fn flush(&self) -> Result<Flushed, StoreError> {
        let _one = self.flushing.lock().await;
        let pending = self.store.call(|s| s.pending_notices(BATCH)).await?;
        let mut done = Flushed::default();
        for queued in pending {
            if done.waiting > 0 {
                done.waiting += 1;
                continue;
            }
            match self.deliver(queued).await? {
                Delivery::Sent => done.sent += 1,
                Delivery::Waiting => done.waiting += 1,
                Delivery::Failed => done.failed += 1,
                Delivery::Elsewhere => {}
            }
        }
        Ok(done)
    }

    async fn deliver(&self, queued: QueuedNotice) -> Result<Delivery, StoreError> {
        let key = queued.notice.key.clone();
        let (k, owner, until) = (key.clone(), self.owner.clone(), chrono::Utc::now() + CLAIM);
        if !self
            .store
            .call(move |s| s.claim_notice(&k, &owner, until))
            .await?
        {
            return Ok(Delivery::Elsewhere);
        }
        let (state, error) = self.send(&queued.notice).await;
        let k = key.clone();
        let message = error.clone().unwrap_or_default();
        self.store
            .call(move |s| match state {
                NoticeState::Sent => s.notice_sent(&k),
                NoticeState::Queued => s.notice_deferred(&k, &message),
                NoticeState::Failed => s.notice_failed(&k, &message),
            })
            .await?;
        Ok(match state {
            NoticeState::Sent => Delivery::Sent,
            NoticeState::Queued => Delivery::Waiting,
            NoticeState::Failed => Delivery::Failed,
        })
    }

    /// Sends one notice with retries; where it stands afterwards, and why if not sent.
    async fn send(&self, notice: &Notice) -> (NoticeState, Option<String>) {
        let operation = Operation::new("mail server", format!("notice {:?}", notice.subject));
        match retry(&self.retry, &operation, || self.mailer.send(notice)).await {
            Ok(()) => {
                run_log::notice_sent(&notice.key, self.mailer.recipients());
                (NoticeState::Sent, None)
            }
            Err(e) if e.is_relay_problem() => {
                run_log::notice_deferred(&notice.key, &e.to_string());
                (NoticeState::Queued, Some(e.to_string()))
            }
            Err(e) => {
                run_log::notice_failed(&notice.key, &e.to_string());
                (NoticeState::Failed, Some(e.to_string()))
            }
        }
    }

    /// Sends `notices` without the store, for when it could not be written: they are
    /// tried now and not kept.
    pub async fn send_unrecorded(&self, notices: &[Notice]) -> Vec<NoticeOutcome> {
        let mut outcomes = Vec::with_capacity(notices.len());
        for notice in notices {
            let (state, error) = match self.send(notice).await {
                (NoticeState::Queued, error) => (NoticeState::Failed, error),
                other => other,
            };
            outcomes.push(NoticeOutcome {
                key: notice.key.clone(),
                subject: notice.subject.clone(),
                state,
                error,
            });
        }
        outcomes
    }
}
