//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`
//! and `/Schemas`, describing only what this server really does. As §4 asks, a
//! `filter` on them is answered 403, and their other parameters are ignored.

use super::Shared;
use super::error::{SCIM_JSON, ScimError};
use super::group::GROUP_URN;
use super::handlers::base_url;
use super::list::{list_response, query_pairs};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn reject_filter(raw: Option<&str>) -> Result<(), ScimError> {
    if query_pairs(raw)
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("filter"))
    {
        return Err(ScimError::forbidden(
            "discovery endpoints do not accept a filter",
        ));
    }
    Ok(())
}

/// `body` as a 200 SCIM JSON response.
pub fn json_response(body: impl Serialize) -> Response {
    match serde_json::to_string(&body) {
        Ok(text) => ([(header::CONTENT_TYPE, SCIM_JSON)], text).into_response(),
        Err(e) => {
            ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, e.to_string()).into_response()
        }
    }
}

pub async fn service_provider_config(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    reject_filter(raw.as_deref())?;
    let base = base_url(&headers);
    Ok(json_response(json!({
        "schemas": [SPC_URN],
        "patch": {"supported": shared.patch},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": shared.max_page_size},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": shared.auth.schemes(),
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })))
}

fn group_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": GROUP_URN,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
    })
}

pub async fn resource_types(
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    reject_filter(raw.as_deref())?;
    let types = vec![group_resource_type(&base_url(&headers))];
    Ok(json_response(list_response(1, 1, types)))
}

pub async fn resource_type(
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    if id != "Group" {
        return Err(ScimError::not_found(format!(
            "resource type '{id}' not found"
        )));
    }
    Ok(json_response(group_resource_type(&base_url(&headers))))
}

fn string_attribute(name: &str, case_exact: bool, required: bool, mutability: &str) -> Value {
    json!({
        "name": name, "type": "string", "multiValued": false, "required": required,
        "caseExact": case_exact, "mutability": mutability, "returned": "default",
        "uniqueness": "none",
    })
}

fn group_schema(base: &str) -> Value {
    let members = json!({
        "name": "members", "type": "complex", "multiValued": true, "required": false,
        "mutability": "readWrite", "returned": "default", "uniqueness": "none",
        "subAttributes": [
            string_attribute("value", true, false, "immutable"),
            string_attribute("$ref", true, false, "immutable"),
            string_attribute("type", false, false, "immutable"),
            string_attribute("display", false, false, "readOnly"),
        ],
    });
    json!({
        "schemas": [SCHEMA_URN],
        "id": GROUP_URN,
        "name": "Group",
        "description": "Group",
        "attributes": [string_attribute("displayName", false, true, "readWrite"), members],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_URN}")},
    })
}

pub async fn schemas(headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Response, ScimError> {
    reject_filter(raw.as_deref())?;
    let schemas = vec![group_schema(&base_url(&headers))];
    Ok(json_response(list_response(1, 1, schemas)))
}

pub async fn schema(Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ScimError> {
    if !id.eq_ignore_ascii_case(GROUP_URN) {
        return Err(ScimError::not_found(format!("schema '{id}' not found")));
    }
    Ok(json_response(group_schema(&base_url(&headers))))
}
