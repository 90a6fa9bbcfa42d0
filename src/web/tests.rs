//! The history's routes over real HTTP on 127.0.0.1.

use super::{DashboardInputs, Readiness, WebState, routes};
use crate::domain::RunId;
use crate::report::{GroupOutcome, Outcome, RunReport, SkipReason, SourceInfo};
use crate::store::{Recording, ReportedNames, RunRecord, Store};
use chrono::{TimeDelta, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const EVIL: &str = "<script>alert('x')</script> & \"Ops\"";

struct Server {
    base: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(state: WebState) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, routes(state))
                .with_graceful_shutdown(until.cancelled_owned())
                .await
                .unwrap();
        });
        Server { base, stop, task }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base)).await.unwrap()
    }

    /// The body of `GET {path}`.
    async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// Records `n` runs a minute apart; the last one holds the awkward names.
fn store_with_runs(n: usize) -> (Store, Vec<String>) {
    let store = Store::in_memory().unwrap();
    let noon = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let mut ids = vec![];
    for i in 0..n {
        let started = noon + TimeDelta::minutes(i as i64);
        let outcomes = vec![
            GroupOutcome {
                source_id: "a".into(),
                name: EVIL.into(),
                source_name: None,
                outcome: Outcome::Created {
                    scim_id: "s-1".into(),
                },
            },
            GroupOutcome {
                source_id: "b".into(),
                name: "Finance".into(),
                source_name: None,
                outcome: Outcome::Skipped {
                    reason: SkipReason::TooLong {
                        chars: 300,
                        max: 256,
                    },
                },
            },
        ];
        let report = RunReport {
            run_id: RunId::new(),
            started_at: started,
            finished_at: started + TimeDelta::seconds(2),
            dry_run: false,
            source: Some(SourceInfo {
                id: "src".into(),
                name: "Active Directory".into(),
            }),
            outcomes,
            error: None,
            notices: vec![],
            guard: None,
            read: 0,
            stage: None,
            close_loop: None,
        };
        record_scheduled(&store, &report);
        ids.push(report.run_id.0);
    }
    (store, ids)
}

