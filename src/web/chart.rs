//! The dashboard's chart of recent runs: groups created, found existing and failed per
//! run, drawn here as inline SVG (the pages run no script), with a table as its text
//! alternative. Each measure has its own panel and scale, as tens of thousands found
//! existing would flatten a few created or failed.

use super::html::{esc, when};
use crate::store::RunRecord;
use std::fmt::Write;

const WIDTH: usize = 720;
const PANEL: usize = 56;
const GAP: usize = 22;
const LEFT: usize = 80;

/// A measure's label, its colour and how it is read from a run.
type Measure = (&'static str, &'static str, fn(&RunRecord) -> usize);

/// The chart of `runs` (newest first, as the history lists them), drawn oldest first;
/// empty when there is no run.
pub(super) fn recent_runs(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let runs: Vec<&RunRecord> = runs.iter().rev().collect();
    let measures: [Measure; 3] = [
        ("created", "#1a7f37", |r| r.counts.created),
        ("existed", "#59636e", |r| r.counts.existed),
        ("failed", "#cf222e", |r| r.counts.failed),
    ];
    let height = measures.len() * (PANEL + GAP);
    let slot = (WIDTH - LEFT) as f64 / runs.len() as f64;
    let bar = (slot * 0.7).max(1.0);
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"chart-title\">Groups created, found existing and failed in the last {n}</title>\
         <desc id=\"chart-desc\">One bar per run, oldest on the left; each measure has its own scale. \
         The table below the chart gives the same figures.</desc>",
        n = esc(&crate::report::count(runs.len(), "run"))
    );
    for (i, (label, colour, value)) in measures.iter().enumerate() {
        let top = i * (PANEL + GAP) + GAP;
        let max = runs.iter().map(|r| value(r)).max().unwrap_or(0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\" fill=\"#1f2328\">{label}</text>\
             <text x=\"0\" y=\"{}\" font-size=\"11\" fill=\"#59636e\">max {max}</text>\
             <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\" stroke=\"#d1d9e0\"/>",
            top + 14,
            top + 30,
            base = top + PANEL,
        );
        for (j, r) in runs.iter().enumerate() {
            let n = value(r);
            let h = if max == 0 {
                0.0
            } else {
                (n as f64 / max as f64 * PANEL as f64).max(if n > 0 { 1.0 } else { 0.0 })
            };
            let x = LEFT as f64 + j as f64 * slot + (slot - bar) / 2.0;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{colour}\">\
                 <title>{}</title></rect>",
                (top + PANEL) as f64 - h,
                esc(&format!("{}, {}: {n} {label}", when(r.started_at), r.id))
            );
        }
    }
    svg.push_str("</svg>");
    let mut table = String::from(
        "<details class=\"chart-data\"><summary>The chart's figures</summary><table><thead><tr>\
         <th>Run started</th><th>Status</th><th class=\"num\">Created</th>\
         <th class=\"num\">Existed</th><th class=\"num\">Failed</th></tr></thead><tbody>",
    );
    for r in &runs {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            esc(&when(r.started_at)),
            esc(&r.status),
            r.counts.created,
            r.counts.existed,
            r.counts.failed
        );
    }
    table.push_str("</tbody></table></details>");
    format!("<figure class=\"chart\">{svg}{table}</figure>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Counts;
    use chrono::{TimeZone, Utc};

    fn run(id: &str, created: usize, existed: usize, failed: usize) -> RunRecord {
        let at = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
        RunRecord {
            id: id.into(),
            trigger: "schedule".into(),
            started_at: at,
            finished_at: at,
            status: "succeeded".into(),
            dry_run: false,
            source: None,
            error: None,
            counts: Counts {
                created,
                existed,
                failed,
                ..Counts::default()
            },
            close_loop: None,
            stage: None,
            job: crate::config::DEFAULT_JOB.into(),
            unchanged: 0,
        }
    }

    #[test]
    fn bars_are_drawn_oldest_first_with_escaped_titles_and_a_table() {
        let evil = "<script>alert('x')</script>&";
        // newest first, as the history lists them
        let runs = [run(evil, 0, 90_000, 3), run("older", 10_000, 80_000, 0)];
        let html = recent_runs(&runs);
        assert!(html.starts_with("<figure class=\"chart\"><svg"), "{html}");
        assert!(html.contains("role=\"img\""));
        assert!(html.contains("<title id=\"chart-title\">"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"));
        assert_eq!(html.matches("<rect").count(), 6, "three measures, two runs");
        let older = html.find(": 10000 created").unwrap();
        let newer = html.find(": 0 created").unwrap();
        assert!(older < newer, "the oldest run is drawn first");
        // the largest bar of a panel fills it; a zero has no height
        assert!(html.contains("height=\"56.0\""));
        assert!(html.contains("height=\"0.0\""));
        assert!(
            html.contains("<td class=\"num\">90000</td>"),
            "the text alternative"
        );
        assert_eq!(recent_runs(&[]), "");
    }
}
