//! What a run has to tell, as notices; pure, so that every rule is testable without SMTP.

use super::Notice;
use super::template::{self, GroupValues, Item, LoopValues, Renderer, RunValues, Stopped};
use super::text::one_line;
use crate::config::{EmailMode, EmailSettings};
use crate::report::{GroupOutcome, Outcome, RunReport};
use std::collections::HashMap;

/// The notices `report` calls for under `settings`.
///
/// - `per_group`: one notice per group found already existing (the IdentityNow Workflow's
///   behaviour), from `subject_template`/`body_template`; and one more per run listing the
///   groups skipped (with the reason) and failed (with the target's answer), from
///   `summary_subject_template`/`summary_body_template`, when there are any.
/// - `digest`: one notice listing the groups created, found existing, skipped and failed
///   (with reasons), adopted, renamed (or still to be renamed), the orphans (groups
///   groupsync owns whose AD group is gone) and those deleted, from
///   `digest_subject_template`/`digest_body_template`.
///
/// Nothing for a dry run, nor when nothing was created, found existing, adopted, renamed,
/// orphaned, deleted or failed. Whether anything is sent is up to the caller: without `email.smtp` there is no [`Mailer`](super::Mailer).
pub fn compose(settings: &EmailSettings, report: &RunReport) -> Vec<Notice> {
    let counts = report.counts();
    let owned = counts.adopted + counts.renamed + counts.would_rename;
    let orphans = counts.orphans + counts.deleted;
    if report.dry_run || counts.created + counts.existed + counts.failed + owned + orphans == 0 {
        return Vec::new();
    }
    let renderer = Renderer::new(settings);
    match settings.mode {
        EmailMode::PerGroup => per_group(&renderer, report),
        EmailMode::Digest => vec![run_notice(
            &renderer,
            report,
            "digest",
            (template::DIGEST_SUBJECT, template::DIGEST_BODY),
        )],
    }
}

/// Adds the SCIM token's expiry `warning` to the run's digest, or, when the run sends no
/// digest, as a notice of its own.
pub fn add_token_warning(notices: &mut Vec<Notice>, report: &RunReport, warning: &str) {
    let digest_key = format!("{}/digest", report.run_id);
    let text = format!("\nWarning: {}.\n", one_line(warning));
    match notices.iter_mut().find(|n| n.key == digest_key) {
        Some(digest) => digest.body.push_str(&text),
        None => notices.push(Notice {
            key: format!("{}/scim-token", report.run_id),
            subject: "groupsync: the SCIM token expires soon".into(),
            body: format!("groupsync run {}.\n{text}", report.run_id),
        }),
    }
}

fn per_group(renderer: &Renderer, report: &RunReport) -> Vec<Notice> {
    let source = source_name(report);
    let mut notices: Vec<Notice> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Existed { .. }))
        .map(|o| {
            let values = GroupValues {
                group: one_line(&o.name),
                source: source.clone(),
            };
            Notice {
                key: format!("{}/exists/{}", report.run_id, o.source_id),
                subject: renderer.render(template::SUBJECT, &values),
                body: renderer.render(template::BODY, &values),
            }
        })
        .collect();
    let c = report.counts();
    if c.skipped + c.failed > 0 {
        notices.push(run_notice(
            renderer,
            report,
            "not-created",
            (template::SUMMARY_SUBJECT, template::SUMMARY_BODY),
        ));
    }
    notices
}

/// The run-wide notice keyed `{run_id}/{name}`, from the subject and body templates given.
fn run_notice(
    renderer: &Renderer,
    report: &RunReport,
    name: &str,
    (subject, body): (template::Slot, template::Slot),
) -> Notice {
    let values = run_values(report, renderer.max_listed());
    Notice {
        key: format!("{}/{name}", report.run_id),
        subject: renderer.render(subject, &values),
        body: renderer.render(body, &values),
    }
}

/// What the run-wide templates are given about `report`: names and reasons on one line,
/// at most `max_listed` groups a list.
fn run_values(report: &RunReport, max_listed: usize) -> RunValues {
    let c = report.counts();
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let matched = crate::report::matched_names(&report.outcomes);
    let list = |pick: Pick| items(&report.outcomes, pick, &matched, max_listed);
    RunValues {
        run_id: report.run_id.to_string(),
        source: source_name(report),
        started_at: time(report.started_at),
        finished_at: time(report.finished_at),
        created: c.created,
        existing: c.existed,
        skipped: c.skipped,
        failed: c.failed,
        adopted: c.adopted,
        renamed: c.renamed,
        would_rename: c.would_rename,
        orphans: c.orphans,
        deleted: c.deleted,
        created_groups: list(|o| matches!(o, Outcome::Created { .. }).then(String::new)),
        existing_groups: list(|o| matches!(o, Outcome::Existed { .. }).then(String::new)),
        skipped_groups: list(|o| match o {
            Outcome::Skipped { reason } => Some(reason.to_string()),
            _ => None,
        }),
        adopted_groups: list(|o| matches!(o, Outcome::Adopted { .. }).then(String::new)),
        renamed_groups: list(|o| match o {
            Outcome::Renamed { from, .. } => Some(format!("was \"{}\"", one_line(from))),
            _ => None,
        }),
        would_rename_groups: list(|o| match o {
            Outcome::WouldRename { from, .. } => {
                Some(format!("still named \"{}\" in Alation", one_line(from)))
            }
            _ => None,
        }),
        orphan_groups: list(|o| matches!(o, Outcome::Orphan { .. }).then(String::new)),
        deleted_groups: list(|o| matches!(o, Outcome::Deleted { .. }).then(String::new)),
        failed_groups: list(|o| match o {
            Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        }),
        stopped: report.error.as_ref().map(|e| Stopped {
            kind: e.kind.to_string(),
            message: one_line(&e.message),
        }),
        close_loop: report.close_loop.as_ref().map(loop_values),
    }
}

/// Selects the outcomes of one list, with the reason to show ("" for none).
type Pick = fn(&Outcome) -> Option<String>;

/// The first `max` outcomes `pick` selects, each with the reason it gives; a case twin
/// without one names the group it `matched`.
fn items(
    outcomes: &[GroupOutcome],
    pick: Pick,
    matched: &HashMap<usize, &str>,
    max: usize,
) -> Vec<Item> {
    outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let reason = match (pick(&o.outcome)?, matched.get(&i)) {
                (r, Some(first)) if r.is_empty() => {
                    format!(
                        "found existing as \"{}\" (equal ignoring case)",
                        one_line(first)
                    )
                }
                (r, _) => r,
            };
            Some(Item {
                name: one_line(&o.name),
                reason: one_line(&reason),
            })
        })
        .take(max)
        .collect()
}

fn source_name(report: &RunReport) -> String {
    report
        .source
        .as_ref()
        .map_or_else(|| "(unknown source)".to_owned(), |s| one_line(&s.name))
}

/// The aggregation of the Alation SCIM source, with the created groups it did not list
/// when it finished without all of them.
fn loop_values(step: &crate::report::CloseLoop) -> LoopValues {
    let missing = if step.state == crate::report::LoopState::Incomplete {
        step.groups
            .iter()
            .filter(|g| g.entitlement_id.is_none())
            .map(|g| one_line(&g.name))
            .collect()
    } else {
        Vec::new()
    };
    LoopValues {
        state: step.state.as_str().to_owned(),
        message: one_line(&step.message),
        missing,
    }
}
