use crate::config::{EmailMode, EmailSettings};
use crate::domain::RunId;
use crate::notify::{Notice, compose, template};
use crate::report::{
    ErrorKind, GroupOutcome, Outcome, RunFailure, RunReport, SkipReason, SourceInfo,
};
use chrono::Utc;

fn settings(mode: EmailMode) -> EmailSettings {
    EmailSettings {
        smtp: None,
        mode,
        subject_template: "Alation group {group} already exists".into(),
        body_template: "The group {group} from {source} already exists.".into(),
        digest_subject_template:
            "{created} created, {existing} existing, {skipped} skipped, {failed} failed ({source})"
                .into(),
        digest_body_template: template::DIGEST_BODY.default.into(),
        summary_subject_template: template::SUMMARY_SUBJECT.default.into(),
        summary_body_template: template::SUMMARY_BODY.default.into(),
        repeat: true,
        max_listed_groups: 1000,
    }
}

fn outcome(id: &str, name: &str, outcome: Outcome) -> GroupOutcome {
    GroupOutcome {
        source_id: id.into(),
        name: name.into(),
        source_name: None,
        outcome,
    }
}

fn existed(id: &str, name: &str) -> GroupOutcome {
    outcome(
        id,
        name,
        Outcome::Existed {
            scim_id: format!("s-{id}"),
        },
    )
}

fn created(id: &str, name: &str) -> GroupOutcome {
    outcome(
        id,
        name,
        Outcome::Created {
            scim_id: format!("s-{id}"),
        },
    )
}

fn report(outcomes: Vec<GroupOutcome>) -> RunReport {
    RunReport {
        run_id: RunId("run-1".into()),
        started_at: Utc::now(),
        finished_at: Utc::now(),
        dry_run: false,
        source: Some(SourceInfo {
            id: "src".into(),
            name: "Corp AD".into(),
        }),
        outcomes,
        notices: vec![],
        guard: None,
        read: 0,
        stage: None,
        error: None,
        close_loop: None,
    }
}

fn mixed() -> RunReport {
    report(vec![
        created("e1", "Finance"),
        existed("e2", "HR"),
        existed("e3", "Sales"),
        outcome(
            "e4",
            "  ",
            Outcome::Skipped {
                reason: SkipReason::EmptyName,
            },
        ),
        outcome(
            "e5",
            "Ops",
            Outcome::Failed {
                error: "the SCIM server failed (502)".into(),
            },
        ),
        outcome("e6", "Later", Outcome::WouldCreate),
    ])
}

#[test]
fn per_group_gives_one_notice_per_existing_group() {
    let mut notices = compose(&settings(EmailMode::PerGroup), &mixed());
    let summary = notices.pop().expect("the summary of groups not created");
    assert_eq!(summary.key, "run-1/not-created");
    assert_eq!(
        notices,
        vec![
            Notice {
                key: "run-1/exists/e2".into(),
                subject: "Alation group HR already exists".into(),
                body: "The group HR from Corp AD already exists.".into(),
            },
            Notice {
                key: "run-1/exists/e3".into(),
                subject: "Alation group Sales already exists".into(),
                body: "The group Sales from Corp AD already exists.".into(),
            },
        ]
    );
}

#[test]
fn the_digest_counts_and_lists_every_kind_of_outcome() {
    let notices = compose(&settings(EmailMode::Digest), &mixed());
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert_eq!(n.key, "run-1/digest");
    assert_eq!(
        n.subject,
        "1 created, 2 existing, 1 skipped, 1 failed (Corp AD)"
    );
    let body = &n.body;
    assert!(body.contains("run-1"), "{body}");
    assert!(
        body.contains("Created in Alation (1):\n  - \"Finance\"\n"),
        "{body}"
    );
    assert!(
        body.contains("Already in Alation, not created (2):\n  - \"HR\"\n  - \"Sales\"\n"),
        "{body}"
    );
    assert!(
        body.contains("Skipped (1):\n  - \"  \": the name is empty or whitespace\n"),
        "{body}"
    );
    assert!(
        body.contains("Failed (1):\n  - \"Ops\": the SCIM server failed (502)\n"),
        "{body}"
    );
    assert!(!body.contains("Later"), "{body}");
}

