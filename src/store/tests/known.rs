//! Groups found existing as the run before found them are counted, not written; pages of
//! a run's outcomes are read with a name search.

use super::history::{record, record_of_job, report};
use crate::report::{ErrorKind, GroupOutcome, Outcome, RunFailure, RunReport};
use crate::store::{OutcomeQuery, Store};
use chrono::TimeDelta;

fn existed(id: &str, name: &str, scim_id: &str) -> GroupOutcome {
    GroupOutcome {
        source_id: id.into(),
        name: name.into(),
        source_name: None,
        outcome: Outcome::Existed {
            scim_id: scim_id.into(),
        },
    }
}

/// A run `minutes` after the first with these outcomes.
fn run(minutes: i64, outcomes: Vec<GroupOutcome>) -> RunReport {
    let mut r = report(0);
    r.started_at += TimeDelta::minutes(minutes);
    r.finished_at += TimeDelta::minutes(minutes);
    r.outcomes = outcomes;
    r
}

fn names(store: &Store, r: &RunReport) -> Vec<String> {
    let d = store.run(&r.run_id.0).unwrap().unwrap();
    d.outcomes.into_iter().map(|o| o.name).collect()
}

#[test]
fn only_groups_whose_outcome_changed_are_written() {
    let store = Store::in_memory().unwrap();
    let created = GroupOutcome {
        outcome: Outcome::Created {
            scim_id: "s3".into(),
        },
        ..existed("e3", "New", "s3")
    };
    let first = run(
        0,
        vec![
            existed("e1", "Ops", "s1"),
            existed("e2", "Dev", "s2"),
            created,
        ],
    );
    record(&store, &first, "cli", &[]);
    assert_eq!(names(&store, &first), ["Ops", "Dev", "New"]);
    assert_eq!(
        store.run(&first.run_id.0).unwrap().unwrap().run.unchanged,
        0
    );

    // Ops as before; Dev now points at another target group; New, created before, is now
    // found existing for the first time; Web is new
    let second = run(
        1,
        vec![
            existed("e1", "Ops", "s1"),
            existed("e2", "Dev", "s9"),
            existed("e3", "New", "s3"),
            existed("e4", "Web", "s4"),
        ],
    );
    record(&store, &second, "cli", &[]);
    let back = store.run(&second.run_id.0).unwrap().unwrap();
    assert_eq!(back.run.unchanged, 1);
    assert_eq!(back.run.counts.existed, 4, "the counts stay whole");
    assert_eq!(names(&store, &second), ["Dev", "New", "Web"]);

    // a failure in between makes the next "existed" news again
    let third = run(
        2,
        vec![
            GroupOutcome {
                outcome: Outcome::Failed {
                    error: "503".into(),
                },
                ..existed("e1", "Ops", "")
            },
            existed("e2", "Dev", "s9"),
        ],
    );
    record(&store, &third, "cli", &[]);
    assert_eq!(names(&store, &third), ["Ops"]);
    let fourth = run(
        3,
        vec![existed("e1", "Ops", "s1"), existed("e2", "Dev", "s9")],
    );
    record(&store, &fourth, "cli", &[]);
    assert_eq!(names(&store, &fourth), ["Ops"]);
    assert_eq!(
        store.run(&fourth.run_id.0).unwrap().unwrap().run.unchanged,
        1
    );
}

#[test]
fn a_dry_run_leaves_what_is_known_as_it_was() {
    let store = Store::in_memory().unwrap();
    let mut dry = run(0, vec![existed("e1", "Ops", "s1")]);
    dry.dry_run = true;
    record(&store, &dry, "cli", &[]);
    let real = run(1, vec![existed("e1", "Ops", "s1")]);
    record(&store, &real, "cli", &[]);
    assert_eq!(names(&store, &real), ["Ops"], "the dry run taught nothing");
}

