//! Runs and their outcomes: round trip, listing, paging, retention.

use crate::domain::RunId;
use crate::notify::Notice;
use crate::report::{
    ErrorKind, GroupOutcome, NoticeState, Outcome, RunFailure, RunReport, RunStatus, SkipReason,
    SourceInfo,
};
use crate::store::{Recording, ReportedNames, RunRecord, Store, StoreError};
use chrono::{TimeDelta, TimeZone, Utc};

fn group(name: &str, outcome: Outcome) -> GroupOutcome {
    GroupOutcome {
        source_id: format!("id-{name}"),
        name: name.into(),
        source_name: None,
        outcome,
    }
}

/// A report with one outcome of every kind and awkward names, started `minutes` after noon.
pub(super) fn report(minutes: i64) -> RunReport {
    let started = Utc.with_ymd_and_hms(2025, 3, 30, 12, 0, 0).unwrap()
        + TimeDelta::minutes(minutes)
        + TimeDelta::nanoseconds(123_456_789);
    RunReport {
        run_id: RunId::new(),
        started_at: started,
        finished_at: started + TimeDelta::milliseconds(1500),
        dry_run: false,
        source: Some(SourceInfo {
            id: "src-1".into(),
            name: "Active Directory".into(),
        }),
        outcomes: vec![
            group(
                "Finance",
                Outcome::Created {
                    scim_id: "s1".into(),
                },
            ),
            group(
                "<b>Ops</b> \"x\"",
                Outcome::Existed {
                    scim_id: "s2".into(),
                },
            ),
            group("  padded\t", Outcome::WouldCreate),
            group(
                "FINANCE",
                Outcome::Skipped {
                    reason: SkipReason::DuplicateInSource {
                        others: vec!["Finance".into()],
                    },
                },
            ),
            group(
                "",
                Outcome::Skipped {
                    reason: SkipReason::EmptyName,
                },
            ),
            group(
                "Équipe 📊",
                Outcome::Failed {
                    error: "503 from the target".into(),
                },
            ),
        ],
        error: None,
        notices: vec![],
        guard: None,
        read: 0,
        stage: None,
        close_loop: None,
    }
}

pub(super) fn record(store: &Store, report: &RunReport, trigger: &str, notices: &[Notice]) {
    store
        .record(&Recording {
            run: &RunRecord::of(report, trigger),
            outcomes: &report.outcomes,
            notices,
            reported: &ReportedNames::default(),
            failing: None,
            settled: &[],
        })
        .unwrap();
}

/// Records `report` as a run of `job` from the CLI, without notices.
pub(super) fn record_of_job(store: &Store, report: &RunReport, job: &str) {
    store
        .record(&Recording {
            run: &RunRecord::of(report, "cli").of_job(job),
            outcomes: &report.outcomes,
            notices: &[],
            reported: &ReportedNames::default(),
            failing: None,
            settled: &[],
        })
        .unwrap();
}

#[test]
fn a_report_reads_back_exactly() {
    let store = Store::in_memory().unwrap();
    let original = report(0);
    let notice = Notice {
        key: format!("{}/digest", original.run_id),
        subject: "groupsync: 1 created".into(),
        body: "body".into(),
    };
    record(
        &store,
        &original,
        "webhook+schedule",
        std::slice::from_ref(&notice),
    );

    let detail = store.run(&original.run_id.0).unwrap().expect("recorded");
    assert_eq!(detail.run.trigger, "webhook+schedule");
    assert_eq!(detail.run.status, RunStatus::PartiallyFailed.as_str());
    assert_eq!(detail.run.counts, original.counts());
    assert_eq!(detail.notices.len(), 1);
    assert_eq!(detail.notices[0].state, NoticeState::Queued);
    assert_eq!(detail.notices[0].subject, notice.subject);
    let back = detail.into_report();
    assert_eq!(back.run_id, original.run_id);
    assert_eq!(back.started_at, original.started_at, "nanoseconds kept");
    assert_eq!(back.finished_at, original.finished_at);
    assert_eq!(back.source, original.source);
    assert_eq!(back.outcomes, original.outcomes);
    assert_eq!(back.error, original.error);
    assert_eq!(back.status(), original.status());
}

#[test]
fn a_failed_run_without_source_reads_back() {
    let store = Store::in_memory().unwrap();
    let mut failed = report(0);
    failed.outcomes.clear();
    failed.source = None;
    failed.error = Some(RunFailure::new(
        ErrorKind::SourceUnreadable,
        "cannot read the source's groups; nothing was changed",
    ));
    record(&store, &failed, "cli", &[]);
    let back = store.run(&failed.run_id.0).unwrap().unwrap();
    assert_eq!(back.run.status, "failed");
    assert_eq!(back.run.source, None);
    assert_eq!(back.run.error, failed.error);
    assert!(back.outcomes.is_empty());
}

