//! The Group resource: how it is held, how it is written as JSON, and how a POST or PUT
//! body is checked (RFC 7643 §4.2, §8.7.1).

use super::error::ScimError;
use super::list::Projection;
use super::view::{GroupView, Shape};
use crate::names::fold_case;
use serde_json::{Map, Value};

pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// One element of `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub display: Option<String>,
    /// The `type` sub-attribute (`User` or `Group`).
    pub kind: Option<String>,
    /// The `$ref` sub-attribute.
    pub reference: Option<String>,
}

/// A stored group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    /// `fold_case(display_name)`, kept so that filters and the uniqueness check do not
    /// fold every group's name on every request.
    pub folded: String,
    pub external_id: Option<String>,
    pub members: Vec<Member>,
    pub created: String,
    pub last_modified: String,
    /// Bumped on every change; the ETag is `W/"<version>"`.
    pub version: u64,
}

/// What a client may set: the body of a POST or a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<Member>,
}

impl Group {
    pub fn new(id: String, input: GroupInput, now: String, version: u64) -> Self {
        Group {
            id,
            folded: fold_case(&input.display_name),
            display_name: input.display_name,
            external_id: input.external_id,
            members: input.members,
            created: now.clone(),
            last_modified: now,
            version,
        }
    }

    /// Replaces what a client may set (PUT), keeping id and creation time.
    pub fn replace(&mut self, input: GroupInput) {
        self.set_display_name(input.display_name);
        self.external_id = input.external_id;
        self.members = input.members;
    }

    pub fn set_display_name(&mut self, name: String) {
        self.folded = fold_case(&name);
        self.display_name = name;
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    /// `base` is the service root, e.g. `http://127.0.0.1:8080/scim/v2`.
    pub fn location(&self, base: &str) -> String {
        format!("{base}/Groups/{}", self.id)
    }

    /// The full representation; `members` is left out while empty, as scim2-server does.
    pub fn to_json(&self, base: &str) -> Value {
        let all = Projection::All;
        let shape = Shape::of(&all);
        serde_json::to_value(GroupView::new(self, base, &shape))
            .expect("a group is always representable as JSON")
    }
}

impl Member {
    /// One member object; `value` is required, unknown sub-attributes are ignored.
    pub fn from_json(value: &Value) -> Result<Self, ScimError> {
        let object = value
            .as_object()
            .ok_or_else(|| ScimError::invalid_value("each member must be a JSON object"))?;
        let field = |name: &str| -> Result<Option<String>, ScimError> {
            match lookup(object, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "members.{name} must be a string"
                ))),
            }
        };
        let value = field("value")?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ScimError::invalid_value("each member needs a non-empty 'value'"))?;
        Ok(Member {
            value,
            display: field("display")?,
            kind: field("type")?,
            reference: field("$ref")?,
        })
    }
}

impl GroupInput {
    /// Checks a POST/PUT body: JSON object, Group schema listed, non-empty `displayName`.
    /// `id` and `meta` are read-only and ignored (RFC 7644 §3.3); other unknown
    /// attributes are refused, as scim2-server does, so client typos show up.
    pub fn from_body(body: &[u8]) -> Result<Self, ScimError> {
        let value = parse_json(body)?;
        let object = value
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
        require_schema(object, GROUP_URN)?;
        let mut display_name = None;
        let mut external_id = None;
        let mut members = Vec::new();
        for (key, value) in object {
            match attribute_key(key).as_str() {
                "schemas" | "id" | "meta" => {}
                "displayname" => display_name = Some(value),
                "externalid" => external_id = parse_external_id(value)?,
                "members" => members = parse_members(value)?,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "'{key}' is not an attribute of the Group schema"
                    )));
                }
            }
        }
        Ok(GroupInput {
            display_name: parse_display_name(display_name)?,
            external_id,
            members,
        })
    }
}

/// Parses a request body, turning a syntax error into 400 `invalidSyntax`.
pub fn parse_json(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

/// `schemas` must be an array of strings holding `urn` (compared ignoring ASCII case).
pub fn require_schema(object: &Map<String, Value>, urn: &str) -> Result<(), ScimError> {
    let missing = || ScimError::invalid_syntax(format!("schemas must contain '{urn}'"));
    let schemas = match lookup(object, "schemas") {
        None => return Err(missing()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ScimError::invalid_value(
                "schemas must be an array of strings",
            ));
        }
    };
    let mut found = false;
    for item in schemas {
        let item = item
            .as_str()
            .ok_or_else(|| ScimError::invalid_value("schemas must be an array of strings"))?;
        found |= item.eq_ignore_ascii_case(urn);
    }
    if found { Ok(()) } else { Err(missing()) }
}

