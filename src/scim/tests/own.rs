//! Changing and deleting the groups groupsync owns: the requests on the wire, and the PUT a
//! refused PATCH falls back to.

use super::*;
use crate::scim::Change;
use wiremock::Mock;
use wiremock::matchers::{body_json, method, path};

#[tokio::test]
async fn a_refused_patch_falls_back_to_a_put_of_the_whole_group() {
    let server = MockServer::start().await;
    let one = format!("{GROUPS}/g%201");
    Mock::given(method("PATCH"))
        .and(path(one.as_str()))
        .and(body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "externalId", "value": "e1"}],
        })))
        .respond_with(ResponseTemplate::new(405))
        .expect(1)
        .mount(&server)
        .await;
    let mut current = group("g 1", "Sales");
    current["members"] = json!([{"value": "u1"}]);
    current["meta"] = json!({"resourceType": "Group"});
    Mock::given(method("GET"))
        .and(path(one.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(current))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(one.as_str()))
        .and(body_json(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales",
            "externalId": "e1",
            "members": [{"value": "u1"}],
        })))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let change = Change {
        display_name: None,
        external_id: Some("e1"),
    };
    client(&server)
        .change_group("g 1", change, true)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_put_the_target_refuses_is_an_error_with_its_detail() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(group("g1", "Sales")))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "400",
            "detail": "externalId is read-only here",
        })))
        .mount(&server)
        .await;
    let change = Change {
        display_name: None,
        external_id: Some("e1"),
    };
    let err = client(&server)
        .change_group("g1", change, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("externalId is read-only here"),
        "{err}"
    );
}

#[tokio::test]
async fn deleting_a_group_already_gone_is_done_and_lookups_by_external_id_are_exact() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("{GROUPS}/g1").as_str()))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let mut loose = group("g2", "Other");
    loose["externalId"] = json!("E1");
    let mut exact = group("g3", "Mine");
    exact["externalId"] = json!("e1");
    Mock::given(method("GET"))
        .and(raw_query(
            "filter=externalId%20eq%20%22e1%22&excludedAttributes=members",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 2,
            "Resources": [loose, exact],
        })))
        .mount(&server)
        .await;
    let c = client(&server);
    c.delete_group("g1").await.unwrap();
    let found = c.find_by_external_id("e1").await.unwrap();
    let ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["g3"], "externalId is caseExact");
}
