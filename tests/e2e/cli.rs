//! The binary as a user runs it: exit codes, configuration errors, logs without secrets,
//! the sandbox command's first lines, the execution history, and the demo.

use crate::harness::*;
use groupsync_sandbox::{self as sandbox, SandboxOptions};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[test]
fn a_bad_configuration_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[identitynow]\ntenant_url = \"ftp://x\"\n").unwrap();
    let out = groupsync()
        .args(["--config", path.to_str().unwrap(), "run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("identitynow.tenant_url"), "{err}");

    let out = groupsync()
        .args([
            "--config",
            dir.path().join("missing.toml").to_str().unwrap(),
            "run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    let out = groupsync()
        .args(["run", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn configuration_errors_point_to_the_place_and_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groupsync.toml");
    let run = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let out = groupsync()
            .args(["--config", path.to_str().unwrap(), "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let file = path.display().to_string();

    let err = run("[scim]\nbase_url = \"https://x/scim/v2\"\npassword = \"pa\\ss-w0rd\"\n");
    assert!(err.contains(&format!("{file}:3:")), "{err}");
    assert!(!err.contains("pa\\ss") && !err.contains("ss-w0rd"), "{err}");

    let err = run("[identitynow]\npage_sise = 100\n");
    assert!(err.contains(&format!("{file}:2:1:")), "{err}");
    assert!(
        err.contains("did you mean `identitynow.page_size`?"),
        "{err}"
    );

    let err = run("[identitynow]\npage_size = \"250\"\n");
    assert!(
        err.contains("`identitynow.page_size`: expected an integer, got a string \"250\""),
        "{err}"
    );

    let out = groupsync()
        .args([
            "--config",
            dir.path().join("none.toml").to_str().unwrap(),
            "check",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config/groupsync.example.toml") && err.contains("--write-config"),
        "{err}"
    );
}

#[tokio::test]
async fn a_full_run_logs_no_secret_and_exits_0() {
    let app = spawn_app(SandboxOptions::seeded(60, 5, 2)).await;
    let mut run = app.command();
    run.args(["--log-format", "json", "run"])
        .env("RUST_LOG", "debug");
    let out = output(run).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("succeeded"), "{stdout}");
    for secret in [sandbox::CLIENT_SECRET, sandbox::SCIM_TOKEN] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    // every log line of the run carries the run id
    let run_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("\"target\":\"groupsync"))
        .collect();
    assert!(!run_lines.is_empty(), "{stderr}");
    for l in run_lines {
        assert!(l.contains("run_id"), "line without run id: {l}");
    }
    // a second run creates nothing and exits 0
    let mut again = app.command();
    again.args(["run", "--json"]);
    let out = output(again).await;
    assert_eq!(out.status.code(), Some(0));
    // text logs to a pipe (a container's or a service manager's log) carry no colour codes
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run finished"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escape in a piped log: {stderr:?}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["outcome"] != "created")
    );
    app.stop().await;
}

#[tokio::test]
async fn some_groups_failing_exits_1_and_lists_them() {
    let mut opts = SandboxOptions::seeded(40, 0, 4);
    // every second request to /Groups fails and nothing is retried: some lookups fail
    opts.scim_faults.rules =
        groupsync_sandbox::faults::FaultPlan::parse("500@2:/scim/v2/Groups").unwrap();
    let app = spawn_app(opts).await;
    let mut run = app.command();
    run.arg("run").env("GROUPSYNC_SCIM__MAX_RETRIES", "0");
    let out = output(run).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("partially_failed"), "{stdout}");
    assert!(stdout.contains("  failed "), "{stdout}");
    app.stop().await;
}

#[test]
fn the_sandbox_command_prints_its_services_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sb.toml");
    let mut child = groupsync()
        .args([
            "sandbox",
            "--groups",
            "20",
            "--existing",
            "2",
            "--write-config",
            cfg.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(
        first[0].starts_with("identitynow http://127.0.0.1:"),
        "{first:?}"
    );
    assert!(
        first[1].starts_with("scim http://127.0.0.1:") && first[1].ends_with("/scim/v2"),
        "{first:?}"
    );
    assert!(first[2].starts_with("smtp 127.0.0.1:"), "{first:?}");
    // the credentials follow, then the written config's path
    let rest: Vec<String> = lines
        .by_ref()
        .map(|l| l.unwrap())
        .take_while(|l| !l.starts_with("config "))
        .collect();
    assert!(
        rest.iter().any(|l| l.starts_with("client_secret ")),
        "{rest:?}"
    );
    assert!(rest.len() < 11, "the config line never came: {rest:?}");
    // the written config works: a dry run against the running sandbox succeeds
    let out = groupsync()
        .args(["--config", cfg.to_str().unwrap(), "run", "--dry-run"])
        .env("GROUPSYNC_STORE__PATH", dir.path().join("groupsync.db"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("would create"));
}

#[test]
fn demo_exits_0_and_the_second_pass_creates_nothing() {
    let out = groupsync()
        .args(["demo", "--groups", "80", "--existing", "10"])
        .output()
        .unwrap();
    let stdout = stdout_of_success(&out);
    let second = stdout
        .split("== second pass ==")
        .nth(1)
        .expect("two passes");
    assert!(second.contains("created 0 "), "{second}");
    let first = stdout.split("== second pass ==").next().unwrap();
    assert!(!first.contains("created 0 "), "{first}");
    assert!(
        first.contains("Subject: groupsync:"),
        "the first pass sends a digest: {first}"
    );
    assert!(
        second.contains("-- 0 messages received"),
        "nothing new, no message: {second}"
    );
}

#[tokio::test]
async fn runs_are_recorded_and_executions_reads_them_back() {
    let app = spawn_app(SandboxOptions::seeded(30, 5, 8)).await;
    let store = app.store.to_str().unwrap();
    let with_config = |args: &[&str]| {
        let mut cmd = app.command();
        cmd.args(args);
        output(cmd)
    };
    // with --store, no configuration is needed
    let with_store = |args: &[&str]| {
        let mut cmd = groupsync();
        cmd.args(["executions", "--store", store]).args(args);
        output(cmd)
    };
    let dry = with_config(&["run", "--dry-run"]).await;
    let real = with_config(&["run"]).await;
    let listed = with_config(&["executions", "list", "--json"]).await;
    let table = with_store(&["list", "--limit", "1"]).await;
    assert_eq!(dry.status.code(), Some(0));
    assert_eq!(real.status.code(), Some(0));
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["trigger"], "cli");
    assert_eq!(runs[1]["status"], "dry_run");
    assert_eq!(
        runs[0]["counts"]["created"],
        runs[1]["counts"]["would_create"]
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert_eq!(table.lines().count(), 2, "header and one run: {table}");
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    assert!(table.contains(&id), "{table}");

    let show = with_store(&["show", &id]).await;
    let text = String::from_utf8_lossy(&show.stdout);
    assert_eq!(show.status.code(), Some(0), "{text}");
    assert!(text.contains("  created      "), "{text}");
    assert!(text.contains("  existed      "), "{text}");
    assert!(text.contains("notice sent"), "{text}");
    let missing = with_store(&["show", "no-such-run"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-run"));
    app.stop().await;
}
