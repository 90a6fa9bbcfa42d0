//! The tenant's data: sources and the AD groups (entitlements) each one holds, and how
//! they look on the wire (Source and Entitlement objects of the official schemas).

use super::SimSource;
use crate::seed::mix64;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One entitlement of a source: a group, or (on an Entra ID source) a licence or a
/// directory role, which are entitlements but not groups.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub kind: Kind,
    /// The native value when the connector read it from the system (a SCIM group's id);
    /// `None`: derived from the name or the id.
    pub native: Option<String>,
}

/// What an entitlement stands for in the source's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Group,
    Licence,
    Role,
}

/// The licences and directory roles every simulated Entra ID source holds besides its groups.
pub const ENTRA_OTHERS: &[(Kind, &str)] = &[
    (Kind::Licence, "Microsoft 365 E3"),
    (Kind::Licence, "Power BI Pro"),
    (Kind::Role, "Global Reader"),
    (Kind::Role, "User Administrator"),
];

/// Whether a source type is SailPoint's Entra ID connector (named "Azure Active Directory").
pub fn is_entra(source_type: &str) -> bool {
    source_type.starts_with("Azure Active Directory")
}

/// Whether a source type is SailPoint's SCIM 2.0 connector (as the Alation SCIM source is).
pub fn is_scim(source_type: &str) -> bool {
    source_type.starts_with("SCIM")
}

/// The account attribute holding the entitlement, as each connector names it.
pub fn attribute(entry: &SourceEntry, group: &Group) -> &'static str {
    if is_scim(&entry.source.source_type) {
        return "groups";
    }
    match (is_entra(&entry.source.source_type), group.kind) {
        (false, _) => "memberOf",
        (true, Kind::Group) => "groups",
        (true, Kind::Licence) => "assignedLicenses",
        (true, Kind::Role) => "directoryRoles",
    }
}

/// The schema object type the entitlement comes from (`sourceSchemaObjectType`).
pub fn object_type(group: &Group) -> &'static str {
    match group.kind {
        Kind::Group => "group",
        Kind::Licence => "license",
        Kind::Role => "role",
    }
}

/// One source with its groups, keyed by entitlement id so that id order is free.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    pub source: SimSource,
    pub groups: BTreeMap<String, Group>,
}

/// All sources, in the order they were configured.
#[derive(Debug, Default)]
pub struct Catalog {
    pub sources: Vec<SourceEntry>,
}

/// A 64-bit FNV-1a hash of `parts` (separated so `("ab","c")` ≠ `("a","bc")`), mixed.
fn hash(parts: &[&str], salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ salt;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    mix64(h)
}

/// A 32-hex id that depends only on `parts`, like the ids of a real tenant.
pub fn stable_id(parts: &[&str]) -> String {
    format!("{:016x}{:016x}", hash(parts, 1), hash(parts, 2))
}

/// Escapes a name for use as an RDN value in a DN (RFC 4514, as AD writes them).
pub fn dn_escape(name: &str) -> String {
    let last = name.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The group's distinguished name in the simulated directory.
pub fn group_dn(name: &str) -> String {
    format!("CN={},OU=Groups,DC=corp,DC=example,DC=com", dn_escape(name))
}

pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A creation time between 2019 and 2024 fixed by the id, so seeded data reads the same
/// on every run.
fn seeded_time(id: &str) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let offset = hash(&[id], 3) % (5 * 365 * 86_400_000);
    base + chrono::TimeDelta::milliseconds(offset as i64)
}

impl Catalog {
    pub fn new(sources: Vec<SimSource>) -> Catalog {
        let mut catalog = Catalog::default();
        for source in sources {
            if catalog.source(&source.id).is_some() {
                tracing::warn!(source_id = %source.id, "duplicate simulated source ignored");
                continue;
            }
            let mut entry = SourceEntry {
                source: source.clone(),
                groups: BTreeMap::new(),
            };
            let others: &[(Kind, &str)] = if is_entra(&source.source_type) {
                ENTRA_OTHERS
            } else {
                &[]
            };
            let groups = source.groups.iter().map(|n| (Kind::Group, n.as_str()));
            for (kind, name) in groups.chain(others.iter().copied()) {
                let id = stable_id(&[&source.id, name]);
                let t = seeded_time(&id);
                entry.groups.entry(id).or_insert(Group {
                    name: name.to_owned(),
                    created: t,
                    modified: t,
                    kind,
                    native: None,
                });
            }
            catalog.sources.push(entry);
        }
        catalog
    }

