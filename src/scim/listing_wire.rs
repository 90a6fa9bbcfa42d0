//! The pages of the full listing, read straight into [`TargetGroup`]s.
//!
//! A page of 500 groups is 180 KB; reading it into JSON values first took longer than the
//! request at a 5 ms latency, and a listing of 90,000 groups is 180 such pages one after
//! another. This reader keeps only `totalResults`, the number of resources and each group's
//! `id`, `displayName` and `externalId`, and skips the rest (`meta`, `schemas`, members)
//! without building it. It reads keys as the lenient reader does ([`super::wire`]): by
//! exact name first, then ignoring ASCII case. Anything else (an `id` that is a number, a
//! key that two fields match ignoring case, any malformed part) makes it give up on the
//! page, which the lenient reader then reads, and which says what is wrong.

use crate::domain::TargetGroup;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// One page of a listing: the total the server announces, how many resources it returned
/// (kept or not), and what was kept of them.
#[derive(Debug, PartialEq)]
pub(super) struct GroupPage<T = TargetGroup> {
    pub total: usize,
    pub returned: usize,
    pub groups: Vec<T>,
}

/// `body` read fast, or `None` when it is anything but a plainly well-formed page.
pub(super) fn group_page(body: &[u8]) -> Option<GroupPage> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = de.deserialize_map(PageVisitor).ok()?;
    de.end().ok()?;
    Some(page)
}

/// Where a field's value came from: its exact name wins over a name equal ignoring case;
/// two of the latter leave the choice to the lenient reader.
struct Slot<T> {
    value: Option<T>,
    exact: bool,
    loose: usize,
}

impl<T> Slot<T> {
    const EMPTY: Slot<T> = Slot {
        value: None,
        exact: false,
        loose: 0,
    };

    fn put(&mut self, value: T, exact: bool) {
        if exact {
            self.value = Some(value);
            self.exact = true;
        } else {
            self.loose += 1;
            if !self.exact {
                self.value = Some(value);
            }
        }
    }

    /// The value, or `Err` when two loose keys compete with no exact one.
    fn take<E: de::Error>(self) -> Result<Option<T>, E> {
        if !self.exact && self.loose > 1 {
            return Err(give_up());
        }
        Ok(self.value)
    }
}

/// Reads a key as which of these fields it names (and whether exactly), without copying it.
struct KeyOf(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyOf {
    type Value = Option<(usize, bool)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyOf {
    type Value = Option<(usize, bool)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().enumerate().find_map(|(i, name)| {
            if key == *name {
                Some((i, true))
            } else {
                key.eq_ignore_ascii_case(name).then_some((i, false))
            }
        }))
    }
}

/// Reads a map's fields named in `names` as JSON values, skipping the others unbuilt.
fn fields<'de, A: MapAccess<'de>, const N: usize>(
    map: &mut A,
    names: &'static [&'static str; N],
) -> Result<[Option<Value>; N], A::Error> {
    let mut slots = [const { Slot::<Value>::EMPTY }; N];
    while let Some(key) = map.next_key_seed(KeyOf(names))? {
        match key {
            Some((i, exact)) => slots[i].put(map.next_value()?, exact),
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    let mut values = [const { None }; N];
    for (value, slot) in values.iter_mut().zip(slots) {
        *value = slot.take()?;
    }
    Ok(values)
}

fn give_up<E: de::Error>() -> E {
    E::custom("left to the lenient reader")
}

struct PageVisitor;

impl<'de> Visitor<'de> for PageVisitor {
    type Value = GroupPage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SCIM ListResponse")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut total, mut resources) = (Slot::<Value>::EMPTY, Slot::<Option<Resources>>::EMPTY);
        while let Some(key) = map.next_key_seed(KeyOf(&["totalResults", "Resources"]))? {
            match key {
                Some((0, exact)) => total.put(map.next_value()?, exact),
                // read as it streams: a page's resources are never built as values
                Some((_, exact)) => resources.put(map.next_value()?, exact),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (total, resources) = (total.take()?, resources.take()?.flatten());
        let returned = resources.as_ref().map_or(0, |r| r.returned);
        let total = match total {
            None | Some(Value::Null) => returned,
            Some(v) => super::wire::lenient_usize(&v).ok_or_else(give_up::<A::Error>)?,
        };
        if total > 0 && resources.is_none() {
            return Err(give_up());
        }
        Ok(GroupPage {
            total,
            returned,
            groups: resources.map(|r| r.groups).unwrap_or_default(),
        })
    }
}

/// The `Resources` array: how many there were, and the groups among them.
struct Resources {
    returned: usize,
    groups: Vec<TargetGroup>,
}

impl<'de> de::Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ResourcesVisitor)
    }
}

struct ResourcesVisitor;

impl<'de> Visitor<'de> for ResourcesVisitor {
    type Value = Resources;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of resources")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut groups = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut returned = 0;
        while let Some(resource) = seq.next_element::<Resource>()? {
            returned += 1;
            if let Resource::Group(g) = resource {
                groups.push(g);
            }
        }
        Ok(Resources { returned, groups })
    }
}