#[test]
fn the_error_kind_is_stored_and_read_back() {
    let store = Store::in_memory().unwrap();
    let mut failed = report(0);
    failed.error = Some(RunFailure::new(
        ErrorKind::TargetUnreachable,
        "every lookup in the SCIM target failed; nothing was changed",
    ));
    record(&store, &failed, "cli", &[]);
    let kind: Option<String> = store
        .conn()
        .query_row("SELECT error_kind FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind.as_deref(), Some("target_unreachable"));
    let back = store.runs(1, None).unwrap().remove(0);
    assert_eq!(back.error.unwrap().kind, ErrorKind::TargetUnreachable);
    let json = serde_json::to_value(store.run(&failed.run_id.0).unwrap().unwrap()).unwrap();
    assert_eq!(json["error"]["kind"], "target_unreachable");
    assert_eq!(
        json["error"]["message"],
        "every lookup in the SCIM target failed; nothing was changed"
    );
}

#[test]
fn an_error_recorded_without_a_kind_reads_back_as_unknown() {
    let store = Store::in_memory().unwrap();
    let mut failed = report(0);
    failed.error = Some(RunFailure::new(ErrorKind::Store, "disk full"));
    record(&store, &failed, "cli", &[]);
    // as a version without the column left it
    store
        .conn()
        .execute("UPDATE runs SET error_kind = NULL", [])
        .unwrap();
    let back = store.run(&failed.run_id.0).unwrap().unwrap();
    assert_eq!(
        back.run.error,
        Some(RunFailure::new(ErrorKind::Unknown, "disk full"))
    );
}

#[test]
fn outcomes_can_be_filtered_by_kind() {
    let store = Store::in_memory().unwrap();
    let r = report(0);
    record(&store, &r, "cli", &[]);
    let skipped = store
        .run_filtered(&r.run_id.0, Some("skipped"))
        .unwrap()
        .unwrap();
    let names: Vec<&str> = skipped.outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, vec!["FINANCE", ""]);
    assert_eq!(skipped.run.counts.source, 6, "counts stay those of the run");
    assert!(store.run("no-such-run").unwrap().is_none());
}

#[test]
fn runs_list_newest_first_and_page_with_before() {
    let store = Store::in_memory().unwrap();
    let reports: Vec<RunReport> = (0..5).map(report).collect();
    for r in &reports {
        record(&store, r, "schedule", &[]);
    }
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let first = ids(store.runs(2, None).unwrap());
    assert_eq!(
        first,
        vec![reports[4].run_id.0.clone(), reports[3].run_id.0.clone()]
    );
    let next = ids(store.runs(2, Some(&first[1])).unwrap());
    assert_eq!(
        next,
        vec![reports[2].run_id.0.clone(), reports[1].run_id.0.clone()]
    );
    let last = ids(store.runs(2, Some(&next[1])).unwrap());
    assert_eq!(last, vec![reports[0].run_id.0.clone()]);
    assert!(matches!(
        store.runs(2, Some("unknown")),
        Err(StoreError::UnknownRun(id)) if id == "unknown"
    ));
}

#[test]
fn finishing_a_run_updates_its_end_and_status() {
    let store = Store::in_memory().unwrap();
    let r = report(0);
    record(&store, &r, "cli", &[]);
    let end = r.finished_at + TimeDelta::seconds(3);
    store.finish_run(&r.run_id.0, end, "failed").unwrap();
    let back = store.run(&r.run_id.0).unwrap().unwrap();
    assert_eq!(back.run.finished_at, end);
    assert_eq!(back.run.status, "failed");
}

#[test]
fn retention_deletes_old_runs_and_sent_notices_but_keeps_waiting_ones() {
    let store = Store::in_memory().unwrap();
    let (old, new) = (report(0), report(60));
    let waiting = Notice {
        key: "old/waiting".into(),
        subject: "s".into(),
        body: "b".into(),
    };
    let sent = Notice {
        key: "old/sent".into(),
        ..waiting.clone()
    };
    record(&store, &old, "cli", &[waiting, sent]);
    record(&store, &new, "cli", &[]);
    store.notice_sent("old/sent").unwrap();

    // notices are queued "now", so a cutoff in the future covers them too
    let deleted = store.prune(Utc::now() + TimeDelta::minutes(1)).unwrap();
    assert_eq!(deleted, 2);
    assert!(store.runs(10, None).unwrap().is_empty());
    let pending = store.pending_notices(10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].notice.key, "old/waiting");
    let outcomes: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM run_groups", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outcomes, 0, "outcomes go with their run");

    // a cutoff between the two runs keeps the newer one
    record(&store, &old, "cli", &[]);
    record(&store, &new, "cli", &[]);
    let cutoff = new.started_at - TimeDelta::minutes(1);
    assert_eq!(store.prune(cutoff).unwrap(), 1);
    assert_eq!(store.runs(10, None).unwrap()[0].id, new.run_id.0);
}

