//! A retried request is told: one info line per retry, naming the service, the operation,
//! the attempt, the wait and the reason.

use crate::harness::{output, spawn_app};
use groupsync_sandbox::SandboxOptions;
use groupsync_sandbox::faults::FaultPlan;

#[tokio::test]
async fn each_retry_is_logged_with_its_service_operation_attempt_wait_and_reason() {
    let mut opts = SandboxOptions::seeded(20, 0, 21);
    // the second page of entitlements answers 503 (with Retry-After: 1) once
    opts.idn_faults.rules = FaultPlan::parse("503@2:/v2025/entitlements").unwrap();
    let app = spawn_app(opts).await;
    let mut run = app.command();
    run.args(["run", "--dry-run"])
        .env("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "10");
    let out = output(run).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
    // pages at offsets 0, 10 and 20 (the last one empty): the second and the fourth
    // request fail, so the pages at 10 and 20 are each retried once
    assert_eq!(retries.len(), 2, "one line per retry: {stderr}");
    let line = retries[0];
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        line.contains("retrying IdentityNow entitlements at offset 10 in 1 s (503, attempt 2/5)"),
        "{line}"
    );
    assert!(
        retries[1].contains("entitlements at offset 20 in 1 s"),
        "{stderr}"
    );
    for field in [
        "service=\"IdentityNow\"",
        "attempt=2",
        "max_attempts=5",
        "wait_ms=1000",
        "reason=503",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(
        stderr.contains("IdentityNow entitlements at offset 10 answered after 2 attempts"),
        "{stderr}"
    );
    app.stop().await;
}
