//! What groupsync owns, end to end through the binary against the sandbox: a renamed AD
//! group is reported, then renamed with `sync.rename` and never created twice; a removed
//! one is an orphan on the first run and deleted only on the second successful run in a row
//! with `sync.delete_orphans` and `safety.max_deletes_per_run` ≥ 1, refused above the limit;
//! a group made by hand is never renamed or deleted, and adopted only with `sync.adopt`
//! (by PUT where the target has no PATCH). After every run, every group groupsync created
//! carries its externalId.

use crate::harness::*;
use groupsync_sandbox::{AD_SOURCE_ID, SandboxOptions};
use serde_json::Value;
use std::process::Output;

/// `groupsync run <args> --json` with these `GROUPSYNC_*` variables; the exit code and
/// the run's JSON.
async fn run(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Value, Output) {
    let mut cmd = app.command();
    cmd.arg("run").args(args).arg("--json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(cmd).await;
    let view = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), view, out)
}

/// `groupsync run <args>` as text (what an operator reads).
async fn run_text(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = app.command();
    cmd.arg("run").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(cmd).await;
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The outcomes of `view` of this kind, as (name, outcome object).
fn outcomes<'a>(view: &'a Value, kind: &str) -> Vec<&'a Value> {
    view["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["outcome"] == kind)
        .collect()
}

fn names(outcomes: &[&Value]) -> Vec<String> {
    let mut n: Vec<String> = outcomes
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

/// Every group in the target not made by hand carries an externalId (an entitlement id).
fn assert_ours_carry_external_ids(app: &TestApp, by_hand: &[&str]) {
    for g in app.scim.groups() {
        if by_hand.contains(&g.display_name.as_str()) {
            continue;
        }
        let ext = g.external_id.as_deref().unwrap_or_default();
        assert!(
            ext.len() == 32 && ext.chars().all(|c| c.is_ascii_hexdigit()),
            "{:?} carries no entitlement id as externalId: {ext:?}",
            g.display_name
        );
    }
}

/// The target's group of this exact name.
fn group(app: &TestApp, name: &str) -> Option<groupsync_sandbox::scim::GroupSummary> {
    app.scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == name)
}

fn opts(groups: &[&str], by_hand: &[&str]) -> SandboxOptions {
    SandboxOptions {
        groups: groups.iter().map(|g| g.to_string()).collect(),
        existing: by_hand.iter().map(|g| g.to_string()).collect(),
        ..SandboxOptions::default()
    }
}

const PER_GROUP: (&str, &str) = ("GROUPSYNC_SYNC__TARGET_LOOKUP", "per_group");
const LISTING: (&str, &str) = ("GROUPSYNC_SYNC__TARGET_LOOKUP", "listing");
const RENAME: (&str, &str) = ("GROUPSYNC_SYNC__RENAME", "true");

