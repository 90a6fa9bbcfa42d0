//! The plan stage: a pure function from the source's groups and what the target holds
//! to one action per group. No I/O happens here, so every rule is unit-tested directly.
//!
//! Screening (empty names, names the target cannot hold, case twins) needs only the source
//! list; [`candidates`] tells the pipeline which names are worth a target lookup, and
//! [`plan`] then decides with the lookup results in hand.
//!
//! Case twins (names equal ignoring case) are treated as the IdentityNow Workflow treats
//! them: the first by entitlement id is created or found, and the others are found existing
//! under its name ([`Action::Twin`]). Nothing is skipped for case alone.

use crate::domain::{SourceGroup, TargetGroup, fold_name};
use crate::report::SkipReason;
use crate::scim::ScimError;
use std::collections::HashMap;
use std::sync::Arc;

/// The rules the plan applies (from `[sync]`).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// `sync.max_name_length`; `None`: no cap (the target's own refusal is reported).
    pub max_name_length: Option<usize>,
}

/// Names the target refused (400) in an earlier run, keyed by entitlement id and name,
/// with the target's detail: they are not sent again until the name changes.
pub type Refused = HashMap<(String, String), String>;

/// What the target said about one name: the groups it holds under it (case-insensitive),
/// or why it could not be asked.
pub type Lookup = Result<Vec<TargetGroup>, LookupError>;

/// Why the target could not say whether it holds a name.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The lookup by name failed.
    #[error(transparent)]
    Target(ScimError),
    /// The target refused to filter on the name, and the listing it fell back on failed
    /// (one listing serves many names, hence shared).
    #[error("the filter was refused and listing the groups failed: {0}")]
    Listing(Arc<ScimError>),
}

/// Lookups keyed by [`fold_name`] of the source name.
pub type Lookups = HashMap<String, Lookup>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// The target already holds it; the first matching id (a target with duplicates
    /// lists them all in `duplicates`).
    Exists {
        scim_id: String,
        duplicates: usize,
    },
    Skip(SkipReason),
    /// The target lookup failed; nothing is created for this group in this run.
    LookupFailed(String),
    /// The name equals, ignoring case, that of `plan.items[first]` (named `of`), the first
    /// such group by entitlement id: it is settled by that group, and reported as found
    /// existing under its name.
    Twin {
        of: String,
        first: usize,
    },
    /// The target refused this name in an earlier run (its detail); not sent again until
    /// the name changes.
    StillRefused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub group: SourceGroup,
    pub action: Action,
}

/// One action per source group, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<Planned>,
}

impl Plan {
    pub fn creates(&self) -> impl Iterator<Item = &Planned> {
        self.items.iter().filter(|p| p.action == Action::Create)
    }
}

/// Why a group must be skipped whatever the target holds, given the whole source list.
fn screen(group: &SourceGroup, rules: Rules) -> Option<SkipReason> {
    if group.name.trim().is_empty() {
        return Some(SkipReason::EmptyName);
    }
    if group.name.contains('\0') {
        return Some(SkipReason::Unstorable {
            detail: "it contains a NUL character".into(),
        });
    }
    let chars = group.name.chars().count();
    if let Some(max) = rules.max_name_length
        && chars > max
    {
        return Some(SkipReason::TooLong { chars, max });
    }
    None
}

/// For each group that passes screening: `None` if it is the first of its name ignoring
/// case (by entitlement id), else the index of that first one.
fn firsts(groups: &[SourceGroup], rules: Rules) -> Vec<Option<Option<usize>>> {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        if screen(g, rules).is_some() {
            continue;
        }
        first
            .entry(fold_name(&g.name))
            .and_modify(|f| {
                if g.id < groups[*f].id {
                    *f = i;
                }
            })
            .or_insert(i);
    }
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if screen(g, rules).is_some() {
                return None;
            }
            let f = first[&fold_name(&g.name)];
            Some((f != i).then_some(f))
        })
        .collect()
}

/// The source groups whose names need a target lookup: those that pass screening, one
/// per name ignoring case (a twin is settled by the first of its name).
pub fn candidates(groups: &[SourceGroup], rules: Rules) -> Vec<&SourceGroup> {
    groups
        .iter()
        .zip(firsts(groups, rules))
        .filter(|(_, f)| *f == Some(None))
        .map(|(g, _)| g)
        .collect()
}

