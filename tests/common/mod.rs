//! Helpers shared by the end-to-end tests: a sandbox, settings for it, the binary.
#![allow(dead_code)]

use groupsync::config::Settings;
use groupsync::domain::{SourceGroup, fold_name};
use groupsync::sandbox::{Sandbox, SandboxOptions};
use groupsync::sync::plan::{self, Rules};
use std::collections::HashSet;
use std::sync::Arc;

pub async fn sandbox(opts: SandboxOptions) -> Sandbox {
    Sandbox::start(opts)
        .await
        .expect("sandbox starts on 127.0.0.1")
}

pub fn settings(sb: &Sandbox, overrides: &[(&str, &str)]) -> Arc<Settings> {
    Arc::new(sb.settings(overrides))
}

/// Source groups as the plan sees them, from bare names.
pub fn as_source(names: &[String]) -> Vec<SourceGroup> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| SourceGroup {
            id: format!("{i}"),
            name: n.clone(),
            value: None,
        })
        .collect()
}

/// How many creates a correct first run makes: the candidates not already in the target.
pub fn expected_creates(groups: &[String], existing: &[String], max_name_length: usize) -> usize {
    let present: HashSet<String> = existing.iter().map(|n| fold_name(n)).collect();
    let source = as_source(groups);
    plan::candidates(&source, Rules { max_name_length })
        .iter()
        .filter(|g| !present.contains(&fold_name(&g.name)))
        .count()
}

/// Panics when two target groups share a name (ignoring case).
pub fn assert_no_duplicates(names: impl IntoIterator<Item = String>) {
    let mut seen = HashSet::new();
    for n in names {
        assert!(
            seen.insert(fold_name(&n)),
            "group {n:?} exists twice in the target"
        );
    }
}

/// Peers (scim2-server, aiosmtpd) run in CI; locally a test that needs them says so and
/// returns, unless GROUPSYNC_REQUIRE_PEERS=1, where a missing peer is a failure.
pub fn peer(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("GROUPSYNC_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!(
                    "{var} is not set but GROUPSYNC_REQUIRE_PEERS=1: the CI peers did not start"
                );
            }
            eprintln!("{var} not set: this test needs the peers that .ci/run starts; not run here");
            None
        }
    }
}

/// The `groupsync` binary, without any `GROUPSYNC_*` or `RUST_LOG` variable of the caller.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_groupsync"));
    c.env_remove("RUST_LOG").env_remove("GROUPSYNC_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("GROUPSYNC_") {
            c.env_remove(k);
        }
    }
    c
}
