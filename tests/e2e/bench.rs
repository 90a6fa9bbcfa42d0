//! `groupsync bench` through the binary: the JSON's shape and its internal consistency,
//! and the refusal of more existing groups than groups. No timing is asserted.

use crate::harness::*;
use serde_json::Value;

#[tokio::test]
async fn bench_prints_one_consistent_object_per_measure() {
    let mut cmd = groupsync();
    cmd.args([
        "bench",
        "--groups",
        "200",
        "--existing",
        "150",
        "--latency-ms",
        "1",
        "--baseline",
        "--json",
    ]);
    let out = output(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "one object on one line: {stdout}"
    );
    let figures: Value = serde_json::from_str(&stdout).unwrap();

    let runs = figures["runs"].as_array().unwrap();
    let labels: Vec<&str> = runs.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["groupsync", "workflow"]);
    for run in runs {
        let label = &run["label"];
        assert_eq!(run["creates"], 50, "{label}: 200 groups, 150 existing");
        assert!(run["wall_s"].as_f64().unwrap() > 0.0, "{run}");
        for service in ["identitynow", "scim"] {
            assert!(run["requests"][service].as_u64().unwrap() > 0, "{run}");
        }
        assert!(run["rate_limited"].is_u64(), "{run}");
        assert!(run["peak_rss_mib"].as_f64().unwrap() > 0.0, "{run}");
    }
    // the Workflow's pattern: a token, the source and one page of entitlements; a lookup
    // per group and a create per missing group, nothing else
    assert_eq!(runs[1]["requests"]["identitynow"], 3, "{figures}");
    assert_eq!(runs[1]["requests"]["scim"], 200 + 50, "{figures}");
    let (ours, workflow) = (
        runs[0]["wall_s"].as_f64().unwrap(),
        runs[1]["wall_s"].as_f64().unwrap(),
    );
    let speedup = figures["speedup"].as_f64().unwrap();
    assert!((speedup - workflow / ours).abs() < 1e-9, "{figures}");
    assert!(figures["floor_s"].as_f64().unwrap() > 0.0, "{figures}");
}

#[tokio::test]
async fn bench_refuses_more_existing_groups_than_groups() {
    let mut cmd = groupsync();
    cmd.args(["bench", "--existing", "300", "--groups", "200"]);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--existing") && stderr.contains("--groups"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
