use super::*;
use crate::identitynow::probe::FirstPage;
use crate::scim::Detail;
use serde_json::json;

#[test]
fn lines_read_status_name_detail_and_hint() {
    assert_eq!(
        Line::new(Status::Ok, "identitynow token", "").to_string(),
        "ok   identitynow token"
    );
    let line = scim_failure(
        "scim groups",
        &ScimError::Unauthorized {
            detail: Detail(Some("expired".into())),
        },
    );
    let text = line.to_string();
    assert!(
        text.starts_with("FAIL scim groups: 401 SCIM token rejected"),
        "{text}"
    );
    assert!(
        text.contains(
            ": expired — hint: the SCIM token is wrong or expired (Alation tokens last 1–6 months"
        ),
        "{text}"
    );
    assert_eq!(
        Line::new(Status::Skip, "smtp", "off").to_string(),
        "skip smtp: off"
    );
}

#[test]
fn transport_failures_are_told_apart_by_their_words() {
    let cases = [
        (
            "error sending request: tcp connect error: Connection refused (os error 111)",
            Some(hints::REFUSED),
        ),
        ("invalid peer certificate: UnknownIssuer", Some(hints::TLS)),
        (
            "dns error: failed to lookup address information: Name or service not known",
            Some(hints::DNS),
        ),
        ("operation timed out", Some(hints::TIMEOUT)),
        ("connection reset by peer", None),
    ];
    for (text, hint) in cases {
        assert_eq!(hints::transport(text), hint, "{text}");
    }
}

#[test]
fn each_kind_of_failure_gets_its_hint() {
    let idn = IdnError::BadCredentials {
        detail: "401: invalid_client".into(),
    };
    assert_eq!(hints::identitynow(&idn), Some(hints::IDN_CREDENTIALS));
    let idn = IdnError::SourceNameNotFound { name: "AD".into() };
    assert_eq!(hints::identitynow(&idn), Some(hints::IDN_SOURCE));
    let scim_cases = [
        (
            ScimError::Forbidden {
                detail: Detail(None),
            },
            hints::SCIM_FORBIDDEN,
        ),
        (
            ScimError::NotFound {
                detail: Detail(None),
            },
            hints::SCIM_PATH,
        ),
        (
            ScimError::Rejected {
                status: 302,
                scim_type: None,
                detail: Detail(None),
            },
            hints::SCIM_REDIRECT,
        ),
        (
            ScimError::Connect("Connection refused (os error 111)".into()),
            hints::REFUSED,
        ),
        (
            ScimError::Timeout("deadline elapsed".into()),
            hints::TIMEOUT,
        ),
    ];
    for (e, hint) in scim_cases {
        assert_eq!(hints::scim(&e), Some(hint), "{e}");
    }
    assert_eq!(
        hints::smtp(&NotifyError::NotConnected),
        Some(hints::SMTP_SILENT)
    );
    assert_eq!(hints::smtp(&NotifyError::Setup("x".into())), None);
}

#[test]
fn discovery_reports_what_filtering_allows() {
    let ok = discovery_line(&json!({"filter": {"supported": true, "maxResults": 200}}));
    assert_eq!(
        ok.to_string(),
        "ok   scim discovery: filtering supported (maxResults 200)"
    );
    let off = discovery_line(&json!({"filter": {"supported": false}}));
    assert_eq!(off.status, Status::Warn);
    assert_eq!(discovery_line(&json!({})).status, Status::Ok);
}

#[test]
fn an_empty_source_is_a_warning_not_a_pass() {
    let page = |returned, total, sample: Option<&str>| FirstPage {
        returned,
        total,
        sample: sample.map(str::to_owned),
        reading: Reading::of(total, ApiVersion::V2025),
    };
    let line = |page: &FirstPage| groups_line("identitynow groups", page, ApiVersion::V2025);
    let empty = line(&page(0, Some(0), None));
    assert_eq!(empty.status, Status::Warn);
    assert!(empty.hint.is_some());
    let full = line(&page(250, Some(1200), Some("GG_Sales")));
    assert_eq!(
        full.to_string(),
        "ok   identitynow groups: 1200 group entitlements, e.g. \"GG_Sales\"; \
         read in one listing with offset paging"
    );
    let untold = line(&page(3, None, None));
    assert!(
        untold.detail.contains("3 on the first page"),
        "{}",
        untold.detail
    );
}

