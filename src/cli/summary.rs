//! The human-readable printout of a run, on stdout: `groupsync run` prints it from the
//! report, `groupsync executions show` from the history, with the same lines.

use crate::report::{
    Counts, GroupOutcome, NoticeOutcome, NoticeState, Outcome, RunFailure, RunReport, Stage,
};
use std::fmt::Write;

/// `error (kind): message`, for a run that stopped.
pub fn error_line(e: &RunFailure) -> String {
    format!("error ({}): {}", e.kind, e.message)
}

/// Where a failed run failed and how far it got.
pub fn failed_in_line(stage: Stage, c: &Counts) -> String {
    let done = c.created + c.existed + c.would_create + c.skipped;
    format!(
        "failed in {stage}: {} read from the source, {done} done, {} failed",
        groups(c.source),
        c.failed
    )
}

/// `1 group`, `2 groups`.
pub fn groups(n: usize) -> String {
    crate::report::count(n, "group")
}

/// The counts of every outcome; those of adopted, renamed and orphan groups only when
/// there are some.
pub fn counts_line(c: &Counts) -> String {
    let mut line = format!(
        "created {}  would create {}  existed {}  skipped {}  failed {}",
        c.created, c.would_create, c.existed, c.skipped, c.failed
    );
    let owned = owned_counts(c);
    if !owned.is_empty() {
        let _ = write!(line, "  {owned}");
    }
    line
}

