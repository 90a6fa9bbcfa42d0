//! The Entitlement object as typed structs that serialise straight into a response body.
//!
//! A page of 250 entitlements built as `serde_json::Value`s cost thousands of small
//! allocations and map inserts per request, which showed in every latency measurement
//! against the sandbox. These structs borrow from the catalog and write the same fields
//! with the same values; fields are declared in alphabetical order, the order a
//! `serde_json::Value` object writes its keys, so the bytes are the same too.

use super::catalog::{
    Group, SourceEntry, attribute, guid, is_entra, is_scim, native_value, object_type, stable_id,
    timestamp,
};
use serde::Serialize;

/// An Entitlement object (the fields of the official schema the sandbox fills).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement<'a> {
    access_model_metadata: AccessModelMetadata,
    /// Always `null`.
    additional_owners: (),
    attribute: &'static str,
    attributes: Attributes<'a>,
    cloud_governed: bool,
    created: String,
    description: String,
    direct_permissions: [(); 0],
    id: &'a str,
    /// An object, not null: the beta schema marks it nullable inside `allOf`, which
    /// validating proxies do not honour.
    manually_updated_fields: ManuallyUpdatedFields,
    modified: String,
    name: &'a str,
    owner: Reference<'a>,
    privileged: bool,
    requestable: bool,
    segments: [(); 0],
    source: Reference<'a>,
    source_schema_object_type: &'static str,
    value: String,
}

#[derive(Serialize)]
struct AccessModelMetadata {
    attributes: [(); 0],
}

#[derive(Serialize)]
struct ManuallyUpdatedFields {
    #[serde(rename = "DESCRIPTION")]
    description: bool,
    #[serde(rename = "DISPLAY_NAME")]
    display_name: bool,
}

/// `{ "id", "name", "type" }`: the owner identity, the source.
#[derive(Serialize)]
pub struct Reference<'a> {
    id: std::borrow::Cow<'a, str>,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The connector's own attributes of the entitlement.
#[derive(Serialize)]
#[serde(untagged)]
enum Attributes<'a> {
    /// An Entra ID group (its object id) or a SCIM group (its id in the SCIM server).
    Directory {
        #[serde(rename = "displayName")]
        display_name: &'a str,
        id: String,
    },
    /// An AD group.
    ActiveDirectory {
        #[serde(rename = "GroupType")]
        group_type: &'static str,
        cn: &'a str,
        objectguid: String,
        #[serde(rename = "sAMAccountName")]
        sam_account_name: &'a str,
    },
}

/// The owner every simulated source and its entitlements carry.
pub fn owner(source_id: &str) -> Reference<'static> {
    Reference {
        id: stable_id(&["owner", source_id]).into(),
        name: "jane.doe",
        kind: "IDENTITY",
    }
}

impl<'a> Entitlement<'a> {
    /// The entitlement `id` of `entry`, shaped as the source's connector reads it: an AD
    /// group (`memberOf`, a DN), or an Entra ID group, licence or role (`groups`,
    /// `assignedLicenses`, `directoryRoles`, an object id).
    pub fn new(entry: &'a SourceEntry, id: &'a str, group: &'a Group) -> Entitlement<'a> {
        let s = &entry.source;
        let value = native_value(entry, id, group);
        let attributes = if is_scim(&s.source_type) {
            Attributes::Directory {
                display_name: &group.name,
                id: value.clone(),
            }
        } else if is_entra(&s.source_type) {
            Attributes::Directory {
                display_name: &group.name,
                id: guid(id).to_string(),
            }
        } else {
            Attributes::ActiveDirectory {
                group_type: "Security_Global",
                cn: &group.name,
                objectguid: format!("{{{}}}", guid(id)),
                sam_account_name: &group.name,
            }
        };
        Entitlement {
            access_model_metadata: AccessModelMetadata { attributes: [] },
            additional_owners: (),
            attribute: attribute(entry, group),
            attributes,
            cloud_governed: false,
            created: timestamp(&group.created),
            description: format!("Members of {}", group.name),
            direct_permissions: [],
            id,
            manually_updated_fields: ManuallyUpdatedFields {
                description: false,
                display_name: false,
            },
            modified: timestamp(&group.modified),
            name: &group.name,
            owner: owner(&s.id),
            privileged: false,
            requestable: true,
            segments: [],
            source: Reference {
                id: s.id.as_str().into(),
                name: &s.name,
                kind: "SOURCE",
            },
            source_schema_object_type: object_type(group),
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SimSource;
    use super::super::catalog::Catalog;
    use super::*;
    use chrono::Utc;
    use serde_json::{Value, json};

    /// The Entitlement object as it was built before these structs, field by field.
    fn reference_json(entry: &SourceEntry, id: &str, group: &Group) -> Value {
        let s = &entry.source;
        let attributes = if is_scim(&s.source_type) {
            json!({ "displayName": group.name, "id": native_value(entry, id, group) })
        } else if is_entra(&s.source_type) {
            json!({ "displayName": group.name, "id": guid(id).to_string() })
        } else {
            json!({
                "cn": group.name,
                "sAMAccountName": group.name,
                "GroupType": "Security_Global",
                "objectguid": format!("{{{}}}", guid(id)),
            })
        };
        json!({
            "id": id,
            "name": group.name,
            "attribute": attribute(entry, group),
            "value": native_value(entry, id, group),
            "sourceSchemaObjectType": object_type(group),
            "description": format!("Members of {}", group.name),
            "privileged": false,
            "cloudGoverned": false,
            "requestable": true,
            "owner": { "type": "IDENTITY", "id": stable_id(&["owner", &s.id]), "name": "jane.doe" },
            "additionalOwners": null,
            // An object, not null: the beta schema marks it nullable inside `allOf`, which
            // validating proxies do not honour.
            "manuallyUpdatedFields": { "DISPLAY_NAME": false, "DESCRIPTION": false },
            "accessModelMetadata": { "attributes": [] },
            "created": timestamp(&group.created),
            "modified": timestamp(&group.modified),
            "source": { "id": s.id, "type": "SOURCE", "name": s.name },
            "attributes": attributes,
            "segments": [],
            "directPermissions": [],
        })
    }

    fn source(id: &str, source_type: &str) -> SimSource {
        let names = ["Finance", "R&D, \"Labs\"", " #Équipe ", "a\tb"];
        SimSource {
            id: id.into(),
            name: format!("{source_type} source"),
            source_type: source_type.into(),
            groups: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn the_typed_entitlement_writes_what_the_value_did() {
        let mut catalog = Catalog::new(vec![
            source("ad", "Active Directory - Direct"),
            source("entra", "Azure Active Directory"),
            source("scim", "SCIM 2.0"),
        ]);
        let read = [
            ("g-1".to_owned(), "Finance".to_owned()),
            ("g-2".into(), "Sales".into()),
        ];
        assert!(catalog.replace_groups("scim", &read, Utc::now()));
        let mut compared = 0;
        for entry in &catalog.sources {
            for (id, group) in &entry.groups {
                let typed = serde_json::to_string(&Entitlement::new(entry, id, group)).unwrap();
                let reference = reference_json(entry, id, group);
                let parsed: Value = serde_json::from_str(&typed).unwrap();
                assert_eq!(parsed, reference, "{id}");
                assert_eq!(typed, reference.to_string(), "same bytes too");
                compared += 1;
            }
        }
        // 4 AD groups, 4 Entra groups + 4 licences and roles, 2 SCIM groups
        assert_eq!(compared, 14);
    }
}
