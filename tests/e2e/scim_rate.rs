//! `scim.requests_per_second` and the adaptive lookups and creates in flight, against a
//! SCIM server that answers 429 now and then: the run completes, and no second holds more
//! SCIM requests than the setting.

use crate::harness::*;
use groupsync_sandbox::SandboxOptions;
use serde_json::Value;

async fn scim_stats(sb: &TestApp) -> Value {
    reqwest::get(format!("{}/sandbox/stats", sb.scim_url()))
        .await
        .expect("the stats answer")
        .json()
        .await
        .expect("the stats are JSON")
}

#[tokio::test]
async fn a_paced_run_through_429s_stays_under_the_rate_and_completes() {
    let mut opts = SandboxOptions::seeded(300, 20, 51);
    opts.scim_faults.rules =
        groupsync_sandbox::faults::FaultPlan::parse("429@9:/scim/v2/Groups").unwrap();
    let expected = expected_creates(&opts.groups, &opts.existing, None);
    let sb = spawn_app(opts).await;
    let mut cmd = sb.command();
    cmd.env("GROUPSYNC_SCIM__REQUESTS_PER_SECOND", "40")
        .env("GROUPSYNC_SCIM__MAX_RETRIES", "8")
        .env("RUST_LOG", "info")
        .args(["run"]);
    let out = output(cmd).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(sb.scim.create_count() as usize, expected, "{stdout}");
    assert_no_duplicates(sb.target_names());

    let stats = scim_stats(&sb).await;
    let per_second = stats["max_in_second"].as_u64().unwrap();
    assert!(
        per_second <= 40,
        "{per_second} SCIM requests in one second: {stats}"
    );
    assert!(per_second >= 20, "the rate was actually used: {stats}");
    assert!(stats["rate_limited"].as_u64().unwrap() > 0, "{stats}");
    // The 429s lowered the creates in flight, and the successes after them raised it.
    assert!(
        stderr.contains("SCIM creates in flight lowered from 8 to 4 (429)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SCIM creates in flight raised from"),
        "{stderr}"
    );
    sb.stop().await;
}
