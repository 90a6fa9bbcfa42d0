//! Runs at the scale where the tenant's limits bite: the rate limit over hundreds of pages,
//! and a source past the 10,000-record window, read with `searchAfter` on `/v2026`.
//!
//! They take real seconds: the client's limiter waits out each 10-second window.

use crate::harness::*;
use crate::large::full_run;
use groupsync::report::RunStatus;
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::{Credential, SandboxOptions};
use serde_json::Value;
use std::collections::HashMap;

async fn get_stats(url: String) -> Value {
    reqwest::get(url)
        .await
        .expect("the stats answer")
        .json()
        .await
        .expect("the stats are JSON")
}

pub(crate) async fn tenant_stats(sb: &TestApp) -> Value {
    get_stats(format!("{}/sandbox/stats", sb.idn_url())).await
}

/// Each source name appears exactly as often in the run's outcomes as in the source.
pub(crate) fn assert_each_once(groups: &[String], outcomes: impl IntoIterator<Item = String>) {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for g in groups {
        *counts.entry(g.clone()).or_default() += 1;
    }
    for o in outcomes {
        *counts.entry(o).or_default() -= 1;
    }
    let off: Vec<_> = counts.into_iter().filter(|(_, n)| *n != 0).collect();
    assert!(
        off.is_empty(),
        "listed a different number of times: {off:?}"
    );
}

#[tokio::test]
async fn three_hundred_pages_stay_inside_the_rate_limit() {
    let opts = SandboxOptions::seeded(3_000, 0, 21);
    assert_eq!(opts.rate_limit, Some(100), "the tenant's limit is on");
    let groups = opts.groups.clone();
    let sb = spawn_app(opts).await;
    let settings = sb.settings(&[("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "10")]);
    let budget = settings.identitynow.requests_per_10s as u64;
    let syncer = Syncer::new(settings, Store::in_memory().unwrap()).unwrap();

    let run = syncer
        .run(&RunRequest::new([TriggerKind::Cli], true), &Quiet)
        .await;
    assert_eq!(run.status(), RunStatus::DryRun, "{:?}", run.error);
    assert_each_once(&groups, run.outcomes.iter().map(|o| o.name.clone()));

    let stats = tenant_stats(&sb).await;
    let pages = stats["by_route"]["GET /v2025/entitlements"]
        .as_u64()
        .unwrap();
    assert!(pages >= 300, "{stats}");
    assert_eq!(stats["rate_limited"], 0, "no 429 was served: {stats}");
    let (client_id, _) = sb.client_credentials();
    let peak = stats["max_in_window_by_client"][client_id]
        .as_u64()
        .unwrap();
    assert!(
        peak <= budget,
        "{peak} requests in one 10-second window, more than requests_per_10s = {budget}"
    );
    assert!(peak > budget / 2, "the window was actually used: {peak}");
    let scim = get_stats(format!("{}/sandbox/stats", sb.scim_url())).await;
    assert!(scim["requests"].as_u64().unwrap() > 0, "{scim}");
    sb.stop().await;
}

#[tokio::test]
async fn twenty_thousand_groups_with_a_personal_access_token_on_v2026() {
    let opts = SandboxOptions {
        credential: Credential::Pat,
        ..SandboxOptions::seeded(20_000, 0, 22)
    };
    // Each group read and created once, no 429, the window respected (see `large`).
    let stats = full_run(opts, &[("GROUPSYNC_IDENTITYNOW__API_VERSION", "v2026")]).await;
    assert!(
        stats["by_route"]["GET /v2026/entitlements"]
            .as_u64()
            .unwrap()
            >= 80,
        "{stats}"
    );
    assert_eq!(stats["rate_limited"], 0, "{stats}");
}

#[tokio::test]
async fn v2026_refuses_an_api_client() {
    let sb = spawn_app(SandboxOptions::seeded(20, 0, 23)).await;
    let syncer = Syncer::new(
        sb.settings(&[("GROUPSYNC_IDENTITYNOW__API_VERSION", "v2026")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let run = syncer
        .run(&RunRequest::new([TriggerKind::Cli], true), &Quiet)
        .await;
    assert_eq!(run.status(), RunStatus::Failed);
    let error = format!("{:?}", run.error);
    assert!(error.contains("403"), "{error}");
    assert_eq!(sb.scim.create_count(), 0);
    sb.stop().await;
}

/// A source just under the window with a page size that does not divide 10,000: the last
/// offset page is shortened to end at the window, which the tenant would refuse to cross.
#[tokio::test]
async fn a_source_just_under_the_window_is_read_whole_with_any_page_size() {
    let opts = SandboxOptions::seeded(9_900, 0, 24);
    let groups = opts.groups.clone();
    let sb = spawn_app(opts).await;
    let syncer = Syncer::new(
        sb.settings(&[("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "240")]),
        Store::in_memory().unwrap(),
    )
    .unwrap();
    let run = syncer
        .run(&RunRequest::new([TriggerKind::Cli], true), &Quiet)
        .await;
    assert_eq!(run.status(), RunStatus::DryRun, "{:?}", run.error);
    assert_each_once(&groups, run.outcomes.iter().map(|o| o.name.clone()));
    sb.stop().await;
}