#[test]
fn the_groups_line_says_how_a_run_will_read_them() {
    let line = |total: u64, version: ApiVersion| {
        let page = FirstPage {
            returned: 250,
            total: Some(total),
            sample: Some("GG_Sales".into()),
            reading: Reading::of(Some(total), version),
        };
        groups_line("identitynow groups", &page, version).to_string()
    };
    assert_eq!(
        line(10_000, ApiVersion::V2025),
        "ok   identitynow groups: 10000 group entitlements, e.g. \"GG_Sales\"; \
         read in one listing with offset paging"
    );
    assert_eq!(
        line(12_345, ApiVersion::V2025),
        "ok   identitynow groups: 12345 group entitlements, e.g. \"GG_Sales\"; \
         more than 10000 with api_version v2025: read in ranges of `created` \
         (searchAfter is v2026 only)"
    );
    assert_eq!(
        line(12_345, ApiVersion::V2026),
        "ok   identitynow groups: 12345 group entitlements, e.g. \"GG_Sales\"; \
         more than 10000 with api_version v2026: read with searchAfter"
    );
}

#[test]
fn checks_retry_at_most_once() {
    let text = r#"
[identitynow]
tenant_url = "https://acme.api.identitynow.com"
client_id = "cid"
client_secret = "s"
source_id = "abc"
max_retries = 6
[scim]
base_url = "https://acme.alationcloud.com/scim/v2"
token = "t"
max_retries = 0
[email]
enabled = false
"#;
    let settings = Settings::from_toml_and_env(text, &Default::default()).unwrap();
    let q = quick(&settings);
    assert_eq!(q.identitynow.retry.max_retries, 1);
    assert_eq!(q.scim.retry.max_retries, 0);
}

#[test]
fn smtp_tls_failures_are_told_apart_by_their_error() {
    use hints::SmtpTlsProblem::*;
    let cases = [
        (
            "SMTP: internal client error: STARTTLS is not supported on this server",
            Some(NoStartTls),
        ),
        (
            "SMTP: Connection error: Connection error: received corrupt message of type InvalidContentType",
            Some(NotTls),
        ),
        (
            "SMTP: Connection error: invalid peer certificate: UnknownIssuer",
            Some(Untrusted),
        ),
        (
            "SMTP: Connection error: invalid peer certificate: BadSignature",
            Some(Untrusted),
        ),
        (
            "SMTP: Connection error: invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"mail.example.com\")",
            Some(WrongHost),
        ),
        (
            "SMTP: Connection error: invalid peer certificate: NotValidForName",
            Some(WrongHost),
        ),
        (
            "SMTP: Connection error: Connection refused (os error 111)",
            None,
        ),
        ("SMTP: permanent error (535): authentication failed", None),
    ];
    for (text, problem) in cases {
        assert_eq!(hints::smtp_tls_problem(text), problem, "{text}");
    }
    let hints = [
        NoStartTls.hint(),
        NotTls.hint(),
        Untrusted.hint(),
        WrongHost.hint(),
    ];
    for (i, hint) in hints.iter().enumerate() {
        assert!(!hints[..i].contains(hint), "each problem has its own hint");
    }
    assert!(NoStartTls.hint().contains("STARTTLS") && !NoStartTls.hint().contains("CA"));
    assert!(NotTls.hint().contains("plain"));
    assert!(Untrusted.hint().contains("SSL_CERT_FILE"));
    assert!(WrongHost.hint().contains("email.smtp_url"));
}

#[test]
fn the_token_expiry_is_ok_then_a_warning_with_the_date_and_days_left_then_a_failure() {
    use crate::scim::expiry::fixture::{at, on};
    let expiry = on("2026-06-30T00:00:00Z");
    assert_eq!(
        token_expiry_line(&expiry, at("2026-06-01T00:00:00Z")).to_string(),
        "ok   scim token expiry: expires on 2026-06-30 00:00 UTC (29 days left, from scim.token_expires_at)"
    );
    let warn = token_expiry_line(&expiry, at("2026-06-21T00:00:00Z"));
    assert_eq!(warn.status, Status::Warn);
    assert!(
        warn.to_string().starts_with(
            "warn scim token expiry: the SCIM token expires on 2026-06-30 00:00 UTC (9 days left)"
        ),
        "{warn}"
    );
    let expired = token_expiry_line(&expiry, at("2026-07-01T00:00:00Z"));
    assert_eq!(expired.status, Status::Fail);
    assert!(
        expired
            .to_string()
            .contains("expired on 2026-06-30 00:00 UTC; create a new one in Alation"),
        "{expired}"
    );
}
