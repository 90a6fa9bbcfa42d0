//! The run lease and the journal: who may take a lease, at which time, and what a run
//! that was killed leaves. Time is an argument: nothing here sleeps.

use super::history;
use crate::report::{GroupOutcome, Outcome};
use crate::store::lease::{Acquired, Claimant, Holder, STALE_AFTER, may_take};
use crate::store::{Recording, ReportedNames, RunRecord, Store};
use chrono::{DateTime, TimeDelta, Utc};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn claimant(host: &str, pid: u32, run: &str) -> Claimant {
    Claimant {
        host: host.into(),
        pid,
        run_id: run.into(),
        job: "default".into(),
    }
}

fn holder(host: &str, pid: u32, heartbeat: DateTime<Utc>) -> Holder {
    Holder {
        host: host.into(),
        pid,
        run_id: "run-a".into(),
        since: at(0),
        heartbeat,
    }
}

const ALIVE: fn(u32) -> bool = |_| true;
const DEAD: fn(u32) -> bool = |_| false;

#[test]
fn a_live_holder_keeps_the_lease_until_its_heartbeat_is_stale() {
    let h = holder("pod-1", 10, at(100));
    let other = claimant("pod-2", 20, "run-b");
    let stale = TimeDelta::from_std(STALE_AFTER).unwrap();
    assert!(!may_take(&h, &other, at(101), STALE_AFTER, ALIVE));
    assert!(!may_take(&h, &other, at(100) + stale, STALE_AFTER, ALIVE));
    assert!(may_take(&h, &other, at(101) + stale, STALE_AFTER, ALIVE));
}

#[test]
fn a_holder_on_this_host_whose_process_is_gone_is_taken_over_at_once() {
    let h = holder("pod-1", 10, at(100));
    assert!(may_take(
        &h,
        &claimant("pod-1", 20, "run-b"),
        at(100),
        STALE_AFTER,
        DEAD
    ));
    assert!(!may_take(
        &h,
        &claimant("pod-1", 20, "run-b"),
        at(100),
        STALE_AFTER,
        ALIVE
    ));
    // another host's pid says nothing about this host's processes
    assert!(!may_take(
        &h,
        &claimant("pod-2", 20, "run-b"),
        at(100),
        STALE_AFTER,
        DEAD
    ));
}

#[test]
fn the_store_gives_the_lease_to_one_claimant_until_released_or_stale() {
    let store = Store::in_memory().unwrap();
    let a = claimant("pod-1", 10, "run-a");
    let b = claimant("pod-2", 20, "run-b");
    assert_eq!(
        store.acquire_lease(&a, at(0), ALIVE).unwrap(),
        Acquired::Yes { took_over: None }
    );
    let Acquired::HeldBy(h) = store.acquire_lease(&b, at(1), ALIVE).unwrap() else {
        panic!("the lease is held");
    };
    assert_eq!(
        (h.host.as_str(), h.pid, h.run_id.as_str()),
        ("pod-1", 10, "run-a")
    );
    assert!(h.to_string().contains("pod-1 (pid 10)"), "{h}");
    // heartbeats keep it
    assert!(store.heartbeat_lease("run-a", at(10)).unwrap());
    assert!(matches!(
        store.acquire_lease(&b, at(20), ALIVE).unwrap(),
        Acquired::HeldBy(_)
    ));
    // stale: taken over, and the old holder's heartbeat no longer lands
    let took = store.acquire_lease(&b, at(26), ALIVE).unwrap();
    assert!(matches!(took, Acquired::Yes { took_over: Some(ref h) } if h.run_id == "run-a"));
    assert!(!store.heartbeat_lease("run-a", at(27)).unwrap());
    // releasing someone else's lease does nothing; one's own frees it
    store.release_lease("run-a").unwrap();
    assert_eq!(store.lease_holder().unwrap().unwrap().run_id, "run-b");
    store.release_lease("run-b").unwrap();
    assert_eq!(store.lease_holder().unwrap(), None);
}

#[test]
fn a_run_left_running_without_a_live_lease_is_marked_interrupted_with_its_creates() {
    let store = Store::in_memory().unwrap();
    let report = history::report(0);
    let mut run = RunRecord::of(&report, "cli");
    run.status = "running".into();
    store.begin_run(&run).unwrap();
    store.journal_posting(&run.id, "Finance", at(1)).unwrap();
    store.journal_posting(&run.id, "Sales", at(1)).unwrap();
    let created = GroupOutcome {
        source_id: "e1".into(),
        name: "Finance".into(),
        source_name: None,
        outcome: Outcome::Created {
            scim_id: "s1".into(),
        },
    };
    store.journal_created(&run.id, 3, &created, at(2)).unwrap();
    // a live holder of this run: nothing to recover
    let me = Claimant::this_process(&run.id);
    store.acquire_lease(&me, Utc::now(), ALIVE).unwrap();
    assert!(
        store
            .recover_interrupted(Utc::now(), ALIVE)
            .unwrap()
            .is_empty()
    );
    // its holder gone (stale): interrupted, with what it created
    let later = Utc::now() + TimeDelta::seconds(60);
    assert_eq!(
        store.recover_interrupted(later, ALIVE).unwrap(),
        [run.id.clone()]
    );
    let detail = store.run(&run.id).unwrap().unwrap();
    assert_eq!(detail.run.status, "interrupted");
    assert_eq!(detail.run.counts.created, 1);
    assert_eq!(detail.outcomes, [created]);
    let error = detail.run.error.unwrap();
    assert_eq!(error.kind.as_str(), "interrupted");
    // both groups it posted are groupsync's own, confirmed or not
    let own = store.own_groups("default").unwrap();
    assert!(own.contains("finance") && own.contains("sales"), "{own:?}");
    // recovering again changes nothing
    assert!(store.recover_interrupted(later, ALIVE).unwrap().is_empty());
}

