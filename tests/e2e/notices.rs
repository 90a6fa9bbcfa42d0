//! What each outcome tells by email, end to end through the sandbox's SMTP sink: the
//! `per_group` summary of groups skipped and failed, and subjects and bodies from templates.

use crate::harness::*;
use groupsync::report::{NoticeState, Outcome, RunReport, RunStatus};
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::SandboxOptions;
use groupsync_sandbox::smtp::ReceivedMail;
use std::collections::HashSet;

/// 24 characters: over the target's limit of 20, under groupsync's own of 30.
const REFUSED_BY_TARGET: &str = "Refused by target 24 chr";
/// 34 characters: over groupsync's own limit, so never sent.
const SKIPPED_TOO_LONG: &str = "Skipped as too long, 34 characters";

/// A source with one group found existing (named like a template), one to create, one the
/// target refuses and one groupsync skips.
async fn every_outcome() -> TestApp {
    let groups = ["{{ 7*7 }}", "HR", REFUSED_BY_TARGET, SKIPPED_TOO_LONG];
    spawn_app(SandboxOptions {
        groups: groups.iter().map(|s| s.to_string()).collect(),
        existing: vec!["{{ 7*7 }}".into()],
        scim_max_name_length: Some(20),
        ..SandboxOptions::default()
    })
    .await
}

fn syncer(app: &TestApp, overrides: &[(&str, &str)], store: &Store) -> Syncer {
    let with_limit: Vec<(&str, &str)> = [("GROUPSYNC_SYNC__MAX_NAME_LENGTH", "30")]
        .into_iter()
        .chain(overrides.iter().copied())
        .collect();
    Syncer::new(app.settings(&with_limit), store.clone())
        .unwrap()
        .with_notice_retry(quick_retries())
}

async fn run(syncer: &Syncer) -> RunReport {
    syncer
        .run(&RunRequest::new([TriggerKind::Cli], false), &Quiet)
        .await
}

fn by_subject<'a>(mail: &'a [ReceivedMail], start: &str) -> Vec<&'a ReceivedMail> {
    mail.iter()
        .filter(|m| m.subject().unwrap_or_default().starts_with(start))
        .collect()
}

