//! Throughput of a whole run against the sandbox, with a per-request latency like a real
//! tenant and SCIM server. Prints one line per scenario; speed targets live here, not in
//! timed tests.
//!
//! `cargo bench --bench sync` (release build). Traffic stays on 127.0.0.1.

use groupsync::config::Settings;
use groupsync::store::Store;
use groupsync::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use groupsync_sandbox::faults::FaultPlan;
use groupsync_sandbox::{Sandbox, SandboxOptions};
use std::time::{Duration, Instant};

struct Scenario {
    name: &'static str,
    groups: usize,
    existing: usize,
    latency_ms: u64,
    env: &'static [(&'static str, &'static str)],
}

/// Lookups one group at a time (the default, `auto`, lists a target this large).
const PER_GROUP: &[(&str, &str)] = &[("GROUPSYNC_SYNC__TARGET_LOOKUP", "per_group")];

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "2000 groups, no latency, per group",
        groups: 2000,
        existing: 200,
        latency_ms: 0,
        env: PER_GROUP,
    },
    Scenario {
        name: "2000 groups, 20 ms per request, per group",
        groups: 2000,
        existing: 200,
        latency_ms: 20,
        env: PER_GROUP,
    },
    Scenario {
        name: "2000 groups, 20 ms, per group, 16 lookups / 8 creates in flight",
        groups: 2000,
        existing: 200,
        latency_ms: 20,
        env: &[
            ("GROUPSYNC_SYNC__TARGET_LOOKUP", "per_group"),
            ("GROUPSYNC_SYNC__LOOKUP_CONCURRENCY", "16"),
            ("GROUPSYNC_SYNC__CREATE_CONCURRENCY", "8"),
        ],
    },
    Scenario {
        name: "2000 groups, 20 ms, target read as one listing",
        groups: 2000,
        existing: 200,
        latency_ms: 20,
        env: &[("GROUPSYNC_SYNC__TARGET_LOOKUP", "listing")],
    },
];

async fn measure(s: &Scenario) {
    let mut opts = SandboxOptions::seeded(s.groups, s.existing, 42);
    let latency = Duration::from_millis(s.latency_ms);
    opts.idn_faults = FaultPlan {
        latency,
        rules: vec![],
    };
    opts.scim_faults = FaultPlan {
        latency,
        rules: vec![],
    };
    let sb = Sandbox::start(opts).await.expect("sandbox starts");
    let env = [("GROUPSYNC_EMAIL__ENABLED", "false")]
        .iter()
        .chain(s.env)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_toml_and_env(&sb.config_toml(), &env)
        .expect("the sandbox writes a valid configuration");
    let store = Store::in_memory().expect("an in-memory store");
    let syncer = Syncer::new(settings.into(), store).expect("settings are valid");
    for pass in ["first (creates)", "second (no-op)"] {
        let start = Instant::now();
        let report = syncer
            .run(&RunRequest::new([TriggerKind::Cli], false), &Quiet)
            .await;
        let secs = start.elapsed().as_secs_f64();
        let c = report.counts();
        println!(
            "{:<55} {pass:<16} {secs:>7.2} s  {:>7.0} groups/s  created {:>5}  existed {:>5}  requests idn {:>5} scim {:>6}",
            s.name,
            c.source as f64 / secs,
            c.created,
            c.existed,
            sb.tenant.request_count(),
            sb.scim.request_count(),
        );
    }
    sb.stop().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for s in SCENARIOS {
            measure(s).await;
        }
    });
}
