//! Telling once: groups already reported, failure and recovery alerts.

use crate::domain::RunId;
use crate::notify::once::{alert, newly_reported, unreported};
use crate::report::{ErrorKind, GroupOutcome, Outcome, RunFailure, RunReport};
use chrono::Utc;
use std::collections::HashSet;

fn report(outcomes: &[(&str, Outcome)]) -> RunReport {
    RunReport {
        run_id: RunId("run-1".into()),
        started_at: Utc::now(),
        finished_at: Utc::now(),
        dry_run: false,
        source: None,
        outcomes: outcomes
            .iter()
            .map(|(n, o)| GroupOutcome {
                source_id: format!("id-{n}"),
                name: n.to_string(),
                source_name: None,
                outcome: o.clone(),
            })
            .collect(),
        error: None,
        notices: vec![],
        guard: None,
        read: 0,
        stage: None,
        close_loop: None,
    }
}

fn existed() -> Outcome {
    Outcome::Existed {
        scim_id: "s".into(),
    }
}

fn created() -> Outcome {
    Outcome::Created {
        scim_id: "s".into(),
    }
}

fn failed() -> Outcome {
    Outcome::Failed {
        error: "503".into(),
    }
}

#[test]
fn groups_already_reported_are_left_out_whatever_their_case() {
    let r = report(&[
        ("Finance", existed()),
        ("Sales", existed()),
        ("Ops", created()),
        ("HR", failed()),
    ]);
    let reported: HashSet<String> = ["finance".to_string(), "ops".to_string()].into();
    let view = unreported(&r, &reported);
    let names: Vec<&str> = view.outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, vec!["Sales", "Ops", "HR"], "created and failed stay");
    let none = HashSet::new();
    assert_eq!(
        newly_reported(&view, &reported).collect::<Vec<_>>(),
        vec!["Sales"]
    );
    assert_eq!(
        newly_reported(&r, &none).collect::<Vec<_>>(),
        vec!["Finance", "Sales", "Ops"]
    );
}

#[test]
fn a_failure_alerts_once_and_a_recovery_once() {
    let ok = report(&[("Finance", created())]);
    let bad = report(&[("Finance", failed())]);
    let mut aborted = report(&[]);
    aborted.error = Some(RunFailure::new(
        ErrorKind::SourceUnreadable,
        "cannot read the source's groups",
    ));

    // first run succeeds: nothing to say
    assert_eq!(alert(None, &ok), (None, Some(false)));
    // first run fails: alert
    let (notice, state) = alert(None, &bad);
    let notice = notice.expect("alert at the first failure");
    assert_eq!(state, Some(true));
    assert_eq!(notice.key, "run-1/alert/failing");
    assert!(
        notice.subject.contains("partially_failed"),
        "{}",
        notice.subject
    );
    assert!(notice.body.contains("\"Finance\": 503"), "{}", notice.body);
    // failing after a success: alert; failing again: silence
    let (notice, _) = alert(Some(false), &aborted);
    assert!(
        notice
            .unwrap()
            .body
            .contains("cannot read the source's groups")
    );
    assert_eq!(alert(Some(true), &aborted), (None, Some(true)));
    assert_eq!(alert(Some(true), &bad), (None, Some(true)));
    // the first success after failures: recovery, once
    let (notice, state) = alert(Some(true), &ok);
    assert_eq!(state, Some(false));
    assert_eq!(notice.unwrap().subject, "groupsync: runs succeed again");
    assert_eq!(alert(Some(false), &ok), (None, Some(false)));
}

#[test]
fn dry_runs_neither_alert_nor_change_the_state() {
    let mut r = report(&[]);
    r.dry_run = true;
    r.error = Some(RunFailure::new(
        ErrorKind::SourceUnreadable,
        "source unreadable",
    ));
    assert_eq!(alert(Some(false), &r), (None, None));
}

#[test]
fn a_long_list_of_failures_is_cut_short() {
    let names: Vec<String> = (0..30).map(|i| format!("group {i}")).collect();
    let outcomes: Vec<(&str, Outcome)> = names.iter().map(|n| (n.as_str(), failed())).collect();
    let (notice, _) = alert(None, &report(&outcomes));
    let body = notice.unwrap().body;
    assert!(body.contains("30 groups failed"), "{body}");
    assert!(
        body.contains("group 19") && !body.contains("group 20\""),
        "{body}"
    );
    assert!(body.contains("and 10 more"), "{body}");
}

#[test]
fn the_failure_alert_names_the_kind_of_failure() {
    let mut r = report(&[]);
    r.error = Some(RunFailure::new(
        ErrorKind::TargetCredentials,
        "the SCIM target refused our credentials; nothing was changed",
    ));
    let (notice, _) = alert(None, &r);
    let body = notice.expect("a failed run alerts").body;
    assert!(
        body.contains(
            "The run stopped (target_credentials): the SCIM target refused our credentials"
        ),
        "{body}"
    );
}

#[test]
fn the_failure_alert_names_the_stage_and_how_many_groups_were_read() {
    let mut r = report(&[]);
    r.error = Some(RunFailure::new(
        ErrorKind::SourceUnreadable,
        "cannot read the source's groups; nothing was changed",
    ));
    r.stage = Some(crate::report::Stage::Source);
    r.read = 20;
    let (notice, _) = alert(None, &r);
    let body = notice.expect("a failed run alerts").body;
    assert!(
        body.contains("It failed in source, after reading 20 groups from the source."),
        "{body}"
    );
}

#[test]
fn the_token_warning_is_told_at_most_once_a_day() {
    use crate::notify::once::token_warning;
    use crate::scim::expiry::fixture::{self, at};
    let expiry = fixture::on("2026-06-30");
    let now = at("2026-06-20T08:00:00Z");
    // Not within the window, or nothing known: nothing to tell.
    assert_eq!(token_warning(Some(&expiry), None, at("2026-06-01")), None);
    assert_eq!(token_warning(None, None, now), None);
    // Never told: told now.
    let told = token_warning(Some(&expiry), None, now).unwrap();
    assert!(told.contains("expires on 2026-06-30"), "{told}");
    // Told less than a day ago: not again; a day later: again.
    let earlier = at("2026-06-19T08:00:01Z");
    assert_eq!(token_warning(Some(&expiry), Some(earlier), now), None);
    let day_before = at("2026-06-19T08:00:00Z");
    assert!(token_warning(Some(&expiry), Some(day_before), now).is_some());
}

#[test]
fn the_token_warning_joins_the_digest_or_goes_alone() {
    use crate::notify::{Notice, add_token_warning};
    let r = report(&[]);
    let mut notices = vec![Notice {
        key: "run-1/digest".into(),
        subject: "s".into(),
        body: "b\n".into(),
    }];
    add_token_warning(&mut notices, &r, "the SCIM token expires on X");
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].body,
        "b\n\nWarning: the SCIM token expires on X.\n"
    );
    let mut alone = vec![];
    add_token_warning(&mut alone, &r, "the SCIM token expires on X");
    assert_eq!(alone[0].key, "run-1/scim-token");
    assert!(
        alone[0]
            .body
            .contains("Warning: the SCIM token expires on X.")
    );
}
