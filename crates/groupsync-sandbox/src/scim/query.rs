//! A parsed filter resolved against the Group schema, then matched against groups.
//!
//! Resolving once per request does the schema work (unknown attribute, wrong value type,
//! case folding of the operand) up front, so matching thousands of groups is cheap.
//! Case rules are those of RFC 7643 §8.7.1 and scim2-server: `displayName`,
//! `members.display` and `members.type` ignore case (through [`fold_case`]); `id`,
//! `externalId`, `members.value`, `members.$ref` and `meta.*` compare exactly.

use super::error::ScimError;
use super::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use super::group::{GROUP_URN, Group, Member};
use crate::names::fold_case;
use std::borrow::Cow;

/// An attribute of a Group, or of one of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    Schemas,
    Id,
    ExternalId,
    DisplayName,
    Meta,
    ResourceType,
    Created,
    LastModified,
    Location,
    Version,
    Members,
    Member(MemberAttr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAttr {
    Value,
    Display,
    Type,
    Ref,
}

/// A filter whose paths are known attributes; string operands are already folded when
/// the attribute ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Compare {
        attr: Attr,
        op: CompareOp,
        operand: Option<String>,
    },
    Present(Attr),
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
    Not(Box<Query>),
    /// `members[...]`: the inner query holds for at least one member.
    AnyMember(Box<Query>),
    /// A comparison that cannot hold (or, with `ne`, cannot fail).
    Constant(bool),
}

impl Attr {
    fn ignores_case(self) -> bool {
        matches!(
            self,
            Attr::DisplayName | Attr::Member(MemberAttr::Display | MemberAttr::Type)
        )
    }

    fn is_complex(self) -> bool {
        matches!(self, Attr::Meta | Attr::Members)
    }
}

impl Query {
    /// Parses and resolves a `filter` parameter; every problem is 400 `invalidFilter`.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let filter = filter::parse(text).map_err(|e| ScimError::invalid_filter(e.to_string()))?;
        Self::resolve(&filter, Scope::Group).map_err(ScimError::invalid_filter)
    }

    /// Resolves a filter written inside `members[...]`.
    pub fn resolve_member_filter(filter: &Filter) -> Result<Self, String> {
        Self::resolve(filter, Scope::Member)
    }

    fn resolve(filter: &Filter, scope: Scope) -> Result<Self, String> {
        let both = |a: &Filter, b: &Filter| -> Result<(Box<Query>, Box<Query>), String> {
            Ok((
                Box::new(Self::resolve(a, scope)?),
                Box::new(Self::resolve(b, scope)?),
            ))
        };
        Ok(match filter {
            Filter::And(a, b) => both(a, b).map(|(a, b)| Query::And(a, b))?,
            Filter::Or(a, b) => both(a, b).map(|(a, b)| Query::Or(a, b))?,
            Filter::Not(inner) => Query::Not(Box::new(Self::resolve(inner, scope)?)),
            Filter::Present(path) => Query::Present(scope.attr(path)?),
            Filter::Compare { path, op, value } => compare(scope.attr(path)?, *op, value)?,
            Filter::ValuePath { path, filter } => {
                if scope == Scope::Member || scope.attr(path)? != Attr::Members {
                    return Err(format!(
                        "only members accepts a [filter], not '{}'",
                        path.name
                    ));
                }
                Query::AnyMember(Box::new(Self::resolve(filter, Scope::Member)?))
            }
        })
    }

    /// Does this group match? `base` is the service root, for `meta.location`.
    pub fn matches(&self, group: &Group, base: &str) -> bool {
        self.eval(group, None, base)
    }

    /// Does this member match a query resolved with [`Query::resolve_member_filter`]?
    pub fn matches_member(&self, group: &Group, member: &Member) -> bool {
        self.eval(group, Some(member), "")
    }

    fn eval(&self, group: &Group, member: Option<&Member>, base: &str) -> bool {
        match self {
            Query::And(a, b) => a.eval(group, member, base) && b.eval(group, member, base),
            Query::Or(a, b) => a.eval(group, member, base) || b.eval(group, member, base),
            Query::Not(inner) => !inner.eval(group, member, base),
            Query::Present(attr) => values(group, member, *attr, base)
                .iter()
                .any(|v| !v.is_empty()),
            Query::Compare { attr, op, operand } => {
                let values = values(group, member, *attr, base);
                compare_values(&values, *op, operand.as_deref())
            }
            Query::AnyMember(inner) => group
                .members
                .iter()
                .any(|m| inner.eval(group, Some(m), base)),
            Query::Constant(value) => *value,
        }
    }
}

/// Where names are looked up: at the top of a Group, or inside `members[...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Group,
    Member,
}

