//! What the token may call, and the source schemas (`GET /v3/sources/{id}/schemas`).
//!
//! SailPoint's spec lists, per operation, whether an API client's token
//! (`applicationAuth`) or only a user's token (`userAuth`, e.g. a personal access token)
//! is accepted. Tenants and guides disagree, so `groupsync check` tries each operation
//! groupsync may call with a read of one record and reports what was refused (403).
//! Starting an aggregation is never tried: its answer is inferred from the schemas read,
//! which also lists only `userAuth`.

use super::Client;
use super::error::{Endpoint, IdnError};
use super::query;
use super::request::Call;
use crate::config::ApiVersion;
use serde::Deserialize;

/// An attribute of a source schema, as far as groupsync reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaAttribute {
    pub name: String,
    #[serde(default)]
    pub is_entitlement: bool,
    #[serde(default)]
    pub is_group: bool,
    /// The schema the attribute's values are objects of (`group`), if any.
    #[serde(default)]
    pub schema: Option<SchemaRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SchemaRef {
    #[serde(default)]
    pub name: Option<String>,
}

/// A source schema (`account`, `group`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSchema {
    pub name: String,
    #[serde(default)]
    pub native_object_type: Option<String>,
    #[serde(default)]
    pub attributes: Vec<SchemaAttribute>,
}

/// Where a source keeps its groups: the account attributes marked `isGroup`, each with
/// the schema its values belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSchema {
    /// `(attribute, schema)`, e.g. `("memberOf", "group")`.
    pub attributes: Vec<(String, String)>,
}

impl GroupSchema {
    /// From the schemas of a source: the account schema's `isGroup` attributes.
    pub fn of(schemas: &[SourceSchema]) -> GroupSchema {
        let attributes = schemas
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case("account"))
            .flat_map(|s| &s.attributes)
            .filter(|a| a.is_group)
            .map(|a| {
                let schema = a.schema.as_ref().and_then(|r| r.name.clone());
                (a.name.clone(), schema.unwrap_or_else(|| "group".to_owned()))
            })
            .collect();
        GroupSchema { attributes }
    }
}

impl std::fmt::Display for GroupSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.attributes.is_empty() {
            return f.write_str("no account attribute is marked isGroup");
        }
        let named: Vec<String> = self
            .attributes
            .iter()
            .map(|(a, s)| format!("account.{a} → schema {s:?}"))
            .collect();
        f.write_str(&named.join(", "))
    }
}

/// An IdentityNow operation groupsync may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListSources,
    ReadSchemas,
    EntitlementsV2025,
    EntitlementsV2026,
    LoadEntitlements,
    TaskStatus,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::ListSources,
        Operation::ReadSchemas,
        Operation::EntitlementsV2025,
        Operation::EntitlementsV2026,
        Operation::LoadEntitlements,
        Operation::TaskStatus,
    ];

    /// `GET /v3/sources`, …: as the operation is called.
    pub fn label(self) -> &'static str {
        match self {
            Operation::ListSources => "GET /v3/sources",
            Operation::ReadSchemas => "GET /v3/sources/{id}/schemas",
            Operation::EntitlementsV2025 => "GET /v2025/entitlements",
            Operation::EntitlementsV2026 => "GET /v2026/entitlements",
            Operation::LoadEntitlements => "POST /beta/sources/{id}/load-entitlements",
            Operation::TaskStatus => "GET /beta/task-status",
        }
    }
}

impl Client {
    /// The schemas of a source (a user's token only, per the spec).
    pub async fn source_schemas(&self, source_id: &str) -> Result<Vec<SourceSchema>, IdnError> {
        let url = self.url(&["v3", "sources", source_id, "schemas"], &[])?;
        let call = Call::get(Endpoint::Schemas, url);
        self.get(&call).await?.json()
    }

    /// Where the source keeps its groups, read from its schemas.
    pub async fn group_schema(&self, source_id: &str) -> Result<GroupSchema, IdnError> {
        Ok(GroupSchema::of(&self.source_schemas(source_id).await?))
    }

    /// Tries `op` with the cheapest read that needs the same permission: one record,
    /// nothing written. `Ok(false)` for an operation that is not tried (starting an
    /// aggregation).
    pub async fn try_operation(&self, op: Operation, source_id: &str) -> Result<bool, IdnError> {
        let one = || ("limit", "1".to_owned());
        let call = match op {
            Operation::ListSources => {
                Call::get(Endpoint::Sources, self.url(&["v3", "sources"], &[one()])?)
            }
            Operation::ReadSchemas => {
                let url = self.url(&["v3", "sources", source_id, "schemas"], &[])?;
                Call::get(Endpoint::Schemas, url)
            }
            Operation::EntitlementsV2025 | Operation::EntitlementsV2026 => {
                let version = if op == Operation::EntitlementsV2025 {
                    ApiVersion::V2025
                } else {
                    ApiVersion::V2026
                };
                let pairs = [("filters", query::eq("source.id", source_id)), one()];
                let url = self.url(&[version.as_path(), "entitlements"], &pairs)?;
                let mut call = Call::get(Endpoint::Entitlements, url);
                call.experimental = version.wants_experimental_header();
                call
            }
            Operation::TaskStatus => {
                let url = self.url(&["beta", "task-status"], &[one()])?;
                Call::get(Endpoint::TaskStatus, url)
            }
            Operation::LoadEntitlements => return Ok(false),
        };
        self.get(&call).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_attributes_come_from_the_account_schema() {
        let schemas: Vec<SourceSchema> = serde_json::from_value(serde_json::json!([
            { "name": "account", "attributes": [
                { "name": "sAMAccountName", "isGroup": false },
                { "name": "memberOf", "isEntitlement": true, "isGroup": true,
                  "schema": { "type": "CONNECTOR_SCHEMA", "id": "x", "name": "group" } },
            ]},
            { "name": "group", "attributes": [ { "name": "cn", "isGroup": true } ] },
        ]))
        .unwrap();
        let g = GroupSchema::of(&schemas);
        assert_eq!(g.attributes, vec![("memberOf".into(), "group".into())]);
        assert_eq!(g.to_string(), "account.memberOf → schema \"group\"");
        assert!(
            GroupSchema::of(&[])
                .to_string()
                .contains("no account attribute")
        );
    }
}