    pub fn source(&self, id: &str) -> Option<&SourceEntry> {
        self.sources.iter().find(|s| s.source.id == id)
    }

    fn source_mut(&mut self, id: &str) -> Option<&mut SourceEntry> {
        self.sources.iter_mut().find(|s| s.source.id == id)
    }

    /// Adds a group (a no-op if the source already has it); false if no such source.
    pub fn add_group(&mut self, source_id: &str, name: &str, now: DateTime<Utc>) -> bool {
        let Some(entry) = self.source_mut(source_id) else {
            return false;
        };
        let id = stable_id(&[source_id, name]);
        entry.groups.entry(id).or_insert_with(|| Group {
            name: name.to_owned(),
            created: now,
            modified: now,
            kind: Kind::Group,
            native: None,
        });
        true
    }

    /// What an entitlement aggregation leaves: exactly `groups` (native value, name), the
    /// ones already known keeping their id and creation time; false if no such source.
    pub fn replace_groups(
        &mut self,
        source_id: &str,
        groups: &[(String, String)],
        now: DateTime<Utc>,
    ) -> bool {
        let Some(entry) = self.source_mut(source_id) else {
            return false;
        };
        let mut next = BTreeMap::new();
        for (native, name) in groups {
            let id = stable_id(&[source_id, native]);
            let group = match entry.groups.remove(&id) {
                Some(mut g) if g.name == *name => {
                    g.native = Some(native.clone());
                    g
                }
                Some(mut g) => {
                    g.name = name.clone();
                    g.modified = now;
                    g
                }
                None => Group {
                    name: name.clone(),
                    created: now,
                    modified: now,
                    kind: Kind::Group,
                    native: Some(native.clone()),
                },
            };
            next.insert(id, group);
        }
        entry.groups = next;
        true
    }

    /// What an entitlement aggregation long ago left: `groups` (native value, name) added,
    /// each created at a past time fixed by its id (as [`Catalog::new`] seeds), so that
    /// a later aggregation keeps them and a `created` filter tells them from its new ones.
    /// False if no such source.
    pub fn aggregated_earlier(&mut self, source_id: &str, groups: &[(String, String)]) -> bool {
        let Some(entry) = self.source_mut(source_id) else {
            return false;
        };
        for (native, name) in groups {
            let id = stable_id(&[source_id, native]);
            let t = seeded_time(&id);
            entry.groups.entry(id).or_insert_with(|| Group {
                name: name.clone(),
                created: t,
                modified: t,
                kind: Kind::Group,
                native: Some(native.clone()),
            });
        }
        true
    }

    /// Removes a group; false if the source or the group does not exist.
    pub fn remove_group(&mut self, source_id: &str, name: &str) -> bool {
        self.source_mut(source_id).is_some_and(|e| {
            let before = e.groups.len();
            // by name, not by the id the name gives: a renamed group keeps its first id
            e.groups.retain(|_, g| g.name != name);
            e.groups.len() < before
        })
    }

    /// Renames a group, keeping its entitlement id (as AD keeps a renamed group's
    /// objectGUID); its DN follows the new name. False if the source or the group does not
    /// exist.
    pub fn rename_group(
        &mut self,
        source_id: &str,
        name: &str,
        new_name: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(entry) = self.source_mut(source_id) else {
            return false;
        };
        match entry.groups.values_mut().find(|g| g.name == name) {
            Some(group) => {
                new_name.clone_into(&mut group.name);
                group.modified = now;
                true
            }
            None => false,
        }
    }

    /// The entitlement with this id, in whichever source holds it.
    pub fn entitlement(&self, id: &str) -> Option<(&SourceEntry, &Group)> {
        self.sources
            .iter()
            .find_map(|s| s.groups.get(id).map(|g| (s, g)))
    }
}

/// The connector id a source type maps to ("Active Directory - Direct" → "active-directory").
fn connector(source_type: &str) -> String {
    let base = source_type.split(" - ").next().unwrap_or(source_type);
    base.trim().to_lowercase().replace(' ', "-")
}