#[tokio::test]
async fn executions_are_listed_newest_first_in_pages() {
    let (store, ids) = store_with_runs(3);
    let server = Server::start(WebState::new(store)).await;
    let page: Value = server
        .get("/executions?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(page["executions"][0]["status"], "succeeded");
    assert_eq!(page["executions"][0]["counts"]["created"], 1);
    let next = page["next"].as_str().unwrap();
    let page: Value = server.get(next).await.json().await.unwrap();
    assert_eq!(page["executions"][0]["id"], ids[0].as_str());
    assert_eq!(page["next"], Value::Null);

    for bad in [
        "/executions?limit=0",
        "/executions?limit=x",
        "/executions?before=nope",
    ] {
        let resp = server.get(bad).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(if bad.contains("before") {
                    "before"
                } else {
                    "limit"
                })
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn one_execution_has_its_outcomes_filterable_by_kind() {
    let (store, ids) = store_with_runs(1);
    let server = Server::start(WebState::new(store)).await;
    let run: Value = server
        .get(&format!("/executions/{}", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(run["outcomes"].as_array().unwrap().len(), 2);
    assert_eq!(run["outcomes"][0]["name"], EVIL);
    let skipped: Value = server
        .get(&format!("/executions/{}?outcome=skipped", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(skipped["outcomes"].as_array().unwrap().len(), 1);
    assert_eq!(skipped["outcomes"][0]["reason"]["kind"], "too_long");
    assert_eq!(server.get("/executions/unknown").await.status(), 404);
    let bad = server
        .get(&format!("/executions/{}?outcome=lost", ids[0]))
        .await;
    assert_eq!(bad.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn the_dashboard_escapes_names_and_shows_its_inputs() {
    let (store, ids) = store_with_runs(2);
    let next = Utc.with_ymd_and_hms(2025, 6, 2, 2, 30, 0).unwrap();
    let state = WebState::new(store).with_inputs(move || DashboardInputs {
        next_run: Some(next),
        ready: Some(Readiness {
            ready: false,
            detail: "SCIM <target> unreachable".into(),
        }),
    });
    let server = Server::start(state).await;
    let resp = server.get("/").await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = resp.text().await.unwrap();
    for id in &ids {
        assert!(html.contains(&format!("href=\"/history/{id}\"")), "{html}");
    }
    assert!(html.contains("2025-06-02 02:30:00 UTC"));
    assert!(html.contains("not ready") && html.contains("SCIM &lt;target&gt; unreachable"));

    let page = server
        .get(&format!("/history/{}", ids[1]))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Ops&quot;"),
        "{page}"
    );
    assert!(!page.contains("<script"), "no raw script tag: {page}");
    assert!(page.contains("the name has 300 characters"));
    let failed_only = server
        .get(&format!("/history/{}?outcome=skipped", ids[1]))
        .await
        .text()
        .await
        .unwrap();
    assert!(failed_only.contains("Finance") && !failed_only.contains("alert("));
    assert_eq!(server.get("/history/unknown").await.status(), 404);
    assert_eq!(server.get("/?limit=9999").await.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn with_an_admin_token_every_route_asks_for_it() {
    let (store, _) = store_with_runs(1);
    let state = WebState::new(store).with_admin_token(Some(SecretString::from("s3cret")));
    let server = Server::start(state).await;
    let client = reqwest::Client::new();
    for path in ["/", "/executions", "/history/x", "/executions/x"] {
        let url = format!("{}{path}", server.base);
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        assert!(
            resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let url = format!("{}/executions", server.base);
    let bearer = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(bearer.status(), 200);
    let basic = client
        .get(format!("{}/", server.base))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn protected_without_a_token_refuses_everyone_and_public_opens() {
    let (store, _) = store_with_runs(1);
    let closed = Server::start(WebState::new(store.clone()).protected_unless(false, None)).await;
    for path in ["/", "/executions", "/history/x", "/executions/x"] {
        let resp = closed.get(path).await;
        assert_eq!(resp.status(), 403, "{path}");
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("server.public_dashboard")
        );
    }
    closed.stop().await;
    let token = Some(SecretString::from("s3cret"));
    let guarded =
        Server::start(WebState::new(store.clone()).protected_unless(false, token.clone())).await;
    assert_eq!(guarded.get("/executions").await.status(), 401);
    guarded.stop().await;
    let public = Server::start(WebState::new(store).protected_unless(true, token)).await;
    assert_eq!(public.get("/executions").await.status(), 200);
    public.stop().await;
}

/// Records `report` (no outcomes, no notices) as a scheduled run.
fn record(store: &Store, report: &RunReport) {
    let run = RunRecord::of(report, "schedule");
    let recording = Recording {
        run: &run,
        outcomes: &[],
        notices: &[],
        reported: &ReportedNames::default(),
        failing: None,
        settled: &[],
    };
    store.record(&recording).unwrap();
}

#[tokio::test]
async fn a_refused_run_says_what_to_do() {
    let store = Store::in_memory().unwrap();
    let mut report = RunReport::started(RunId::new(), Utc::now(), false);
    let refusal = crate::sync::guards::Tripped::EmptyTarget { before: 12 }.refusal();
    report.error = Some(refusal.failure());
    record(&store, &report);
    let server = Server::start(WebState::new(store)).await;
    let list = server.get("/").await.text().await.unwrap();
    assert!(list.contains("status refused"), "{list}");
    let page = server.text(&format!("/history/{}", report.run_id)).await;
    assert!(
        page.contains("empty_target") && page.contains("12"),
        "{page}"
    );
    assert!(page.contains("A guard refused this run"), "{page}");
    assert!(page.contains("groupsync run --force"), "{page}");
    assert!(page.contains("<code>scim.base_url</code>"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn the_run_page_shows_the_aggregation_of_the_scim_source() {
    use crate::report::{CloseLoop, LoopGroup, LoopState};
    let store = Store::in_memory().unwrap();
    let mut report = RunReport::started(RunId::new(), Utc::now(), false);
    report.close_loop = Some(CloseLoop {
        state: LoopState::Incomplete,
        source: Some(SourceInfo {
            id: "scim-src".into(),
            name: "Alation SCIM".into(),
        }),
        task_id: Some("task-1".into()),
        message: "1 of 2 created groups are entitlements".into(),
        groups: vec![
            LoopGroup {
                name: EVIL.into(),
                entitlement_id: Some("ent-1".into()),
            },
            LoopGroup {
                name: "Legal".into(),
                entitlement_id: None,
            },
        ],
    });
    record(&store, &report);
    let server = Server::start(WebState::new(store)).await;
    let page = server.text(&format!("/history/{}", report.run_id)).await;
    assert!(
        page.contains("IdentityNow entitlement aggregation of Alation SCIM"),
        "{page}"
    );
    assert!(
        page.contains("1 of 2 created groups are entitlements"),
        "{page}"
    );
    assert!(
        page.contains("ent-1") && page.contains("not listed"),
        "{page}"
    );
    assert!(!page.contains(EVIL), "names are escaped: {page}");
    server.stop().await;
}

#[tokio::test]
async fn the_run_page_shows_adopted_renamed_orphan_and_deleted_groups() {
    let store = Store::in_memory().unwrap();
    let mut report = RunReport::started(RunId::new(), Utc::now(), false);
    let s = |v: &str| v.to_string();
    let one = |id: &str, name: &str, outcome: Outcome| GroupOutcome {
        source_id: s(id),
        name: s(name),
        source_name: None,
        outcome,
    };
    report.outcomes = vec![
        one("e1", "Sales", Outcome::Adopted { scim_id: s("s1") }),
        one(
            "e2",
            "Finance EU",
            Outcome::Renamed {
                scim_id: s("s2"),
                from: s("Finance"),
            },
        ),
        one("e3", "Old", Outcome::Orphan { scim_id: s("s3") }),
        one("e4", "Older", Outcome::Deleted { scim_id: s("s4") }),
    ];
    store
        .record(&Recording {
            run: &RunRecord::of(&report, "schedule"),
            outcomes: &report.outcomes,
            notices: &[],
            reported: &ReportedNames::default(),
            failing: None,
            settled: &[],
        })
        .unwrap();
    let server = Server::start(WebState::new(store)).await;
    let path = format!("/history/{}", report.run_id);
    let page = server.get(&path).await.text().await.unwrap();
    for shown in [
        "<td>adopted</td>",
        "<td>renamed</td>",
        "was &quot;Finance&quot;",
        "<td>orphan</td>",
        "its AD group is gone",
        "<td>deleted</td>",
        "?outcome=orphan\">orphan (1)</a>",
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    let orphans = server
        .get(&format!("{path}?outcome=orphan"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        orphans.contains("Old") && !orphans.contains("Sales"),
        "{orphans}"
    );
    server.stop().await;
}

#[tokio::test]
async fn executions_and_the_dashboard_filter_by_job_and_show_the_job_when_there_are_several() {
    let (store, _) = store_with_runs(0);
    let noon = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let mut ids = vec![];
    for (i, job) in ["us", "eu", "us"].into_iter().enumerate() {
        let started = noon + TimeDelta::minutes(i as i64);
        let mut report = RunReport::started(RunId::new(), started, false);
        report.finished_at = started + TimeDelta::seconds(1);
        store
            .record(&Recording {
                run: &RunRecord::of(&report, "schedule").of_job(job),
                outcomes: &[],
                notices: &[],
                reported: &ReportedNames::default(),
                failing: None,
                settled: &[],
            })
            .unwrap();
        ids.push(report.run_id.0);
    }
    let server = Server::start(WebState::new(store)).await;
    let listed = |page: &Value| -> Vec<String> {
        page["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["job"].as_str().unwrap(),
                    e["id"].as_str().unwrap()
                )
            })
            .collect()
    };
    let page: Value = server
        .get("/executions?job=us&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed(&page), [format!("us {}", ids[2])]);
    let next = page["next"].as_str().unwrap();
    assert!(next.ends_with("&job=us"), "{next}");
    let page: Value = server.get(next).await.json().await.unwrap();
    assert_eq!(listed(&page), [format!("us {}", ids[0])]);
    let page: Value = server.get("/executions?job=eu").await.json().await.unwrap();
    assert_eq!(listed(&page), [format!("eu {}", ids[1])]);

    let all = server.text("/").await;
    assert!(all.contains("<th>Job</th>"), "{all}");
    assert!(all.contains("href=\"/?job=eu\""), "{all}");
    let eu = server.text("/?job=eu").await;
    assert!(eu.contains(&ids[1]) && !eu.contains(&ids[0]) && !eu.contains(&ids[2]));
    assert!(eu.contains("<strong>eu</strong>"), "{eu}");
    server.stop().await;
}

/// A store with one run of `n` groups named `Group 000`, `Group 001`, …, all created.
fn store_with_a_large_run(n: usize) -> (Store, String) {
    let store = Store::in_memory().unwrap();
    let mut report = RunReport::started(RunId::new(), Utc::now(), false);
    report.outcomes = (0..n)
        .map(|i| GroupOutcome {
            source_id: format!("e{i:04}"),
            name: format!("Group {i:03}"),
            source_name: None,
            outcome: Outcome::Created {
                scim_id: format!("s{i}"),
            },
        })
        .collect();
    record_scheduled(&store, &report);
    (store, report.run_id.0)
}

/// Records `report` as a scheduled run without notices.
fn record_scheduled(store: &Store, report: &RunReport) {
    store
        .record(&Recording {
            run: &RunRecord::of(report, "schedule"),
            outcomes: &report.outcomes,
            notices: &[],
            reported: &ReportedNames::default(),
            failing: None,
            settled: &[],
        })
        .unwrap();
}

#[tokio::test]
async fn the_run_page_shows_one_page_of_groups_and_searches_by_name() {
    let (store, id) = store_with_a_large_run(250);
    let server = Server::start(WebState::new(store)).await;
    let rows = |html: &str| html.matches("<td class=\"name\">").count();

    let first = server.text(&format!("/history/{id}")).await;
    assert_eq!(rows(&first), 100);
    assert!(first.contains("Groups 1–100 of 250"), "{first}");
    assert!(first.contains(&format!("href=\"/history/{id}?page=2\"")));
    assert!(first.contains("<form class=\"search\" method=\"get\""));

    let last = server.text(&format!("/history/{id}?page=3")).await;
    assert_eq!(rows(&last), 50);
    assert!(last.contains("Groups 201–250 of 250"));
    assert!(last.contains("Group 249") && !last.contains("Group 199<"));
    assert!(!last.contains("rel=\"next\""));

    let found = server
        .text(&format!("/history/{id}?outcome=created&q=group%2012"))
        .await;
    assert_eq!(rows(&found), 10, "Group 120 to Group 129");
    assert!(found.contains("Groups 1–10 of 10"));
    assert!(
        found.contains("value=\"group 12\""),
        "the search is kept in the form"
    );

    let evil = server
        .text(&format!("/history/{id}?q=%3Cscript%3E%22"))
        .await;
    assert!(!evil.contains("<script>"));
    assert!(evil.contains("value=\"&lt;script&gt;&quot;\""));
    assert!(evil.contains("No groups to show."));

    let bad = server.get(&format!("/history/{id}?page=0")).await;
    assert_eq!(bad.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn one_job_shows_no_job_column() {
    let (store, _) = store_with_runs(2);
    let server = Server::start(WebState::new(store)).await;
    let body = server.text("/").await;
    assert!(!body.contains("<th>Job</th>"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_dashboard_draws_a_chart_of_recent_runs() {
    let (store, _) = store_with_runs(3);
    let server = Server::start(WebState::new(store)).await;
    let resp = server.get("/").await;
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("<svg class=\"chart\" role=\"img\""), "{html}");
    assert!(html.contains("in the last 3 runs</title>"));
    assert!(html.contains("The chart's figures"));
    assert!(!html.contains("<script"));
    server.stop().await;
}

#[tokio::test]
async fn one_execution_pages_its_outcomes_each_once_and_searches_them() {
    let (store, id) = store_with_a_large_run(250);
    let server = Server::start(WebState::new(store)).await;
    let json = |path: String| {
        let server = &server;
        async move {
            let resp = server.get(&path).await;
            assert_eq!(resp.status(), 200, "{path}");
            resp.json::<Value>().await.unwrap()
        }
    };
    let names = |page: &Value| -> Vec<String> {
        page["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };

    // the default page is the run page's, and `next` leads through the rest
    let first = json(format!("/executions/{id}")).await;
    assert_eq!(names(&first).len(), 100);
    assert_eq!(
        first["counts"]["created"], 250,
        "counts are the whole run's"
    );
    let mut seen = names(&first);
    let mut next = first["next"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(href) = next {
        let page = json(href).await;
        assert_eq!(page["counts"]["created"], 250);
        seen.extend(names(&page));
        next = page["next"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..250).map(|i| format!("Group {i:03}")).collect();
    assert_eq!(seen, expected, "each outcome once, in source order");

    // a smaller page, and the last page has no `next` at all
    let small = json(format!("/executions/{id}?limit=40&offset=200")).await;
    assert_eq!(names(&small), expected[200..240]);
    let last = json(format!("/executions/{id}?limit=40&offset=240")).await;
    assert_eq!(names(&last), expected[240..]);
    assert!(last.get("next").is_none(), "{last:#}");

    // `q` narrows, with `outcome`, and the next page keeps both
    let found = json(format!(
        "/executions/{id}?outcome=created&q=group%2012&limit=4"
    ))
    .await;
    assert_eq!(names(&found), expected[120..124]);
    assert_eq!(found["counts"]["created"], 250);
    let next = found["next"].as_str().unwrap();
    assert!(
        next.contains("outcome=created") && next.contains("q=group%2012"),
        "{next}"
    );
    let rest = json(next.to_owned()).await;
    assert_eq!(names(&rest), expected[124..128]);
    let none = json(format!("/executions/{id}?q=nowhere")).await;
    assert!(names(&none).is_empty() && none.get("next").is_none());

    for (bad, names_it) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
    ] {
        let resp = server.get(&format!("/executions/{id}?{bad}")).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().starts_with(names_it),
            "{bad}: {body}"
        );
    }
    server.stop().await;
}
