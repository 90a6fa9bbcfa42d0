//! What a run has to tell, as notices; pure, so that every rule is testable without SMTP.

use super::Notice;
use super::text::{expand, one_line};
use crate::config::{EmailMode, EmailSettings};
use crate::report::{GroupOutcome, Outcome, RunReport};
use std::fmt::Write;

/// The notices `report` calls for under `settings`.
///
/// - `per_group`: one notice per group found already existing (the IdentityNow Workflow's
///   behaviour), from `subject_template`/`body_template` with `{group}` and `{source}`.
/// - `digest`: one notice listing the groups created, found existing, skipped and failed
///   (with reasons); its subject comes from `digest_subject_template` with `{created}`,
///   `{existing}`, `{skipped}`, `{failed}` and `{source}`.
///
/// The digest also lists the groups adopted, renamed (or still to be renamed), the
/// orphans (groups groupsync owns whose AD group is gone) and those deleted.
///
/// Nothing for a dry run, nor when nothing was created, found existing, adopted, renamed,
/// orphaned, deleted or failed. Whether
/// anything is sent is up to the caller: without `email.smtp` there is no [`Mailer`](super::Mailer).
pub fn compose(settings: &EmailSettings, report: &RunReport) -> Vec<Notice> {
    let counts = report.counts();
    let owned = counts.adopted + counts.renamed + counts.would_rename;
    let orphans = counts.orphans + counts.deleted;
    if report.dry_run || counts.created + counts.existed + counts.failed + owned + orphans == 0 {
        return Vec::new();
    }
    match settings.mode {
        EmailMode::PerGroup => per_group(settings, report),
        EmailMode::Digest => vec![digest(settings, report)],
    }
}

fn per_group(settings: &EmailSettings, report: &RunReport) -> Vec<Notice> {
    let source = source_name(report);
    report
        .outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Existed { .. }))
        .map(|o| {
            let group = one_line(&o.name);
            let values = [("group", group.as_str()), ("source", source.as_str())];
            Notice {
                key: format!("{}/exists/{}", report.run_id, o.source_id),
                subject: one_line(&expand(&settings.subject_template, &values)),
                body: expand(&settings.body_template, &values),
            }
        })
        .collect()
}

fn digest(settings: &EmailSettings, report: &RunReport) -> Notice {
    let c = report.counts();
    let source = source_name(report);
    let (created, existing) = (c.created.to_string(), c.existed.to_string());
    let (skipped, failed) = (c.skipped.to_string(), c.failed.to_string());
    let values = [
        ("created", created.as_str()),
        ("existing", existing.as_str()),
        ("skipped", skipped.as_str()),
        ("failed", failed.as_str()),
        ("source", source.as_str()),
    ];
    Notice {
        key: format!("{}/digest", report.run_id),
        subject: one_line(&expand(&settings.digest_subject_template, &values)),
        body: digest_body(report, &source),
    }
}

fn digest_body(report: &RunReport, source: &str) -> String {
    let mut body = format!(
        "groupsync run {} for the source {source}, {} to {}.\n",
        report.run_id,
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.finished_at.format("%H:%M:%S UTC"),
    );
    let sections: [(&str, Pick); 9] = [
        ("Created in Alation", |o| {
            matches!(o, Outcome::Created { .. }).then(String::new)
        }),
        ("Already in Alation, not created", |o| {
            matches!(o, Outcome::Existed { .. }).then(String::new)
        }),
        ("Skipped", |o| match o {
            Outcome::Skipped { reason } => Some(reason.to_string()),
            _ => None,
        }),
        (
            "Adopted: found existing without an externalId, now groupsync's own",
            |o| matches!(o, Outcome::Adopted { .. }).then(String::new),
        ),
        ("Renamed after their AD group", |o| match o {
            Outcome::Renamed { from, .. } => Some(format!("was \"{}\"", one_line(from))),
            _ => None,
        }),
        (
            "Would rename: their AD group was renamed (sync.rename is off)",
            |o| match o {
                Outcome::WouldRename { from, .. } => {
                    Some(format!("still named \"{}\" in Alation", one_line(from)))
                }
                _ => None,
            },
        ),
        ("Orphans: their AD group is gone, not deleted", |o| {
            matches!(o, Outcome::Orphan { .. }).then(String::new)
        }),
        (
            "Deleted: their AD group was gone on two successful runs in a row",
            |o| matches!(o, Outcome::Deleted { .. }).then(String::new),
        ),
        ("Failed", |o| match o {
            Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        }),
    ];
    for (title, pick) in sections {
        section(&mut body, title, &report.outcomes, pick);
    }
    if let Some(error) = &report.error {
        let _ = write!(
            body,
            "\nThe run stopped early ({}): {}\n",
            error.kind,
            one_line(&error.message)
        );
    }
    body
}

/// Selects the outcomes of one digest section, with the reason to show ("" for none).
type Pick = fn(&Outcome) -> Option<String>;

/// Appends `title (n):` and one line per outcome `pick` selects, with the reason it gives
/// (empty for none); nothing when no outcome is selected.
fn section(body: &mut String, title: &str, outcomes: &[GroupOutcome], pick: Pick) {
    let matched = crate::report::matched_names(outcomes);
    let lines: Vec<String> = outcomes
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
            let name = format!("\"{}\"", one_line(&o.name));
            Some(if reason.is_empty() {
                format!("  - {name}")
            } else {
                format!("  - {name}: {}", one_line(&reason))
            })
        })
        .collect();
    if !lines.is_empty() {
        let _ = write!(body, "\n{title} ({}):\n{}\n", lines.len(), lines.join("\n"));
    }
}

fn source_name(report: &RunReport) -> String {
    report
        .source
        .as_ref()
        .map_or_else(|| "(unknown source)".to_owned(), |s| one_line(&s.name))
}
