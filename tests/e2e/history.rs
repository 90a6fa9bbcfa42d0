//! The execution history and the notice outbox end to end: the sandbox's tenant, SCIM
//! server and real SMTP sink, a store in memory or in a file.

use crate::harness::*;
use groupsync::report::{NoticeState, RunReport, RunStatus};
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::smtp::ReceivedMail;
use groupsync_sandbox::{AD_SOURCE_ID, SandboxOptions};
use std::collections::HashSet;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The app on a sandbox with four AD groups, two of them already in the target.
async fn four_groups() -> TestApp {
    spawn_app(SandboxOptions {
        groups: names(&["Finance", "Sales", "Ops", "HR"]),
        existing: names(&["finance", "SALES"]),
        ..SandboxOptions::default()
    })
    .await
}

fn syncer(app: &TestApp, overrides: &[(&str, &str)], store: &Store) -> Syncer {
    Syncer::new(app.settings(overrides), store.clone())
        .unwrap()
        .with_notice_retry(quick_retries())
}

async fn run(syncer: &Syncer) -> RunReport {
    syncer
        .run(&RunRequest::new([TriggerKind::Cli], false), &Quiet)
        .await
}

fn subjects(mail: &[ReceivedMail]) -> Vec<String> {
    mail.iter()
        .map(|m| m.subject().unwrap_or_default())
        .collect()
}

/// Panics unless every message has its own Message-ID.
fn assert_each_once(mail: &[ReceivedMail]) {
    let ids: HashSet<String> = mail
        .iter()
        .map(|m| m.header("Message-ID").expect("a Message-ID"))
        .collect();
    assert_eq!(
        ids.len(),
        mail.len(),
        "a notice was sent twice: {:?}",
        subjects(mail)
    );
}

#[tokio::test]
async fn notices_wait_while_smtp_is_down_and_go_out_once_when_it_is_back() {
    let app = four_groups().await;
    let store = Store::in_memory().unwrap();
    let syncer = syncer(&app, &[("GROUPSYNC_EMAIL__MODE", "per_group")], &store);

    app.smtp.set_refusing(true);
    let first = run(&syncer).await;
    let second = run(&syncer).await;
    // one per existing group, every run; the groups the first run created exist for the
    // second, but they are groupsync's own: nobody is told about them
    for (report, notices) in [(&first, 2), (&second, 2)] {
        assert_eq!(
            report.status(),
            RunStatus::Succeeded,
            "a queued notice is no failure"
        );
        assert_eq!(report.notices.len(), notices);
        assert!(
            report
                .notices
                .iter()
                .all(|n| n.state == NoticeState::Queued)
        );
    }
    // the one tried says why; the server is down, so the ones after it wait untried
    let why = first.notices[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("421"), "{why}");
    assert!(app.smtp.messages().is_empty());
    assert_eq!(store.pending_notices(100).unwrap().len(), 4);

    app.smtp.set_refusing(false);
    let flushed = syncer.flush_outbox().await.unwrap();
    assert_eq!((flushed.sent, flushed.waiting, flushed.failed), (4, 0, 0));
    let mail = app.smtp.messages();
    assert_eq!(mail.len(), 4);
    assert_each_once(&mail);
    let detail = store.run(&first.run_id.0).unwrap().unwrap();
    assert!(detail.notices.iter().all(|n| n.state == NoticeState::Sent));

    // nothing is left to send, and the next run sends only its own notices
    assert_eq!(syncer.flush_outbox().await.unwrap().sent, 0);
    let third = run(&syncer).await;
    assert!(third.notices.iter().all(|n| n.state == NoticeState::Sent));
    let mail = app.smtp.messages();
    assert_eq!(mail.len(), 6);
    assert_each_once(&mail);
    app.stop().await;
}

#[tokio::test]
async fn a_restart_between_queueing_and_sending_loses_nothing() {
    let app = four_groups().await;
    let overrides = [("GROUPSYNC_EMAIL__MODE", "per_group")];

    app.smtp.set_refusing(true);
    let store = Store::open(&app.store).unwrap();
    let before = syncer(&app, &overrides, &store);
    let report = run(&before).await;
    assert_eq!(report.notices.len(), 2);
    // and one queued by a process that stopped before it could even try
    let orphan = groupsync::notify::Notice {
        key: "stopped-run/digest".into(),
        subject: "queued before a stop".into(),
        body: "body".into(),
    };
    store.enqueue_notices(None, &[orphan]).unwrap();
    drop(before);
    drop(store);

    app.smtp.set_refusing(false);
    let store = Store::open(&app.store).unwrap();
    let after = syncer(&app, &overrides, &store);
    assert_eq!(after.flush_outbox().await.unwrap().sent, 3);
    let mail = app.smtp.messages();
    assert_eq!(mail.len(), 3);
    assert_each_once(&mail);
    assert!(subjects(&mail).contains(&"queued before a stop".to_string()));
    assert_eq!(after.flush_outbox().await.unwrap().sent, 0);
    assert_notices_sent(&store, &report.run_id.0);
    app.stop().await;
}