#[tokio::test]
async fn a_renamed_ad_group_is_reported_then_renamed_and_never_created_twice() {
    let app = spawn_app(opts(&["Finance", "Sales", "Ops", "HR"], &[])).await;
    let (code, first, _) = run(&app, &[], &[PER_GROUP]).await;
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(first["counts"]["created"], 4);
    assert_ours_carry_external_ids(&app, &[]);
    let finance = group(&app, "Finance").unwrap();

    app.tenant
        .rename_group(AD_SOURCE_ID, "Finance", "Finance EU");
    for mode in [PER_GROUP, LISTING] {
        let (code, view, _) = run(&app, &[], &[mode]).await;
        assert_eq!(code, Some(0), "{view}");
        let would = outcomes(&view, "would_rename");
        assert_eq!(names(&would), ["Finance EU"], "{view}");
        assert_eq!(would[0]["from"], "Finance");
        assert_eq!(would[0]["scim_id"], finance.id.as_str());
        assert_eq!(view["counts"]["would_rename"], 1);
        assert_eq!(
            view["counts"]["created"], 0,
            "never created under the new name"
        );
        assert_eq!(app.scim.groups().len(), 4);
        assert!(group(&app, "Finance").is_some());
    }
    let dry = run_text(&app, &["--dry-run"], &[RENAME]).await;
    assert!(
        dry.contains("would rename \"Finance\" -> \"Finance EU\""),
        "{dry}"
    );
    assert!(group(&app, "Finance").is_some(), "a dry run writes nothing");

    let (code, view, _) = run(&app, &[], &[PER_GROUP, RENAME]).await;
    assert_eq!(code, Some(0), "{view}");
    let renamed = outcomes(&view, "renamed");
    assert_eq!(names(&renamed), ["Finance EU"], "{view}");
    assert_eq!(renamed[0]["from"], "Finance");
    let now = group(&app, "Finance EU").expect("renamed in the target");
    assert_eq!(now.id, finance.id, "the same group, renamed");
    assert_eq!(now.external_id, finance.external_id);
    assert_eq!(app.scim.groups().len(), 4);
    assert_no_duplicates(app.target_names());
    assert_ours_carry_external_ids(&app, &[]);

    // The history and the next run agree: it is simply ours, under its new name.
    let (_, next, _) = run(&app, &[], &[PER_GROUP, RENAME]).await;
    assert!(outcomes(&next, "renamed").is_empty(), "{next}");
    assert_eq!(next["counts"]["existed"], 4);
    let mut show = groupsync();
    show.args(["executions", "--store"])
        .arg(&app.store)
        .args(["show", view["id"].as_str().unwrap()]);
    let shown = String::from_utf8_lossy(&output(show).await.stdout).into_owned();
    assert!(
        shown.contains("renamed      \"Finance\" -> \"Finance EU\""),
        "{shown}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_removed_ad_group_is_an_orphan_then_deleted_on_the_second_successful_run_within_the_limit()
 {
    let groups = ["G1", "G2", "G3", "G4", "G5", "G6"];
    let app = spawn_app(opts(&groups, &[])).await;
    let (code, first, _) = run(&app, &[], &[]).await;
    assert_eq!(
        (code, &first["counts"]["created"]),
        (Some(0), &Value::from(6))
    );
    app.tenant.remove_group(AD_SOURCE_ID, "G1");
    app.tenant.remove_group(AD_SOURCE_ID, "G2");
    let delete = [
        ("GROUPSYNC_SYNC__DELETE_ORPHANS", "true"),
        ("GROUPSYNC_SAFETY__MAX_DELETES_PER_RUN", "1"),
    ];
    let delete_two = [
        ("GROUPSYNC_SYNC__DELETE_ORPHANS", "true"),
        ("GROUPSYNC_SAFETY__MAX_DELETES_PER_RUN", "2"),
    ];

    // First run that finds them gone: reported, nothing deleted (even with deletion on).
    let (code, seen, _) = run(&app, &[], &delete).await;
    assert_eq!(code, Some(0), "{seen}");
    assert_eq!(seen["status"], "succeeded");
    assert_eq!(names(&outcomes(&seen, "orphan")), ["G1", "G2"], "{seen}");
    assert_eq!(seen["counts"]["orphans"], 2);
    assert_eq!(seen["counts"]["source"], 4, "orphans are not source groups");
    assert_eq!(app.scim.groups().len(), 6);

    // Second run: two deletes due, one allowed: the run is refused, nothing deleted.
    let (code, refused, out) = run(&app, &[], &delete).await;
    assert_eq!(code, Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_deletes_per_run")
    );
    assert_eq!(app.scim.groups().len(), 6);

    // Report only, whatever the count: without delete_orphans, or with a limit of 0.
    let report_only = [("GROUPSYNC_SYNC__DELETE_ORPHANS", "true")];
    let (code, reported, _) = run(&app, &[], &report_only).await;
    assert_eq!(code, Some(0), "{reported}");
    assert_eq!(names(&outcomes(&reported, "orphan")), ["G1", "G2"]);
    let dry = run_text(&app, &["--dry-run"], &delete_two).await;
    assert!(dry.contains("would delete \"G1\""), "{dry}");
    assert_eq!(app.scim.groups().len(), 6);

    let (code, deleted, _) = run(&app, &[], &delete_two).await;
    assert_eq!(code, Some(0), "{deleted}");
    assert_eq!(
        names(&outcomes(&deleted, "deleted")),
        ["G1", "G2"],
        "{deleted}"
    );
    let mut left = app.target_names();
    left.sort();
    assert_eq!(left, ["G3", "G4", "G5", "G6"]);
    assert_ours_carry_external_ids(&app, &[]);

    // Gone and forgotten: nothing more to report.
    let (_, after, _) = run(&app, &[], &delete_two).await;
    assert!(outcomes(&after, "orphan").is_empty() && outcomes(&after, "deleted").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_orphan_must_be_missing_on_two_successful_runs_in_a_row() {
    let app = spawn_app(opts(&["G1", "G2", "G3"], &[])).await;
    let delete = [
        ("GROUPSYNC_SYNC__DELETE_ORPHANS", "true"),
        ("GROUPSYNC_SAFETY__MAX_DELETES_PER_RUN", "5"),
    ];
    assert_eq!(run(&app, &[], &delete).await.0, Some(0));
    app.tenant.remove_group(AD_SOURCE_ID, "G1");
    let (_, seen, _) = run(&app, &[], &delete).await;
    assert_eq!(names(&outcomes(&seen, "orphan")), ["G1"]);
    // Back in AD before the second run: the count starts again.
    app.tenant.add_group(AD_SOURCE_ID, "G1");
    let (_, back, _) = run(&app, &[], &delete).await;
    assert!(outcomes(&back, "orphan").is_empty(), "{back}");
    app.tenant.remove_group(AD_SOURCE_ID, "G1");
    let (_, again, _) = run(&app, &[], &delete).await;
    assert_eq!(names(&outcomes(&again, "orphan")), ["G1"], "{again}");
    assert!(group(&app, "G1").is_some());
    let (_, deleted, _) = run(&app, &[], &delete).await;
    assert_eq!(names(&outcomes(&deleted, "deleted")), ["G1"], "{deleted}");
    assert!(group(&app, "G1").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_group_made_by_hand_is_never_renamed_or_deleted() {
    let app = spawn_app(opts(&["Finance", "Sales", "Ops", "HR"], &["Sales", "HR"])).await;
    let everything = [
        RENAME,
        ("GROUPSYNC_SYNC__DELETE_ORPHANS", "true"),
        ("GROUPSYNC_SAFETY__MAX_DELETES_PER_RUN", "5"),
    ];
    let (code, first, _) = run(&app, &[], &everything).await;
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(names(&outcomes(&first, "existed")), ["HR", "Sales"]);
    app.tenant.remove_group(AD_SOURCE_ID, "Sales");
    app.tenant.rename_group(AD_SOURCE_ID, "HR", "People");
    for _ in 0..3 {
        let (code, view, _) = run(&app, &[], &everything).await;
        assert_eq!(code, Some(0), "{view}");
        for kind in ["orphan", "deleted", "renamed", "would_rename"] {
            assert!(outcomes(&view, kind).is_empty(), "{kind}: {view}");
        }
        let sales = group(&app, "Sales").expect("never deleted");
        let hr = group(&app, "HR").expect("never renamed");
        assert_eq!((sales.external_id, hr.external_id), (None, None));
        assert_ours_carry_external_ids(&app, &["Sales", "HR"]);
    }
    assert!(
        group(&app, "People").is_some(),
        "the renamed AD group is new to the target"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_group_made_by_hand_is_adopted_only_with_adopt_by_put_without_patch() {
    let mut o = opts(&["Sales", "Ops"], &["Sales"]);
    o.scim_patch = false;
    let app = spawn_app(o).await;
    let adopt = [("GROUPSYNC_SYNC__ADOPT", "true")];
    let (code, first, _) = run(&app, &[], &[]).await;
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(names(&outcomes(&first, "existed")), ["Sales"]);
    let sales = group(&app, "Sales").unwrap();
    assert_eq!(sales.external_id, None, "not adopted without the setting");

    let dry = run_text(&app, &["--dry-run"], &adopt).await;
    assert!(
        dry.contains(&format!("would adopt  \"Sales\" ({})", sales.id)),
        "{dry}"
    );
    assert_eq!(group(&app, "Sales").unwrap().external_id, None);

    let (code, adopted, _) = run(&app, &[], &adopt).await;
    assert_eq!(code, Some(0), "{adopted}");
    assert_eq!(
        names(&outcomes(&adopted, "adopted")),
        ["Sales"],
        "{adopted}"
    );
    assert_eq!(adopted["counts"]["adopted"], 1);
    let now = group(&app, "Sales").unwrap();
    assert_eq!(now.id, sales.id, "the same group");
    assert_ours_carry_external_ids(&app, &[]);

    let (_, next, _) = run(&app, &[], &adopt).await;
    assert!(outcomes(&next, "adopted").is_empty(), "{next}");
    assert_eq!(next["counts"]["existed"], 2);
    app.stop().await;
}
