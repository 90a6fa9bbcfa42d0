//! The outbox's bookkeeping: queueing once, claims, sent / deferred / failed.

use crate::notify::Notice;
use crate::report::NoticeState;
use crate::store::Store;
use chrono::{TimeDelta, Utc};

fn notice(key: &str) -> Notice {
    Notice {
        key: key.into(),
        subject: format!("subject {key}"),
        body: format!("body {key}"),
    }
}

#[test]
fn a_key_is_queued_once_and_pending_keeps_queue_order() {
    let store = Store::in_memory().unwrap();
    assert_eq!(
        store
            .enqueue_notices(Some("r1"), &[notice("b"), notice("a")])
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .enqueue_notices(Some("r2"), &[notice("a"), notice("c")])
            .unwrap(),
        1
    );
    let keys: Vec<String> = store
        .pending_notices(10)
        .unwrap()
        .into_iter()
        .map(|q| q.notice.key)
        .collect();
    assert_eq!(keys, vec!["b", "a", "c"]);
    let first = &store.pending_notices(1).unwrap()[0];
    assert_eq!(first.notice, notice("b"));
    assert_eq!(first.run_id.as_deref(), Some("r1"));
}

#[test]
fn a_claim_keeps_other_senders_off_until_it_runs_out() {
    let store = Store::in_memory().unwrap();
    store.enqueue_notices(None, &[notice("k")]).unwrap();
    let soon = Utc::now() + TimeDelta::minutes(5);
    assert!(store.claim_notice("k", "one", soon).unwrap());
    assert!(!store.claim_notice("k", "two", soon).unwrap());
    // a claim that ran out (its holder stopped) can be taken over
    store
        .claim_notice("k", "one", Utc::now() - TimeDelta::seconds(1))
        .unwrap();
    assert!(store.claim_notice("k", "two", soon).unwrap());
    store.notice_sent("k").unwrap();
    assert!(
        !store.claim_notice("k", "three", soon).unwrap(),
        "sent: nothing to claim"
    );
    assert!(store.pending_notices(10).unwrap().is_empty());
}

#[test]
fn deferred_notices_wait_and_failed_ones_do_not() {
    let store = Store::in_memory().unwrap();
    store
        .enqueue_notices(Some("run"), &[notice("a"), notice("b"), notice("c")])
        .unwrap();
    store
        .notice_deferred("a", "421 service not available")
        .unwrap();
    store.notice_failed("b", "550 no such user").unwrap();
    store.notice_sent("c").unwrap();
    let pending = store.pending_notices(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].notice.key, "a");
    assert_eq!(pending[0].attempts, 1);
    let states: Vec<(NoticeState, Option<String>)> = store
        .notices_of_run("run")
        .unwrap()
        .into_iter()
        .map(|n| (n.state, n.error))
        .collect();
    assert_eq!(
        states,
        vec![
            (
                NoticeState::Queued,
                Some("421 service not available".into())
            ),
            (NoticeState::Failed, Some("550 no such user".into())),
            (NoticeState::Sent, None),
        ]
    );
}
