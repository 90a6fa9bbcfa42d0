//! The dashboard (`GET /`) and the page of one run (`GET /history/{id}`).

use super::html::{badge, card, duration, error_page, esc, page, url_part, when};
use super::{DashboardInputs, Problem, WebState, job_filter, outcome_filter, paging, search_param};
use crate::report::{NoticeOutcome, Outcome, RunStatus};
use crate::store::{OUTCOME_KINDS, OutcomeQuery, RunDetail, RunRecord};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::StatusCode;
use std::collections::HashMap;
use std::fmt::Write;

/// Runs per dashboard page.
const PAGE: usize = 25;
/// Group outcomes per page of a run.
pub(super) const OUTCOMES_PAGE: usize = 100;
/// The dashboard reloads itself this often (seconds).
const REFRESH: u32 = 30;

/// `GET /?before=&job=`
pub(super) async fn dashboard(
    State(state): State<WebState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match load_dashboard(&state, &query).await {
        Ok(body) => page(StatusCode::OK, "Runs", &body, Some(REFRESH)),
        Err(p) => error_page(p.status(), &p.message()),
    }
}

/// `GET /history/{id}?outcome=&q=&page=`: one page of the outcomes of one kind whose
/// name holds `q`; only that page is read from the store.
pub(super) async fn run(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match load_run(&state, id, &query).await {
        Ok((d, view)) => page(
            StatusCode::OK,
            &format!("Run {}", d.run.id),
            &run_body(&d, &view),
            None,
        ),
        Err(p) => error_page(p.status(), &p.message()),
    }
}

/// What the run page shows of the outcomes.
struct Shown {
    kind: Option<&'static str>,
    search: Option<String>,
    /// From 1.
    page: usize,
    /// Outcomes matching `kind` and `search`, on all pages.
    matching: usize,
}

impl Shown {
    /// The link to `page` of the same selection.
    fn href(&self, id: &str, page: usize) -> String {
        let mut href = format!("/history/{}", url_part(id));
        let mut sep = '?';
        let mut add = |key: &str, value: &str| {
            let _ = write!(href, "{sep}{key}={}", url_part(value));
            sep = '&';
        };
        if let Some(kind) = self.kind {
            add("outcome", kind);
        }
        if let Some(q) = &self.search {
            add("q", q);
        }
        if page > 1 {
            add("page", &page.to_string());
        }
        href
    }
}

async fn load_run(
    state: &WebState,
    id: String,
    query: &HashMap<String, String>,
) -> Result<(RunDetail, Shown), Problem> {
    let kind = outcome_filter(query)?;
    let search = search_param(query);
    let page = match query.get("page").map(String::as_str) {
        None | Some("") => 1,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| {
                Problem::BadRequest(format!("page must be a whole number from 1, got {text:?}"))
            })?,
    };
    let outcomes = OutcomeQuery {
        kind: kind.map(str::to_owned),
        search: search.clone(),
        limit: Some(OUTCOMES_PAGE),
        offset: (page - 1).saturating_mul(OUTCOMES_PAGE),
    };
    let shown_id = id.clone();
    let (detail, matching) = state
        .store
        .call(move |s| s.run_page(&id, &outcomes))
        .await?
        .ok_or_else(|| Problem::NotFound(format!("no execution with id {shown_id:?}")))?;
    let shown = Shown {
        kind,
        search,
        page,
        matching,
    };
    Ok((detail, shown))
}

async fn load_dashboard(
    state: &WebState,
    query: &HashMap<String, String>,
) -> Result<String, Problem> {
    let (limit, before) = paging(query, PAGE)?;
    let paged = before.is_some();
    let job = job_filter(query);
    let of = job.clone();
    let (runs, last_success, jobs) = state
        .store
        .call(move |s| {
            let of = of.as_deref();
            Ok((
                s.runs_of(of, limit, before.as_deref())?,
                s.last_success_in(of)?,
                s.jobs_in_history()?,
            ))
        })
        .await?;
    let several = jobs.len() > 1;
    let inputs = (state.inputs)();
    let mut body = String::from("<div class=\"cards\">");
    body.push_str(&cards(
        &inputs,
        last_success.as_ref(),
        runs.first().filter(|_| !paged),
    ));
    body.push_str("</div>");
    if !paged {
        body.push_str(&super::chart::recent_runs(&runs));
    }
    body.push_str("<h2>Recent runs</h2>");
    if several {
        body.push_str(&job_links(&jobs, job.as_deref()));
    }
    body.push_str(&runs_table(&runs, several));
    let job_part = job
        .as_deref()
        .map(|j| format!("&amp;job={}", url_part(j)))
        .unwrap_or_default();
    if let Some(last) = runs.last().filter(|_| runs.len() == limit) {
        let _ = write!(
            body,
            "<p class=\"pager\"><a href=\"/?before={}{job_part}\">Older runs →</a></p>",
            url_part(&last.id)
        );
    }
    Ok(body)
}