#[test]
fn a_failure_alone_is_worth_a_digest() {
    let r = report(vec![outcome(
        "e1",
        "Ops",
        Outcome::Failed {
            error: "timeout".into(),
        },
    )]);
    assert_eq!(compose(&settings(EmailMode::Digest), &r).len(), 1);
    // per_group mode: no group found existing, so only the summary of groups not created
    let per_group = compose(&settings(EmailMode::PerGroup), &r);
    assert_eq!(per_group.len(), 1);
    assert_eq!(per_group[0].key, "run-1/not-created");
    assert!(
        per_group[0].body.contains("  - \"Ops\": timeout\n"),
        "{}",
        per_group[0].body
    );
}

#[test]
fn per_group_tells_skipped_and_failed_groups_in_one_summary() {
    let notices = compose(&settings(EmailMode::PerGroup), &mixed());
    assert_eq!(notices.len(), 3, "{notices:#?}");
    let summary = &notices[2];
    assert_eq!(summary.key, "run-1/not-created");
    assert_eq!(
        summary.subject,
        "groupsync: 1 skipped, 1 failed, not created in Alation"
    );
    let body = &summary.body;
    assert!(body.contains("for the source Corp AD"), "{body}");
    assert!(
        body.contains("\nSkipped (1):\n  - \"  \": the name is empty or whitespace\n"),
        "{body}"
    );
    assert!(
        body.contains("\nFailed (1):\n  - \"Ops\": the SCIM server failed (502)\n"),
        "{body}"
    );
    for absent in ["Finance", "HR", "Sales", "Later"] {
        assert!(!body.contains(absent), "{body}");
    }
    // nothing skipped or failed: no summary
    let r = report(vec![existed("e1", "HR"), created("e2", "Finance")]);
    let notices = compose(&settings(EmailMode::PerGroup), &r);
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].key, "run-1/exists/e1");
}

#[test]
fn the_default_digest_body_reads_as_before() {
    let mut r = mixed();
    r.error = Some(RunFailure::new(ErrorKind::Deadline, "too long"));
    let body = &compose(&settings(EmailMode::Digest), &r)[0].body;
    let started = r.started_at.format("%Y-%m-%d %H:%M:%S UTC");
    let finished = r.finished_at.format("%Y-%m-%d %H:%M:%S UTC");
    assert_eq!(
        *body,
        format!(
            "groupsync run run-1 for the source Corp AD, {started} to {finished}.\n\
             \nCreated in Alation (1):\n  - \"Finance\"\n\
             \nAlready in Alation, not created (2):\n  - \"HR\"\n  - \"Sales\"\n\
             \nSkipped (1):\n  - \"  \": the name is empty or whitespace\n\
             \nFailed (1):\n  - \"Ops\": the SCIM server failed (502)\n\
             \nThe run stopped early (deadline): too long\n"
        )
    );
}

#[test]
fn templates_are_given_the_lists_and_counts() {
    let mut s = settings(EmailMode::Digest);
    s.digest_subject_template = "{{ created + existing }} of {{ source|upper }}".into();
    s.digest_body_template = "{% for g in failed_groups %}{{ g.name }}={{ g.reason }};{% endfor %}\
                              {{ skipped_groups|length }} {% if stopped is none %}none{% endif %}"
        .into();
    let n = &compose(&s, &mixed())[0];
    assert_eq!(n.subject, "3 of CORP AD");
    assert_eq!(n.body, "Ops=the SCIM server failed (502);1 none");
}

