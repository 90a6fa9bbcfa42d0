//! `PATCH /Groups/{id}` (RFC 7644 §3.5.2): `add`, `remove` and `replace` on
//! `displayName`, `externalId` and `members`, plus `remove` on `members[filter]`.
//!
//! Operations are applied to a copy of the group by the caller and committed only if
//! all of them succeed, so a failing operation leaves the group untouched.

use super::error::ScimError;
use super::filter;
use super::group::{
    Group, Member, attribute_key, lookup, parse_display_name, parse_external_id, parse_json,
    require_schema,
};
use super::query::Query;
use serde_json::Value;

pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A checked PatchOp request.
#[derive(Debug, Clone)]
pub struct Patch {
    operations: Vec<Operation>,
}

#[derive(Debug, Clone)]
struct Operation {
    kind: Kind,
    target: Option<Target>,
    value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone)]
enum Target {
    DisplayName,
    ExternalId,
    Members,
    /// `members[value eq "u1"]`.
    MembersWhere(Query),
}

impl Patch {
    pub fn from_body(body: &[u8]) -> Result<Self, ScimError> {
        let value = parse_json(body)?;
        let object = value
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
        require_schema(object, PATCH_URN)?;
        let operations = match lookup(object, "Operations") {
            Some(Value::Array(ops)) if !ops.is_empty() => ops,
            _ => {
                return Err(ScimError::invalid_value(
                    "Operations must be an array of one or more operations",
                ));
            }
        };
        let operations = operations
            .iter()
            .map(Operation::parse)
            .collect::<Result<_, _>>()?;
        Ok(Patch { operations })
    }

    /// Applies every operation in order to `group`.
    pub fn apply(&self, group: &mut Group) -> Result<(), ScimError> {
        for op in &self.operations {
            match &op.target {
                Some(target) => apply_one(group, op.kind, target, op.value.as_ref())?,
                None => apply_without_path(group, op.kind, op.value.as_ref())?,
            }
        }
        Ok(())
    }
}

impl Operation {
    fn parse(value: &Value) -> Result<Self, ScimError> {
        let object = value
            .as_object()
            .ok_or_else(|| ScimError::invalid_value("each operation must be a JSON object"))?;
        // Operation names are case-insensitive: Entra sends "Replace" and "Add".
        let kind = match lookup(object, "op").and_then(Value::as_str) {
            Some(op) if op.eq_ignore_ascii_case("add") => Kind::Add,
            Some(op) if op.eq_ignore_ascii_case("remove") => Kind::Remove,
            Some(op) if op.eq_ignore_ascii_case("replace") => Kind::Replace,
            other => {
                return Err(ScimError::invalid_value(format!(
                    "{other:?} is not a PATCH operation: add, remove or replace"
                )));
            }
        };
        let target = match lookup(object, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) => Some(parse_target(path)?),
            Some(_) => return Err(ScimError::invalid_path("path must be a string")),
        };
        let value = lookup(object, "value").filter(|v| !v.is_null()).cloned();
        if kind == Kind::Remove && target.is_none() {
            return Err(ScimError::no_target("remove needs a path"));
        }
        if kind != Kind::Remove && value.is_none() {
            return Err(ScimError::invalid_value("add and replace need a value"));
        }
        Ok(Operation {
            kind,
            target,
            value,
        })
    }
}

fn parse_target(path: &str) -> Result<Target, ScimError> {
    if let Some((attr, rest)) = path.split_once('[') {
        let inner = rest.strip_suffix(']').ok_or_else(|| {
            ScimError::invalid_path(format!("'{path}': only attr[filter] paths are supported"))
        })?;
        if attribute_key(attr) != "members" {
            return Err(ScimError::invalid_path(format!(
                "'{path}': only members accepts a [filter]"
            )));
        }
        let filter =
            filter::parse(inner).map_err(|e| ScimError::invalid_path(format!("'{path}': {e}")))?;
        let query = Query::resolve_member_filter(&filter)
            .map_err(|e| ScimError::invalid_path(format!("'{path}': {e}")))?;
        return Ok(Target::MembersWhere(query));
    }
    match attribute_key(path).as_str() {
        "displayname" => Ok(Target::DisplayName),
        "externalid" => Ok(Target::ExternalId),
        "members" => Ok(Target::Members),
        key if key == "id" || key == "schemas" || key.split('.').next() == Some("meta") => {
            Err(ScimError::mutability(format!("'{path}' is read-only")))
        }
        _ => Err(ScimError::invalid_path(format!(
            "'{path}' is not an attribute of the Group schema that PATCH supports"
        ))),
    }
}

/// Without a path, `value` is an object of attributes to add or replace.
fn apply_without_path(
    group: &mut Group,
    kind: Kind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(Value::Object(attributes)) = value else {
        return Err(ScimError::invalid_value(
            "without a path, value must be an object of attributes",
        ));
    };
    for (key, value) in attributes {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        apply_one(group, kind, &parse_target(key)?, Some(value))?;
    }
    Ok(())
}

