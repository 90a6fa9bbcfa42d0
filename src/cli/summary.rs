//! The human-readable summary of a run, printed on stdout.

use crate::report::{NoticeState, Outcome, RunReport};
use std::fmt::Write;

/// Names are quoted with Rust's escaping so tabs, newlines and trailing spaces stay visible.
/// At most `limit` groups are listed (all when `None`), the rest counted.
pub fn render(r: &RunReport, limit: Option<usize>) -> String {
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
    let _ = writeln!(out, "source {source}: {} groups, {secs:.2}s", c.source);
    if let Some(e) = &r.error {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(
        out,
        "created {}  would create {}  existed {}  skipped {}  failed {}",
        c.created, c.would_create, c.existed, c.skipped, c.failed
    );
    let mut listed = 0;
    let mut unlisted = 0;
    for o in &r.outcomes {
        if matches!(o.outcome, Outcome::Existed { .. }) && !r.dry_run {
            continue;
        }
        if limit.is_some_and(|l| listed >= l) {
            unlisted += 1;
            continue;
        }
        listed += 1;
        let line = match &o.outcome {
            Outcome::Created { scim_id } => format!("  created      {:?} -> {scim_id}", o.name),
            Outcome::WouldCreate => format!("  would create {:?}", o.name),
            Outcome::Skipped { reason } => format!("  skipped      {:?}: {reason}", o.name),
            Outcome::Failed { error } => format!("  failed       {:?}: {error}", o.name),
            Outcome::Existed { scim_id } => format!("  exists       {:?} ({scim_id})", o.name),
        };
        let _ = writeln!(out, "{line}");
    }
    if unlisted > 0 {
        let _ = writeln!(
            out,
            "  … and {unlisted} more (groupsync run --json lists them all)"
        );
    }
    for n in &r.notices {
        let error = n
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        let line = match n.state {
            NoticeState::Sent => format!("  notice sent  {:?}", n.subject),
            NoticeState::Queued => format!(
                "  notice queued {:?} (the mail server is unavailable; a later run sends it){error}",
                n.subject
            ),
            NoticeState::Failed => format!("  notice FAILED {:?}{error}", n.subject),
        };
        let _ = writeln!(out, "{line}");
    }
    out
}