#[test]
fn values_are_text_never_templates_nor_html() {
    let r = report(vec![existed("e1", "{{ 7*7 }} R&D <ops> {% raw %}")]);
    for (subject, body) in [
        ("{group}", "{group}/{source}"),
        ("{{ group }}", "{{ group }}/{{ source }}"),
    ] {
        let mut s = settings(EmailMode::PerGroup);
        s.subject_template = subject.into();
        s.body_template = body.into();
        let n = &compose(&s, &r)[0];
        assert_eq!(n.subject, "{{ 7*7 }} R&D <ops> {% raw %}");
        assert_eq!(n.body, "{{ 7*7 }} R&D <ops> {% raw %}/Corp AD");
    }
}

#[test]
fn old_placeholders_are_replaced_once_and_unknown_ones_kept() {
    let mut s = settings(EmailMode::PerGroup);
    s.subject_template = "{group} / {created} / {unknown} / {".into();
    s.body_template = "{{group}} {source}}".into();
    let r = report(vec![existed("e1", "{created} & {group}")]);
    let n = &compose(&s, &r)[0];
    assert_eq!(n.subject, "{created} & {group} / {created} / {unknown} / {");
    // `{{` makes it the new form: `{source}}` is text there
    assert_eq!(n.body, "{created} & {group} {source}}");
    let mut d = settings(EmailMode::Digest);
    d.digest_subject_template = "{created}/{existing}/{skipped}/{failed}/{group} {source}".into();
    assert_eq!(compose(&d, &mixed())[0].subject, "1/2/1/1/{group} Corp AD");
}

#[test]
fn nothing_to_report_gives_no_notice() {
    let quiet = report(vec![
        outcome(
            "e1",
            "",
            Outcome::Skipped {
                reason: SkipReason::EmptyName,
            },
        ),
        outcome("e2", "New", Outcome::WouldCreate),
    ]);
    for mode in [EmailMode::Digest, EmailMode::PerGroup] {
        assert!(compose(&settings(mode), &quiet).is_empty());
        assert!(compose(&settings(mode), &report(vec![])).is_empty());
    }
}

#[test]
fn a_dry_run_gives_no_notice() {
    let mut r = mixed();
    r.dry_run = true;
    for mode in [EmailMode::Digest, EmailMode::PerGroup] {
        assert!(compose(&settings(mode), &r).is_empty());
    }
}

#[test]
fn line_breaks_in_names_cannot_reach_a_header() {
    let evil = "Ops\r\nBcc: evil@example.com\r\n";
    let r = report(vec![existed("e1", evil), created("e2", "Fin\nance")]);
    let per_group = compose(&settings(EmailMode::PerGroup), &r);
    assert_eq!(
        per_group[0].subject,
        "Alation group Ops  Bcc: evil@example.com   already exists"
    );
    let digest = compose(&settings(EmailMode::Digest), &r);
    assert!(!digest[0].subject.contains(['\r', '\n']));
    assert!(
        digest[0].body.contains("  - \"Fin ance\"\n"),
        "{}",
        digest[0].body
    );
    assert!(!digest[0].body.contains("\nBcc:"), "{}", digest[0].body);
}

#[test]
fn placeholders_in_names_are_not_expanded() {
    let r = report(vec![existed("e1", "{source} {group}")]);
    let n = &compose(&settings(EmailMode::PerGroup), &r)[0];
    assert_eq!(n.subject, "Alation group {source} {group} already exists");
    assert_eq!(
        n.body,
        "The group {source} {group} from Corp AD already exists."
    );
}

#[test]
fn templates_from_the_settings_are_used() {
    let mut s = settings(EmailMode::PerGroup);
    s.subject_template = "[{source}] {group}".into();
    s.body_template = "{group}\n\n-- \ngroupsync".into();
    let n = &compose(&s, &report(vec![existed("e1", "HR")]))[0];
    assert_eq!(n.subject, "[Corp AD] HR");
    assert_eq!(n.body, "HR\n\n-- \ngroupsync");
}

