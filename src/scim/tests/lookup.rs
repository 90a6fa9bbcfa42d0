use super::*;
use crate::domain::fold_name;
use crate::retry::{Classify, Disposition};
use wiremock::Mock;
use wiremock::matchers::{header, headers, method, path};

/// Names that break naive filters, with the filter literal as it must appear on the wire
/// (JSON-escaped, then every non-alphanumeric byte percent-encoded; written out by hand).
const WIRE_CASES: &[(&str, &str)] = &[
    ("Finance Team", "%22Finance%20Team%22"),
    (r#"say "hi""#, "%22say%20%5C%22hi%5C%22%22"),
    (r"back\slash", "%22back%5C%5Cslash%22"),
    ("tab\there", "%22tab%5Cthere%22"),
    ("line\nbreak", "%22line%5Cnbreak%22"),
    ("bell\u{1}", "%22bell%5Cu0001%22"),
    ("Équipe", "%22%C3%89quipe%22"),
    ("🚀 Launch", "%22%F0%9F%9A%80%20Launch%22"),
    (
        "R&D #1 100% a+b=c",
        "%22R%26D%20%231%20100%25%20a%2Bb%3Dc%22",
    ),
    ("  padded  ", "%22%20%20padded%20%20%22"),
    ("a.b-c_d~e/f", "%22a%2Eb%2Dc%5Fd%7Ee%2Ff%22"),
    (
        r#"x" or displayName pr or displayName eq "y"#,
        "%22x%5C%22%20or%20displayName%20pr%20or%20displayName%20eq%20%5C%22y%22",
    ),
];

#[tokio::test]
async fn lookup_queries_are_escaped_and_encoded_on_the_wire() {
    let server = MockServer::start().await;
    for (i, (name, literal)) in WIRE_CASES.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path(GROUPS))
            .and(lookup(literal))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(headers(
                "accept",
                vec!["application/scim+json", "application/json"],
            ))
            .respond_with(scim_json(list(1, vec![group(&format!("g{i}"), name)])))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for (i, (name, _)) in WIRE_CASES.iter().enumerate() {
        let found = c.find_by_display_name(name).await;
        let found = found.unwrap_or_else(|e| panic!("lookup of {name:?} failed: {e}"));
        assert_eq!(ids(&found), [format!("g{i}")], "lookup of {name:?}");
    }
}

#[tokio::test]
async fn a_loose_filter_cannot_fake_a_match() {
    let server = MockServer::start().await;
    let everything = list(
        3,
        vec![
            group("1", "Finance Team"),
            group("2", "FINANCE"),
            group("3", "Finance "),
        ],
    );
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_json(everything))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(
        ids(&c.find_by_display_name("finance").await.unwrap()),
        ["2"]
    );
    assert!(c.find_by_display_name("Fin").await.unwrap().is_empty());
    assert!(c.find_by_display_name("Payroll").await.unwrap().is_empty());
}

#[tokio::test]
async fn matching_ignores_case_as_fold_name_does() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_json(list(1, vec![group("7", "ÉQUIPE Nord")])))
        .mount(&server)
        .await;
    let found = client(&server)
        .find_by_display_name("équipe nord")
        .await
        .unwrap();
    assert_eq!(fold_name(&found[0].display_name), fold_name("équipe nord"));
    assert_eq!(found[0].display_name, "ÉQUIPE Nord");
}

#[tokio::test]
async fn lenient_answers_are_accepted() {
    let server = MockServer::start().await;
    let lenient = json!({"totalResults": "1", "resources": [{"id": 42, "displayName": "Ops"}]});
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(lookup("%22Ops%22"))
        .respond_with(ResponseTemplate::new(200).set_body_json(lenient))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(lookup("%22Dev%22"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(r#"{"totalResults":0}"#, "text/json"))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(ids(&c.find_by_display_name("Ops").await.unwrap()), ["42"]);
    assert!(c.find_by_display_name("Dev").await.unwrap().is_empty());
}

#[tokio::test]
async fn results_without_resources_are_an_error_not_absence() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_json(json!({"totalResults": 2})))
        .mount(&server)
        .await;
    let e = client(&server)
        .find_by_display_name("Ops")
        .await
        .unwrap_err();
    assert!(matches!(e, ScimError::Inconsistent { .. }), "{e}");
}

#[tokio::test]
async fn a_non_json_answer_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"))
        .mount(&server)
        .await;
    let e = client(&server)
        .find_by_display_name("Ops")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("text/html"), "{e}");
    assert_eq!(e.disposition(), Disposition::GiveUp);
}