impl Scope {
    fn attr(self, path: &AttrPath) -> Result<Attr, String> {
        let not_found = || format!("unknown attribute '{}'", display_path(path));
        if let Some(uri) = &path.uri
            && !uri.eq_ignore_ascii_case(GROUP_URN)
        {
            return Err(format!("unknown schema '{uri}'"));
        }
        let name = path.name.to_ascii_lowercase();
        let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
        if self == Scope::Member {
            return match sub {
                None => member_attr(&name).map(Attr::Member).ok_or_else(not_found),
                Some(_) => Err(not_found()),
            };
        }
        match (name.as_str(), sub.as_deref()) {
            ("schemas", None) => Ok(Attr::Schemas),
            ("id", None) => Ok(Attr::Id),
            ("externalid", None) => Ok(Attr::ExternalId),
            ("displayname", None) => Ok(Attr::DisplayName),
            ("meta", None) => Ok(Attr::Meta),
            ("meta", Some("resourcetype")) => Ok(Attr::ResourceType),
            ("meta", Some("created")) => Ok(Attr::Created),
            ("meta", Some("lastmodified")) => Ok(Attr::LastModified),
            ("meta", Some("location")) => Ok(Attr::Location),
            ("meta", Some("version")) => Ok(Attr::Version),
            ("members", None) => Ok(Attr::Members),
            ("members", Some(sub)) => member_attr(sub).map(Attr::Member).ok_or_else(not_found),
            _ => Err(not_found()),
        }
    }
}

fn member_attr(name: &str) -> Option<MemberAttr> {
    Some(match name {
        "value" => MemberAttr::Value,
        "display" => MemberAttr::Display,
        "type" => MemberAttr::Type,
        "$ref" => MemberAttr::Ref,
        _ => return None,
    })
}

fn display_path(path: &AttrPath) -> String {
    match &path.sub {
        Some(sub) => format!("{}.{sub}", path.name),
        None => path.name.clone(),
    }
}

/// Every simple attribute here is a string: other JSON values are refused, as
/// scim2-server does, and `null` is accepted only with `eq`/`ne` (absent / present).
/// A complex attribute (`meta`, `members`) equals no value, as in scim2-server.
fn compare(attr: Attr, op: CompareOp, value: &CompValue) -> Result<Query, String> {
    if attr.is_complex() {
        return Ok(Query::Constant(op == CompareOp::Ne));
    }
    let operand = match value {
        CompValue::Str(s) if attr.ignores_case() => Some(fold_case(s)),
        CompValue::Str(s) => Some(s.clone()),
        CompValue::Null if matches!(op, CompareOp::Eq | CompareOp::Ne) => None,
        other => {
            return Err(format!(
                "value {other:?} is not valid for a string attribute"
            ));
        }
    };
    Ok(Query::Compare { attr, op, operand })
}

/// The values of `attr` on `group` (or on `member` inside `members[...]`), folded when
/// the attribute ignores case.
fn values<'a>(
    group: &'a Group,
    member: Option<&'a Member>,
    attr: Attr,
    base: &str,
) -> Vec<Cow<'a, str>> {
    let one = |v: &'a str| vec![Cow::Borrowed(v)];
    match attr {
        Attr::Schemas => one(GROUP_URN),
        Attr::Id => one(&group.id),
        Attr::ExternalId => group
            .external_id
            .iter()
            .map(|v| Cow::Borrowed(v.as_str()))
            .collect(),
        Attr::DisplayName => one(&group.folded),
        Attr::ResourceType | Attr::Meta => one("Group"),
        Attr::Created => one(&group.created),
        Attr::LastModified => one(&group.last_modified),
        Attr::Location => vec![Cow::Owned(group.location(base))],
        Attr::Version => vec![Cow::Owned(group.etag())],
        Attr::Members => group
            .members
            .iter()
            .map(|m| Cow::Borrowed(m.value.as_str()))
            .collect(),
        Attr::Member(field) => match member {
            Some(m) => member_value(m, field).into_iter().collect(),
            None => group
                .members
                .iter()
                .filter_map(|m| member_value(m, field))
                .collect(),
        },
    }
}

fn member_value(member: &Member, field: MemberAttr) -> Option<Cow<'_, str>> {
    let raw = match field {
        MemberAttr::Value => Some(&member.value),
        MemberAttr::Display => member.display.as_ref(),
        MemberAttr::Type => member.kind.as_ref(),
        MemberAttr::Ref => member.reference.as_ref(),
    }?;
    let attr = Attr::Member(field);
    Some(if attr.ignores_case() {
        Cow::Owned(fold_case(raw))
    } else {
        Cow::Borrowed(raw.as_str())
    })
}

