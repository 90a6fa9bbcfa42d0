//! `GET /v3/sources/{sourceId}/schemas`: the account schema and the group schema of a
//! source, shaped as each connector defines them. The account schema marks the attribute
//! that holds groups with `isGroup: true` (and a reference to the group schema); on Entra
//! ID, licences and roles are entitlements (`isEntitlement`) but not groups.

use super::catalog::{SourceEntry, is_entra, is_scim, stable_id, timestamp};
use super::errors::ApiError;
use super::state::{AppState, lock};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(serde::Deserialize)]
pub struct SchemaQuery {
    #[serde(rename = "include-types")]
    include_types: Option<String>,
    #[serde(rename = "include-names")]
    include_names: Option<String>,
}

/// An account attribute: (name, is an entitlement, refers to the group schema).
type Attr = (&'static str, bool, bool);

/// The account attributes and the group schema's identity attribute of a connector.
fn shape(entry: &SourceEntry) -> (&'static [Attr], &'static str, &'static str) {
    let t = &entry.source.source_type;
    if is_scim(t) {
        const A: &[Attr] = &[
            ("userName", false, false),
            ("displayName", false, false),
            ("groups", true, true),
        ];
        (A, "id", "Group")
    } else if is_entra(t) {
        const A: &[Attr] = &[
            ("userPrincipalName", false, false),
            ("displayName", false, false),
            ("groups", true, true),
            ("assignedLicenses", true, false),
            ("directoryRoles", true, false),
        ];
        (A, "objectId", "group")
    } else {
        const A: &[Attr] = &[
            ("sAMAccountName", false, false),
            ("distinguishedName", false, false),
            ("memberOf", true, true),
        ];
        (A, "distinguishedName", "group")
    }
}

fn schemas_json(entry: &SourceEntry) -> [Value; 2] {
    let id = &entry.source.id;
    let group_id = stable_id(&["group", id]);
    let created = timestamp(&chrono::DateTime::UNIX_EPOCH);
    let (attrs, group_identity, group_native) = shape(entry);
    let attributes: Vec<Value> = attrs
        .iter()
        .map(|(name, entitlement, group)| {
            let mut a = json!({
                "name": name,
                "nativeName": name,
                "type": "STRING",
                "description": name,
                "isMulti": entitlement,
                "isEntitlement": entitlement,
                "isGroup": group,
            });
            if *group {
                a["schema"] =
                    json!({ "type": "CONNECTOR_SCHEMA", "id": group_id, "name": "group" });
            }
            a
        })
        .collect();
    let account = json!({
        "id": stable_id(&["account", id]),
        "name": "account",
        "nativeObjectType": "User",
        "identityAttribute": attrs[0].0,
        "displayAttribute": attrs[1].0,
        "includePermissions": false,
        "features": [],
        "configuration": {},
        "attributes": attributes,
        "created": created,
        "modified": created,
    });
    let group = json!({
        "id": group_id,
        "name": "group",
        "nativeObjectType": group_native,
        "identityAttribute": group_identity,
        "displayAttribute": "displayName",
        "includePermissions": false,
        "features": [],
        "configuration": {},
        "attributes": [
            { "name": group_identity, "type": "STRING", "isMulti": false, "isEntitlement": false, "isGroup": false },
            { "name": "displayName", "type": "STRING", "isMulti": false, "isEntitlement": false, "isGroup": false },
        ],
        "created": created,
        "modified": created,
    });
    [account, group]
}

/// `GET /v3/sources/{sourceId}/schemas[?include-types=group|include-names=a,b]`.
pub async fn list_schemas(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<SchemaQuery>,
) -> Response {
    let catalog = lock(&state.catalog);
    let Some(entry) = catalog.source(&id) else {
        return ApiError::not_found_object("source", &id).into_response();
    };
    let all = schemas_json(entry);
    let names: Option<Vec<&str>> = q
        .include_names
        .as_deref()
        .map(|n| n.split(',').map(str::trim).collect());
    let keep = |s: &Value| {
        let name = s["name"].as_str().unwrap_or_default();
        match (q.include_types.as_deref(), &names) {
            (Some("group"), _) => name == "group",
            (_, Some(names)) => names.contains(&name),
            _ => true,
        }
    };
    let found: Vec<Value> = all.into_iter().filter(keep).collect();
    Json(found).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::SimSource;
    use std::collections::BTreeMap;

    fn group_attributes(source_type: &str) -> Vec<(String, bool)> {
        let entry = SourceEntry {
            source: SimSource {
                id: "s".into(),
                name: "S".into(),
                source_type: source_type.into(),
                groups: vec![],
            },
            groups: BTreeMap::new(),
        };
        let [account, group] = schemas_json(&entry);
        assert_eq!(group["name"], "group");
        account["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["isEntitlement"] == true)
            .map(|a| (a["name"].as_str().unwrap().to_owned(), a["isGroup"] == true))
            .collect()
    }

    #[test]
    fn each_connector_marks_its_own_group_attribute() {
        let named = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(n, g)| ((*n).to_owned(), *g)).collect()
        };
        assert_eq!(
            group_attributes("Active Directory - Direct"),
            named(&[("memberOf", true)])
        );
        assert_eq!(
            group_attributes("Azure Active Directory"),
            named(&[
                ("groups", true),
                ("assignedLicenses", false),
                ("directoryRoles", false)
            ])
        );
        assert_eq!(group_attributes("SCIM 2.0"), named(&[("groups", true)]));
    }
}