/// A Source object with the fields of the official schema (`managerCorrelationMapping` is
/// left out: the schema makes it nullable only inside `allOf`, so `null` would not validate).
pub fn source_json(entry: &SourceEntry) -> Value {
    let s = &entry.source;
    let created = timestamp(&seeded_time(&s.id));
    json!({
        "id": s.id,
        "name": s.name,
        "description": format!("{} (simulated)", s.name),
        "owner": super::wire::owner(&s.id),
        "cluster": {
            "type": "CLUSTER",
            "id": stable_id(&["cluster", &s.id]),
            "name": "Corp VA Cluster",
        },
        "accountCorrelationConfig": null,
        "accountCorrelationRule": null,
        "managerCorrelationRule": null,
        "beforeProvisioningRule": null,
        "schemas": [
            { "type": "CONNECTOR_SCHEMA", "id": stable_id(&["account", &s.id]), "name": "account" },
            { "type": "CONNECTOR_SCHEMA", "id": stable_id(&["group", &s.id]), "name": "group" },
        ],
        "passwordPolicies": null,
        "features": ["DIRECT_PERMISSIONS", "MANAGER_LOOKUP", "SEARCH", "UNLOCK", "ENABLE",
                     "PROVISIONING", "GROUP_PROVISIONING", "AUTHENTICATE"],
        "type": s.source_type,
        "connector": connector(&s.source_type),
        "connectorClass": "sailpoint.connector.ADLDAPConnector",
        "connectorAttributes": { "healthCheckTimeout": 30, "searchDNs": [
            {
                "searchDN": "OU=Groups,DC=corp,DC=example,DC=com",
                "groupMembershipSearchScope": "SUBTREE",
            }
        ] },
        "deleteThreshold": 10,
        "authoritative": false,
        "managementWorkgroup": null,
        "healthy": true,
        "status": "SOURCE_STATE_HEALTHY",
        "since": created,
        "connectorId": connector(&s.source_type),
        "connectorName": s.source_type.split(" - ").next().unwrap_or(&s.source_type),
        "connectionType": "direct",
        "connectorImplementationId": connector(&s.source_type),
        "created": created,
        "modified": created,
        "credentialProviderEnabled": false,
        "category": null,
    })
}

/// The group's `objectGUID`, derived from its entitlement id.
pub fn guid(id: &str) -> uuid::Uuid {
    uuid::Uuid::from_u128(u128::from_str_radix(id, 16).unwrap_or(0))
}

/// The entitlement's native value: the DN on AD, the object id on Entra ID.
pub fn native_value(entry: &SourceEntry, id: &str, group: &Group) -> String {
    if let Some(native) = &group.native {
        native.clone()
    } else if is_entra(&entry.source.source_type) {
        guid(id).to_string()
    } else {
        group_dn(&group.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_values_are_escaped_like_ad_does() {
        assert_eq!(
            group_dn("Sales EMEA"),
            "CN=Sales EMEA,OU=Groups,DC=corp,DC=example,DC=com"
        );
        assert_eq!(
            dn_escape(r#"R&D, "A"+B=C; <x>\y"#),
            r#"R&D\, \"A\"\+B\=C\; \<x\>\\y"#
        );
        assert_eq!(dn_escape(" #1 pad "), r"\ #1 pad\ ");
        assert_eq!(dn_escape("#lead"), r"\#lead");
        assert_eq!(dn_escape("a\tb"), r"a\09b");
        assert_eq!(dn_escape("Équipe"), "Équipe");
    }

    #[test]
    fn ids_are_stable_hex_and_tell_names_apart() {
        let a = stable_id(&["src", "Finance"]);
        assert_eq!(a, stable_id(&["src", "Finance"]));
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, stable_id(&["src", "FINANCE"]));
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
    }

    #[test]
    fn groups_are_added_once_and_removed() {
        let src = SimSource::active_directory("s1", "AD", vec!["A".into(), "A".into()]);
        let mut c = Catalog::new(vec![src.clone(), src]);
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].groups.len(), 1);
        let now = Utc::now();
        assert!(c.add_group("s1", "B", now));
        assert!(c.add_group("s1", "B", now));
        assert!(!c.add_group("nope", "B", now));
        assert_eq!(c.sources[0].groups.len(), 2);
        assert!(c.remove_group("s1", "A"));
        assert!(!c.remove_group("s1", "A"));
        assert_eq!(connector("Active Directory - Direct"), "active-directory");
    }
}
