//! Building the pages: escaping, the layout and its style sheet, small formatters.
//!
//! Every text that reaches a page goes through [`esc`] (or [`url_part`] inside a link);
//! nothing from the store is ever written raw.

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use http::{StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// `text` safe inside an element or a quoted attribute.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Everything but letters, digits, `-`, `_` and `.` is percent-encoded.
const PART: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// `text` as one path segment or query value of a URL (and safe in an attribute).
pub(super) fn url_part(text: &str) -> String {
    utf8_percent_encode(text, PART).to_string()
}

/// A whole page: `title` (escaped here) and `body` (already built from escaped parts).
/// `refresh` reloads the page every so many seconds.
pub(super) fn page(status: StatusCode, title: &str, body: &str, refresh: Option<u32>) -> Response {
    let refresh = refresh
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{} · groupsync</title><style>{STYLE}</style></head>\
         <body><header><a class=\"brand\" href=\"/\">groupsync</a>\
         <span>AD groups → Alation, execution history</span></header>\
         <main>{body}</main></body></html>\n",
        esc(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// A page that says what went wrong.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p><a href=\"/\">← all runs</a></p><p class=\"problem\">{}</p>",
        esc(message)
    );
    page(
        status,
        status.canonical_reason().unwrap_or("error"),
        &body,
        None,
    )
}

/// A run's status as a coloured badge; an unknown status gets the neutral colour.
pub(super) fn badge(status: &str) -> String {
    let class = match status {
        "succeeded" | "partially_failed" | "failed" | "refused" | "dry_run" | "running"
        | "interrupted" | "skipped" => status,
        _ => "other",
    };
    format!(
        "<span class=\"status {class}\">{}</span>",
        esc(&status.replace('_', " "))
    )
}

pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `0.42 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
pub(super) fn duration(d: TimeDelta) -> String {
    let ms = d.num_milliseconds().max(0);
    let secs = ms / 1000;
    match secs {
        0..10 => format!("{:.2} s", ms as f64 / 1000.0),
        10..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
    }
}

/// A labelled value in the row of cards at the top of a page (`value` already escaped).
pub(super) fn card(label: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{value}</div></div>",
        esc(label)
    )
}

const STYLE: &str = "
figure.chart{margin:16px 0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px}
form.search{margin:8px 0}
:root{--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--muted:#59636e;--line:#d1d9e0;--ink:#1f2328}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);background:#f6f8fa}
header{background:#24292f;color:#d1d9e0;padding:12px 24px;display:flex;gap:16px;align-items:baseline}
header .brand{color:#fff;font-weight:700;font-size:18px;text-decoration:none}
main{padding:18px 24px;max-width:1280px}
h1{font-size:20px;margin:4px 0 14px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
h2{font-size:15px;margin:22px 0 8px}
a{color:#0969da}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:9px 14px;min-width:190px}
.card .label{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:15px;font-weight:600;margin-top:2px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f6f8fa;color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
tr:hover td{background:#f6f8fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#b7bdc4}
.status{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#6e7781;white-space:nowrap}
.status.succeeded{background:var(--ok)}.status.partially_failed{background:var(--warn)}.status.failed{background:var(--bad)}.status.refused{background:var(--bad)}.status.interrupted{background:var(--warn)}.status.running{background:var(--ok);opacity:.7}.status.skipped{opacity:.6}
.status.ok{background:var(--ok)}.status.not-ok{background:var(--bad)}
.name{white-space:pre-wrap;overflow-wrap:anywhere;max-width:560px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
td.when,td.when .mono,td.mono{white-space:nowrap}
td.reason{overflow-wrap:anywhere}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.small{font-size:12px}.muted{color:var(--muted)}
.problem{color:var(--bad);background:#ffebe9;border:1px solid #ffcecb;border-radius:6px;padding:8px 12px;white-space:pre-wrap}
.filters{margin:8px 0 10px;display:flex;gap:8px;flex-wrap:wrap}
.filters a{padding:2px 11px;border:1px solid var(--line);border-radius:12px;text-decoration:none;color:inherit;background:#fff}
.filters a.on{background:#24292f;border-color:#24292f;color:#fff}
.pager{margin-top:12px}
";