/// `ne` is "no value equals"; every other operator is "some value satisfies it".
/// An absent attribute equals `null` and nothing else.
fn compare_values(values: &[Cow<'_, str>], op: CompareOp, operand: Option<&str>) -> bool {
    let Some(operand) = operand else {
        return (op == CompareOp::Eq) == values.is_empty();
    };
    let hit = |v: &Cow<'_, str>| {
        let v = v.as_ref();
        match op {
            CompareOp::Eq | CompareOp::Ne => v == operand,
            CompareOp::Co => v.contains(operand),
            CompareOp::Sw => v.starts_with(operand),
            CompareOp::Ew => v.ends_with(operand),
            CompareOp::Gt => v > operand,
            CompareOp::Ge => v >= operand,
            CompareOp::Lt => v < operand,
            CompareOp::Le => v <= operand,
        }
    };
    let any = values.iter().any(hit);
    if op == CompareOp::Ne { !any } else { any }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::group::GroupInput;

    fn group(id: &str, name: &str, external_id: Option<&str>, members: &[&str]) -> Group {
        let members = members
            .iter()
            .map(|v| Member {
                value: (*v).into(),
                display: Some(v.to_uppercase()),
                kind: Some("User".into()),
                reference: None,
            })
            .collect();
        let input = GroupInput {
            display_name: name.into(),
            external_id: external_id.map(Into::into),
            members,
        };
        Group::new(id.into(), input, "2026-05-01T10:00:00.000Z".into(), 1)
    }

    fn sample() -> Vec<Group> {
        vec![
            group("1", "Finance", Some("E1"), &["u1", "u2"]),
            group("2", "FINANCE", None, &[]),
            group("3", "Équipe Ventes", Some("e1"), &["u3"]),
            group("4", "R&D \"Core\" \\ Ops", None, &[]),
        ]
    }

    fn ids(filter: &str) -> Vec<String> {
        let query = Query::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        sample()
            .iter()
            .filter(|g| query.matches(g, "http://h/scim/v2"))
            .map(|g| g.id.clone())
            .collect()
    }

    #[test]
    fn display_name_ignores_case_and_external_id_does_not() {
        assert_eq!(ids(r#"displayName eq "finance""#), ["1", "2"]);
        assert_eq!(ids(r#"DisplayName EQ "FiNaNcE""#), ["1", "2"]);
        assert_eq!(ids(r#"displayName eq "ÉQUIPE VENTES""#), ["3"]);
        assert_eq!(ids(r#"externalId eq "E1""#), ["1"]);
        assert_eq!(ids(r#"externalId eq "e1""#), ["3"]);
        assert_eq!(ids(r#"id eq "1""#), ["1"]);
        let literal = serde_json::to_string("R&D \"Core\" \\ Ops").unwrap();
        assert_eq!(ids(&format!("displayName eq {literal}")), ["4"]);
    }

    #[test]
    fn operators_and_logic() {
        assert_eq!(ids(r#"displayName co "NAN""#), ["1", "2"]);
        assert_eq!(ids(r#"displayName sw "équipe""#), ["3"]);
        assert_eq!(ids(r#"displayName ew "OPS""#), ["4"]);
        assert_eq!(ids(r#"displayName ne "finance""#), ["3", "4"]);
        assert_eq!(ids("externalId pr"), ["1", "3"]);
        assert_eq!(ids("externalId eq null"), ["2", "4"]);
        assert_eq!(ids("externalId ne null"), ["1", "3"]);
        assert_eq!(ids(r#"externalId ne "E1""#), ["2", "3", "4"]);
        assert_eq!(ids(r#"displayName eq "finance" and externalId pr"#), ["1"]);
        assert_eq!(ids(r#"externalId eq "e1" or id eq "4""#), ["3", "4"]);
        assert_eq!(ids(r#"not (displayName eq "finance")"#), ["3", "4"]);
        assert_eq!(ids(r#"meta.resourceType eq "Group""#), ["1", "2", "3", "4"]);
        assert_eq!(ids(r#"meta.created lt "2027""#), ["1", "2", "3", "4"]);
        assert_eq!(ids(r#"meta.location ew "/Groups/2""#), ["2"]);
        assert_eq!(
            ids(&format!("schemas eq {GROUP_URN:?}")),
            ["1", "2", "3", "4"]
        );
        assert_eq!(ids(r#"meta eq "Group""#), Vec::<String>::new());
        assert_eq!(ids(r#"members ne "u1""#), ["1", "2", "3", "4"]);
        assert_eq!(
            ids(r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "finance""#),
            ["1", "2"]
        );
    }

    #[test]
    fn members_can_be_filtered() {
        assert_eq!(ids("members pr"), ["1", "3"]);
        assert_eq!(ids(r#"members.value eq "u2""#), ["1"]);
        assert_eq!(ids(r#"members[value eq "u3"]"#), ["3"]);
        assert_eq!(ids(r#"members[display eq "u3" and type eq "user"]"#), ["3"]);
        assert_eq!(ids(r#"members[value eq "U3"]"#), Vec::<String>::new());
    }

    #[test]
    fn schema_errors_are_invalid_filter() {
        for filter in [
            r#"foo eq "x""#,
            r#"meta.bogus eq "x""#,
            "displayName eq true",
            "displayName eq 5",
            r#"displayName co null"#,
            r#"displayName[value eq "x"]"#,
            r#"members[members[value eq "x"]]"#,
            r#"urn:other:displayName eq "x""#,
            r#"displayName eq "unterminated"#,
        ] {
            let err = Query::parse(filter).expect_err(filter);
            assert_eq!(err.scim_type, Some("invalidFilter"), "{filter}");
            assert_eq!(err.status.as_u16(), 400);
        }
    }
}