#[tokio::test]
async fn a_digest_tells_about_an_existing_group_only_the_first_time() {
    let app = four_groups().await;
    let store = Store::in_memory().unwrap();
    let syncer = syncer(&app, &[], &store);

    let first = run(&syncer).await;
    assert_eq!(first.notices.len(), 1);
    let mail = app.smtp.messages();
    assert_eq!(
        subjects(&mail),
        vec!["groupsync: 2 created, 2 already existed"]
    );

    let second = run(&syncer).await;
    assert_eq!(second.counts().existed, 4);
    assert!(
        second.notices.is_empty(),
        "nothing new: {:?}",
        second.notices
    );
    assert_eq!(app.smtp.messages().len(), 1);

    // a new group in AD that Alation already has, and one it lacks
    app.tenant.add_group(AD_SOURCE_ID, "Legal");
    app.tenant.add_group(AD_SOURCE_ID, "Audit");
    app.scim.insert_group("Legal");
    run(&syncer).await;
    let mail = app.smtp.messages();
    assert_eq!(mail.len(), 2);
    assert_eq!(
        mail[1].subject().unwrap(),
        "groupsync: 1 created, 1 already existed"
    );
    let body = mail[1].body_text();
    assert!(
        body.contains("\"Legal\"") && body.contains("\"Audit\""),
        "{body}"
    );
    assert!(
        !body.contains("Finance") && !body.contains("Sales"),
        "{body}"
    );

    // every run was recorded, the dry run too
    syncer
        .run(&RunRequest::new([TriggerKind::Cli], true), &Quiet)
        .await;
    let runs = store.runs(10, None).unwrap();
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        statuses,
        vec!["dry_run", "succeeded", "succeeded", "succeeded"]
    );
    assert_eq!(runs[0].trigger, "cli");
    assert_eq!(runs[3].counts.created, 2);
    app.stop().await;
}

#[tokio::test]
async fn per_group_notices_are_not_repeated_when_repeat_is_false() {
    let app = four_groups().await;
    let store = Store::in_memory().unwrap();
    let overrides = [
        ("GROUPSYNC_EMAIL__MODE", "per_group"),
        ("GROUPSYNC_EMAIL__REPEAT", "false"),
    ];
    let syncer = syncer(&app, &overrides, &store);
    assert_eq!(run(&syncer).await.notices.len(), 2);
    // the two created by the first run now exist, but were reported as created
    assert!(run(&syncer).await.notices.is_empty());
    assert_eq!(app.smtp.messages().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn failing_runs_and_the_recovery_are_each_announced_once() {
    let app = four_groups().await;
    let store = Store::in_memory().unwrap();
    let healthy = syncer(&app, &[], &store);
    let broken = syncer(&app, &[("GROUPSYNC_SCIM__TOKEN", "revoked")], &store);

    assert_eq!(run(&healthy).await.status(), RunStatus::Succeeded);
    let failed = run(&broken).await;
    assert_eq!(failed.status(), RunStatus::Failed);
    assert_eq!(
        failed.notices.len(),
        1,
        "the alert is the failed run's notice"
    );
    assert_eq!(
        run(&broken).await.notices.len(),
        0,
        "still failing: no second alert"
    );
    let recovered = run(&healthy).await;
    assert_eq!(recovered.notices.len(), 1);
    assert!(run(&healthy).await.notices.is_empty());

    let mail = app.smtp.messages();
    assert_eq!(
        subjects(&mail),
        vec![
            "groupsync: 2 created, 2 already existed",
            "groupsync: runs are failing (failed)",
            "groupsync: runs succeed again",
        ]
    );
    assert!(
        mail[1].body_text().contains("refused our credentials"),
        "{}",
        mail[1].body_text()
    );
    let statuses: Vec<String> = store
        .runs(10, None)
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        vec!["succeeded", "succeeded", "failed", "failed", "succeeded"]
    );
    app.stop().await;
}