fn cards(
    inputs: &DashboardInputs,
    success: Option<&RunRecord>,
    latest: Option<&RunRecord>,
) -> String {
    let next = inputs
        .next_run
        .map(|t| esc(&when(t)))
        .unwrap_or_else(|| "<span class=\"muted\">not scheduled</span>".into());
    let mut out = card("Next scheduled run", &next);
    if let Some(r) = &inputs.ready {
        let (class, word) = if r.ready {
            ("ok", "ready")
        } else {
            ("not-ok", "not ready")
        };
        let value = format!(
            "<span class=\"status {class}\">{word}</span> <span class=\"small muted\">{}</span>",
            esc(&r.detail)
        );
        out.push_str(&card("Readiness", &value));
    }
    if let Some(r) = latest {
        out.push_str(&card(
            "Last run",
            &format!(
                "{} <span class=\"small muted\">{}</span>",
                badge(&r.status),
                esc(&when(r.started_at))
            ),
        ));
    }
    let success = success
        .map(|r| esc(&when(r.finished_at)))
        .unwrap_or_else(|| "<span class=\"muted\">none yet</span>".into());
    out.push_str(&card("Last success", &success));
    out
}

/// Links that show one job's runs, or all of them; the one shown is not a link.
fn job_links(jobs: &[String], shown: Option<&str>) -> String {
    let mut out = String::from("<p class=\"jobs\">Job: ");
    let link = |label: &str, href: String, current: bool| {
        if current {
            format!("<strong>{}</strong>", esc(label))
        } else {
            format!("<a href=\"{href}\">{}</a>", esc(label))
        }
    };
    out.push_str(&link("all", "/".into(), shown.is_none()));
    for job in jobs {
        out.push_str(" · ");
        out.push_str(&link(
            job,
            format!("/?job={}", url_part(job)),
            shown == Some(job.as_str()),
        ));
    }
    out.push_str("</p>");
    out
}

/// The runs, with a Job column when the history holds several jobs.
fn runs_table(runs: &[RunRecord], with_job: bool) -> String {
    if runs.is_empty() {
        return "<p class=\"muted\">No runs recorded yet.</p>".into();
    }
    let mut out = String::from("<table class=\"runs\"><thead><tr><th>Started</th>");
    if with_job {
        out.push_str("<th>Job</th>");
    }
    out.push_str(
        "<th>Status</th><th>Trigger</th>\
         <th>Source</th><th class=\"num\">Created</th><th class=\"num\">Existed</th>\
         <th class=\"num\">Skipped</th><th class=\"num\">Failed</th><th class=\"num\">Duration</th>\
         </tr></thead><tbody>",
    );
    for r in runs {
        out.push_str(&run_row(r, with_job));
    }
    out.push_str("</tbody></table>");
    out
}

fn run_row(r: &RunRecord, with_job: bool) -> String {
    let c = &r.counts;
    let created = if r.dry_run {
        format!(
            "{} <span class=\"small muted\">(would)</span>",
            c.would_create
        )
    } else {
        c.created.to_string()
    };
    let error = r
        .error
        .as_ref()
        .map(|e| format!("<div class=\"small problem\">{}</div>", esc(&e.message)))
        .unwrap_or_default();
    let source = r
        .source
        .as_ref()
        .map(|s| esc(&s.name))
        .unwrap_or_else(|| "–".into());
    format!(
        "<tr data-run=\"{id}\"><td class=\"when\"><a href=\"/history/{link}\">{started}</a><div class=\"mono muted\">{id}</div></td>\
         {job}<td>{status}{error}</td><td>{trigger}</td><td>{source}</td>{created}{existed}{skipped}{failed}\
         <td class=\"num\">{took}</td></tr>",
        id = esc(&r.id),
        job = if with_job {
            format!("<td>{}</td>", esc(&r.job))
        } else {
            String::new()
        },
        link = url_part(&r.id),
        started = esc(&when(r.started_at)),
        status = badge(&r.status),
        trigger = esc(&r.trigger),
        created = num_cell_html(c.created + c.would_create, &created),
        existed = num_cell(c.existed),
        skipped = num_cell(c.skipped),
        failed = num_cell(c.failed),
        took = esc(&duration(r.duration())),
    )
}

fn num_cell(n: usize) -> String {
    num_cell_html(n, &n.to_string())
}

