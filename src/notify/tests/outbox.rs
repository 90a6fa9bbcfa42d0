//! The outbox against a small SMTP listener: refused for good, claimed elsewhere, in order.

use super::mailer::{FakeSmtp, smtp};
use crate::notify::{Mailer, Notice, Outbox};
use crate::report::NoticeState;
use crate::retry::RetryPolicy;
use crate::store::Store;
use chrono::{TimeDelta, Utc};

fn notice(key: &str) -> Notice {
    Notice {
        key: key.into(),
        subject: format!("subject {key}"),
        body: "body".into(),
    }
}

fn outbox(store: &Store, port: u16) -> Outbox {
    let mailer = Mailer::new(&smtp(port)).unwrap();
    Outbox::new(store.clone(), mailer, RetryPolicy::none())
}

#[tokio::test]
async fn a_notice_refused_for_good_is_marked_failed_and_not_retried() {
    let server = FakeSmtp::start("550 5.1.1 no such user").await;
    let store = Store::in_memory().unwrap();
    store.enqueue_notices(Some("run"), &[notice("a")]).unwrap();
    let outbox = outbox(&store, server.port);
    let done = outbox.flush().await.unwrap();
    assert_eq!((done.sent, done.waiting, done.failed), (0, 0, 1));
    let recorded = store.notices_of_run("run").unwrap();
    assert_eq!(recorded[0].state, NoticeState::Failed);
    assert!(
        recorded[0].error.as_deref().unwrap().contains("550"),
        "{recorded:?}"
    );
    assert_eq!(outbox.flush().await.unwrap().failed, 0, "not tried again");
}

#[tokio::test]
async fn notices_go_out_in_queue_order_except_those_another_sender_holds() {
    let mut server = FakeSmtp::start("250 ok").await;
    let store = Store::in_memory().unwrap();
    store
        .enqueue_notices(None, &[notice("first"), notice("held"), notice("last")])
        .unwrap();
    let until = Utc::now() + TimeDelta::minutes(5);
    assert!(
        store
            .claim_notice("held", "another process", until)
            .unwrap()
    );
    let done = outbox(&store, server.port).flush().await.unwrap();
    assert_eq!(done.sent, 2);
    for expected in ["subject first", "subject last"] {
        let got = server.next().await;
        assert!(
            got.data.contains(&format!("Subject: {expected}")),
            "{}",
            got.data
        );
    }
    let pending = store.pending_notices(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].notice.key, "held");
}
