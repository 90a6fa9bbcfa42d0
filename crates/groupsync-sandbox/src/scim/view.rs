//! A Group written straight into a response body, trimmed to the request's projection.
//!
//! Building each group of a page as a `serde_json::Value` and then trimming it cost many
//! small allocations per group, which showed in every latency measurement against the
//! sandbox. The projection is decided once per request ([`Shape`]) and the group's fields
//! are written from the stored group. Keys are written in sorted order, the order a
//! `serde_json::Value` object writes them, so the bytes are those of the Value as well.

use super::group::{GROUP_URN, Group, Member};
use super::list::{Keep, Projection};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

/// What a projection leaves of a group's attributes (`id`, `schemas` and `meta` are
/// always returned).
#[derive(Debug)]
pub struct Shape<'p> {
    display_name: bool,
    external_id: bool,
    members: Keep<'p>,
}

impl<'p> Shape<'p> {
    pub fn of(projection: &'p Projection) -> Shape<'p> {
        // `displayName` and `externalId` are strings: naming a sub-attribute of one
        // trims nothing, so only a drop leaves them out.
        Shape {
            display_name: !matches!(projection.keep("displayname"), Keep::Drop),
            external_id: !matches!(projection.keep("externalid"), Keep::Drop),
            members: projection.keep("members"),
        }
    }
}

/// A group as written for one request.
pub struct GroupView<'a> {
    group: &'a Group,
    base: &'a str,
    shape: &'a Shape<'a>,
}

impl<'a> GroupView<'a> {
    /// `base` is the service root, for `meta.location`.
    pub fn new(group: &'a Group, base: &'a str, shape: &'a Shape<'a>) -> Self {
        GroupView { group, base, shape }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    created: &'a str,
    last_modified: &'a str,
    location: String,
    resource_type: &'static str,
    version: String,
}

impl Serialize for GroupView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let g = self.group;
        let mut map = serializer.serialize_map(None)?;
        if self.shape.display_name {
            map.serialize_entry("displayName", &g.display_name)?;
        }
        if let Some(external_id) = g.external_id.as_ref().filter(|_| self.shape.external_id) {
            map.serialize_entry("externalId", external_id)?;
        }
        map.serialize_entry("id", &g.id)?;
        // left out while empty, as scim2-server does
        if !g.members.is_empty() && !matches!(self.shape.members, Keep::Drop) {
            let members = Members {
                members: &g.members,
                keep: &self.shape.members,
            };
            map.serialize_entry("members", &members)?;
        }
        let meta = Meta {
            created: &g.created,
            last_modified: &g.last_modified,
            location: g.location(self.base),
            resource_type: "Group",
            version: g.etag(),
        };
        map.serialize_entry("meta", &meta)?;
        map.serialize_entry("schemas", &[GROUP_URN])?;
        map.end()
    }
}

/// `members`, each trimmed to the sub-attributes asked for.
struct Members<'a> {
    members: &'a [Member],
    keep: &'a Keep<'a>,
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.members.len()))?;
        for member in self.members {
            seq.serialize_element(&MemberView {
                member,
                keep: self.keep,
            })?;
        }
        seq.end()
    }
}

struct MemberView<'a> {
    member: &'a Member,
    keep: &'a Keep<'a>,
}

