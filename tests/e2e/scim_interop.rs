//! The same SCIM scenarios against the sandbox's SCIM server and, where CI runs it, the
//! independent scim2-server: both must give the same answers (status, totals, error type),
//! and those answers must be the ones RFC 7644 asks for.

use crate::harness::{peer, spawn_app};
use groupsync_sandbox::{SCIM_TOKEN, SandboxOptions};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// One observable answer: status, totalResults (lists), resources returned, scimType (errors).
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    total: Option<u64>,
    returned: Option<usize>,
    scim_type: Option<String>,
}

struct Target {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Target {
    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            total: body["totalResults"].as_u64(),
            returned: body["Resources"].as_array().map(|r| r.len()),
            scim_type: body["scimType"].as_str().map(String::from),
        }
    }

    async fn filter(&self, filter: &str, extra: &str) -> Answer {
        let q = utf8_percent_encode(filter, NON_ALPHANUMERIC);
        let url = format!("{}/Groups?filter={q}{extra}", self.base);
        self.send(self.http.get(url).bearer_auth(&self.token)).await
    }

    async fn create(&self, body: Value) -> Answer {
        let req = self
            .http
            .post(format!("{}/Groups", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string());
        self.send(req).await
    }
}

fn group(name: &str, external_id: Option<&str>) -> Value {
    let mut g =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name});
    if let Some(e) = external_id {
        g["externalId"] = json!(e);
    }
    g
}

fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Runs every scenario and returns the answers, named.
async fn scenarios(t: &Target, tag: &str) -> Vec<(&'static str, Answer)> {
    let alpha = format!("Interop {tag} Alpha");
    let awkward = format!("Interop {tag} \"Quote\" \\ Back\tTab & # % + = ünï 🚀");
    let mut out = vec![
        (
            "create alpha",
            t.create(group(&alpha, Some(&format!("ext-{tag}")))).await,
        ),
        ("create awkward", t.create(group(&awkward, None)).await),
        (
            "find alpha exactly",
            t.filter(&format!("displayName eq {}", lit(&alpha)), "")
                .await,
        ),
        (
            "find alpha ignoring case",
            t.filter(
                &format!("displayName eq {}", lit(&alpha.to_uppercase())),
                "",
            )
            .await,
        ),
        (
            "find awkward",
            t.filter(&format!("displayName eq {}", lit(&awkward)), "")
                .await,
        ),
        (
            "missing",
            t.filter(
                &format!("displayName eq {}", lit(&format!("Interop {tag} Missing"))),
                "",
            )
            .await,
        ),
        (
            "operator case",
            t.filter(&format!("DISPLAYNAME EQ {}", lit(&alpha)), "")
                .await,
        ),
        (
            "prefix, one per page",
            t.filter(
                &format!("displayName sw {}", lit(&format!("Interop {tag}"))),
                "&count=1",
            )
            .await,
        ),
        (
            "prefix, second page",
            t.filter(
                &format!("displayName sw {}", lit(&format!("Interop {tag}"))),
                "&startIndex=2&count=1",
            )
            .await,
        ),
        (
            "externalId exact",
            t.filter(&format!("externalId eq {}", lit(&format!("ext-{tag}"))), "")
                .await,
        ),
        (
            "or",
            t.filter(
                &format!(
                    "displayName eq {} or displayName eq {}",
                    lit(&alpha),
                    lit(&awkward)
                ),
                "",
            )
            .await,
        ),
        (
            "and",
            t.filter(
                &format!(
                    "displayName eq {} and displayName eq {}",
                    lit(&alpha),
                    lit(&awkward)
                ),
                "",
            )
            .await,
        ),
        (
            "unterminated literal",
            t.filter(&format!("displayName eq \"Interop {tag}"), "")
                .await,
        ),
        (
            "unknown operator",
            t.filter("displayName zz \"x\"", "").await,
        ),
        (
            "raw tab in literal",
            t.filter("displayName eq \"a\tb\"", "").await,
        ),
    ];
    let unknown = t
        .send(
            t.http
                .get(format!("{}/Groups/no-such-id-{tag}", t.base))
                .bearer_auth(&t.token),
        )
        .await;
    out.push((
        "unknown id",
        Answer {
            total: None,
            returned: None,
            scim_type: None,
            ..unknown
        },
    ));
    let wrong_type = t
        .send(
            t.http
                .post(format!("{}/Groups", t.base))
                .bearer_auth(&t.token)
                .header("Content-Type", "text/plain")
                .body(group("x", None).to_string()),
        )
        .await;
    out.push((
        "wrong content type",
        Answer {
            scim_type: None,
            ..wrong_type
        },
    ));
    let no_auth = t.send(t.http.get(format!("{}/Groups", t.base))).await;
    out.push((
        "no credentials",
        Answer {
            scim_type: None,
            ..no_auth
        },
    ));
    out
}