/// A number column; zeros are greyed so that what happened stands out.
fn num_cell_html(n: usize, html: &str) -> String {
    let class = if n == 0 { "num zero" } else { "num" };
    format!("<td class=\"{class}\">{html}</td>")
}

/// What to do about a run a guard refused.
const REFUSED_HELP: &str = "<div class=\"refused\"><h2>A guard refused this run: nothing was written</h2>\
<p>If the key the message names is wrong (<code>scim.base_url</code>, the SCIM token, \
<code>identitynow.source_id</code> or <code>identitynow.entitlement_filter</code>), fix it; the next run checks again.</p>\
<p>If the change is real (a new, empty target, or groups really removed from the source), \
let one run through: <code>groupsync run --force</code>, or <code>POST /runs</code> with the \
admin token and the body <code>{\"force\": true}</code>.</p></div>";

fn run_body(d: &RunDetail, shown: &Shown) -> String {
    let r = &d.run;
    let mut out = format!(
        "<p><a href=\"/\">← all runs</a></p><h1>Run <span class=\"mono\">{}</span> {}</h1><div class=\"cards\">",
        esc(&r.id),
        badge(&r.status)
    );
    let source = r
        .source
        .as_ref()
        .map(|s| {
            format!(
                "{} <span class=\"small muted mono\">{}</span>",
                esc(&s.name),
                esc(&s.id)
            )
        })
        .unwrap_or_else(|| "–".into());
    for (label, value) in [
        ("Trigger", esc(&r.trigger)),
        ("Started", esc(&when(r.started_at))),
        ("Duration", esc(&duration(r.duration()))),
        ("Source", source),
    ] {
        out.push_str(&card(label, &value));
    }
    out.push_str("</div>");
    if r.dry_run {
        out.push_str("<p class=\"muted\">Dry run: nothing was created and nothing was sent.</p>");
    }
    if let Some(e) = &r.error {
        let _ = write!(out, "<p class=\"problem\">{}</p>", esc(&e.message));
    }
    if r.status == RunStatus::Refused.as_str() {
        out.push_str(REFUSED_HELP);
    }
    out.push_str("<h2>Groups</h2>");
    out.push_str(&filters(d, shown.kind));
    out.push_str(&search_form(&r.id, shown));
    if r.unchanged > 0 && matches!(shown.kind, None | Some("existed")) {
        let _ = write!(
            out,
            "<p class=\"muted\">{} found existing as in the run before: counted, not listed.</p>",
            esc(&crate::report::count(r.unchanged, "group"))
        );
    }
    out.push_str(&outcomes_table(d));
    out.push_str(&pager(&r.id, shown, d.outcomes.len()));
    if let Some(step) = &r.close_loop {
        out.push_str(&close_loop_part(step));
    }
    if !d.notices.is_empty() {
        out.push_str("<h2>Notices</h2>");
        out.push_str(&notices_table(&d.notices));
    }
    out
}

/// One link per kind of outcome, with its count; the one shown is highlighted.
fn filters(d: &RunDetail, shown: Option<&str>) -> String {
    let c = &d.run.counts;
    let link = |kind: Option<&str>, label: &str, n: usize| {
        let href = match kind {
            Some(k) => format!("/history/{}?outcome={k}", url_part(&d.run.id)),
            None => format!("/history/{}", url_part(&d.run.id)),
        };
        let on = if kind == shown { " class=\"on\"" } else { "" };
        format!("<a{on} href=\"{href}\">{} ({n})</a>", esc(label))
    };
    let counts = [
        c.created,
        c.existed,
        c.would_create,
        c.skipped,
        c.failed,
        c.adopted,
        c.would_adopt,
        c.renamed,
        c.would_rename,
        c.orphans,
        c.would_delete,
        c.deleted,
    ];
    let labels = [
        "created",
        "existed",
        "would create",
        "skipped",
        "failed",
        "adopted",
        "would adopt",
        "renamed",
        "would rename",
        "orphan",
        "would delete",
        "deleted",
    ];
    let mut out = String::from("<nav class=\"filters\">");
    out.push_str(&link(None, "all", c.source));
    for ((kind, label), n) in OUTCOME_KINDS.iter().zip(labels).zip(counts) {
        if n > 0 || shown == Some(*kind) {
            out.push_str(&link(Some(kind), label, n));
        }
    }
    out.push_str("</nav>");
    out
}

/// A search by name within the outcomes shown (a plain GET form).
fn search_form(id: &str, shown: &Shown) -> String {
    let kind = shown
        .kind
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"outcome\" value=\"{}\">",
                esc(k)
            )
        })
        .unwrap_or_default();
    format!(
        "<form class=\"search\" method=\"get\" action=\"/history/{}\">{kind}\
         <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"part of a name\" aria-label=\"Search groups by name\">\
         <button type=\"submit\">Search</button></form>",
        url_part(id),
        esc(shown.search.as_deref().unwrap_or(""))
    )
}