/// One resource: a group, or something the listing skips (no string `displayName`, or not
/// an object at all).
enum Resource {
    Group(TargetGroup),
    Skipped,
}

impl<'de> de::Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ResourceVisitor)
    }
}

struct ResourceVisitor;

impl<'de> Visitor<'de> for ResourceVisitor {
    type Value = Resource;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a resource")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let [id, name, external_id] = fields(&mut map, &["id", "displayName", "externalId"])?;
        let Some(Value::String(display_name)) = name else {
            return Ok(Resource::Skipped);
        };
        // a number as an id, or none the client can use: the lenient reader says which
        let Some(Value::String(id)) = id else {
            return Err(give_up());
        };
        if id.trim().is_empty() {
            return Err(give_up());
        }
        Ok(Resource::Group(TargetGroup {
            id,
            display_name,
            external_id: match external_id {
                Some(Value::String(s)) => Some(s),
                _ => None,
            },
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Resource::Skipped)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Resource::Skipped)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Resource::Skipped)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Resource::Skipped)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Resource::Skipped)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Resource::Skipped)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Resource::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The lenient reader's page, as the listing keeps it.
    fn lenient(body: &[u8]) -> Result<GroupPage, String> {
        super::super::read::listing_page_leniently(body, &http::HeaderMap::new())
            .map_err(|e| e.to_string())
    }

    fn group(id: &str, name: &str, external_id: Option<&str>) -> TargetGroup {
        TargetGroup {
            id: id.into(),
            display_name: name.into(),
            external_id: external_id.map(str::to_owned),
        }
    }

    #[test]
    fn a_plain_page_reads_as_the_lenient_reader_reads_it() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 7,
            "startIndex": 1,
            "itemsPerPage": 3,
            "Resources": [
                {"id": "a", "displayName": "Ops", "externalId": "e-1",
                 "meta": {"resourceType": "Group", "version": "W/\"1\""},
                 "members": [{"value": "u1"}]},
                {"id": "b", "displayName": "Dev \"quoted\" ☃"},
                {"id": "c", "externalId": "no name: skipped"},
                {"id": "d", "displayName": "Loose keys", "externalid": "e-4"}
            ]
        })
        .to_string();
        let fast = group_page(body.as_bytes()).expect("read fast");
        assert_eq!(fast, lenient(body.as_bytes()).unwrap());
        assert_eq!(fast.total, 7);
        assert_eq!(fast.returned, 4);
        assert_eq!(
            fast.groups,
            [
                group("a", "Ops", Some("e-1")),
                group("b", "Dev \"quoted\" ☃", None),
                group("d", "Loose keys", Some("e-4")),
            ]
        );
    }

    #[test]
    fn loose_keys_and_missing_parts_read_as_the_lenient_reader_reads_them() {
        let pages = [
            // a key's case, or the lack of a total or of resources
            json!({"TOTALRESULTS": "2", "resources": [{"ID": "x", "DisplayName": "X"}, 5, [1], null]}),
            json!({"Resources": [{"id": "x", "displayName": "X"}]}),
            json!({"totalResults": 0}),
            json!({"totalResults": null, "Resources": null}),
            // an exact key wins over a loose one, whatever their order
            json!({"totalResults": 1, "Resources": [{"displayname": "loose", "displayName": "exact", "id": "i"}]}),
        ];
        for page in pages {
            let body = page.to_string();
            assert_eq!(
                group_page(body.as_bytes()),
                Some(lenient(body.as_bytes()).unwrap()),
                "{body}"
            );
        }
    }

    #[test]
    fn anything_else_is_given_up_for_the_lenient_reader_to_explain() {
        let pages = [
            json!({"totalResults": 1, "Resources": [{"id": 7, "displayName": "numeric id"}]}),
            json!({"totalResults": 1, "Resources": [{"id": " ", "displayName": "blank id"}]}),
            json!({"totalResults": 1, "Resources": [{"displayName": "no id"}]}),
            json!({"totalResults": 3}),
            json!({"totalResults": "many", "Resources": []}),
            json!({"totalResults": 1, "Resources": {"not": "an array"}}),
            json!({"totalresults": 1, "TotalResults": 2, "Resources": []}),
            json!([1, 2]),
        ];
        for page in pages {
            let body = page.to_string();
            assert_eq!(group_page(body.as_bytes()), None, "{body}");
        }
        assert_eq!(group_page(b"{\"totalResults\": 1, \"Resources\": ["), None);
        assert_eq!(group_page(b"{} trailing"), None);
    }
}