fn answer(
    status: u16,
    total: Option<u64>,
    returned: Option<usize>,
    scim_type: Option<&str>,
) -> Answer {
    Answer {
        status,
        total,
        returned,
        scim_type: scim_type.map(String::from),
    }
}

fn expected() -> Vec<(&'static str, Answer)> {
    vec![
        ("create alpha", answer(201, None, None, None)),
        ("create awkward", answer(201, None, None, None)),
        ("find alpha exactly", answer(200, Some(1), Some(1), None)),
        (
            "find alpha ignoring case",
            answer(200, Some(1), Some(1), None),
        ),
        ("find awkward", answer(200, Some(1), Some(1), None)),
        ("missing", answer(200, Some(0), None, None)),
        ("operator case", answer(200, Some(1), Some(1), None)),
        ("prefix, one per page", answer(200, Some(2), Some(1), None)),
        ("prefix, second page", answer(200, Some(2), Some(1), None)),
        ("externalId exact", answer(200, Some(1), Some(1), None)),
        ("or", answer(200, Some(2), Some(2), None)),
        ("and", answer(200, Some(0), None, None)),
        (
            "unterminated literal",
            answer(400, None, None, Some("invalidFilter")),
        ),
        (
            "unknown operator",
            answer(400, None, None, Some("invalidFilter")),
        ),
        (
            "raw tab in literal",
            answer(400, None, None, Some("invalidFilter")),
        ),
        ("unknown id", answer(404, None, None, None)),
        ("wrong content type", answer(415, None, None, None)),
        ("no credentials", answer(401, None, None, None)),
    ]
}

/// An empty `Resources` array and an absent one mean the same (RFC 7644 §3.4.2).
fn normalise(mut answers: Vec<(&'static str, Answer)>) -> Vec<(&'static str, Answer)> {
    for (_, a) in &mut answers {
        if a.returned == Some(0) {
            a.returned = None;
        }
    }
    answers
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

#[tokio::test]
async fn the_sandbox_scim_server_answers_as_rfc_7644_asks() {
    let app = spawn_app(SandboxOptions::default()).await;
    let t = Target {
        base: app.scim_url(),
        token: SCIM_TOKEN.into(),
        http: reqwest::Client::new(),
    };
    let got = normalise(scenarios(&t, &tag()).await);
    assert_eq!(got, expected());
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_and_scim2_server_give_the_same_answers() {
    let Some(base) = peer("GROUPSYNC_TEST_SCIM2_URL") else {
        return;
    };
    let token = std::env::var("GROUPSYNC_TEST_SCIM2_TOKEN").unwrap_or_default();
    let peer = Target {
        base,
        token,
        http: reqwest::Client::new(),
    };
    let app = spawn_app(SandboxOptions::default()).await;
    let ours = Target {
        base: app.scim_url(),
        token: SCIM_TOKEN.into(),
        http: reqwest::Client::new(),
    };
    let tag = tag();
    let theirs = normalise(scenarios(&peer, &tag).await);
    let mine = normalise(scenarios(&ours, &tag).await);
    for ((name, a), (_, b)) in theirs.iter().zip(&mine) {
        assert_eq!(a, b, "scenario {name:?}: scim2-server vs sandbox");
    }
    app.stop().await;
}
