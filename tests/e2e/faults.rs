//! Every upstream fault the product promises to survive, injected through the sandbox's
//! fault notation (IdentityNow and SCIM) or its SMTP sink's faults, one test per fault.
//! `docs/reliability.md` ("Faults") maps each fault to the test here that proves it.
//!
//! Waits stay short: the sandbox's `Retry-After` is 1 s, timeouts are set to 1 s and
//! injected delays to 1.5 s.

use crate::harness::*;
use groupsync::report::{ErrorKind, NoticeState, RunReport, RunStatus};
use groupsync::retry::RetryPolicy;
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::SandboxOptions;
use groupsync_sandbox::faults::FaultPlan;
use groupsync_sandbox::smtp::{ReceivedMail, SmtpFault};
use std::time::{Duration, Instant};

const ENTITLEMENTS: &str = "/v2025/entitlements";

/// 600 AD groups (three pages of entitlements), 20 of them already in the target.
fn tenant_with_faults(rules: &str) -> SandboxOptions {
    let mut opts = SandboxOptions::seeded(600, 20, 21);
    opts.idn_faults.rules = FaultPlan::parse(rules).unwrap();
    opts
}

/// 30 AD groups, 6 of them already in the target, so lookups go one group at a time.
fn target_with_faults(rules: &str) -> SandboxOptions {
    let mut opts = SandboxOptions::seeded(30, 6, 22);
    opts.scim_faults.rules = FaultPlan::parse(rules).unwrap();
    opts
}

async fn run_once(app: &TestApp, overrides: &[(&str, &str)]) -> RunReport {
    let syncer = Syncer::new(app.settings(overrides), Store::in_memory().unwrap()).unwrap();
    syncer
        .run(&RunRequest::new([TriggerKind::Cli], false), &Quiet)
        .await
}

/// The run succeeded and created exactly the groups missing from the target, each once.
fn assert_completed(app: &TestApp, opts: &SandboxOptions, report: &RunReport) {
    assert_eq!(
        report.status(),
        RunStatus::Succeeded,
        "{:?} {:?}",
        report.error,
        report.counts()
    );
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    assert_eq!(report.counts().created, expected, "{:?}", report.counts());
    assert_no_duplicates(app.target_names());
    assert_eq!(app.target_names().len(), opts.existing.len() + expected);
}

/// Starts the sandbox with `opts`, runs once, and checks the run completed as if
/// nothing had gone wrong; the sandbox is left running for further checks.
async fn completes_despite(
    opts: SandboxOptions,
    overrides: &[(&str, &str)],
) -> (TestApp, RunReport) {
    let app = spawn_app(opts.clone()).await;
    let report = run_once(&app, overrides).await;
    assert_completed(&app, &opts, &report);
    (app, report)
}

/// Starts the sandbox with `opts` and runs once: the listing does not add up, so the run
/// fails before any write.
async fn listing_refused(opts: SandboxOptions, overrides: &[(&str, &str)]) {
    let app = spawn_app(opts).await;
    let report = run_once(&app, overrides).await;
    assert_eq!(report.status(), RunStatus::Failed, "{:?}", report.counts());
    let message = &report.error.as_ref().unwrap().message;
    assert!(message.contains("incomplete"), "{message}");
    assert_eq!(scim_served(&app, "POST /scim/v2/Groups"), 0);
    app.stop().await;
}

