//! An Entra ID source end to end: only its group entitlements become groups (not its
//! licences or roles), case twins are settled as the IdentityNow Workflow settles them, and
//! a name the target refuses is reported once and then shown as still refused without
//! being sent again.

use crate::harness::*;
use groupsync::report::{Outcome, RunReport, matched_names};
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::{Connector, SandboxOptions};
use std::collections::BTreeSet;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn run(syncer: &Syncer, dry_run: bool) -> RunReport {
    syncer
        .run(&RunRequest::new([TriggerKind::Cli], dry_run), &Quiet)
        .await
}

fn outcome<'a>(report: &'a RunReport, name: &str) -> &'a Outcome {
    &report
        .outcomes
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no outcome for {name:?}"))
        .outcome
}

#[tokio::test]
async fn an_entra_source_gives_its_groups_twins_once_and_refused_names_once() {
    let long = "L".repeat(300);
    let app = spawn_app(SandboxOptions {
        connector: Connector::Entra,
        groups: names(&["Finance", "FINANCE", "Sales", &long]),
        scim_max_name_length: Some(256),
        ..SandboxOptions::default()
    })
    .await;
    let store = Store::in_memory().unwrap();
    let syncer = Syncer::new(app.settings(&[]), store.clone()).unwrap();

    let dry = run(&syncer, true).await;
    assert!(dry.error.is_none(), "{:?}", dry.error);
    assert_eq!(app.scim.create_count(), 0);

    let first = run(&syncer, false).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    // Four group entitlements; the licences and roles are not among the outcomes.
    assert_eq!(first.outcomes.len(), 4);
    let twins: Vec<&str> = first
        .outcomes
        .iter()
        .filter(|o| o.name.eq_ignore_ascii_case("finance"))
        .map(|o| o.name.as_str())
        .collect();
    let (created, twin) = match outcome(&first, twins[0]) {
        Outcome::Created { .. } => (twins[0], twins[1]),
        _ => (twins[1], twins[0]),
    };
    assert!(matches!(outcome(&first, created), Outcome::Created { .. }));
    let Outcome::Existed { scim_id } = outcome(&first, twin) else {
        panic!("the twin is found existing: {:?}", outcome(&first, twin));
    };
    assert!(!scim_id.is_empty());
    let matched = matched_names(&first.outcomes);
    assert_eq!(matched.len(), 1);
    assert_eq!(matched.values().copied().collect::<Vec<_>>(), vec![created]);
    let Outcome::Failed { error } = outcome(&first, &long) else {
        panic!("the long name fails: {:?}", outcome(&first, &long));
    };
    assert!(
        error.contains("400") && error.contains("at most 256"),
        "{error}"
    );
    // The target holds exactly the group entitlements it accepts: no licence, no role.
    let target: BTreeSet<String> = app.target_names().into_iter().collect();
    assert_eq!(
        target,
        BTreeSet::from([created.to_owned(), "Sales".to_owned()])
    );
    assert_eq!(app.scim.create_count(), 2);
    assert_eq!(app.scim.refused_name_count(), 1);
    // The digest tells about the twin, under the name it matched.
    let body = app
        .smtp
        .messages()
        .iter()
        .map(|m| m.body_text())
        .find(|b| b.contains("Already in Alation"))
        .expect("a digest");
    assert!(
        body.contains(&format!("\"{twin}\": found existing as \"{created}\"")),
        "{body}"
    );

    let second = run(&syncer, false).await;
    assert!(second.error.is_none(), "{:?}", second.error);
    let Outcome::Failed { error } = outcome(&second, &long) else {
        panic!("still refused: {:?}", outcome(&second, &long));
    };
    assert!(error.starts_with("still refused"), "{error}");
    assert!(error.contains("at most 256"), "{error}");
    assert_eq!(app.scim.create_count(), 2);
    assert_eq!(
        app.scim.refused_name_count(),
        1,
        "the refused name is not sent again"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_entra_source_with_only_licences_and_roles_is_refused_naming_what_it_has() {
    let app = spawn_app(SandboxOptions {
        connector: Connector::Entra,
        groups: vec![],
        ..SandboxOptions::default()
    })
    .await;
    let syncer = Syncer::new(app.settings(&[]), Store::in_memory().unwrap()).unwrap();
    let report = run(&syncer, false).await;
    let said = report.error.expect("refused").message;
    for part in ["assignedLicenses (2)", "directoryRoles (2)", "source.id eq"] {
        assert!(said.contains(part), "{part}: {said}");
    }
    assert_eq!(app.scim.create_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn dry_run_prints_what_was_selected_and_left_out() {
    let app = spawn_app(SandboxOptions {
        connector: Connector::Entra,
        groups: names(&["Finance", "Sales"]),
        ..SandboxOptions::default()
    })
    .await;
    let mut cmd = app.command();
    cmd.args(["run", "--dry-run"]);
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("2 group entitlements selected (2 under groups)")
            && stdout.contains("2 under assignedLicenses, 2 under directoryRoles"),
        "{stdout}"
    );
    app.stop().await;
}
