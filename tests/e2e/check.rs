//! `groupsync check` as an operator runs it, against the sandbox: everything passes on a
//! good configuration, and each broken piece is named on its own line with exit status 1.

use crate::harness::*;
use crate::scale::tenant_stats;
use groupsync_sandbox::{self as sandbox, SandboxOptions};

/// What one run of `groupsync check` printed.
struct Checked {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Checked {
    /// The line of check `name`, which must be there exactly once.
    fn line(&self, name: &str) -> &str {
        let found: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| {
                l.get(5..)
                    .is_some_and(|rest| rest == name || rest.starts_with(&format!("{name}:")))
            })
            .collect();
        assert_eq!(found.len(), 1, "one line for {name:?} in:\n{}", self.stdout);
        found[0]
    }

    fn failed(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect()
    }
}

async fn setup() -> TestApp {
    spawn_app(SandboxOptions::seeded(40, 4, 11)).await
}

/// Runs `groupsync check` with these variables and arguments.
async fn check(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> Checked {
    let mut cmd = app.command();
    cmd.envs(env.iter().copied()).arg("check").args(args);
    let out = output(cmd).await;
    Checked {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const ALL: [&str; 8] = [
    "identitynow token",
    "identitynow source",
    "identitynow groups",
    "scim discovery",
    "scim groups",
    "smtp",
    "smtp test email",
    "store",
];

#[tokio::test]
async fn a_good_configuration_passes_every_check() {
    let s = setup().await;
    let out = check(&s, &[], &[]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for name in ALL {
        let line = out.line(name);
        let expected = if name == "smtp test email" {
            "skip"
        } else {
            "ok  "
        };
        assert!(line.starts_with(expected), "{line}");
    }
    assert!(
        out.line("identitynow groups")
            .contains("40 group entitlements")
    );
    assert!(
        out.line("identitynow groups")
            .ends_with("; read in one listing with offset paging")
    );
    assert!(out.line("store").contains(&s.store.display().to_string()));
    assert!(s.store.exists(), "the store was created");
    assert!(s.smtp.messages().is_empty(), "no mail without the flag");
    assert_eq!(s.scim.create_count(), 0, "nothing was created");

    let out = check(&s, &[], &["--send-test-email"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.line("smtp test email")
            .starts_with("ok   smtp test email: sent to iam-team@sandbox.test")
    );
    let mails = s.smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject().as_deref(),
        Some("groupsync test message")
    );
    for secret in [sandbox::CLIENT_SECRET, sandbox::SCIM_TOKEN] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    }
    s.stop().await;
}

/// More than 10,000 groups with an API client's version: `check` says, from the first page
/// alone, that a run will read them in ranges of `created`.
#[tokio::test]
async fn more_than_ten_thousand_groups_are_said_to_be_read_in_ranges_of_created() {
    let s = spawn_app(SandboxOptions::seeded(10_050, 0, 12)).await;
    let out = check(&s, &[], &[]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let line = out.line("identitynow groups");
    assert!(
        line.starts_with("ok   identitynow groups: 10050 group entitlements")
            && line
                .contains("; more than 10000 with api_version v2025: read in ranges of `created`"),
        "{line}"
    );
    let stats = tenant_stats(&s).await;
    let pages = stats["by_route"]["GET /v2025/entitlements"]
        .as_u64()
        .unwrap();
    assert!(
        pages <= 2,
        "the first page and the access check's probe, not the listing: {stats}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_broken_scim_token_fails_the_scim_checks_only() {
    let s = setup().await;
    let out = check(&s, &[("GROUPSYNC_SCIM__TOKEN", "expired-token")], &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let line = out.line("scim groups");
    assert!(line.starts_with("FAIL scim groups: 401 "), "{line}");
    assert!(
        line.contains("— hint: the SCIM token is wrong or expired (Alation tokens last 1–6 months"),
        "{line}"
    );
    assert!(out.line("identitynow groups").starts_with("ok"));
    assert!(out.line("store").starts_with("ok"));
    assert!(
        out.failed().iter().all(|l| l.starts_with("FAIL scim")),
        "{:?}",
        out.failed()
    );
    assert!(
        !out.stdout.contains("expired-token"),
        "the token is not printed"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_identitynow_secret_fails_the_token_and_skips_what_needs_it() {
    let s = setup().await;
    let out = check(
        &s,
        &[("GROUPSYNC_IDENTITYNOW__CLIENT_SECRET", "wrong-secret")],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let line = out.line("identitynow token");
    assert!(line.starts_with("FAIL identitynow token: "), "{line}");
    assert!(
        line.contains("identitynow.client_secret") && line.contains("hint: 401"),
        "{line}"
    );
    assert!(out.line("identitynow source").starts_with("skip"));
    assert!(out.line("identitynow groups").starts_with("skip"));
    assert_eq!(out.failed().len(), 1, "{}", out.stdout);
    assert!(!out.stdout.contains("wrong-secret"));
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_source_name_is_named() {
    let s = setup().await;
    let out = check(
        &s,
        &[("GROUPSYNC_IDENTITYNOW__SOURCE_NAME", "Active Directory EU")],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let line = out.line("identitynow source");
    assert!(line.starts_with("FAIL identitynow source: "), "{line}");
    assert!(
        line.contains("\"Active Directory EU\"") && line.contains("groupsync sources"),
        "{line}"
    );
    assert!(out.line("identitynow token").starts_with("ok"));
    assert!(out.line("identitynow groups").starts_with("skip"));
    s.stop().await;
}

#[tokio::test]
async fn an_smtp_server_that_refuses_fails_the_smtp_check() {
    let s = setup().await;
    s.smtp.set_refusing(true);
    let out = check(&s, &[], &["--send-test-email"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let line = out.line("smtp");
    assert!(
        line.starts_with("FAIL smtp: ") && line.contains("421"),
        "{line}"
    );
    assert!(line.contains("— hint: "), "{line}");
    assert!(out.line("smtp test email").starts_with("skip"));
    assert_eq!(out.failed().len(), 1, "{}", out.stdout);
    assert!(s.smtp.messages().is_empty());
    s.stop().await;
}

/// `email.tls` set to `tls` against the sandbox's plain sink: one SMTP FAIL line that
/// names the host and port tried and carries `hint`, and nothing else fails.
async fn tls_against_a_plain_server(tls: &str, hint: &str) {
    let s = setup().await;
    let out = check(&s, &[("GROUPSYNC_EMAIL__TLS", tls)], &["--send-test-email"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let line = out.line("smtp");
    let tried = format!("FAIL smtp: {}: ", s.smtp_addr);
    assert!(line.starts_with(&tried), "{line}");
    assert!(line.contains(&format!("— hint: {hint}")), "{line}");
    assert!(!line.contains("private CA"), "{line}");
    assert!(out.line("smtp test email").starts_with("skip"));
    assert_eq!(out.failed().len(), 1, "{}", out.stdout);
    s.stop().await;
}

#[tokio::test]
async fn starttls_against_a_plain_server_says_the_server_offers_no_starttls() {
    let hint = "email.tls = \"starttls\" but the server does not offer STARTTLS";
    tls_against_a_plain_server("starttls", hint).await;
}

#[tokio::test]
async fn implicit_tls_against_a_plain_server_says_the_port_speaks_plain_text() {
    let hint = "email.tls = \"implicit\" but the server answered in plain text";
    tls_against_a_plain_server("implicit", hint).await;
}

#[tokio::test]
async fn an_unwritable_store_path_fails_the_store_check() {
    let s = setup().await;
    // A regular file where the store's folder should be: refused even to root.
    let blocker = s.dir().join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let path = blocker.join("groupsync.db").display().to_string();
    let out = check(&s, &[("GROUPSYNC_STORE__PATH", &path)], &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let line = out.line("store");
    assert!(
        line.starts_with("FAIL store: ") && line.contains("not-a-folder"),
        "{line}"
    );
    assert!(line.contains("hint: "), "{line}");
    assert_eq!(out.failed().len(), 1, "{}", out.stdout);
    s.stop().await;
}

#[tokio::test]
async fn a_scim_url_without_the_scim_path_gets_the_path_hint() {
    let s = setup().await;
    let wrong = format!("http://{}/api", s.scim_addr);
    let out = check(&s, &[("GROUPSYNC_SCIM__BASE_URL", &wrong)], &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.line("scim discovery").starts_with("warn"));
    let line = out.line("scim groups");
    assert!(
        line.contains("404") && line.contains("end in /scim/v2"),
        "{line}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_configuration_that_does_not_load_exits_2() {
    let s = setup().await;
    let out = check(&s, &[("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "900")], &[]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("identitynow.page_size"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    s.stop().await;
}

#[tokio::test]
async fn disabled_email_is_skipped_unless_a_test_message_is_asked_for() {
    let s = setup().await;
    let off = [("GROUPSYNC_EMAIL__ENABLED", "false")];
    let out = check(&s, &off, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(out.line("smtp").starts_with("skip smtp: email is disabled"));
    assert!(out.line("smtp test email").starts_with("skip"));
    let out = check(&s, &off, &["--send-test-email"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.line("smtp test email").starts_with("FAIL"));
    assert_eq!(out.failed().len(), 1, "{}", out.stdout);
    s.stop().await;
}