#[test]
fn a_page_of_outcomes_is_read_with_a_search() {
    let store = Store::in_memory().unwrap();
    let outcomes = (0..250)
        .map(|i| existed(&format!("e{i:03}"), &format!("Group {i:03}_x"), "s"))
        .chain([existed("odd", "100%_off", "s")])
        .collect();
    let r = run(0, outcomes);
    record(&store, &r, "cli", &[]);

    let page = |q: OutcomeQuery| {
        let (d, matching) = store.run_page(&r.run_id.0, &q).unwrap().unwrap();
        let names: Vec<String> = d.outcomes.into_iter().map(|o| o.name).collect();
        (names, matching)
    };
    let (names, matching) = page(OutcomeQuery {
        limit: Some(100),
        offset: 200,
        ..OutcomeQuery::default()
    });
    assert_eq!(matching, 251);
    assert_eq!(names.len(), 51);
    assert_eq!(names[0], "Group 200_x");

    let (names, matching) = page(OutcomeQuery {
        search: Some("group 01".into()),
        limit: Some(5),
        ..OutcomeQuery::default()
    });
    assert_eq!(matching, 10, "case is ignored");
    assert_eq!(
        names,
        [
            "Group 010_x",
            "Group 011_x",
            "Group 012_x",
            "Group 013_x",
            "Group 014_x"
        ]
    );

    // % and _ are matched as themselves
    let (names, matching) = page(OutcomeQuery {
        search: Some("0%_".into()),
        ..OutcomeQuery::default()
    });
    assert_eq!((names, matching), (vec!["100%_off".to_owned()], 1));

    let (names, matching) = page(OutcomeQuery {
        kind: Some("created".into()),
        ..OutcomeQuery::default()
    });
    assert_eq!((names.len(), matching), (0, 0));
    assert!(
        store
            .run_page("nope", &OutcomeQuery::default())
            .unwrap()
            .is_none()
    );
}

/// The entitlement ids `job` knows, in order.
fn known(store: &Store, job: &str) -> Vec<String> {
    let conn = store.conn();
    let mut stmt = conn
        .prepare("SELECT source_id FROM known_groups WHERE job = ?1 ORDER BY source_id")
        .unwrap();
    stmt.query_map([job], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_run_that_read_the_whole_source_forgets_the_groups_gone_from_it() {
    let store = Store::in_memory().unwrap();
    let three = || {
        vec![
            existed("e1", "Ops", "s1"),
            existed("e2", "Dev", "s2"),
            existed("e3", "Web", "s3"),
        ]
    };
    record_of_job(&store, &run(0, three()), "us");
    record_of_job(&store, &run(0, three()), "eu");
    assert_eq!(known(&store, "us"), ["e1", "e2", "e3"]);

    // e2 is gone from the source: a run that failed, one that partly failed and a dry run
    // do not say so for sure, and forget nothing
    let mut failed = run(1, vec![existed("e1", "Ops", "s1")]);
    failed.error = Some(RunFailure {
        kind: ErrorKind::SourceUnreadable,
        message: "page 2 failed".into(),
    });
    record_of_job(&store, &failed, "us");
    let partly = run(
        2,
        vec![
            existed("e1", "Ops", "s1"),
            GroupOutcome {
                outcome: Outcome::Failed {
                    error: "503".into(),
                },
                ..existed("e4", "New", "")
            },
        ],
    );
    record_of_job(&store, &partly, "us");
    let mut dry = run(3, vec![existed("e1", "Ops", "s1")]);
    dry.dry_run = true;
    record_of_job(&store, &dry, "us");
    assert_eq!(known(&store, "us"), ["e1", "e2", "e3", "e4"]);

    // a run that succeeded forgets e2 and keeps the rest, an orphan it found included
    let orphan = GroupOutcome {
        outcome: Outcome::Orphan {
            scim_id: "s9".into(),
        },
        ..existed("e9", "Old", "s9")
    };
    let succeeded = run(
        4,
        vec![
            existed("e1", "Ops", "s1"),
            existed("e3", "Web", "s3"),
            existed("e4", "New", "s4"),
            orphan,
        ],
    );
    record_of_job(&store, &succeeded, "us");
    assert_eq!(known(&store, "us"), ["e1", "e3", "e4", "e9"]);
    assert_eq!(
        known(&store, "eu"),
        ["e1", "e2", "e3"],
        "another job's are its own"
    );

    // what is still known is still counted, not written
    let again = run(
        5,
        vec![existed("e1", "Ops", "s1"), existed("e3", "Web", "s3")],
    );
    record_of_job(&store, &again, "us");
    let back = store.run(&again.run_id.0).unwrap().unwrap();
    assert_eq!(back.run.unchanged, 2);
    assert_eq!(known(&store, "us"), ["e1", "e3"]);
}
