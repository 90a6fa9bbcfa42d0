//! Telling things once: a group found existing is reported the first time it is seen, and
//! failures are announced when runs start failing and when they recover, not on every run.
//! Pure, like [`compose`](super::compose); the sync keeps what was told in the store.

use super::Notice;
use super::text::one_line;
use crate::domain::fold_name;
use crate::report::{GroupOutcome, Outcome, RunReport, RunStatus, matched_names};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write;

/// The SCIM token's expiry warning is told at most once in this long.
pub const TOKEN_WARNING_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The SCIM token's expiry warning to tell now, if it is due: within the warning window
/// (or expired) and not told in the last [`TOKEN_WARNING_EVERY`] (`last_told`).
pub fn token_warning(
    expiry: Option<&crate::scim::expiry::TokenExpiry>,
    last_told: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let warning = expiry?.warning(now)?;
    last_told
        .is_none_or(|at| now - at >= TOKEN_WARNING_EVERY)
        .then_some(warning)
}

/// At most this many failed groups are listed in a failure alert.
const LISTED_FAILURES: usize = 20;

/// `report` without the groups found existing that an earlier notice already reported
/// (`reported` holds folded names); created and failed groups all stay. `report` itself
/// when nothing is left out, so that a large run is not copied for nothing.
pub fn unreported<'a>(report: &'a RunReport, reported: &HashSet<String>) -> Cow<'a, RunReport> {
    keeping(report, |_, o| {
        !(matches!(o.outcome, Outcome::Existed { .. }) && reported.contains(&fold_name(&o.name)))
    })
}

/// `report` without the groups found existing that groupsync created itself (`own` holds
/// folded names, from the store's journal): they are nobody's news. A case twin is kept:
/// it is a second AD group found existing under the name of the first, as the Workflow
/// tells it. `report` itself when nothing is left out.
pub fn not_own<'a>(report: &'a RunReport, own: &HashSet<String>) -> Cow<'a, RunReport> {
    if own.is_empty() {
        return Cow::Borrowed(report);
    }
    let twins = matched_names(&report.outcomes);
    keeping(report, |i, o| {
        let own_group =
            matches!(o.outcome, Outcome::Existed { .. }) && own.contains(&fold_name(&o.name));
        !own_group || twins.contains_key(&i)
    })
}

/// `report` with only the outcomes `keep` keeps (given their position); only those are
/// copied, and nothing is when all are kept.
fn keeping(report: &RunReport, keep: impl Fn(usize, &GroupOutcome) -> bool) -> Cow<'_, RunReport> {
    let kept: Vec<usize> = (0..report.outcomes.len())
        .filter(|&i| keep(i, &report.outcomes[i]))
        .collect();
    if kept.len() == report.outcomes.len() {
        return Cow::Borrowed(report);
    }
    Cow::Owned(RunReport {
        outcomes: kept.iter().map(|&i| report.outcomes[i].clone()).collect(),
        ..report.without_outcomes()
    })
}

/// The names of the groups `report` tells about for the first time (created or found
/// existing, not in `reported`).
pub fn newly_reported<'a>(
    report: &'a RunReport,
    reported: &'a HashSet<String>,
) -> impl Iterator<Item = &'a str> {
    report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Created { .. } | Outcome::Existed { .. }))
        .filter(|o| !reported.contains(&fold_name(&o.name)))
        .map(|o| o.name.as_str())
}

/// The alert `report` calls for, given whether the run before it failed (`None`: there was
/// none), and whether runs are failing now. A failing run after a success (or as the first
/// run) alerts once; the first success after failures says so once. A run a guard refused
/// counts as failing: it alerts once, with what to do. Dry runs, and runs skipped because
/// another process held the run lease, change nothing.
pub fn alert(previous: Option<bool>, report: &RunReport) -> (Option<Notice>, Option<bool>) {
    if report.dry_run || report.status() == RunStatus::Skipped {
        return (None, None);
    }
    let failing = matches!(
        report.status(),
        RunStatus::Failed | RunStatus::PartiallyFailed | RunStatus::Refused
    );
    let notice = match (previous, failing) {
        (Some(true), true) | (Some(false) | None, false) => None,
        (Some(false) | None, true) => Some(failing_notice(report)),
        (Some(true), false) => Some(recovered_notice(report)),
    };
    (notice, Some(failing))
}

fn failing_notice(report: &RunReport) -> Notice {
    let status = report.status().as_str();
    let mut body = format!(
        "groupsync run {} (started {}) ended {status}.\n",
        report.run_id,
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    if let Some(error) = &report.error {
        let _ = writeln!(
            body,
            "\nThe run stopped ({}): {}",
            error.kind,
            one_line(&error.message)
        );
    }
    if let Some(stage) = report.failed_stage() {
        let _ = writeln!(
            body,
            "It failed in {stage}, after reading {} from the source.",
            crate::report::count(report.counts().source, "group")
        );
    }
    let failed: Vec<(&str, &str)> = report
        .outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Failed { error } => Some((o.name.as_str(), error.as_str())),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            body,
            "\n{} failed:",
            crate::report::count(failed.len(), "group")
        );
        for (name, error) in failed.iter().take(LISTED_FAILURES) {
            let _ = writeln!(body, "  - \"{}\": {}", one_line(name), one_line(error));
        }
        if failed.len() > LISTED_FAILURES {
            let _ = writeln!(body, "  … and {} more", failed.len() - LISTED_FAILURES);
        }
    }
    body.push_str(
        "\nThis is sent once when runs start failing; the next message comes when a run succeeds again.\n",
    );
    Notice {
        key: format!("{}/alert/failing", report.run_id),
        subject: format!("groupsync: runs are failing ({status})"),
        body,
    }
}

fn recovered_notice(report: &RunReport) -> Notice {
    let c = report.counts();
    Notice {
        key: format!("{}/alert/recovered", report.run_id),
        subject: "groupsync: runs succeed again".into(),
        body: format!(
            "groupsync run {} (started {}) succeeded after earlier failures: {} created, {} already existed, {} skipped.\n",
            report.run_id,
            report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            c.created,
            c.existed,
            c.skipped,
        ),
    }
}