/// Decides each group's action. A candidate without a lookup result is planned as
/// [`Action::LookupFailed`]: the plan never creates what it has not checked. A name in
/// `refused` that would be created is planned as [`Action::StillRefused`].
pub fn plan(groups: &[SourceGroup], lookups: &Lookups, rules: Rules, refused: &Refused) -> Plan {
    let items = groups
        .iter()
        .zip(firsts(groups, rules))
        .map(|(g, first)| {
            let action = match first {
                None => Action::Skip(screen(g, rules).expect("only screened-out groups")),
                Some(Some(first)) => Action::Twin {
                    of: groups[first].name.clone(),
                    first,
                },
                Some(None) => match decide(g, lookups.get(&fold_name(&g.name))) {
                    Action::Create => match refused.get(&(g.id.clone(), g.name.clone())) {
                        Some(detail) => Action::StillRefused(detail.clone()),
                        None => Action::Create,
                    },
                    other => other,
                },
            };
            Planned {
                group: g.clone(),
                action,
            }
        })
        .collect();
    Plan { items }
}

fn decide(group: &SourceGroup, lookup: Option<&Lookup>) -> Action {
    match lookup {
        None => Action::LookupFailed("the target was not asked about this group".into()),
        Some(Err(e)) => Action::LookupFailed(e.to_string()),
        Some(Ok(found)) => {
            let key = fold_name(&group.name);
            let mut matching = found.iter().filter(|t| fold_name(&t.display_name) == key);
            match matching.next() {
                None => Action::Create,
                Some(first) => Action::Exists {
                    scim_id: first.id.clone(),
                    duplicates: matching.count(),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        max_name_length: Some(20),
    };

    fn plan(groups: &[SourceGroup], lookups: &Lookups, rules: Rules) -> Plan {
        super::plan(groups, lookups, rules, &Refused::new())
    }

    fn src(name: &str) -> SourceGroup {
        SourceGroup {
            id: format!("id-{name}"),
            name: name.into(),
            value: String::new(),
        }
    }

    fn tgt(id: &str, name: &str) -> TargetGroup {
        TargetGroup {
            id: id.into(),
            display_name: name.into(),
            external_id: None,
        }
    }

    fn actions(p: &Plan) -> Vec<(&str, &Action)> {
        p.items
            .iter()
            .map(|i| (i.group.name.as_str(), &i.action))
            .collect()
    }

    #[test]
    fn missing_groups_are_created_and_present_ones_exist() {
        let groups = vec![src("Finance"), src("Sales")];
        let lookups: Lookups = [
            ("finance".to_string(), Ok(vec![tgt("t1", "FINANCE")])),
            ("sales".to_string(), Ok(vec![])),
        ]
        .into();
        let p = plan(&groups, &lookups, RULES);
        assert_eq!(
            actions(&p),
            vec![
                (
                    "Finance",
                    &Action::Exists {
                        scim_id: "t1".into(),
                        duplicates: 0
                    }
                ),
                ("Sales", &Action::Create)
            ]
        );
        assert_eq!(p.creates().count(), 1);
    }

    #[test]
    fn a_loose_server_answer_does_not_count_as_a_match() {
        let groups = vec![src("Ops")];
        let lookups: Lookups = [(
            "ops".to_string(),
            Ok(vec![tgt("x", "Ops Team"), tgt("y", "DevOps")]),
        )]
        .into();
        assert_eq!(
            plan(&groups, &lookups, RULES).items[0].action,
            Action::Create
        );
    }

    #[test]
    fn duplicates_in_the_target_are_reported_not_created() {
        let groups = vec![src("Ops")];
        let lookups: Lookups = [(
            "ops".to_string(),
            Ok(vec![tgt("a", "ops"), tgt("b", "OPS")]),
        )]
        .into();
        assert_eq!(
            plan(&groups, &lookups, RULES).items[0].action,
            Action::Exists {
                scim_id: "a".into(),
                duplicates: 1
            }
        );
    }

    #[test]
    fn screening_skips_with_reasons() {
        let long = "x".repeat(21);
        let groups = vec![
            src(" "),
            src(""),
            src(&long),
            src("a\0b"),
            src("Finance"),
            src("FINANCE"),
            src("ok"),
        ];
        let lookups: Lookups = [
            ("ok".to_string(), Ok(vec![])),
            ("finance".to_string(), Ok(vec![])),
        ]
        .into();
        let p = plan(&groups, &lookups, RULES);
        let a: Vec<&Action> = p.items.iter().map(|i| &i.action).collect();
        assert_eq!(a[0], &Action::Skip(SkipReason::EmptyName));
        assert_eq!(a[1], &Action::Skip(SkipReason::EmptyName));
        assert_eq!(
            a[2],
            &Action::Skip(SkipReason::TooLong { chars: 21, max: 20 })
        );
        assert!(matches!(a[3], Action::Skip(SkipReason::Unstorable { .. })));
        // Case twins are not skipped: the first by id ("id-FINANCE" < "id-Finance") is
        // created, the other is found existing under its name, as the Workflow does.
        assert_eq!(
            a[4],
            &Action::Twin {
                of: "FINANCE".into(),
                first: 5
            }
        );
        assert_eq!(a[5], &Action::Create);
        assert_eq!(a[6], &Action::Create);
        let names: Vec<&str> = candidates(&groups, RULES)
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(names, vec!["FINANCE", "ok"]);
    }

    #[test]
    fn exact_duplicates_in_the_source_are_twins_too() {
        let groups = vec![
            SourceGroup {
                id: "b".into(),
                name: "Dup".into(),
                value: String::new(),
            },
            SourceGroup {
                id: "a".into(),
                name: "Dup".into(),
                value: String::new(),
            },
        ];
        let lookups: Lookups = [("dup".to_string(), Ok(vec![tgt("t", "dup")]))].into();
        let p = plan(&groups, &lookups, RULES);
        assert_eq!(
            p.items[0].action,
            Action::Twin {
                of: "Dup".into(),
                first: 1
            }
        );
        assert_eq!(
            p.items[1].action,
            Action::Exists {
                scim_id: "t".into(),
                duplicates: 0
            }
        );
    }

    #[test]
    fn no_length_cap_unless_configured() {
        let long = "x".repeat(5000);
        let groups = vec![src(&long)];
        let lookups: Lookups = [(long.clone(), Ok(vec![]))].into();
        let rules = Rules {
            max_name_length: None,
        };
        assert_eq!(
            plan(&groups, &lookups, rules).items[0].action,
            Action::Create
        );
    }

    #[test]
    fn a_name_refused_before_is_not_sent_again_until_it_changes() {
        let groups = vec![src("Long"), src("Other")];
        let lookups: Lookups = [
            ("long".to_string(), Ok(vec![])),
            ("other".to_string(), Ok(vec![])),
        ]
        .into();
        let refused: Refused = [
            (("id-Long".into(), "Long".into()), "too long".into()),
            (("id-Other".into(), "Other before".into()), "x".into()),
        ]
        .into();
        let p = super::plan(&groups, &lookups, RULES, &refused);
        assert_eq!(p.items[0].action, Action::StillRefused("too long".into()));
        assert_eq!(p.items[1].action, Action::Create);
        // Found in the target meanwhile: it exists, whatever was refused before.
        let found: Lookups = [("long".to_string(), Ok(vec![tgt("t", "Long")]))].into();
        let p = super::plan(&groups[..1], &found, RULES, &refused);
        assert!(matches!(p.items[0].action, Action::Exists { .. }));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let groups = vec![src(&"é".repeat(20))];
        let lookups: Lookups = [(fold_name(&"é".repeat(20)), Ok(vec![]))].into();
        assert_eq!(
            plan(&groups, &lookups, RULES).items[0].action,
            Action::Create
        );
    }

    #[test]
    fn nothing_is_created_without_a_successful_lookup() {
        let groups = vec![src("A"), src("B")];
        let unavailable = ScimError::Server {
            status: 503,
            retry_after: None,
            detail: crate::scim::Detail::default(),
        };
        let lookups: Lookups = [("a".to_string(), Err(LookupError::Target(unavailable)))].into();
        let p = plan(&groups, &lookups, RULES);
        assert_eq!(
            p.items[0].action,
            Action::LookupFailed("the SCIM server failed (503)".into())
        );
        assert!(matches!(p.items[1].action, Action::LookupFailed(_)));
        assert_eq!(p.creates().count(), 0);
    }
}