#[test]
fn reported_groups_and_the_failing_state_are_recorded_with_the_run() {
    let store = Store::in_memory().unwrap();
    let r = report(0);
    assert_eq!(store.failing("default").unwrap(), None);
    store
        .record(&Recording {
            run: &RunRecord::of(&r, "cli"),
            outcomes: &r.outcomes,
            notices: &[],
            reported: &ReportedNames::of(["Finance", "Équipe"]),
            failing: Some(true),
            settled: &[],
        })
        .unwrap();
    let reported = store.reported_groups("default").unwrap();
    assert!(reported.contains("finance") && reported.contains("équipe"));
    assert_eq!(store.failing("default").unwrap(), Some(true));
}

#[test]
fn recording_is_all_or_nothing() {
    let store = Store::in_memory().unwrap();
    let r = report(0);
    record(&store, &r, "cli", &[]);
    // the same run again: the insert fails, so nothing of the second recording stays
    let notice = Notice {
        key: "second".into(),
        subject: "s".into(),
        body: "b".into(),
    };
    let again = store.record(&Recording {
        run: &RunRecord::of(&r, "cli"),
        outcomes: &r.outcomes,
        notices: &[notice],
        reported: &ReportedNames::of(["Sales"]),
        failing: Some(true),
        settled: &[],
    });
    assert!(again.is_err());
    assert!(store.pending_notices(10).unwrap().is_empty());
    assert!(store.reported_groups("default").unwrap().is_empty());
    assert_eq!(store.failing("default").unwrap(), None);
}

#[test]
fn the_last_success_of_a_source_ignores_other_sources_and_other_outcomes() {
    let store = Store::in_memory().unwrap();
    assert_eq!(store.last_success_of("src-1").unwrap(), None);
    let succeeded = |minutes: i64, source: &str| {
        let mut r = report(minutes);
        r.outcomes
            .retain(|o| !matches!(o.outcome, Outcome::Failed { .. }));
        r.source = Some(SourceInfo {
            id: source.into(),
            name: "AD".into(),
        });
        r
    };
    let first = succeeded(0, "src-1");
    record(&store, &first, "cli", &[]);
    record(&store, &succeeded(5, "src-2"), "cli", &[]);
    let mut refused = succeeded(10, "src-1");
    refused.outcomes.clear();
    refused.error = Some(RunFailure::new(ErrorKind::GuardRefused, "refused"));
    record(&store, &refused, "cli", &[]);
    // A partly failed run of the same source is not a success either.
    record(&store, &report(15), "cli", &[]);

    let last = store
        .last_success_of("src-1")
        .unwrap()
        .expect("one success");
    assert_eq!(last.id, first.run_id.0);
    assert_eq!(last.counts, first.counts());
    let refused = store.run(&refused.run_id.0).unwrap().unwrap();
    assert_eq!(refused.run.status, RunStatus::Refused.as_str());
    assert_eq!(
        refused.into_report().guard.map(|g| g.kind),
        Some(ErrorKind::GuardRefused)
    );
}

#[test]
fn a_renamed_group_and_a_scoping_skip_read_back() {
    let store = Store::in_memory().unwrap();
    let mut original = report(0);
    original.outcomes = vec![
        GroupOutcome {
            source_name: Some("GRP_Finance".into()),
            ..group("AD-Finance", Outcome::WouldCreate)
        },
        group(
            "Printers",
            Outcome::Skipped {
                reason: SkipReason::OutOfScope {
                    rule: "sync.exclude_names[0]".into(),
                    pattern: Some("printers".into()),
                },
            },
        ),
    ];
    record(&store, &original, "cli", &[]);
    let back = store
        .run(&original.run_id.0)
        .unwrap()
        .unwrap()
        .into_report();
    assert_eq!(back.outcomes, original.outcomes);
}

#[test]
fn the_close_loop_step_is_stored_and_read_back() {
    use crate::report::{CloseLoop, LoopGroup, LoopState, NEEDS_PAT};
    let store = Store::in_memory().unwrap();
    let mut r = report(0);
    let step = CloseLoop {
        state: LoopState::NotDone,
        source: Some(SourceInfo {
            id: "scim-src".into(),
            name: "Alation SCIM".into(),
        }),
        task_id: None,
        message: NEEDS_PAT.into(),
        groups: vec![LoopGroup {
            name: "Finance".into(),
            entitlement_id: None,
        }],
    };
    r.close_loop = Some(step.clone());
    record(&store, &r, "cli", &[]);
    let back = store.run(&r.run_id.0).unwrap().unwrap();
    assert_eq!(back.run.close_loop.as_ref(), Some(&step));
    assert_eq!(back.into_report().close_loop, Some(step));
    let listed = store.runs(10, None).unwrap();
    assert_eq!(
        listed[0].close_loop.as_ref().map(|l| l.state),
        Some(LoopState::NotDone)
    );
    let mut without = report(1);
    without.close_loop = None;
    record(&store, &without, "cli", &[]);
    assert_eq!(
        store
            .run(&without.run_id.0)
            .unwrap()
            .unwrap()
            .run
            .close_loop,
        None
    );
}

