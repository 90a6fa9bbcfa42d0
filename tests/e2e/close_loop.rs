//! Closing the loop against the sandbox: after a run that created groups, the Alation
//! SCIM source is aggregated in IdentityNow and the run says which created groups are now
//! entitlements; with an API client the run succeeds and records why it was not done.

use crate::harness::*;
use groupsync::identitynow::Client;
use groupsync::report::NEEDS_PAT;
use groupsync_sandbox::faults::FaultPlan;
use groupsync_sandbox::{Credential, SCIM_SOURCE_ID, SCIM_SOURCE_NAME, SandboxOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn options(credential: Credential) -> SandboxOptions {
    SandboxOptions {
        credential,
        ..SandboxOptions::seeded(15, 5, 41)
    }
}

/// `groupsync run --json` with these variables; the exit status and the JSON.
async fn run_json(app: &TestApp, env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut cmd = app.command();
    cmd.envs(env.iter().copied()).args(["run", "--json"]);
    let out = output(cmd).await;
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code(), json)
}

fn created(run: &Value) -> BTreeSet<String> {
    run["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["outcome"] == "created")
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn with_a_personal_access_token_the_created_groups_become_entitlements() {
    let app = spawn_app(options(Credential::Pat)).await;
    let (code, run) = run_json(&app, &[]).await;
    assert_eq!(code, Some(0), "{run:#}");
    let made = created(&run);
    assert_eq!(made.len(), 10);
    let step = &run["close_loop"];
    assert_eq!(step["state"], "closed", "{step:#}");
    assert_eq!(step["source"]["id"], SCIM_SOURCE_ID);
    assert_eq!(step["source"]["name"], SCIM_SOURCE_NAME);
    assert!(step["task_id"].is_string());
    let groups = step["groups"].as_array().unwrap();
    assert_eq!(groups.len(), made.len());
    assert!(groups.iter().all(|g| g["entitlement_id"].is_string()));

    // The tenant itself lists them as the SCIM source's group entitlements.
    let settings = app.settings(&[]);
    let client = Client::new(&settings.identitynow).unwrap();
    let listed = client.source_groups(SCIM_SOURCE_ID).await.unwrap();
    let names: BTreeSet<String> = listed.groups.into_iter().map(|g| g.name).collect();
    assert!(made.is_subset(&names), "{made:?} not in {names:?}");
    assert_eq!(listed.selected.get("groups"), Some(&names.len()));

    // The history keeps it, and the digest tells it.
    let mut cmd = app.command();
    let id = run["id"].as_str().unwrap();
    cmd.args(["executions", "show", id, "--json"]);
    let shown: Value = serde_json::from_slice(&output(cmd).await.stdout).unwrap();
    assert_eq!(shown["close_loop"], *step);
    let mails = app.smtp.messages();
    let body = mails.last().unwrap().body_text();
    assert!(
        body.contains("entitlement aggregation of the Alation SCIM source (closed)"),
        "{body}"
    );

    // A run that creates nothing has no loop to close.
    let (code, again) = run_json(&app, &[]).await;
    assert_eq!(code, Some(0));
    assert!(again["close_loop"].is_null(), "{again:#}");
    app.stop().await;
}

#[tokio::test]
async fn with_an_api_client_the_run_succeeds_and_says_the_loop_needs_a_user_token() {
    let app = spawn_app(options(Credential::ApiClient)).await;
    let (code, run) = run_json(&app, &[]).await;
    assert_eq!(code, Some(0), "{run:#}");
    assert_eq!(run["status"], "succeeded");
    let step = &run["close_loop"];
    assert_eq!(step["state"], "not_done", "{step:#}");
    let message = step["message"].as_str().unwrap();
    assert!(
        message.starts_with("not done: needs a personal access token (ORG_ADMIN)"),
        "{message}"
    );
    assert!(step["task_id"].is_null());

    let mut cmd = app.command();
    cmd.arg("check");
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let refused: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("needs a personal access token"))
        .collect();
    assert_eq!(refused.len(), 1, "said once:\n{stdout}");
    assert!(refused[0].contains("load-entitlements"), "{}", refused[0]);
    assert!(
        stdout.contains("GET /v2026/entitlements")
            && stdout.contains("more than 10,000 groups are read in ranges of `created`"),
        "{stdout}"
    );
    app.stop().await;
}

/// The tenant's requests by route since `before`, routes asked for at least once.
async fn requests_since(app: &TestApp, before: &Value) -> BTreeMap<String, u64> {
    let now = crate::scale::tenant_stats(app).await;
    now["by_route"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(route, n)| {
            let earlier = before["by_route"][route].as_u64().unwrap_or(0);
            (route.clone(), n.as_u64().unwrap() - earlier)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn with_an_api_client_closing_the_loop_sends_nothing() {
    // The sandbox's default credential: an API client, whose token names no user.
    let options = SandboxOptions::seeded(15, 5, 41);
    assert_eq!(options.credential, Credential::ApiClient);
    let app = spawn_app(options).await;

    // A dry run reads the source as the run will, and closes no loop.
    let start = crate::scale::tenant_stats(&app).await;
    let mut cmd = app.command();
    cmd.args(["run", "--dry-run", "--json"]);
    assert_eq!(output(cmd).await.status.code(), Some(0));
    let dry = requests_since(&app, &start).await;
    assert!(
        dry.keys().any(|r| r.starts_with("GET /v3/sources")),
        "{dry:?}"
    );

    let before = crate::scale::tenant_stats(&app).await;
    let (code, run) = run_json(&app, &[]).await;
    assert_eq!(code, Some(0), "{run:#}");
    assert_eq!(created(&run).len(), 10);
    let step = &run["close_loop"];
    assert_eq!(step["state"], "not_done", "{step:#}");
    let message = step["message"].as_str().unwrap();
    assert!(message.starts_with(NEEDS_PAT), "{message}");
    assert!(
        message.contains("use a personal access token")
            && message.contains(&format!("{SCIM_SOURCE_ID:?}")),
        "{message}"
    );
    assert!(step["source"].is_null() && step["task_id"].is_null());

    // The run asked the tenant exactly what the dry run did: no sources listing after
    // the entitlements were read, no aggregation started, nothing read back.
    let real = requests_since(&app, &before).await;
    assert_eq!(real, dry);
    assert!(
        real.keys().all(|r| !r.contains("load-entitlements")),
        "{real:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_refusing_a_users_token_the_aggregation_leaves_the_loop_not_done() {
    let app = spawn_app(SandboxOptions {
        idn_faults: FaultPlan {
            rules: FaultPlan::parse("403@1:POST:/beta/sources").unwrap(),
            ..FaultPlan::default()
        },
        ..options(Credential::Pat)
    })
    .await;
    let before = crate::scale::tenant_stats(&app).await;
    let (code, run) = run_json(&app, &[]).await;
    assert_eq!(code, Some(0), "{run:#}");
    let step = &run["close_loop"];
    assert_eq!(step["state"], "not_done", "{step:#}");
    let message = step["message"].as_str().unwrap();
    assert!(
        message.starts_with(NEEDS_PAT) && message.contains(&format!("{SCIM_SOURCE_NAME:?}")),
        "{message}"
    );
    assert_eq!(step["source"]["id"], SCIM_SOURCE_ID);
    assert!(step["task_id"].is_null());
    let asked = requests_since(&app, &before).await;
    let refused = asked.get("POST /beta/sources/{id}/load-entitlements");
    assert_eq!(refused, Some(&1), "{asked:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_scim_source_fails_check_and_the_loop_naming_the_sources() {
    let app = spawn_app(options(Credential::Pat)).await;
    let env = [("GROUPSYNC_IDENTITYNOW__SCIM_SOURCE", "Alation (old)")];
    let mut cmd = app.command();
    cmd.envs(env).arg("check");
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL identitynow scim source"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("\"Alation SCIM\"") && line.contains("\"Workday HR\""));
    assert!(stdout.contains("ok   identitynow group schema: account.memberOf"));

    let (code, run) = run_json(&app, &env).await;
    assert_eq!(code, Some(0), "the sync itself succeeded: {run:#}");
    let step = &run["close_loop"];
    assert_eq!(step["state"], "failed");
    assert!(
        step["message"]
            .as_str()
            .unwrap()
            .contains("\"Alation SCIM\" (2c9180835d191a86015d28455b4b232c)"),
        "{step:#}"
    );
    app.stop().await;
}

/// `GET /v2025/entitlements` requests the tenant has served so far.
async fn entitlement_pages(app: &TestApp) -> u64 {
    let stats = crate::scale::tenant_stats(app).await;
    stats["by_route"]["GET /v2025/entitlements"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn the_read_back_asks_for_the_new_entitlements_not_the_whole_scim_source() {
    // About 3,000 groups already in Alation, aggregated into the SCIM source long ago:
    // reading that source whole would take 30 pages of 100.
    let app = spawn_app(SandboxOptions {
        credential: Credential::Pat,
        ..SandboxOptions::seeded(3_040, 3_000, 43)
    })
    .await;
    let env = [("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "100")];
    let settings = app.settings(&env);
    let client = Client::new(&settings.identitynow).unwrap();
    let before = client.source_groups(SCIM_SOURCE_ID).await.unwrap();
    let existing = app.target_names().len();
    assert!(existing > 2_900, "{existing}");
    assert_eq!(before.groups.len(), existing);

    // A dry run reads the AD source as the run will, and closes no loop.
    let start = entitlement_pages(&app).await;
    let mut cmd = app.command();
    cmd.envs(env).args(["run", "--dry-run", "--json"]);
    assert_eq!(output(cmd).await.status.code(), Some(0));
    let ad_pages = entitlement_pages(&app).await - start;
    assert!(ad_pages >= 30, "{ad_pages}");

    let (code, run) = run_json(&app, &env).await;
    assert_eq!(code, Some(0), "{run:#}");
    let made = created(&run);
    assert!((1..=40).contains(&made.len()), "{made:?}");
    let step = &run["close_loop"];
    assert_eq!(step["state"], "closed", "{step:#}");
    let groups = step["groups"].as_array().unwrap();
    assert_eq!(groups.len(), made.len());
    assert!(
        groups.iter().all(|g| g["entitlement_id"].is_string()),
        "{step:#}"
    );

    let read_back = entitlement_pages(&app).await - start - 2 * ad_pages;
    assert!(
        (1..=2).contains(&read_back),
        "the read-back took {read_back} pages, the AD source {ad_pages}"
    );
    // The SCIM source holds them all, the created ones under the ids the run found.
    let after = client.source_groups(SCIM_SOURCE_ID).await.unwrap();
    assert_eq!(after.groups.len(), existing + made.len());
    let new: BTreeSet<(String, String)> = after
        .groups
        .into_iter()
        .filter(|g| made.contains(&g.name))
        .map(|g| (g.name, g.id))
        .collect();
    let found: BTreeSet<(String, String)> = groups
        .iter()
        .map(|g| {
            let text = |k: &str| g[k].as_str().unwrap().to_owned();
            (text("name"), text("entitlement_id"))
        })
        .collect();
    assert_eq!(found, new);
    app.stop().await;
}