/// The counts of adopted, renamed, orphan and deleted groups that are not zero
/// (`adopted 1  orphans 2`); empty when all are.
pub fn owned_counts(c: &Counts) -> String {
    let owned = [
        ("adopted", c.adopted),
        ("would adopt", c.would_adopt),
        ("renamed", c.renamed),
        ("would rename", c.would_rename),
        ("orphans", c.orphans),
        ("would delete", c.would_delete),
        ("deleted", c.deleted),
    ];
    owned
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(label, n)| format!("{label} {n}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// One group; the name is quoted with Rust's escaping so tabs, newlines and trailing
/// spaces stay visible.
pub fn outcome_line(o: &GroupOutcome) -> String {
    let line = match &o.outcome {
        Outcome::Created { scim_id } => format!("  created      {:?} -> {scim_id}", o.name),
        Outcome::Existed { scim_id } => format!("  existed      {:?} ({scim_id})", o.name),
        Outcome::WouldCreate => format!("  would create {:?}", o.name),
        Outcome::Skipped { reason } => format!("  skipped      {:?}: {reason}", o.name),
        Outcome::Failed { error } => format!("  failed       {:?}: {error}", o.name),
        Outcome::Adopted { scim_id } => format!("  adopted      {:?} ({scim_id})", o.name),
        Outcome::WouldAdopt { scim_id } => format!("  would adopt  {:?} ({scim_id})", o.name),
        Outcome::Renamed { scim_id, from } => {
            format!("  renamed      {from:?} -> {:?} ({scim_id})", o.name)
        }
        Outcome::WouldRename { scim_id, from } => {
            format!("  would rename {from:?} -> {:?} ({scim_id})", o.name)
        }
        Outcome::Orphan { scim_id } => {
            format!(
                "  orphan       {:?} ({scim_id}): its AD group is gone",
                o.name
            )
        }
        Outcome::WouldDelete { scim_id } => {
            format!(
                "  would delete {:?} ({scim_id}): its AD group is gone",
                o.name
            )
        }
        Outcome::Deleted { scim_id } => format!("  deleted      {:?} ({scim_id})", o.name),
    };
    match &o.source_name {
        Some(from) => format!("{line} (AD name {from:?})"),
        None => line,
    }
}

/// One notice and where it is.
pub fn notice_line(n: &NoticeOutcome) -> String {
    let error = match (n.state, &n.error) {
        (NoticeState::Sent, _) | (_, None) => String::new(),
        (_, Some(e)) => format!(": {e}"),
    };
    match n.state {
        NoticeState::Sent => format!("  notice sent  {:?}", n.subject),
        NoticeState::Queued => format!(
            "  notice queued {:?} (the mail server is unavailable; a later run sends it){error}",
            n.subject
        ),
        NoticeState::Failed => format!("  notice FAILED {:?}{error}", n.subject),
    }
}

/// The groups created (or that would be), and those found under a case twin's name, that
/// `groupsync run` lists: a first run on a large tenant creates thousands, and the groups
/// that need attention (failed, skipped, renamed, orphans, …) are always listed in full.
pub const RUN_LISTED: usize = 100;

/// At most this many of the groups created, that would be, or found under a twin's name
/// are listed, and the line that counts the rest says `where_all` lists them all.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub groups: usize,
    pub where_all: &'a str,
}

/// Names are quoted with Rust's escaping so tabs, newlines and trailing spaces stay visible.
/// Every outcome is listed but those past `limit` (all when `None`).
pub fn render(r: &RunReport, limit: Option<Limit<'_>>) -> String {
    let mut out = String::new();
    let c = r.counts();
    let source = r
        .source
        .as_ref()
        .map(|s| format!("{} ({})", s.name, s.id))
        .unwrap_or_else(|| "-".into());
    let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
    let _ = writeln!(
        out,
        "run {}  {}{}",
        r.run_id,
        r.status().as_str(),
        if r.dry_run {
            " (dry run: nothing written, nothing sent)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "source {source}: {}, {secs:.2}s", groups(c.source));
    if let Some(e) = &r.error {
        let _ = writeln!(out, "{}", error_line(e));
    }
    if let Some(stage) = r.failed_stage() {
        let _ = writeln!(out, "{}", failed_in_line(stage, &c));
    }
    if r.dry_run
        && let Some(g) = &r.guard
    {
        let _ = writeln!(out, "a real run would be refused: {}", g.message);
    }
    let _ = writeln!(out, "{}", counts_line(&c));
    if let Some(step) = &r.close_loop {
        let _ = writeln!(out, "identitynow aggregation of the scim source: {step}");
    }
    let mut listed = 0;
    let mut unlisted = 0;
    let matched = crate::report::matched_names(&r.outcomes);
    for (i, o) in r.outcomes.iter().enumerate() {
        if matches!(o.outcome, Outcome::Existed { .. }) && !r.dry_run && !matched.contains_key(&i) {
            continue;
        }
        let routine = matched.contains_key(&i)
            || matches!(o.outcome, Outcome::Created { .. } | Outcome::WouldCreate);
        if routine {
            if limit.is_some_and(|l| listed >= l.groups) {
                unlisted += 1;
                continue;
            }
            listed += 1;
        }
        match matched.get(&i) {
            Some(first) => {
                let _ = writeln!(
                    out,
                    "  existed      {:?}: found existing as {first:?} (equal ignoring case)",
                    o.name
                );
            }
            None => {
                let _ = writeln!(out, "{}", outcome_line(o));
            }
        }
    }
    if let Some(limit) = limit.filter(|_| unlisted > 0) {
        let _ = writeln!(
            out,
            "  … and {unlisted} more ({} lists them all)",
            limit.where_all
        );
    }
    for n in &r.notices {
        let _ = writeln!(out, "{}", notice_line(n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::executions::details;
    use crate::domain::RunId;
    use crate::report::{ErrorKind, SkipReason};
    use crate::store::{RunDetail, RunRecord};
    use chrono::Utc;

    fn group(name: &str, outcome: Outcome) -> GroupOutcome {
        GroupOutcome {
            source_id: format!("id-{name}"),
            name: name.into(),
            source_name: None,
            outcome,
        }
    }

    #[test]
    fn run_and_executions_show_print_a_run_with_the_same_lines() {
        let mut r = RunReport::started(RunId::new(), Utc::now(), false);
        r.outcomes = vec![
            group(
                "New",
                Outcome::Created {
                    scim_id: "s1".into(),
                },
            ),
            group(
                "Old",
                Outcome::Existed {
                    scim_id: "s2".into(),
                },
            ),
            group(
                " ",
                Outcome::Skipped {
                    reason: SkipReason::EmptyName,
                },
            ),
            group(
                "Bad",
                Outcome::Failed {
                    error: "the SCIM server failed (502)".into(),
                },
            ),
        ];
        r.error = Some(RunFailure::new(
            ErrorKind::Shutdown,
            "groupsync was stopped",
        ));
        r.notices = vec![
            NoticeOutcome {
                key: "k1".into(),
                subject: "digest".into(),
                state: NoticeState::Sent,
                error: None,
            },
            NoticeOutcome {
                key: "k2".into(),
                subject: "alert".into(),
                state: NoticeState::Queued,
                error: Some("connection refused".into()),
            },
        ];
        let printed = render(&r, None);
        let shown = details(&RunDetail {
            run: RunRecord::of(&r, "cli"),
            outcomes: r.outcomes.clone(),
            notices: r.notices.clone(),
        });
        let mut shared = vec![
            "error (shutdown): groupsync was stopped".to_owned(),
            counts_line(&r.counts()),
        ];
        shared.extend(
            r.outcomes
                .iter()
                .filter(|o| !matches!(o.outcome, Outcome::Existed { .. }))
                .map(outcome_line),
        );
        shared.extend(r.notices.iter().map(notice_line));
        for line in shared {
            assert!(printed.lines().any(|l| l == line), "{line:?} in {printed}");
            assert!(shown.lines().any(|l| l == line), "{line:?} in {shown}");
        }
        // the run's own summary leaves out groups that already existed; the history lists them
        assert!(shown.contains("  existed      \"Old\" (s2)"), "{shown}");
        assert!(!printed.contains("exists "), "{printed}");
    }

    #[test]
    fn a_failed_run_says_where_it_failed_and_how_far_it_got() {
        let mut r = RunReport::started(RunId::new(), Utc::now(), false);
        r.read = 30;
        r.error = Some(RunFailure::new(
            ErrorKind::TargetUnreachable,
            "every lookup failed",
        ));
        r.stage = Some(Stage::Plan);
        let printed = render(&r, None);
        assert!(printed.contains(": 30 groups, "), "{printed}");
        assert!(
            printed.contains("failed in plan: 30 groups read from the source, 0 done, 0 failed"),
            "{printed}"
        );
        let ok = RunReport::started(RunId::new(), Utc::now(), false);
        assert!(!render(&ok, None).contains("failed in"));
        r.read = 1;
        assert!(render(&r, None).contains(": 1 group, "));
    }

    #[test]
    fn a_long_run_lists_its_first_creates_and_every_group_that_needs_attention() {
        let mut r = RunReport::started(RunId::new(), Utc::now(), false);
        r.outcomes = (0..150)
            .map(|i| {
                let scim_id = format!("s{i}");
                group(&format!("G{i}"), Outcome::Created { scim_id })
            })
            .collect();
        let error = "400 Bad Request".to_owned();
        r.outcomes
            .insert(120, group("Late", Outcome::Failed { error }));
        let limit = Limit {
            groups: 100,
            where_all: "groupsync executions show X",
        };
        let printed = render(&r, Some(limit));
        let created = printed
            .lines()
            .filter(|l| l.starts_with("  created "))
            .count();
        assert_eq!(created, 100, "{printed}");
        assert!(
            printed.contains("  failed       \"Late\": 400 Bad Request"),
            "{printed}"
        );
        assert!(
            printed.contains("  … and 50 more (groupsync executions show X lists them all)"),
            "{printed}"
        );
        assert!(
            !render(&r, None).contains("more ("),
            "all listed without a limit"
        );
    }
}
