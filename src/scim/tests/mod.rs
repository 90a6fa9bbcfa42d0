//! The client against wiremock on 127.0.0.1: exact requests on the wire, and the
//! answers of strict, lenient and misbehaving servers.

mod create;
mod filter_roundtrip;
mod listing;
mod lookup;
mod own;
mod parsers;

use super::{Client, ScimError};
use crate::config::{Credentials, ScimSettings};
use crate::retry::RetryPolicy;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;
use wiremock::{Match, MockServer, Request, ResponseTemplate};

pub const TOKEN: &str = "s3cret-token-value";
pub const GROUPS: &str = "/scim/v2/Groups";

pub fn settings(server: &MockServer, retry: RetryPolicy) -> ScimSettings {
    ScimSettings {
        base_url: Url::parse(&format!("{}/scim/v2/", server.uri())).unwrap(),
        auth: Credentials::Bearer(SecretString::from(TOKEN)),
        timeout: Duration::from_secs(5),
        retry,
        token_expiry: None,
        requests_per_second: None,
    }
}

pub fn client(server: &MockServer) -> Client {
    Client::new(&settings(server, RetryPolicy::none())).unwrap()
}

/// Matches the query string exactly as it was sent, before any decoding.
pub struct RawQuery(pub String);

impl Match for RawQuery {
    fn matches(&self, request: &Request) -> bool {
        request.url.query() == Some(self.0.as_str())
    }
}

pub fn raw_query(q: &str) -> RawQuery {
    RawQuery(q.to_owned())
}

/// The lookup query for a filter value already percent-encoded by hand.
pub fn lookup(encoded_literal: &str) -> RawQuery {
    RawQuery(format!(
        "filter=displayName%20eq%20{encoded_literal}&excludedAttributes=members"
    ))
}

pub fn group(id: &str, name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": id,
        "displayName": name,
    })
}

pub fn list(total: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "Resources": resources,
    })
}

/// A 200 with a SCIM JSON body, as a compliant server sends it.
pub fn scim_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/scim+json")
}

pub fn scim_error(status: u16, scim_type: Option<&str>, detail: &str) -> ResponseTemplate {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/scim+json")
}

pub fn ids(groups: &[crate::domain::TargetGroup]) -> Vec<&str> {
    groups.iter().map(|g| g.id.as_str()).collect()
}

pub fn assert_secret_free(e: &ScimError) {
    assert!(!e.to_string().contains(TOKEN), "{e}");
    assert!(!format!("{e:?}").contains(TOKEN), "{e:?}");
}