/// How many requests of `route` ("POST /scim/v2/Groups") the SCIM server answered.
fn scim_served(app: &TestApp, route: &str) -> u64 {
    app.scim.stats().to_json()["by_route"][route]
        .as_u64()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// IdentityNow

#[tokio::test]
async fn identitynow_429_waits_its_retry_after_then_the_run_completes() {
    let started = Instant::now();
    let (app, _) =
        completes_despite(tenant_with_faults(&format!("429@2:{ENTITLEMENTS}")), &[]).await;
    assert!(app.tenant.faults_injected() >= 1);
    assert!(
        app.tenant.stats()["rate_limited"].as_u64().unwrap() >= 1,
        "{}",
        app.tenant.stats()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 1 s Retry-After was waited"
    );
    app.stop().await;
}

#[tokio::test]
async fn identitynow_5xx_is_retried_and_the_run_completes() {
    let (app, _) =
        completes_despite(tenant_with_faults(&format!("500@2:{ENTITLEMENTS}")), &[]).await;
    assert!(app.tenant.faults_injected() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn identitynow_5xx_past_the_retries_fails_the_run_as_source_unreadable_with_nothing_written()
{
    let opts = tenant_with_faults(&format!("500@1:{ENTITLEMENTS}"));
    let app = spawn_app(opts).await;
    let report = run_once(&app, &[("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "1")]).await;
    assert_eq!(report.status(), RunStatus::Failed);
    assert_eq!(
        report.error.as_ref().unwrap().kind,
        ErrorKind::SourceUnreadable
    );
    assert_eq!(app.tenant.faults_injected(), 2, "one attempt and one retry");
    assert!(report.outcomes.is_empty());
    assert_eq!(app.scim.request_count(), 0, "not even a lookup");
    app.stop().await;
}

#[tokio::test]
async fn the_targets_listing_is_read_beside_the_source_and_a_source_that_fails_later_still_writes_nothing()
 {
    // the first page tells the count (600, past the listing threshold), so the target's
    // listing starts beside pages 2 and 3; the third page then fails past its retry
    let opts = tenant_with_faults(&format!("500@3:{ENTITLEMENTS},500@4:{ENTITLEMENTS}"));
    let app = spawn_app(opts).await;
    let report = run_once(&app, &[("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "1")]).await;
    assert_eq!(report.status(), RunStatus::Failed);
    let error = report.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::SourceUnreadable, "{error:?}");
    assert_eq!(app.tenant.faults_injected(), 2, "one attempt and one retry");
    assert!(
        app.scim.request_count() >= 1,
        "the listing started before the source's last page"
    );
    assert_eq!(app.scim.create_count(), 0, "nothing written");
    assert!(report.outcomes.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_identitynow_timeout_is_retried_and_the_run_completes() {
    let (app, _) = completes_despite(
        tenant_with_faults(&format!("slow=1500@2:{ENTITLEMENTS}")),
        &[("GROUPSYNC_IDENTITYNOW__TIMEOUT_SECS", "1")],
    )
    .await;
    assert!(app.tenant.faults_injected() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn an_identitynow_connection_reset_is_retried_and_the_run_completes() {
    let (app, _) =
        completes_despite(tenant_with_faults(&format!("reset@2:{ENTITLEMENTS}")), &[]).await;
    assert!(app.tenant.faults_injected() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn a_401_mid_run_fetches_the_token_once_more_and_the_run_continues() {
    // two pages answer, the third says the token expired (its retry is the fourth request)
    let (app, _) =
        completes_despite(tenant_with_faults(&format!("401@3:{ENTITLEMENTS}")), &[]).await;
    assert_eq!(app.tenant.faults_injected(), 1);
    assert_eq!(app.tenant.tokens_issued(), 2, "one token, then one more");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// SCIM lookups

const PER_GROUP: (&str, &str) = ("GROUPSYNC_SYNC__TARGET_LOOKUP", "per_group");
const LISTING: (&str, &str) = ("GROUPSYNC_SYNC__TARGET_LOOKUP", "listing");

#[tokio::test]
async fn scim_5xx_on_lookups_is_retried_and_each_group_is_created_once() {
    let (app, _) = completes_despite(
        target_with_faults("500@4:GET:/scim/v2/Groups"),
        &[PER_GROUP],
    )
    .await;
    assert!(app.scim.stats().to_json()["requests"].as_u64().unwrap() > 30);
    app.stop().await;
}

#[tokio::test]
async fn scim_429_on_lookups_waits_its_retry_after_and_each_group_is_created_once() {
    let (app, _) = completes_despite(
        target_with_faults("429@12:GET:/scim/v2/Groups"),
        &[PER_GROUP],
    )
    .await;
    assert!(app.scim.stats().to_json()["rate_limited"].as_u64().unwrap() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn a_scim_lookup_timeout_is_retried_and_each_group_is_created_once() {
    let (app, _) = completes_despite(
        target_with_faults("slow=1500@10:GET:/scim/v2/Groups"),
        &[PER_GROUP, ("GROUPSYNC_SCIM__TIMEOUT_SECS", "1")],
    )
    .await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// SCIM creates: a POST is never re-sent before a lookup says the group is missing

#[tokio::test]
async fn a_create_answered_5xx_is_looked_up_then_posted_again_and_exists_once() {
    let (app, _) = completes_despite(
        target_with_faults("500@3:POST:/scim/v2/Groups"),
        &[PER_GROUP],
    )
    .await;
    let refused = app.scim.stats().to_json()["by_route"]["POST /scim/v2/Groups"].clone();
    assert!(
        refused.as_u64().unwrap() > app.scim.create_count(),
        "{refused}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_create_answered_429_is_looked_up_then_posted_again_and_exists_once() {
    let (app, _) = completes_despite(
        target_with_faults("429@6:POST:/scim/v2/Groups"),
        &[PER_GROUP],
    )
    .await;
    assert!(app.scim.stats().to_json()["rate_limited"].as_u64().unwrap() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn a_create_that_landed_but_timed_out_is_found_by_a_lookup_not_posted_again() {
    // the server creates the group, then answers after the client gave up
    let (app, report) = completes_despite(
        target_with_faults("late=1500@3:POST:/scim/v2/Groups"),
        &[PER_GROUP, ("GROUPSYNC_SCIM__TIMEOUT_SECS", "1")],
    )
    .await;
    // the server allows duplicate names: a POST sent again would have made a second group
    assert_eq!(
        app.scim.create_count() as usize,
        report.counts().created,
        "no group was posted twice"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// SCIM listings that cannot be trusted

#[tokio::test]
async fn a_listing_cut_short_stops_the_run_before_any_write() {
    let opts = target_with_faults("cut@1:GET:/scim/v2/Groups");
    listing_refused(
        opts,
        &[LISTING, ("GROUPSYNC_SYNC__LISTING_PAGE_SIZE", "10")],
    )
    .await;
}

#[tokio::test]
async fn lookups_cut_short_create_nothing_they_could_not_see() {
    // each lookup of an existing group comes back without it: a failed lookup, not absence
    let opts = target_with_faults("cut@1:GET:/scim/v2/Groups");
    let app = spawn_app(opts.clone()).await;
    let report = run_once(&app, &[PER_GROUP]).await;
    assert_eq!(report.counts().failed, opts.existing.len(), "{report:?}");
    assert_no_duplicates(app.target_names());
    assert_eq!(
        app.target_names().len(),
        opts.existing.len() + expected_creates(&opts.groups, &opts.existing, None)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_total_that_lies_stops_the_listing_before_any_write() {
    listing_refused(
        target_with_faults("total+1@1:GET:/scim/v2/Groups"),
        &[LISTING],
    )
    .await;
}

#[tokio::test]
async fn lookups_whose_total_lies_create_nothing() {
    let opts = target_with_faults("total+1@1:GET:/scim/v2/Groups");
    let app = spawn_app(opts.clone()).await;
    let report = run_once(&app, &[PER_GROUP]).await;
    assert_eq!(report.status(), RunStatus::Failed, "{:?}", report.counts());
    assert_eq!(
        report.error.as_ref().unwrap().kind,
        ErrorKind::TargetUnreachable,
        "every lookup failed: {:?}",
        report.error
    );
    assert_eq!(scim_served(&app, "POST /scim/v2/Groups"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_filter_the_target_ignores_finds_only_exact_names_and_creates_each_group_once() {
    // every lookup answers with every group: only an exact name counts as found
    let opts = target_with_faults("nofilter@1:GET:/scim/v2/Groups");
    let existing = opts.existing.len();
    let (app, report) = completes_despite(opts, &[PER_GROUP]).await;
    assert_eq!(report.counts().existed, existing);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// SMTP: the run records, the notice waits in the outbox and goes out once on a later run

/// Four AD groups, two already in the target: every run has a digest to send.
async fn four_groups() -> TestApp {
    let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    spawn_app(SandboxOptions {
        groups: names(&["Finance", "Sales", "Ops", "HR"]),
        existing: names(&["Finance", "Sales"]),
        ..SandboxOptions::default()
    })
    .await
}

/// Runs once with SMTP faulty (`break_it`), then twice with it healed: the first run's
/// notice stays queued, the second run sends it, the third does not send it again.
async fn notice_waits_for_smtp(
    app: &TestApp,
    overrides: &[(&str, &str)],
    break_it: impl Fn(bool),
) -> String {
    let store = Store::in_memory().unwrap();
    let syncer = Syncer::new(app.settings(overrides), store.clone())
        .unwrap()
        .with_notice_retry(RetryPolicy {
            max_retries: 1,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
            ..RetryPolicy::default()
        });
    let request = RunRequest::new([TriggerKind::Cli], false);

    break_it(true);
    let first = syncer.run(&request, &Quiet).await;
    assert_eq!(
        first.status(),
        RunStatus::Succeeded,
        "{:?} {:?}",
        first.error,
        first.notices
    );
    assert_eq!(first.notices.len(), 1);
    assert_eq!(first.notices[0].state, NoticeState::Queued);
    let why = first.notices[0].error.clone().unwrap_or_default();
    assert!(app.smtp.messages().is_empty());
    let recorded = store.run(&first.run_id.0).unwrap().unwrap();
    assert_eq!(recorded.notices[0].state, NoticeState::Queued);

    break_it(false);
    let subject = first.notices[0].subject.clone();
    let once = |mail: &[ReceivedMail]| {
        mail.iter()
            .filter(|m| m.subject().as_deref() == Some(subject.as_str()))
            .count()
    };
    syncer.run(&request, &Quiet).await;
    assert_eq!(once(&app.smtp.messages()), 1, "sent on the next run");
    syncer.run(&request, &Quiet).await;
    assert_eq!(once(&app.smtp.messages()), 1, "and only once");
    let recorded = store.run(&first.run_id.0).unwrap().unwrap();
    assert_eq!(recorded.notices[0].state, NoticeState::Sent);
    why
}

#[tokio::test]
async fn with_the_mail_server_down_the_notice_waits_and_is_sent_once_on_a_later_run() {
    let app = four_groups().await;
    let why = notice_waits_for_smtp(&app, &[], |down| app.smtp.set_refusing(down)).await;
    assert!(why.contains("421"), "{why}");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_smtp_login_keeps_the_notice_until_a_later_run_sends_it_once() {
    let app = four_groups().await;
    let login = [
        ("GROUPSYNC_EMAIL__USERNAME", "groupsync"),
        ("GROUPSYNC_EMAIL__PASSWORD", "smtp-password"),
    ];
    let why = notice_waits_for_smtp(&app, &login, |refuse| {
        app.smtp.set_fault(refuse.then_some(SmtpFault::RefuseAuth));
    })
    .await;
    assert!(why.contains("535"), "{why}");
    app.stop().await;
}

#[tokio::test]
async fn a_connection_dropped_mid_message_keeps_the_notice_until_a_later_run_sends_it_once() {
    let app = four_groups().await;
    notice_waits_for_smtp(&app, &[], |drop| {
        app.smtp.set_fault(drop.then_some(SmtpFault::DropInData));
    })
    .await;
    app.stop().await;
}