/// Where this page is among the matching outcomes, with links to its neighbours.
fn pager(id: &str, shown: &Shown, on_page: usize) -> String {
    if shown.matching == 0 {
        return String::new();
    }
    let first = (shown.page - 1) * OUTCOMES_PAGE + 1;
    let mut out = String::from("<p class=\"pager\">");
    if on_page > 0 {
        let _ = write!(
            out,
            "Groups {first}–{} of {}",
            first + on_page - 1,
            shown.matching
        );
    } else {
        let _ = write!(out, "No groups on page {}", shown.page);
    }
    if shown.page > 1 {
        let _ = write!(
            out,
            " · <a rel=\"prev\" href=\"{}\">← previous</a>",
            shown.href(id, shown.page - 1)
        );
    }
    if first - 1 + on_page < shown.matching && on_page > 0 {
        let _ = write!(
            out,
            " · <a rel=\"next\" href=\"{}\">next →</a>",
            shown.href(id, shown.page + 1)
        );
    }
    out.push_str("</p>");
    out
}

fn outcomes_table(d: &RunDetail) -> String {
    if d.outcomes.is_empty() {
        return "<p class=\"muted\">No groups to show.</p>".into();
    }
    let mut out = String::from(
        "<table class=\"outcomes\"><thead><tr><th>Group</th><th>Outcome</th><th>SCIM id</th><th>Reason</th></tr></thead><tbody>",
    );
    for o in &d.outcomes {
        let (kind, scim_id, reason) = match &o.outcome {
            Outcome::Created { scim_id } => ("created", scim_id.as_str(), String::new()),
            Outcome::Existed { scim_id } => ("existed", scim_id.as_str(), String::new()),
            Outcome::WouldCreate => ("would create", "", String::new()),
            Outcome::Skipped { reason } => ("skipped", "", reason.to_string()),
            Outcome::Failed { error } => ("failed", "", error.clone()),
            Outcome::Adopted { scim_id } => ("adopted", scim_id.as_str(), String::new()),
            Outcome::WouldAdopt { scim_id } => ("would adopt", scim_id.as_str(), String::new()),
            Outcome::Renamed { scim_id, from } => {
                ("renamed", scim_id.as_str(), format!("was {from:?}"))
            }
            Outcome::WouldRename { scim_id, from } => (
                "would rename",
                scim_id.as_str(),
                format!("still named {from:?} (sync.rename is off, or a dry run)"),
            ),
            Outcome::Orphan { scim_id } => (
                "orphan",
                scim_id.as_str(),
                "its AD group is gone".to_owned(),
            ),
            Outcome::WouldDelete { scim_id } => (
                "would delete",
                scim_id.as_str(),
                "its AD group is gone".to_owned(),
            ),
            Outcome::Deleted { scim_id } => (
                "deleted",
                scim_id.as_str(),
                "its AD group was gone on two successful runs in a row".to_owned(),
            ),
        };
        let renamed = o
            .source_name
            .as_ref()
            .map(|from| format!(" <span class=\"muted\">(AD name {})</span>", esc(from)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td class=\"name\">{}{renamed}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"reason\">{}</td></tr>",
            esc(&o.name),
            esc(kind),
            esc(scim_id),
            esc(&reason)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The aggregation of the Alation SCIM source after the run, and each created group's
/// entitlement in IdentityNow.
fn close_loop_part(step: &crate::report::CloseLoop) -> String {
    let source = step
        .source
        .as_ref()
        .map(|s| format!(" of {}", esc(&s.name)))
        .unwrap_or_default();
    let mut out = format!(
        "<h2>IdentityNow entitlement aggregation{source}</h2><p class=\"loop\">{} {}</p>",
        badge(step.state.as_str()),
        esc(&step.message)
    );
    if step.task_id.is_none() {
        return out;
    }
    out.push_str(
        "<table class=\"loop\"><thead><tr><th>Created group</th><th>Entitlement id</th></tr></thead><tbody>",
    );
    for g in &step.groups {
        let id = g.entitlement_id.as_deref().unwrap_or("not listed");
        let _ = write!(
            out,
            "<tr><td class=\"name\">{}</td><td class=\"mono\">{}</td></tr>",
            esc(&g.name),
            esc(id)
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn notices_table(notices: &[NoticeOutcome]) -> String {
    let mut out = String::from(
        "<table class=\"notices\"><thead><tr><th>Subject</th><th>State</th><th>Error</th></tr></thead><tbody>",
    );
    for n in notices {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.subject),
            esc(n.state.as_str()),
            esc(n.error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>");
    out
}