#[test]
fn recording_a_journaled_run_replaces_its_running_row() {
    let store = Store::in_memory().unwrap();
    let report = history::report(0);
    let mut run = RunRecord::of(&report, "cli");
    run.status = "running".into();
    store.begin_run(&run).unwrap();
    history::record(&store, &report, "cli", &[]);
    let detail = store.run(&run.id).unwrap().unwrap();
    assert_eq!(detail.run.status, report.status().as_str());
    assert_eq!(detail.outcomes, report.outcomes);
}

#[test]
fn outcomes_settled_while_the_run_went_on_stay_and_are_not_written_twice() {
    let store = Store::in_memory().unwrap();
    let mut report = history::report(0);
    let found = |id: &str, name: &str, scim_id: &str| GroupOutcome {
        source_id: id.into(),
        name: name.into(),
        source_name: None,
        outcome: Outcome::Existed {
            scim_id: scim_id.into(),
        },
    };
    // an earlier run found Known as it is now: it is counted, not kept
    let mut earlier = history::report(-5);
    earlier.outcomes = vec![found("e-known", "Known", "s-known")];
    history::record(&store, &earlier, "cli", &[]);

    report.outcomes.push(found("e-new", "New", "s-new"));
    report.outcomes.push(found("e-known", "Known", "s-known"));
    let (new_at, known_at) = (report.outcomes.len() - 2, report.outcomes.len() - 1);
    let mut run = RunRecord::of(&report, "cli");
    run.status = "running".into();
    store.begin_run(&run).unwrap();
    let settled_now = [
        (new_at, report.outcomes[new_at].clone()),
        (known_at, report.outcomes[known_at].clone()),
    ];
    store
        .journal_settled(&run.id, "default", &settled_now)
        .unwrap();
    // a run killed now shows what it found
    let so_far = store.run(&run.id).unwrap().unwrap();
    assert_eq!(so_far.outcomes, [report.outcomes[new_at].clone()]);
    assert_eq!(so_far.run.unchanged, 1);

    let mut settled = vec![false; report.outcomes.len()];
    settled[new_at] = true;
    settled[known_at] = true;
    store
        .record(&Recording {
            run: &RunRecord::of(&report, "cli"),
            outcomes: &report.outcomes,
            notices: &[],
            reported: &ReportedNames::default(),
            failing: None,
            settled: &settled,
        })
        .unwrap();
    let detail = store.run(&run.id).unwrap().unwrap();
    assert_eq!(detail.run.status, report.status().as_str());
    let mut kept = report.outcomes.clone();
    kept.remove(known_at);
    assert_eq!(detail.outcomes, kept, "each outcome once, in plan order");
    assert_eq!(detail.run.unchanged, 1, "counted once");
    assert_eq!(detail.run.counts, RunRecord::of(&report, "cli").counts);
}

#[test]
fn a_recorded_run_is_not_recorded_again_even_without_outcomes() {
    let store = Store::in_memory().unwrap();
    let mut report = history::report(0);
    report.outcomes.clear();
    history::record(&store, &report, "cli", &[]);
    let again = store.record(&Recording {
        run: &RunRecord::of(&report, "cli"),
        outcomes: &[],
        notices: &[],
        reported: &ReportedNames::of(["Sales"]),
        failing: Some(true),
        settled: &[],
    });
    assert!(again.is_err());
    assert!(store.reported_groups("default").unwrap().is_empty());
}

#[test]
fn each_job_has_its_own_lease() {
    let store = Store::in_memory().unwrap();
    let a = claimant("h", 1, "run-a").for_job("us");
    let b = claimant("h", 2, "run-b").for_job("eu");
    let c = claimant("h", 3, "run-c").for_job("us");
    assert!(matches!(
        store.acquire_lease(&a, at(0), ALIVE).unwrap(),
        Acquired::Yes { took_over: None }
    ));
    assert!(matches!(
        store.acquire_lease(&b, at(1), ALIVE).unwrap(),
        Acquired::Yes { took_over: None }
    ));
    let Acquired::HeldBy(h) = store.acquire_lease(&c, at(2), ALIVE).unwrap() else {
        panic!("job us is held by run-a");
    };
    assert_eq!(h.run_id, "run-a");
    assert_eq!(
        store.lease_holder_of("eu").unwrap().unwrap().run_id,
        "run-b"
    );
    assert_eq!(store.lease_holders().unwrap().len(), 2);
    store.release_lease("run-a").unwrap();
    assert_eq!(store.lease_holder_of("us").unwrap(), None);
    assert_eq!(
        store.lease_holder_of("eu").unwrap().unwrap().run_id,
        "run-b"
    );
}