fn apply_one(
    group: &mut Group,
    kind: Kind,
    target: &Target,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match (target, kind) {
        (Target::DisplayName, Kind::Remove) => Err(ScimError::mutability(
            "displayName is required and cannot be removed",
        )),
        (Target::DisplayName, _) => {
            group.set_display_name(parse_display_name(value)?);
            Ok(())
        }
        (Target::ExternalId, Kind::Remove) => {
            group.external_id = None;
            Ok(())
        }
        (Target::ExternalId, _) => {
            group.external_id = parse_external_id(value.unwrap_or(&Value::Null))?;
            Ok(())
        }
        (Target::Members, kind) => apply_members(group, kind, value),
        (Target::MembersWhere(query), Kind::Remove) => {
            let keep: Vec<bool> = group
                .members
                .iter()
                .map(|m| !query.matches_member(group, m))
                .collect();
            let mut keep = keep.into_iter();
            group.members.retain(|_| keep.next().unwrap_or(true));
            Ok(())
        }
        (Target::MembersWhere(_), _) => Err(ScimError::invalid_path(
            "a members[filter] path is supported with remove only",
        )),
    }
}

fn apply_members(group: &mut Group, kind: Kind, value: Option<&Value>) -> Result<(), ScimError> {
    let given = match value {
        Some(value) => members_value(value)?,
        None => Vec::new(),
    };
    match kind {
        Kind::Replace => group.members = given,
        Kind::Add => {
            for member in given {
                if !group.members.iter().any(|m| m.value == member.value) {
                    group.members.push(member);
                }
            }
        }
        // Without a value every member goes; with one (as Entra sends it), only those.
        Kind::Remove if value.is_none() => group.members.clear(),
        Kind::Remove => group
            .members
            .retain(|m| !given.iter().any(|g| g.value == m.value)),
    }
    Ok(())
}

/// An array of member objects, or a single one.
fn members_value(value: &Value) -> Result<Vec<Member>, ScimError> {
    match value {
        Value::Array(items) => items.iter().map(Member::from_json).collect(),
        Value::Object(_) => Ok(vec![Member::from_json(value)?]),
        _ => Err(ScimError::invalid_value(
            "members must be an array of objects",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::group::GroupInput;
    use serde_json::json;

    fn group() -> Group {
        let input = GroupInput {
            display_name: "Finance".into(),
            external_id: Some("E1".into()),
            members: vec![],
        };
        Group::new("g".into(), input, "t".into(), 1)
    }

    fn patch(ops: Value) -> Result<Patch, ScimError> {
        let body = json!({"schemas": [PATCH_URN], "Operations": ops});
        Patch::from_body(body.to_string().as_bytes())
    }

    fn run(ops: Value) -> Result<Group, ScimError> {
        let mut g = group();
        patch(ops)?.apply(&mut g)?;
        Ok(g)
    }

    fn values(g: &Group) -> Vec<&str> {
        g.members.iter().map(|m| m.value.as_str()).collect()
    }

    #[test]
    fn replace_add_and_remove_scalars() {
        let g = run(json!([
            {"op": "Replace", "path": "displayName", "value": "Fin2"},
            {"op": "remove", "path": "externalId"},
        ]))
        .unwrap();
        assert_eq!(
            (g.display_name.as_str(), g.folded.as_str()),
            ("Fin2", "fin2")
        );
        assert_eq!(g.external_id, None);
        let g =
            run(json!([{"op": "add", "value": {"externalId": "X", "DISPLAYNAME": "N"}}])).unwrap();
        assert_eq!(
            (g.display_name.as_str(), g.external_id.as_deref()),
            ("N", Some("X"))
        );
    }

    #[test]
    fn members_add_dedupe_replace_and_remove() {
        let g = run(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
            {"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]},
        ]))
        .unwrap();
        assert_eq!(values(&g), ["u1", "u2", "u3"]);
        let g = run(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}, {"value": "u3"}]},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "remove", "path": "members", "value": [{"value": "u3"}]},
        ]))
        .unwrap();
        assert_eq!(values(&g), ["u1"]);
        let g = run(json!([
            {"op": "add", "path": "members", "value": {"value": "u1"}},
            {"op": "replace", "path": "members", "value": [{"value": "u9"}]},
        ]))
        .unwrap();
        assert_eq!(values(&g), ["u9"]);
        let g = run(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "remove", "path": "members"},
        ]))
        .unwrap();
        assert!(g.members.is_empty());
    }

    #[test]
    fn bad_patches_get_scim_types() {
        let cases = [
            (
                json!([{"op": "frob", "path": "externalId"}]),
                "invalidValue",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "displayName"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "remove", "path": "displayName"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "bogus", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": ""}]),
                "invalidValue",
            ),
            (
                json!([{"op": "remove", "path": "members[bogus eq \"x\"]"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"x\""}]),
                "invalidPath",
            ),
            (
                json!([{"op": "add", "path": "members[value eq \"x\"]", "value": {}}]),
                "invalidPath",
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"display": "no value"}]}]),
                "invalidValue",
            ),
            (json!([]), "invalidValue"),
        ];
        for (ops, want) in cases {
            let err = run(ops.clone()).expect_err(&ops.to_string());
            assert_eq!(err.scim_type, Some(want), "{ops}");
        }
        let no_schema =
            Patch::from_body(br#"{"Operations":[{"op":"remove","path":"externalId"}]}"#);
        assert_eq!(no_schema.unwrap_err().scim_type, Some("invalidSyntax"));
    }
}
