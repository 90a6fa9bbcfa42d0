//! End-to-end runs of the pipeline against the sandbox: real HTTP, real SMTP.

use crate::harness::*;
use groupsync::report::{ErrorKind, Outcome, RunStatus};
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::SandboxOptions;

fn req(dry_run: bool) -> RunRequest {
    RunRequest::new([TriggerKind::Cli], dry_run)
}

/// A run that stopped sends no digest, only the alert that runs are failing.
fn assert_only_the_failure_alert(mail: &[groupsync_sandbox::smtp::ReceivedMail]) {
    let subjects: Vec<String> = mail
        .iter()
        .map(|m| m.subject().unwrap_or_default())
        .collect();
    assert_eq!(subjects, vec!["groupsync: runs are failing (failed)"]);
}

#[tokio::test]
async fn first_run_creates_the_missing_groups_and_the_second_creates_none() {
    let opts = SandboxOptions::seeded(300, 40, 11);
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    let app = spawn_app(opts.clone()).await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();

    let first = syncer.run(&req(false), &Quiet).await;
    assert_eq!(first.status(), RunStatus::Succeeded, "{:?}", first.error);
    let c = first.counts();
    assert_eq!(c.source, 300);
    assert_eq!(c.created, expected);
    assert_eq!(c.existed + c.created + c.skipped, 300);
    // The seed's awkward names include a case twin: found existing under the first
    // name, not skipped (twins were skipped before), and a 300+ character name, sent to
    // a target that takes it now that no length cap is guessed.
    assert_eq!(c.skipped, 0, "{c:?}");
    assert!(
        !groupsync::report::matched_names(&first.outcomes).is_empty(),
        "the seed's case twin is found existing: {c:?}"
    );
    assert!(
        first.outcomes.iter().any(|o| o.name.chars().count() > 256
            && matches!(o.outcome, groupsync::report::Outcome::Created { .. })),
        "the long name is created"
    );
    assert_eq!(app.scim.create_count() as usize, expected);
    assert_no_duplicates(app.target_names());
    // every created group is in the target under exactly its source name, and carries
    // its entitlement id as externalId
    let held: Vec<(String, Option<String>)> = app
        .scim
        .groups()
        .into_iter()
        .map(|g| (g.display_name, g.external_id))
        .collect();
    for o in &first.outcomes {
        if let Outcome::Created { .. } = o.outcome {
            let entry = (o.name.clone(), Some(o.source_id.clone()));
            assert!(
                held.contains(&entry),
                "{:?} missing from the target, or without externalId {:?}",
                o.name,
                o.source_id
            );
        }
    }

    let (writes_before, mails_before) = (scim_writes(&app), app.smtp.messages().len());
    let second = syncer.run(&req(false), &Quiet).await;
    assert_eq!(second.status(), RunStatus::Succeeded);
    assert_eq!(second.counts().created, 0);
    assert_eq!(second.counts().existed, c.existed + c.created);
    assert_eq!(
        app.scim.create_count() as usize,
        expected,
        "the second run wrote nothing"
    );
    // a steady-state run sends no SCIM write of any kind, and no email
    assert_eq!(scim_writes(&app), writes_before);
    assert!(writes_before >= expected as u64);
    assert_eq!(app.smtp.messages().len(), mails_before);
    assert!(mails_before > 0, "the first run told what it found");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_page_aborts_the_run_with_zero_writes() {
    // `auto` (the default) reads the target's listing beside the source once the first page
    // has told the count: reads only. `per_group` looks groups up from the source's names,
    // so it must not send one.
    for lookup in ["auto", "per_group"] {
        let mut opts = SandboxOptions::seeded(600, 0, 3);
        // page 1 answers, page 2 fails; without retries the run must stop before any create
        opts.idn_faults.rules =
            groupsync_sandbox::faults::FaultPlan::parse("500@2:/v2025/entitlements").unwrap();
        let app = spawn_app(opts).await;
        let syncer = Syncer::new(
            app.settings(&[
                ("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "0"),
                ("GROUPSYNC_SYNC__TARGET_LOOKUP", lookup),
            ]),
            Store::in_memory().unwrap(),
        )
        .unwrap();
        let report = syncer.run(&req(false), &Quiet).await;
        assert_eq!(report.status(), RunStatus::Failed);
        let error = report.error.as_ref().unwrap();
        assert!(error.message.contains("nothing was changed"), "{error:?}");
        assert_eq!(error.kind, ErrorKind::SourceUnreadable);
        assert!(report.outcomes.is_empty());
        assert_eq!(app.scim.create_count(), 0);
        let routes = app.scim.stats().to_json()["by_route"].clone();
        let routes = routes.as_object().unwrap();
        assert!(
            routes.keys().all(|route| route.starts_with("GET ")),
            "{lookup}: only reads of the target: {routes:?}"
        );
        if lookup == "per_group" {
            assert_eq!(
                app.scim.request_count(),
                0,
                "not even a lookup on a partial list"
            );
        }
        assert_only_the_failure_alert(&app.smtp.messages());
        app.stop().await;
    }
}

#[tokio::test]
async fn transient_faults_are_retried_and_the_run_completes() {
    let mut opts = SandboxOptions::seeded(600, 20, 5);
    opts.idn_faults.rules = groupsync_sandbox::faults::FaultPlan::parse(
        "503@3:/v2025/entitlements,401@4:/v2025/entitlements",
    )
    .unwrap();
    opts.scim_faults.rules =
        groupsync_sandbox::faults::FaultPlan::parse("503@53:/scim/v2/Groups").unwrap();
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    let app = spawn_app(opts).await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(
        report.status(),
        RunStatus::Succeeded,
        "{:?} {:?}",
        report.error,
        report.counts()
    );
    assert_eq!(report.counts().created, expected);
    assert_no_duplicates(app.target_names());
    app.stop().await;
}

#[tokio::test]
async fn dry_run_writes_nothing_and_sends_nothing() {
    let opts = SandboxOptions::seeded(120, 10, 9);
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    let app = spawn_app(opts).await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();
    let report = syncer.run(&req(true), &Quiet).await;
    assert_eq!(report.status(), RunStatus::DryRun);
    assert_eq!(report.counts().would_create, expected);
    assert_eq!(report.counts().created, 0);
    assert_eq!(app.scim.create_count(), 0);
    assert!(report.notices.is_empty());
    assert!(app.smtp.messages().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn per_group_mode_sends_one_message_per_existing_group() {
    let groups: Vec<String> = [
        "Finance",
        "Sales EMEA",
        "R&D \"Core\" \\ Ops",
        "Équipe Données 📊",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let existing = vec![
        "FINANCE".to_string(),
        "R&D \"Core\" \\ Ops".to_string(),
        "équipe données 📊".to_string(),
    ];
    let app = spawn_app(SandboxOptions {
        groups,
        existing,
        ..SandboxOptions::default()
    })
    .await;
    let syncer = Syncer::new(
        app.settings(&[("GROUPSYNC_EMAIL__MODE", "per_group")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(report.counts().created, 1);
    assert_eq!(report.counts().existed, 3);
    let mail = app.smtp.wait_for(3).await;
    assert_eq!(mail.len(), 3);
    let mut subjects: Vec<String> = mail.iter().map(|m| m.subject().unwrap()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "Alation group Finance already exists",
            "Alation group R&D \"Core\" \\ Ops already exists",
            "Alation group Équipe Données 📊 already exists",
        ]
    );
    for m in &mail {
        assert_eq!(m.rcpt_to, vec!["iam-team@sandbox.test"]);
        assert!(
            m.body_text().contains("already exists in Alation"),
            "{}",
            m.body_text()
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn digest_mode_sends_one_message_listing_created_and_existing() {
    let groups: Vec<String> = ["Finance", "Sales", "Ops"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let app = spawn_app(SandboxOptions {
        groups,
        existing: vec!["ops".into()],
        ..SandboxOptions::default()
    })
    .await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(report.notices.len(), 1);
    assert_eq!(report.notices[0].error, None);
    let mail = app.smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].subject().unwrap(),
        "groupsync: 2 created, 1 already existed"
    );
    let body = mail[0].body_text();
    for name in ["Finance", "Sales", "Ops"] {
        assert!(body.contains(name), "{name} not in digest: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_header_injection_attempt_stays_in_the_subject() {
    let groups = vec!["Evil\r\nBcc: victim@example.com".to_string()];
    let app = spawn_app(SandboxOptions {
        groups: groups.clone(),
        existing: groups,
        ..SandboxOptions::default()
    })
    .await;
    let syncer = Syncer::new(
        app.settings(&[("GROUPSYNC_EMAIL__MODE", "per_group")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    syncer.run(&req(false), &Quiet).await;
    let mail = app.smtp.wait_for(1).await;
    assert_eq!(
        mail[0].rcpt_to,
        vec!["iam-team@sandbox.test"],
        "no extra recipient"
    );
    assert!(mail[0].header("Bcc").is_none());
    assert!(mail[0].subject().unwrap().contains("Evil"));
    app.stop().await;
}

#[tokio::test]
async fn awkward_names_are_found_exactly_and_near_misses_do_not_match() {
    let awkward: Vec<String> = [
        "quote \" inside",
        "back\\slash",
        "tab\there",
        "new\nline",
        "Ünïcødé 日本語",
        "emoji 🚀🔥",
        "a & b # c % d + e = f",
        "  padded  ",
        "x\" or displayName pr or displayName eq \"y",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let app = spawn_app(SandboxOptions {
        groups: awkward.clone(),
        existing: awkward.clone(),
        ..SandboxOptions::default()
    })
    .await;
    // near misses the target also holds: they must never be taken for the source's groups
    for near in ["quote", "back", "padded", "emoji 🚀", "x"] {
        app.scim.insert_group(near);
    }
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(
        report.status(),
        RunStatus::Succeeded,
        "{:?}",
        report.outcomes
    );
    assert_eq!(
        report.counts().existed,
        awkward.len(),
        "{:?}",
        report.outcomes
    );
    assert_eq!(app.scim.create_count(), 0);
    app.stop().await;

    // and when the target holds only the near misses, every awkward name is created once
    let app = spawn_app(SandboxOptions {
        groups: awkward.clone(),
        existing: vec!["quote".into(), "padded".into(), "x".into()],
        ..SandboxOptions::default()
    })
    .await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(
        report.counts().created,
        awkward.len(),
        "{:?}",
        report.outcomes
    );
    let held = app.target_names();
    for name in &awkward {
        assert_eq!(held.iter().filter(|h| *h == name).count(), 1, "{name:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_scim_token_stops_the_run_before_any_write() {
    let app = spawn_app(SandboxOptions::seeded(50, 5, 1)).await;
    let syncer = Syncer::new(
        app.settings(&[("GROUPSYNC_SCIM__TOKEN", "wrong-token")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(report.status(), RunStatus::Failed);
    assert!(
        report
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("credentials"),
        "{:?}",
        report.error
    );
    assert_eq!(
        report.error.as_ref().unwrap().kind,
        ErrorKind::TargetCredentials
    );
    assert_eq!(app.scim.create_count(), 0);
    assert_only_the_failure_alert(&app.smtp.messages());
    app.stop().await;
}

#[tokio::test]
async fn bad_identitynow_credentials_fail_clearly() {
    let app = spawn_app(SandboxOptions::seeded(10, 0, 1)).await;
    let syncer = Syncer::new(
        app.settings(&[("GROUPSYNC_IDENTITYNOW__CLIENT_SECRET", "nope")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(report.status(), RunStatus::Failed);
    let error = report.error.unwrap().message;
    assert!(error.to_lowercase().contains("client"), "{error}");
    assert!(
        !error.contains("nope"),
        "the secret must not be echoed: {error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn names_the_target_cannot_filter_on_are_compared_against_a_full_listing() {
    use serde_json::json;
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let awkward = "quote \" name";
    let app = spawn_app(SandboxOptions {
        groups: vec!["plain".into(), awkward.into()],
        ..SandboxOptions::default()
    })
    .await;
    let scim = MockServer::start().await;
    let list = |items: serde_json::Value| {
        ResponseTemplate::new(200).set_body_json(
            json!({"totalResults": items.as_array().unwrap().len(), "Resources": items}),
        )
    };
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .and(query_param(
            "filter",
            format!("displayName eq {}", serde_json::to_string(awkward).unwrap()),
        ))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": "400", "scimType": "invalidFilter"})),
        )
        .mount(&scim)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .and(query_param("filter", "displayName eq \"plain\""))
        .respond_with(list(json!([])))
        .mount(&scim)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .and(query_param_is_missing("filter"))
        .respond_with(list(json!([{"id": "t-9", "displayName": "QUOTE \" NAME"}, {"id": "t-1", "displayName": "other"}])))
        .expect(1..)
        .mount(&scim)
        .await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "n-1", "displayName": "plain"})),
        )
        .expect(1)
        .mount(&scim)
        .await;
    let base = format!("{}/scim/v2", scim.uri());
    let syncer = Syncer::new(
        app.settings(&[("GROUPSYNC_SCIM__BASE_URL", &base)]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(
        report.status(),
        RunStatus::Succeeded,
        "{:?}",
        report.outcomes
    );
    let by_name = |n: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.name == n)
            .unwrap()
            .outcome
            .clone()
    };
    assert_eq!(
        by_name(awkward),
        Outcome::Existed {
            scim_id: "t-9".into()
        }
    );
    assert_eq!(
        by_name("plain"),
        Outcome::Created {
            scim_id: "n-1".into()
        }
    );
    app.stop().await;
}

#[tokio::test]
async fn listing_mode_reads_the_target_in_a_few_requests_and_agrees_with_lookups() {
    let opts = SandboxOptions::seeded(300, 40, 11);
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    let app = spawn_app(opts).await;
    let syncer = Syncer::new(
        app.settings(&[("GROUPSYNC_SYNC__TARGET_LOOKUP", "listing")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let first = syncer.run(&req(false), &Quiet).await;
    assert_eq!(first.status(), RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(first.counts().created, expected);
    assert_eq!(
        app.scim.request_count() as usize,
        1 + expected,
        "one listing page, then the creates"
    );
    assert_no_duplicates(app.target_names());
    let before = app.scim.request_count();
    let second = syncer.run(&req(false), &Quiet).await;
    assert_eq!(second.counts().created, 0);
    assert_eq!(second.counts().existed, first.counts().existed + expected);
    assert_eq!(
        app.scim.request_count() - before,
        1,
        "the no-op run costs one listing page"
    );
    app.stop().await;
}

#[tokio::test]
async fn listing_mode_stops_before_any_write_when_the_listing_fails() {
    let mut opts = SandboxOptions::seeded(50, 0, 2);
    opts.scim_faults.rules =
        groupsync_sandbox::faults::FaultPlan::parse("500@1:/scim/v2/Groups").unwrap();
    let app = spawn_app(opts).await;
    let syncer = Syncer::new(
        app.settings(&[
            ("GROUPSYNC_SYNC__TARGET_LOOKUP", "listing"),
            ("GROUPSYNC_SCIM__MAX_RETRIES", "0"),
        ]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let report = syncer.run(&req(false), &Quiet).await;
    assert_eq!(report.status(), RunStatus::Failed);
    assert!(
        report
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("nothing was changed"),
        "{:?}",
        report.error
    );
    assert_eq!(
        report.error.as_ref().unwrap().kind,
        ErrorKind::TargetUnreachable
    );
    assert_eq!(app.scim.create_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn by_default_a_large_source_reads_the_target_as_one_listing() {
    // 300 groups is above the default `sync.listing_threshold` (100); a page cap of 100
    // (advertised as `filter.maxResults`) is below the default page size (500).
    let mut opts = SandboxOptions::seeded(300, 40, 17);
    opts.scim_page_cap = 100;
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    let app = spawn_app(opts).await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();

    let first = syncer.run(&req(false), &Quiet).await;
    assert_eq!(first.status(), RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(first.counts().created, expected);
    assert_eq!(app.scim.create_count() as usize, expected);
    // /ServiceProviderConfig and the one page of the 40 groups held, then the creates:
    // no lookup per group
    assert_eq!(
        app.scim.request_count() as usize,
        2 + expected,
        "requests besides the creates"
    );
    assert_no_duplicates(app.target_names());

    let before = app.scim.request_count();
    let second = syncer.run(&req(false), &Quiet).await;
    assert_eq!(second.status(), RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(second.counts().created, 0);
    assert_eq!(second.counts().existed, first.counts().existed + expected);
    assert_eq!(
        app.scim.create_count() as usize,
        expected,
        "nothing created"
    );
    // /ServiceProviderConfig, then the held groups in pages of 100
    let held = app.scim.groups().len();
    assert_eq!(
        (app.scim.request_count() - before) as usize,
        1 + held.div_ceil(100)
    );
    app.stop().await;
}

/// Requests that change the target (POST, PUT, PATCH, DELETE) the SCIM server has served.
fn scim_writes(app: &crate::harness::TestApp) -> u64 {
    let stats = app.scim.stats().to_json();
    let routes = stats["by_route"].as_object().cloned().unwrap_or_default();
    routes
        .iter()
        .filter(|(route, _)| {
            ["POST ", "PUT ", "PATCH ", "DELETE "]
                .iter()
                .any(|m| route.starts_with(m))
        })
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum()
}