/// An attribute name as compared: lower case, without the Group schema URN prefix.
pub fn attribute_key(key: &str) -> String {
    let lower = key.to_lowercase();
    let prefix = format!("{}:", GROUP_URN.to_lowercase());
    match lower.strip_prefix(&prefix) {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// A member of a JSON object, its name compared ignoring case (RFC 7643 §2.1).
pub fn lookup<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

pub fn parse_display_name(value: Option<&Value>) -> Result<String, ScimError> {
    match value {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(ScimError::invalid_value(
            "displayName is required and must not be missing, null or empty",
        )),
        Some(_) => Err(ScimError::invalid_value("displayName must be a string")),
    }
}

pub fn parse_external_id(value: &Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(id) => Ok(Some(id.clone())),
        _ => Err(ScimError::invalid_value("externalId must be a string")),
    }
}

/// `members` as an array of member objects (null is no members).
pub fn parse_members(value: &Value) -> Result<Vec<Member>, ScimError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(Member::from_json).collect(),
        _ => Err(ScimError::invalid_value("members must be an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: &str) -> Result<GroupInput, ScimError> {
        GroupInput::from_body(body.as_bytes())
    }

    fn scim_type(body: &str) -> Option<&'static str> {
        input(body).unwrap_err().scim_type
    }

    #[test]
    fn a_minimal_body_is_accepted() {
        let got = input(&format!(
            r#"{{"schemas":["{GROUP_URN}"],"displayName":"Finance"}}"#
        ))
        .unwrap();
        assert_eq!(got.display_name, "Finance");
        assert_eq!(got.external_id, None);
        assert!(got.members.is_empty());
    }

    #[test]
    fn attribute_names_ignore_case_and_read_only_ones_are_ignored() {
        let got = input(&format!(
            r#"{{"SCHEMAS":["{GROUP_URN}"],"DisplayName":"A","EXTERNALID":"e","id":"mine",
                "meta":{{"resourceType":"Group"}},"members":[{{"value":"u1","display":"U"}}]}}"#
        ))
        .unwrap();
        assert_eq!(got.display_name, "A");
        assert_eq!(got.external_id.as_deref(), Some("e"));
        assert_eq!(got.members[0].value, "u1");
        assert_eq!(got.members[0].display.as_deref(), Some("U"));
    }

    #[test]
    fn bad_bodies_get_the_scim_type_scim2_server_uses() {
        let g = GROUP_URN;
        assert_eq!(scim_type("{bad"), Some("invalidSyntax"));
        assert_eq!(scim_type("[1]"), Some("invalidSyntax"));
        assert_eq!(scim_type(r#"{"displayName":"x"}"#), Some("invalidSyntax"));
        let user =
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"x"}"#;
        assert_eq!(scim_type(user), Some("invalidSyntax"));
        let text = format!(r#"{{"schemas":"{g}","displayName":"x"}}"#);
        assert_eq!(scim_type(&text), Some("invalidValue"));
        for name in ["", "   ", "null"] {
            let body = if name == "null" {
                format!(r#"{{"schemas":["{g}"],"displayName":null}}"#)
            } else {
                format!(r#"{{"schemas":["{g}"],"displayName":"{name}"}}"#)
            };
            assert_eq!(scim_type(&body), Some("invalidValue"), "{body}");
        }
        assert_eq!(
            scim_type(&format!(r#"{{"schemas":["{g}"]}}"#)),
            Some("invalidValue")
        );
        let number = format!(r#"{{"schemas":["{g}"],"displayName":5}}"#);
        assert_eq!(scim_type(&number), Some("invalidValue"));
        let extra = format!(r#"{{"schemas":["{g}"],"displayName":"x","bogus":1}}"#);
        assert!(input(&extra).unwrap_err().detail.contains("bogus"));
        let member = format!(r#"{{"schemas":["{g}"],"displayName":"x","members":[{{}}]}}"#);
        assert_eq!(scim_type(&member), Some("invalidValue"));
    }

    #[test]
    fn json_leaves_out_what_is_absent() {
        let input = GroupInput {
            display_name: "Finance".into(),
            external_id: None,
            members: vec![],
        };
        let group = Group::new("g1".into(), input, "2026-01-01T00:00:00.000Z".into(), 7);
        let json = group.to_json("http://h/scim/v2");
        assert_eq!(json["meta"]["location"], "http://h/scim/v2/Groups/g1");
        assert_eq!(json["meta"]["version"], "W/\"7\"");
        assert!(json.get("externalId").is_none());
        assert!(json.get("members").is_none());
        assert_eq!(group.folded, "finance");
    }
}
