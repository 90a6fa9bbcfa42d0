//! groupsync against the real third-party peers CI starts: scim2-server as the SCIM target,
//! aiosmtpd as the SMTP server. Locally, without them, these tests say so and do nothing.

use crate::harness::*;
use groupsync::report::RunStatus;
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::{SandboxOptions, seed};

#[tokio::test]
async fn groupsync_creates_every_missing_group_exactly_once_in_scim2_server() {
    let Some(scim_url) = peer("GROUPSYNC_TEST_SCIM2_URL") else {
        return;
    };
    let Some(smtp_addr) = peer("GROUPSYNC_TEST_SMTP_ADDR") else {
        return;
    };
    let Some(maildir) = peer("GROUPSYNC_TEST_MAILDIR") else {
        return;
    };
    let token = std::env::var("GROUPSYNC_TEST_SCIM2_TOKEN").unwrap_or_default();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    // awkward names, made unique to this run (the peer keeps groups between tests)
    let mut groups: Vec<String> = seed::generate_groups(120, 21)
        .into_iter()
        .map(|n| format!("{n} [{tag}]"))
        .collect();
    groups.push(format!("  padded {tag}  "));
    groups.push(format!("quote \" {tag} \\ back"));
    let app = spawn_app(SandboxOptions {
        groups: groups.clone(),
        ..SandboxOptions::default()
    })
    .await;
    let subject = format!("groupsync {tag}: {{created}} created, {{existing}} existing");
    let smtp_url = format!("smtp://{smtp_addr}");
    let settings = app.settings(&[
        ("GROUPSYNC_SCIM__BASE_URL", &scim_url),
        ("GROUPSYNC_SCIM__TOKEN", &token),
        ("GROUPSYNC_EMAIL__SMTP_URL", &smtp_url),
        ("GROUPSYNC_EMAIL__DIGEST_SUBJECT_TEMPLATE", &subject),
        // scim2-server serves one connection at a time (HTTP/1.0, backlog 5)
        ("GROUPSYNC_SYNC__LOOKUP_CONCURRENCY", "4"),
        ("GROUPSYNC_SYNC__CREATE_CONCURRENCY", "4"),
    ]);
    let syncer = Syncer::new(settings, Store::in_memory().unwrap()).unwrap();
    let expected = expected_creates(&groups, &[], None);
    let req = || RunRequest::new([TriggerKind::Cli], false);

    let first = syncer.run(&req(), &Quiet).await;
    assert_eq!(
        first.status(),
        RunStatus::Succeeded,
        "{:?} {:?}",
        first.error,
        first.counts()
    );
    assert_eq!(first.counts().created, expected);
    let second = syncer.run(&req(), &Quiet).await;
    assert_eq!(second.counts().created, 0, "{:?}", second.counts());
    // every group the first run created or found (case twins are found under their
    // first's name) exists now
    assert_eq!(
        second.counts().existed,
        first.counts().created + first.counts().existed
    );

    let held: Vec<String> = syncer
        .target()
        .list_groups(500)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.display_name)
        .filter(|n| n.contains(&tag))
        .collect();
    assert_eq!(held.len(), expected, "each group exactly once");
    assert_no_duplicates(held);

    // the digest went through aiosmtpd for the first run; the second had nothing new to tell
    assert!(second.notices.is_empty(), "{:?}", second.notices);
    let mut found = 0;
    for entry in std::fs::read_dir(format!("{maildir}/new")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        if text.contains(&format!("groupsync {tag}:")) {
            found += 1;
            assert!(text.contains("X-RcptTo: iam-team@sandbox.test"), "{text}");
        }
    }
    assert_eq!(found, 1, "digest messages for this test in the Maildir");
    app.stop().await;
}