#[test]
fn a_digest_of_a_run_that_stopped_names_the_kind_of_failure() {
    let mut r = report(vec![created("e1", "Finance")]);
    r.error = Some(RunFailure::new(
        ErrorKind::Shutdown,
        "groupsync was stopped; 1 of 2 creates had completed",
    ));
    let notices = compose(&settings(EmailMode::Digest), &r);
    assert!(
        notices[0]
            .body
            .contains("The run stopped early (shutdown): groupsync was stopped; 1 of 2"),
        "{}",
        notices[0].body
    );
}

#[test]
fn the_digest_tells_the_aggregation_of_the_scim_source_and_what_it_did_not_list() {
    use crate::report::{CloseLoop, LoopGroup, LoopState};
    let mut r = mixed();
    r.close_loop = Some(CloseLoop {
        state: LoopState::Incomplete,
        source: None,
        task_id: Some("t1".into()),
        message: "1 of 2 created groups are entitlements".into(),
        groups: vec![
            LoopGroup {
                name: "Finance".into(),
                entitlement_id: Some("e1".into()),
            },
            LoopGroup {
                name: "Legal".into(),
                entitlement_id: None,
            },
        ],
    });
    let body = &compose(&settings(EmailMode::Digest), &r)[0].body;
    assert!(
        body.contains(
            "IdentityNow entitlement aggregation of the Alation SCIM source (incomplete): \
             1 of 2 created groups are entitlements\n  not an entitlement yet: Legal\n"
        ),
        "{body}"
    );
    assert!(!body.contains("not an entitlement yet: Finance"));
}

#[test]
fn the_digest_lists_adopted_renamed_orphan_and_deleted_groups() {
    let s = |v: &str| v.to_string();
    let r = report(vec![
        outcome("e1", "Sales", Outcome::Adopted { scim_id: s("1") }),
        outcome(
            "e2",
            "Finance EU",
            Outcome::Renamed {
                scim_id: s("2"),
                from: s("Finance"),
            },
        ),
        outcome(
            "e3",
            "People",
            Outcome::WouldRename {
                scim_id: s("3"),
                from: s("HR"),
            },
        ),
        outcome("e4", "Old", Outcome::Orphan { scim_id: s("4") }),
        outcome("e5", "Older", Outcome::Deleted { scim_id: s("5") }),
    ]);
    let body = &compose(&settings(EmailMode::Digest), &r)[0].body;
    for line in [
        "Adopted: found existing without an externalId, now groupsync's own (1):\n  - \"Sales\"\n",
        "Renamed after their AD group (1):\n  - \"Finance EU\": was \"Finance\"\n",
        "(sync.rename is off) (1):\n  - \"People\": still named \"HR\" in Alation\n",
        "Orphans: their AD group is gone, not deleted (1):\n  - \"Old\"\n",
        "two successful runs in a row (1):\n  - \"Older\"\n",
    ] {
        assert!(body.contains(line), "{line:?} in {body}");
    }
    // Nothing but an orphan is still worth a digest.
    let orphan_only = report(vec![outcome(
        "e4",
        "Old",
        Outcome::Orphan { scim_id: s("4") },
    )]);
    assert_eq!(compose(&settings(EmailMode::Digest), &orphan_only).len(), 1);
}

#[test]
fn long_lists_are_cut_at_max_listed_groups_and_counted_in_full() {
    let mut outcomes: Vec<GroupOutcome> = (0..5)
        .map(|i| existed(&format!("e{i}"), &format!("Existing {i}")))
        .collect();
    outcomes.push(created("c0", "New"));
    let s = EmailSettings {
        max_listed_groups: 2,
        ..settings(EmailMode::Digest)
    };
    let notices = compose(&s, &report(outcomes));
    let body = &notices[0].body;
    assert!(
        body.contains(
            "Already in Alation, not created (5):\n  - \"Existing 0\"\n  - \"Existing 1\"\n  \
             and 3 more, listed in the run's history\n"
        ),
        "{body}"
    );
    assert!(!body.contains("Existing 2"), "{body}");
    assert!(
        body.contains("Created in Alation (1):\n  - \"New\"\n\n"),
        "{body}"
    );
    assert_eq!(body.matches("more, listed").count(), 1, "{body}");
}
