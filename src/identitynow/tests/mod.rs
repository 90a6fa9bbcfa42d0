//! The client against local servers: wiremock for most tests, and [`stub`] (a server on
//! the test's own runtime) where paused time must be measured.

mod failures;
mod paging;
mod parsers;
mod sources;
mod stub;
mod tasks;
mod token;

use super::Client;
use crate::config::{ApiVersion, IdentityNowSettings, SourceRef};
use crate::domain::SourceGroup;
use crate::retry::RetryPolicy;
use secrecy::SecretString;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const SECRET: &str = "s3cret+Value&never-shown";
pub const CLIENT_ID: &str = "b61429f5-203d-494c-94c3-04f54e17bc5c";
pub const SOURCE_ID: &str = "2c9180835d191a86015d28455b4b232a";

pub fn settings(base: &str) -> IdentityNowSettings {
    IdentityNowSettings {
        tenant_url: Url::parse(base).unwrap(),
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(SECRET),
        source: SourceRef::Id(SOURCE_ID.into()),
        scim_source: None,
        scim_aggregation_timeout: Duration::from_secs(600),
        api_version: ApiVersion::V2025,
        entitlement_filter: Some(r#"attribute eq "memberOf""#.into()),
        page_size: 250,
        requests_per_10s: 100,
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(120),
        },
    }
}

pub fn client(server: &MockServer) -> Client {
    Client::new(&settings(&server.uri())).unwrap()
}

pub fn token_reply(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": "read write",
        "tenant_id": "58eb06a4-dcd7-4e96-8fac-cca2afc03e61",
        "pod": "cook",
        "jti": "9499b299-95fa-47fb-815c-85d5f6b43e86"
    }))
}

/// `POST /oauth/token` answering `tok-1`, expected `times` times.
pub async fn mount_token(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_reply("tok-1", 749))
        .expect(times)
        .mount(server)
        .await;
}

/// Matches the raw (still percent-encoded) query string exactly.
pub fn raw_query(expected: impl Into<String>) -> impl Fn(&Request) -> bool + Send + Sync {
    let expected = expected.into();
    move |r: &Request| r.url.query() == Some(expected.as_str())
}

pub fn query_of(r: &Request) -> HashMap<String, String> {
    r.url.query_pairs().into_owned().collect()
}

/// A source's group entitlements, served in pages as IdentityNow does: sorted by id,
/// `offset`/`limit` or `searchAfter`, `X-Total-Count`.
#[derive(Clone)]
pub struct Directory {
    pub groups: Vec<SourceGroup>,
    /// `X-Total-Count` to send instead of the true count.
    pub total: Option<u64>,
    /// Serve the first page whatever the offset (a server ignoring it).
    pub ignore_offset: bool,
}

impl Directory {
    pub fn new(n: usize) -> Directory {
        let mut groups: Vec<SourceGroup> = (0..n)
            .map(|i| SourceGroup {
                id: format!("{:032x}", (i as u128 * 7919 + 13) % 1_000_003),
                name: format!("Group {i}"),
                value: format!("CN=Group {i},OU=Groups,DC=corp,DC=example,DC=com"),
            })
            .collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Directory {
            groups,
            total: None,
            ignore_offset: false,
        }
    }

    fn start(&self, q: &HashMap<String, String>) -> usize {
        if self.ignore_offset {
            return 0;
        }
        match q.get("searchAfter") {
            Some(after) => self.groups.partition_point(|g| g.id <= *after),
            None => q.get("offset").map_or(0, |o| o.parse().unwrap()),
        }
    }
}

impl Respond for Directory {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let q = query_of(r);
        let limit: usize = q["limit"].parse().unwrap();
        let len = self.groups.len();
        let start = self.start(&q).min(len);
        let items: Vec<_> = self.groups[start..(start + limit).min(len)]
            .iter()
            .map(|g| {
                json!({
                    "id": g.id, "name": g.name,
                    "value": g.value,
                    "attribute": "memberOf", "sourceSchemaObjectType": "group",
                    "privileged": false, "requestable": true,
                    "source": {"id": SOURCE_ID, "type": "SOURCE", "name": "Active Directory"}
                })
            })
            .collect();
        let total = self.total.unwrap_or(len as u64);
        ResponseTemplate::new(200)
            .insert_header("X-Total-Count", total.to_string().as_str())
            .set_body_json(items)
    }
}

/// `GET /v2025/entitlements` served from `dir`, expected `times` times.
pub async fn mount_directory(server: &MockServer, dir: Directory, times: u64) {
    Mock::given(method("GET"))
        .and(path("/v2025/entitlements"))
        .respond_with(dir)
        .expect(times)
        .mount(server)
        .await;
}

/// A progress callback that does nothing.
pub fn quiet(_: super::FetchProgress) {}

#[test]
fn clients_of_one_client_id_on_one_tenant_share_one_rate_budget() {
    let first = Client::new(&settings("http://127.0.0.1:1")).unwrap();
    let same = Client::new_among(
        &IdentityNowSettings {
            source: SourceRef::Name("AD EU".into()),
            ..settings("http://127.0.0.1:1")
        },
        std::slice::from_ref(&first),
    )
    .unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.inner.pace, &same.inner.pace));
    let other_id = Client::new_among(
        &IdentityNowSettings {
            client_id: "another".into(),
            ..settings("http://127.0.0.1:1")
        },
        std::slice::from_ref(&first),
    )
    .unwrap();
    assert!(!std::sync::Arc::ptr_eq(
        &first.inner.pace,
        &other_id.inner.pace
    ));
    let other_tenant = Client::new_among(
        &settings("http://127.0.0.1:2"),
        std::slice::from_ref(&first),
    )
    .unwrap();
    assert!(!std::sync::Arc::ptr_eq(
        &first.inner.pace,
        &other_tenant.inner.pace
    ));
}