#[tokio::test]
async fn per_group_mode_tells_skipped_and_failed_groups_once_even_after_smtp_was_down() {
    let app = every_outcome().await;
    let store = Store::in_memory().unwrap();
    let syncer = syncer(&app, &[("GROUPSYNC_EMAIL__MODE", "per_group")], &store);

    app.smtp.set_refusing(true);
    let report = run(&syncer).await;
    assert_eq!(report.status(), RunStatus::PartiallyFailed);
    let c = report.counts();
    assert_eq!((c.created, c.existed, c.skipped, c.failed), (1, 1, 1, 1));
    let detail = report
        .outcomes
        .iter()
        .find_map(|o| match &o.outcome {
            Outcome::Failed { error } if o.name == REFUSED_BY_TARGET => Some(error.clone()),
            _ => None,
        })
        .expect("the target refused the long name");
    // the group found existing, the summary, and the alert that runs are failing
    assert_eq!(report.notices.len(), 3, "{:?}", report.notices);
    assert!(
        report
            .notices
            .iter()
            .all(|n| n.state == NoticeState::Queued)
    );
    assert!(app.smtp.messages().is_empty());

    app.smtp.set_refusing(false);
    let flushed = syncer.flush_outbox().await.unwrap();
    assert_eq!((flushed.sent, flushed.waiting, flushed.failed), (3, 0, 0));
    assert_eq!(syncer.flush_outbox().await.unwrap().sent, 0);
    let mail = app.smtp.messages();
    assert_eq!(mail.len(), 3);
    let ids: HashSet<String> = mail.iter().filter_map(|m| m.header("Message-ID")).collect();
    assert_eq!(ids.len(), 3, "each message once");

    // the name is a value, never a template
    let existing = by_subject(&mail, "Alation group ");
    assert_eq!(existing.len(), 1);
    assert_eq!(
        existing[0].subject().unwrap(),
        "Alation group {{ 7*7 }} already exists"
    );
    assert!(existing[0].body_text().contains("The group {{ 7*7 }} from"));

    let summary = by_subject(&mail, "groupsync: 1 skipped, 1 failed");
    assert_eq!(
        summary.len(),
        1,
        "{:?}",
        mail.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    let body = summary[0].body_text();
    assert!(body.contains("Skipped (1):"), "{body}");
    assert!(
        body.contains(&format!("  - \"{SKIPPED_TOO_LONG}\": ")),
        "{body}"
    );
    assert!(body.contains("Failed (1):"), "{body}");
    let first_line_of_detail = detail.lines().next().unwrap_or_default();
    assert!(
        body.contains(&format!("  - \"{REFUSED_BY_TARGET}\": "))
            && body.contains(first_line_of_detail),
        "{body}"
    );
    for told_elsewhere in ["HR", "7*7"] {
        assert!(!body.contains(told_elsewhere), "{body}");
    }
    assert_eq!(by_subject(&mail, "groupsync: runs are failing").len(), 1);

    // the run's record says where each notice went
    assert_notices_sent(&store, &report.run_id.0);
    app.stop().await;
}

#[tokio::test]
async fn nothing_skipped_or_failed_sends_no_summary() {
    let app = spawn_app(SandboxOptions {
        groups: vec!["Finance".into(), "Sales".into()],
        existing: vec!["Finance".into()],
        ..SandboxOptions::default()
    })
    .await;
    let store = Store::in_memory().unwrap();
    let syncer = syncer(&app, &[("GROUPSYNC_EMAIL__MODE", "per_group")], &store);
    let report = run(&syncer).await;
    assert_eq!(report.status(), RunStatus::Succeeded);
    assert_eq!(report.notices.len(), 1);
    let mail = app.smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].subject().unwrap(),
        "Alation group Finance already exists"
    );
    app.stop().await;
}

#[tokio::test]
async fn templates_from_the_configuration_shape_the_mail_in_either_form() {
    let app = every_outcome().await;
    let store = Store::in_memory().unwrap();
    let syncer = syncer(
        &app,
        &[
            // today's single-brace form
            (
                "GROUPSYNC_EMAIL__DIGEST_SUBJECT_TEMPLATE",
                "{created}+{existing}/{skipped}/{failed} {unknown}",
            ),
            (
                "GROUPSYNC_EMAIL__DIGEST_BODY_TEMPLATE",
                "{% for g in failed_groups %}FAILED {{ g.name }}\n{% endfor %}\
                 {% for g in existing_groups %}EXISTS {{ g.name }}\n{% endfor %}from {{ source }}",
            ),
        ],
        &store,
    );
    run(&syncer).await;
    let mail = app.smtp.wait_for(2).await;
    let digest = by_subject(&mail, "1+1/1/1");
    assert_eq!(
        digest.len(),
        1,
        "{:?}",
        mail.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert_eq!(digest[0].subject().unwrap(), "1+1/1/1 {unknown}");
    let body = digest[0].body_text();
    assert!(
        body.starts_with(&format!(
            "FAILED {REFUSED_BY_TARGET}\nEXISTS {{{{ 7*7 }}}}\nfrom "
        )),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_template_with_an_unknown_variable_stops_the_binary_naming_the_key() {
    let app = every_outcome().await;
    let mut cmd = app.command();
    cmd.env(
        "GROUPSYNC_EMAIL__SUMMARY_BODY_TEMPLATE",
        "{{ failed_group }}",
    )
    .args(["run", "--dry-run"]);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("email.summary_body_template") && stderr.contains("failed_group"),
        "{stderr}"
    );
    assert_eq!(app.scim.create_count(), 0);
    app.stop().await;
}