impl Serialize for MemberView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.member;
        let fields = [
            ("$ref", m.reference.as_deref()),
            ("display", m.display.as_deref()),
            ("type", m.kind.as_deref()),
            ("value", Some(m.value.as_str())),
        ];
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in fields {
            if let Some(value) = value.filter(|_| self.keep.keeps_sub(key)) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::super::group::GroupInput;
    use super::super::list::list_response;
    use super::*;
    use serde_json::{Map, Value, json};

    /// A group as it was built before [`GroupView`], as a `Value`.
    fn reference_json(group: &Group, base: &str) -> Value {
        let mut body = json!({
            "schemas": [GROUP_URN],
            "id": group.id,
            "displayName": group.display_name,
            "meta": {
                "resourceType": "Group",
                "created": group.created,
                "lastModified": group.last_modified,
                "location": group.location(base),
                "version": group.etag(),
            },
        });
        if let Some(external_id) = &group.external_id {
            body["externalId"] = external_id.as_str().into();
        }
        if !group.members.is_empty() {
            body["members"] = group.members.iter().map(reference_member).collect();
        }
        body
    }

    /// A member as it was built before [`GroupView`].
    fn reference_member(member: &Member) -> Value {
        let mut object = Map::new();
        object.insert("value".into(), member.value.as_str().into());
        let optional = [
            ("display", &member.display),
            ("type", &member.kind),
            ("$ref", &member.reference),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                object.insert(key.into(), value.as_str().into());
            }
        }
        Value::Object(object)
    }

    fn groups() -> Vec<Group> {
        let member = |value: &str, display: Option<&str>, kind: Option<&str>| Member {
            value: value.into(),
            display: display.map(Into::into),
            kind: kind.map(Into::into),
            reference: Some(format!("http://h/scim/v2/Users/{value}")),
        };
        let input = |name: &str, external_id: Option<&str>, members| GroupInput {
            display_name: name.into(),
            external_id: external_id.map(Into::into),
            members,
        };
        let at = "2026-01-01T00:00:00.000Z".to_owned();
        vec![
            Group::new("g1".into(), input("Finance", None, vec![]), at.clone(), 1),
            Group::new(
                "g2".into(),
                input("R&D \"Labs\"", Some("x-2"), vec![]),
                at.clone(),
                2,
            ),
            Group::new(
                "g3".into(),
                input(
                    "Sales",
                    Some("x-3"),
                    vec![
                        member("u1", Some("Ann"), Some("User")),
                        Member {
                            value: "u2".into(),
                            display: None,
                            kind: None,
                            reference: None,
                        },
                    ],
                ),
                at,
                3,
            ),
        ]
    }

    #[test]
    fn views_write_what_the_trimmed_value_did() {
        let queries = [
            "",
            "attributes=displayName,externalId",
            "attributes=DISPLAYNAME,bogus",
            "attributes=urn:ietf:params:scim:schemas:core:2.0:Group:externalId",
            "attributes=members.value",
            "attributes=members.display,members.$ref,displayName.x",
            "attributes=members,members.value",
            "attributes=id,meta.version",
            "excludedAttributes=members",
            "excludedAttributes=members.display,externalId",
            "excludedAttributes=members.value,members.type,members.$ref,members.display",
            "excludedAttributes=displayName,id,meta,schemas,displayName.x",
            "excludedAttributes=MEMBERS.Display",
        ];
        let base = "http://h/scim/v2";
        for query in queries {
            let projection = Projection::from_query(Some(query)).unwrap();
            let shape = Shape::of(&projection);
            for group in &groups() {
                let typed = serde_json::to_string(&GroupView::new(group, base, &shape)).unwrap();
                let reference = projection.apply(reference_json(group, base));
                let parsed: Value = serde_json::from_str(&typed).unwrap();
                assert_eq!(parsed, reference, "{query}: {}", group.id);
                assert_eq!(typed, reference.to_string(), "{query}: same bytes too");
            }
        }
    }

    #[test]
    fn a_list_page_writes_what_the_value_did() {
        let projection = Projection::from_query(Some("attributes=displayName")).unwrap();
        let shape = Shape::of(&projection);
        let groups = groups();
        let views: Vec<GroupView<'_>> = groups
            .iter()
            .map(|g| GroupView::new(g, "http://h", &shape))
            .collect();
        let typed = serde_json::to_string(&list_response(7, 2, views)).unwrap();
        let resources: Vec<Value> = groups
            .iter()
            .map(|g| projection.apply(reference_json(g, "http://h")))
            .collect();
        let reference = json!({
            "schemas": [super::super::list::LIST_URN],
            "totalResults": 7,
            "startIndex": 2,
            "itemsPerPage": 3,
            "Resources": resources,
        });
        assert_eq!(typed, reference.to_string());
    }
}
