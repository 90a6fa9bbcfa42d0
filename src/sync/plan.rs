//! The plan stage: a pure function from the source's groups and what the target holds
//! to one action per group. No I/O happens here, so every rule is unit-tested directly.
//!
//! Screening (empty names, case twins, names the target cannot hold) needs only the source
//! list; [`candidates`] tells the pipeline which names are worth a target lookup, and
//! [`plan`] then decides with the lookup results in hand.

use crate::domain::{SourceGroup, TargetGroup, fold_name};
use crate::report::SkipReason;
use crate::scim::ScimError;
use std::collections::HashMap;
use std::sync::Arc;

/// The rules the plan applies (from `[sync]`).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max_name_length: usize,
}

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
fn screen(
    group: &SourceGroup,
    twins: &HashMap<String, Vec<&str>>,
    rules: Rules,
) -> Option<SkipReason> {
    if group.name.trim().is_empty() {
        return Some(SkipReason::EmptyName);
    }
    if group.name.contains('\0') {
        return Some(SkipReason::Unstorable {
            detail: "it contains a NUL character".into(),
        });
    }
    let chars = group.name.chars().count();
    if chars > rules.max_name_length {
        return Some(SkipReason::TooLong {
            chars,
            max: rules.max_name_length,
        });
    }
    let same = twins.get(&fold_name(&group.name))?;
    if same.len() > 1 {
        // Report the others by name; identical names are listed once per extra copy.
        let mut others: Vec<String> = same.iter().map(|s| s.to_string()).collect();
        let me = others
            .iter()
            .position(|o| *o == group.name)
            .expect("group is in its own twin set");
        others.remove(me);
        return Some(SkipReason::DuplicateInSource { others });
    }
    None
}

fn twin_sets(groups: &[SourceGroup]) -> HashMap<String, Vec<&str>> {
    let mut sets: HashMap<String, Vec<&str>> = HashMap::new();
    for g in groups {
        sets.entry(fold_name(&g.name)).or_default().push(&g.name);
    }
    sets
}

/// The source groups whose names need a target lookup (those that pass screening).
pub fn candidates(groups: &[SourceGroup], rules: Rules) -> Vec<&SourceGroup> {
    let twins = twin_sets(groups);
    groups
        .iter()
        .filter(|g| screen(g, &twins, rules).is_none())
        .collect()
}

/// Decides each group's action. A candidate without a lookup result is planned as
/// [`Action::LookupFailed`]: the plan never creates what it has not checked.
pub fn plan(groups: &[SourceGroup], lookups: &Lookups, rules: Rules) -> Plan {
    let twins = twin_sets(groups);
    let items = groups
        .iter()
        .map(|g| {
            let action = match screen(g, &twins, rules) {
                Some(reason) => Action::Skip(reason),
                None => decide(g, lookups.get(&fold_name(&g.name))),
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
        max_name_length: 20,
    };

    fn src(name: &str) -> SourceGroup {
        SourceGroup {
            id: format!("id-{name}"),
            name: name.into(),
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
        let lookups: Lookups = [("ok".to_string(), Ok(vec![]))].into();
        let p = plan(&groups, &lookups, RULES);
        let a: Vec<&Action> = p.items.iter().map(|i| &i.action).collect();
        assert_eq!(a[0], &Action::Skip(SkipReason::EmptyName));
        assert_eq!(a[1], &Action::Skip(SkipReason::EmptyName));
        assert_eq!(
            a[2],
            &Action::Skip(SkipReason::TooLong { chars: 21, max: 20 })
        );
        assert!(matches!(a[3], Action::Skip(SkipReason::Unstorable { .. })));
        assert_eq!(
            a[4],
            &Action::Skip(SkipReason::DuplicateInSource {
                others: vec!["FINANCE".into()]
            })
        );
        assert_eq!(
            a[5],
            &Action::Skip(SkipReason::DuplicateInSource {
                others: vec!["Finance".into()]
            })
        );
        assert_eq!(a[6], &Action::Create);
        let names: Vec<&str> = candidates(&groups, RULES)
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(names, vec!["ok"]);
    }

    #[test]
    fn exact_duplicates_in_the_source_are_skipped_too() {
        let groups = vec![src("Dup"), src("Dup")];
        let p = plan(&groups, &Lookups::new(), RULES);
        assert!(p.items.iter().all(|i| i.action
            == Action::Skip(SkipReason::DuplicateInSource {
                others: vec!["Dup".into()]
            })));
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
