//! The apply stage against a mock SCIM server: a create is never re-sent blindly, and a
//! conflict means "already exists".

use groupsync::config::Settings;
use groupsync::domain::SourceGroup;
use groupsync::report::Outcome;
use groupsync::retry::RetryPolicy;
use groupsync::scim;
use groupsync::sync::apply::{ApplyOptions, apply};
use groupsync::sync::plan::{Action, Plan, Planned};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> scim::Client {
    let toml = format!(
        r#"[identitynow]
tenant_url = "http://127.0.0.1:9"
client_id = "c"
client_secret = "s"
source_id = "x"
[scim]
base_url = "{}/scim/v2"
token = "t"
max_retries = 0
[email]
enabled = false
"#,
        server.uri()
    );
    let settings = Settings::from_toml_and_env(&toml, &Default::default()).unwrap();
    scim::Client::new(&settings.scim).unwrap()
}

fn plan_to_create(name: &str) -> Plan {
    Plan {
        items: vec![Planned {
            group: SourceGroup {
                id: "e1".into(),
                name: name.into(),
                value: String::new(),
            },
            action: Action::Create,
        }],
        ..Plan::default()
    }
}

fn opts() -> ApplyOptions {
    ApplyOptions {
        concurrency: 2,
        dry_run: false,
        retry: RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        },
        deadline: None,
        patch: true,
    }
}

fn list(groups: &[(&str, &str)]) -> ResponseTemplate {
    let resources: Vec<_> = groups
        .iter()
        .map(|(id, name)| json!({"id": id, "displayName": name}))
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": resources.len(),
        "Resources": resources,
    }))
}

#[tokio::test]
async fn a_conflict_on_create_is_recorded_as_existing_with_the_targets_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"status": "409", "scimType": "uniqueness"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .respond_with(list(&[("g-7", "payroll")]))
        .mount(&server)
        .await;
    let out = apply(
        &plan_to_create("Payroll"),
        &client(&server),
        opts(),
        &|_| {},
    )
    .await;
    assert_eq!(
        out[0].outcome,
        Outcome::Existed {
            scim_id: "g-7".into()
        }
    );
}

#[tokio::test]
async fn a_create_with_unknown_outcome_is_looked_up_not_resent() {
    let server = MockServer::start().await;
    // the POST fails with a 503, but the group was in fact created
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .respond_with(list(&[("g-1", "Payroll")]))
        .expect(1)
        .mount(&server)
        .await;
    let out = apply(
        &plan_to_create("Payroll"),
        &client(&server),
        opts(),
        &|_| {},
    )
    .await;
    assert_eq!(
        out[0].outcome,
        Outcome::Created {
            scim_id: "g-1".into()
        }
    );
}

#[tokio::test]
async fn a_create_that_did_not_land_is_posted_again_after_the_lookup() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "g-2", "displayName": "Payroll"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .respond_with(list(&[]))
        .expect(1)
        .mount(&server)
        .await;
    let out = apply(
        &plan_to_create("Payroll"),
        &client(&server),
        opts(),
        &|_| {},
    )
    .await;
    assert_eq!(
        out[0].outcome,
        Outcome::Created {
            scim_id: "g-2".into()
        }
    );
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_group_without_a_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": "400", "scimType": "invalidValue", "detail": "bad name"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let out = apply(
        &plan_to_create("Payroll"),
        &client(&server),
        opts(),
        &|_| {},
    )
    .await;
    match &out[0].outcome {
        Outcome::Failed { error } => assert!(error.contains("bad name"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn retries_run_out_and_the_group_is_reported_failed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/scim/v2/Groups"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scim/v2/Groups"))
        .respond_with(list(&[]))
        .expect(2)
        .mount(&server)
        .await;
    let out = apply(
        &plan_to_create("Payroll"),
        &client(&server),
        opts(),
        &|_| {},
    )
    .await;
    match &out[0].outcome {
        Outcome::Failed { error } => assert!(error.contains("gave up after 3 attempts"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn outcomes_keep_the_plan_order_and_dry_runs_write_nothing() {
    let server = MockServer::start().await;
    let mut plan = Plan::default();
    for n in ["a", "b", "c", "d", "e"] {
        plan.items.push(Planned {
            group: SourceGroup {
                id: n.into(),
                name: n.into(),
                value: String::new(),
            },
            action: Action::Create,
        });
    }
    let dry = ApplyOptions {
        dry_run: true,
        ..opts()
    };
    let out = apply(&plan, &client(&server), dry, &|_| {}).await;
    assert!(out.iter().all(|o| o.outcome == Outcome::WouldCreate));
    assert_eq!(
        out.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        vec!["a", "b", "c", "d", "e"]
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