#[test]
fn runs_keep_their_job_and_read_back_by_job() {
    let store = Store::in_memory().unwrap();
    let succeeded = |minutes: i64| {
        let mut r = report(minutes);
        r.outcomes
            .retain(|o| !matches!(o.outcome, Outcome::Failed { .. }));
        r
    };
    let recorded = |r: &RunReport, job: &str| record_of_job(&store, r, job);
    let (us, eu, us_later) = (succeeded(0), succeeded(5), succeeded(10));
    recorded(&us, "us");
    recorded(&eu, "eu");
    recorded(&us_later, "us");
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.runs_of(Some("us"), 10, None).unwrap()),
        [us_later.run_id.0.as_str(), us.run_id.0.as_str()]
    );
    assert_eq!(
        ids(store
            .runs_of(Some("us"), 10, Some(&us_later.run_id.0))
            .unwrap()),
        [us.run_id.0.as_str()]
    );
    assert_eq!(
        ids(store.runs_of(Some("eu"), 10, None).unwrap()),
        [eu.run_id.0.as_str()]
    );
    assert_eq!(store.runs(10, None).unwrap().len(), 3);
    assert_eq!(store.jobs_in_history().unwrap(), ["eu", "us"]);
    assert_eq!(store.run(&eu.run_id.0).unwrap().unwrap().run.job, "eu");
    // the guards of a job compare with that job's own last success, the same source or not
    let last = |job: &str| {
        store
            .last_success_of_job(job, "src-1")
            .unwrap()
            .map(|r| r.id)
    };
    assert_eq!(last("eu"), Some(eu.run_id.0.clone()));
    assert_eq!(last("us"), Some(us_later.run_id.0.clone()));
    assert_eq!(last("default"), None);
}

#[test]
fn each_job_owns_its_own_groups() {
    use crate::domain::ManagedGroup;
    let store = Store::in_memory().unwrap();
    let group = |scim_id: &str| ManagedGroup {
        external_id: "e-1".into(),
        scim_id: scim_id.into(),
        name: "Finance".into(),
        missing_runs: 0,
    };
    store
        .record_managed_of("us", &[group("us-41")], &[], &[])
        .unwrap();
    store
        .record_managed_of("eu", &[group("eu-7")], &[], &[])
        .unwrap();
    store
        .record_managed_of("eu", &[], &[], &["e-1".into()])
        .unwrap();
    assert_eq!(store.managed_groups_of("us").unwrap(), [group("us-41")]);
    let eu = store.managed_groups_of("eu").unwrap();
    assert_eq!((eu[0].scim_id.as_str(), eu[0].missing_runs), ("eu-7", 1));
    store
        .record_managed_of("us", &[], &["e-1".into()], &[])
        .unwrap();
    assert!(store.managed_groups_of("us").unwrap().is_empty());
    assert_eq!(store.managed_groups_of("eu").unwrap().len(), 1);
    assert!(store.managed_groups().unwrap().is_empty());
}

#[test]
fn each_job_remembers_its_own_told_groups_posted_groups_and_failing_state() {
    let store = Store::in_memory().unwrap();
    let r = report(0);
    store
        .record(&Recording {
            run: &RunRecord::of(&r, "cli").of_job("eu"),
            outcomes: &r.outcomes,
            notices: &[],
            reported: &ReportedNames::of(["Finance"]),
            failing: Some(true),
            settled: &[],
        })
        .unwrap();
    assert!(store.reported_groups("eu").unwrap().contains("finance"));
    assert!(store.reported_groups("default").unwrap().is_empty());
    assert_eq!(store.failing("eu").unwrap(), Some(true));
    assert_eq!(store.failing("default").unwrap(), None);

    let running = report(1);
    let mut row = RunRecord::of(&running, "cli").of_job("us");
    row.status = crate::store::RUNNING.to_owned();
    store.begin_run(&row).unwrap();
    store
        .journal_posting(&running.run_id.0, "Sales", Utc::now())
        .unwrap();
    assert!(store.own_groups("us").unwrap().contains("sales"));
    assert!(store.own_groups("eu").unwrap().is_empty());
}