#[tokio::test]
async fn lookups_follow_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(lookup("%22Ops%22"))
        .respond_with(scim_json(list(
            3,
            vec![group("1", "Ops-old"), group("2", "Ops2")],
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .and(raw_query(
            "filter=displayName%20eq%20%22Ops%22&excludedAttributes=members&startIndex=3",
        ))
        .respond_with(scim_json(list(3, vec![group("3", "OPS")])))
        .expect(1)
        .mount(&server)
        .await;
    let found = client(&server).find_by_display_name("Ops").await.unwrap();
    assert_eq!(ids(&found), ["3"]);
}

#[tokio::test]
async fn an_invalid_filter_is_reported_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_error(400, Some("invalidFilter"), "unexpected token"))
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::new(&settings(&server, RetryPolicy::default())).unwrap();
    let e = c.find_by_display_name("a\"b").await.unwrap_err();
    assert!(matches!(e, ScimError::InvalidFilter { .. }), "{e}");
    assert!(e.to_string().ends_with(": unexpected token"), "{e}");
    assert_eq!(e.disposition(), Disposition::GiveUp);
}

#[tokio::test]
async fn a_rejected_token_says_so_without_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::new(&settings(&server, RetryPolicy::default())).unwrap();
    let e = c.find_by_display_name("Ops").await.unwrap_err();
    assert!(
        e.to_string().contains("SCIM token rejected or expired"),
        "{e}"
    );
    assert_eq!(e.disposition(), Disposition::Reauthenticate);
    assert_secret_free(&e);
    assert!(!format!("{c:?}").contains(TOKEN));
}

#[tokio::test]
async fn basic_auth_is_sent_when_configured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        // base64("alation:pa55")
        .and(header("authorization", "Basic YWxhdGlvbjpwYTU1"))
        .respond_with(scim_json(list(0, vec![])))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server, RetryPolicy::none());
    s.auth = Credentials::Basic {
        username: "alation".into(),
        password: SecretString::from("pa55"),
    };
    let found = Client::new(&s).unwrap().find_by_display_name("Ops").await;
    assert!(found.unwrap().is_empty());
}

/// A client without timers of its own (no request timeout, no idle-pool sweeper), so
/// that in paused time the only timer is the retry's wait and the clock moves by exactly
/// that much.
fn timerless_client(server: &MockServer, retry: RetryPolicy) -> Client {
    let http = reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    Client::with_http(&settings(server, retry), http).unwrap()
}

/// How long a lookup waited after one `status` answer with `Retry-After: retry_after`,
/// before the second attempt found the group (paused time: exactly the wait).
async fn lookup_wait(status: u16, retry_after: &str, cap: Duration) -> Duration {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(ResponseTemplate::new(status).insert_header("retry-after", retry_after))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(GROUPS))
        .respond_with(scim_json(list(1, vec![group("9", "Ops")])))
        .expect(1)
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        max_retries: 2,
        max_retry_after: cap,
        ..RetryPolicy::default()
    };
    let c = timerless_client(&server, policy);
    let start = tokio::time::Instant::now();
    let found = c.find_by_display_name("Ops").await.unwrap();
    assert_eq!(ids(&found), ["9"]);
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_429_retry_after_is_honoured_on_lookups() {
    let waited = lookup_wait(429, "20", Duration::from_secs(120)).await;
    assert!(
        waited >= Duration::from_secs(20) && waited < Duration::from_secs(21),
        "waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_of_ten_thousand_seconds_waits_only_the_cap() {
    let waited = lookup_wait(503, "10000", Duration::from_secs(120)).await;
    assert!(
        waited >= Duration::from_secs(120) && waited < Duration::from_secs(121),
        "waited {waited:?}"
    );
}
