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
//!
//! Ownership: a target group carrying a source group's external key ([`external_key`]) as
//! its `externalId` is groupsync's own (managed). It is found under its name, or under
//! another one when the AD group was renamed ([`Action::Rename`]); a group of the same name
//! without `externalId` may be adopted ([`Action::Adopt`]). A managed group whose AD group
//! is gone is an orphan ([`orphans`]): reported, and deleted only when it was already
//! missing on the last successful run. A group carrying no externalId of ours is never
//! renamed or deleted.

use super::target_index::TargetIndex;
use crate::config::ExternalId;
use crate::domain::{
    ManagedGroup, SourceGroup, TargetGroup, each_name_class, first_by_id, fold_name,
};
use crate::report::SkipReason;
use crate::scim::ScimError;
use std::collections::{HashMap, HashSet};
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

/// What the target holds under each external key ([`external_key`]): the groups carrying
/// it as their `externalId`. Asked for the candidates whose lookup by name did not find
/// their managed group (a listing answers for all).
pub type ByExternalId = HashMap<String, Lookup>;

/// What the target was asked before planning: a lookup per name (and per external key),
/// or one listing of the whole target, which answers every name and key.
#[derive(Debug, Default)]
pub struct Found {
    pub by_name: Lookups,
    /// Asked only for the candidates whose name the target does not hold.
    pub by_external_id: ByExternalId,
    /// The whole target, when it was listed: then the two maps above are not used.
    pub listed: Option<TargetIndex>,
}

impl Found {
    /// One listing of the whole target answers for every name and key.
    pub fn listed(all: TargetIndex) -> Found {
        Found {
            listed: Some(all),
            ..Found::default()
        }
    }

    /// The target groups named `name` (folded; a lookup's answer may hold others, which
    /// are left out), or why the target could not say; `None` when it was not asked.
    fn named(&self, name: &str) -> Option<Result<Vec<&TargetGroup>, &LookupError>> {
        if let Some(all) = &self.listed {
            return Some(Ok(all.named(name)));
        }
        let answer = self.by_name.get(name)?.as_ref();
        Some(answer.map(|found| {
            found
                .iter()
                .filter(|t| fold_name(&t.display_name) == name)
                .collect()
        }))
    }

    /// The target groups carrying `key` as their `externalId` (a lookup's answer may hold
    /// others), or why the target could not say; `None` when it was not asked.
    fn with_external_id(&self, key: &str) -> Option<Result<Vec<&TargetGroup>, &LookupError>> {
        if let Some(all) = &self.listed {
            return Some(Ok(all.with_external_id(key)));
        }
        let answer = self.by_external_id.get(key)?.as_ref();
        Some(answer.map(|found| {
            found
                .iter()
                .filter(|t| t.external_id.as_deref() == Some(key))
                .collect()
        }))
    }
}

/// The ownership rules (`sync.external_id`, `sync.adopt`, `sync.rename`,
/// `sync.delete_orphans`, `safety.max_deletes_per_run`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ownership {
    pub external_id: ExternalId,
    pub adopt: bool,
    pub rename: bool,
    pub delete_orphans: bool,
    pub max_deletes: u32,
}

impl Ownership {
    /// Whether an orphan may be deleted at all (otherwise orphans are only reported).
    pub fn deletes(&self) -> bool {
        self.delete_orphans && self.max_deletes > 0
    }
}

/// The `externalId` groupsync gives the group of `group`: its entitlement id, or with
/// `sync.external_id = "value"` its `value` (the id when the entitlement has no value).
pub fn external_key(group: &SourceGroup, mode: ExternalId) -> &str {
    match mode {
        ExternalId::Value if !group.value.is_empty() => &group.value,
        _ => &group.id,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// The target already holds it; the first matching id (a target with duplicates
    /// lists them all in `duplicates`). `managed`: it carries our externalId.
    Exists {
        scim_id: String,
        duplicates: usize,
        managed: bool,
    },
    /// A group of the same name without `externalId` is given ours (`sync.adopt`).
    Adopt {
        scim_id: String,
        external_id: String,
    },
    /// Our group carries the AD group's former name `from`; renamed (`sync.rename`).
    Rename {
        scim_id: String,
        from: String,
    },
    /// As [`Action::Rename`] without `sync.rename`: only reported.
    ReportRename {
        scim_id: String,
        from: String,
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

/// What becomes of a group groupsync owns whose AD group is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrphanAction {
    /// Reported as an orphan (first sighting, or deletion not enabled).
    Report,
    /// Deleted: its AD group was already gone on the last successful run.
    Delete,
    /// No longer ours: gone from the target, or carrying another `externalId`. Forgotten,
    /// never touched.
    Forget,
    /// The target could not be asked about it; nothing is done this run.
    Unchecked(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrphan {
    pub group: ManagedGroup,
    /// Its name in the target now (the remembered one when it could not be read).
    pub name: String,
    pub action: OrphanAction,
}

/// One action per source group, in source order, and the orphans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<Planned>,
    pub orphans: Vec<PlannedOrphan>,
}

impl Plan {
    pub fn creates(&self) -> impl Iterator<Item = &Planned> {
        self.items.iter().filter(|p| p.action == Action::Create)
    }

    /// How many orphans this plan deletes.
    pub fn deletes(&self) -> usize {
        self.orphans
            .iter()
            .filter(|o| o.action == OrphanAction::Delete)
            .count()
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
/// case (by entitlement id, then position), else the index of that first one.
fn firsts(groups: &[SourceGroup], rules: Rules) -> Vec<Option<Option<usize>>> {
    let mut out = vec![None; groups.len()];
    let screened_in = (0..groups.len()).filter(|i| screen(&groups[*i], rules).is_none());
    each_name_class(
        screened_in,
        |i| &groups[i].name,
        |same| {
            let first = first_by_id(same, |i| &groups[i].id);
            for &i in same {
                out[i] = Some((i != first).then_some(first));
            }
        },
    );
    out
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
/// [`Action::LookupFailed`]: the plan never creates what it has not checked (by name, and
/// by externalId, so a renamed group is never created again under its new name). A name in
/// `refused` that would be created is planned as [`Action::StillRefused`].
pub fn plan(
    groups: &[SourceGroup],
    found: &Found,
    rules: Rules,
    own: Ownership,
    refused: &Refused,
) -> Plan {
    let actions = actions(groups, found, rules, own, refused);
    with_actions(groups.to_vec(), actions)
}

/// As [`plan`], keeping `groups` in the plan rather than copies of them, and dropping
/// what the target holds as soon as every action is decided: at 100,000 groups the
/// listing and the plan need not be held at once.
pub fn plan_owned(
    groups: Vec<SourceGroup>,
    found: Found,
    rules: Rules,
    own: Ownership,
    refused: &Refused,
) -> Plan {
    let actions = actions(&groups, &found, rules, own, refused);
    drop(found);
    with_actions(groups, actions)
}

/// Each group's action, in source order.
fn actions(
    groups: &[SourceGroup],
    found: &Found,
    rules: Rules,
    own: Ownership,
    refused: &Refused,
) -> Vec<Action> {
    groups
        .iter()
        .zip(firsts(groups, rules))
        .map(|(g, first)| match first {
            None => Action::Skip(screen(g, rules).expect("only screened-out groups")),
            Some(Some(first)) => Action::Twin {
                of: groups[first].name.clone(),
                first,
            },
            Some(None) => match decide(g, found, own) {
                Action::Create => match refused.get(&(g.id.clone(), g.name.clone())) {
                    Some(detail) => Action::StillRefused(detail.clone()),
                    None => Action::Create,
                },
                other => other,
            },
        })
        .collect()
}

fn with_actions(groups: Vec<SourceGroup>, actions: Vec<Action>) -> Plan {
    let items = groups
        .into_iter()
        .zip(actions)
        .map(|(group, action)| Planned { group, action })
        .collect();
    Plan {
        items,
        orphans: vec![],
    }
}

/// Whether the lookup by name of `group` found its managed group (then no lookup by
/// externalId is needed); `false` when it failed or found none.
pub fn found_managed(group: &SourceGroup, by_name: &Lookups, mode: ExternalId) -> bool {
    let key = external_key(group, mode);
    let name = fold_name(&group.name);
    matches!(by_name.get(&name), Some(Ok(found)) if found
        .iter()
        .any(|t| fold_name(&t.display_name) == name && t.external_id.as_deref() == Some(key)))
}

fn decide(group: &SourceGroup, found: &Found, own: Ownership) -> Action {
    let name = fold_name(&group.name);
    let matching = match found.named(&name) {
        None => return Action::LookupFailed("the target was not asked about this group".into()),
        Some(Err(e)) => return Action::LookupFailed(e.to_string()),
        Some(Ok(matching)) => matching,
    };
    let key = external_key(group, own.external_id);
    let exists = |t: &TargetGroup, managed: bool| Action::Exists {
        scim_id: t.id.clone(),
        duplicates: matching.len().saturating_sub(1),
        managed,
    };
    if let Some(ours) = matching
        .iter()
        .find(|t| t.external_id.as_deref() == Some(key))
    {
        return exists(ours, true);
    }
    let ours = match found.with_external_id(key) {
        // a group of this name exists: it is not created, so it need not be asked for
        // by externalId (a lookup per group would double the requests)
        None if !matching.is_empty() => vec![],
        None => {
            return Action::LookupFailed(format!(
                "the target was not asked for the group with externalId {key:?}"
            ));
        }
        Some(Err(e)) => return Action::LookupFailed(e.to_string()),
        Some(Ok(ours)) => ours,
    };
    if let Some(t) = ours.first() {
        if fold_name(&t.display_name) == name {
            return exists(t, true);
        }
        let (scim_id, from) = (t.id.clone(), t.display_name.clone());
        return if own.rename {
            Action::Rename { scim_id, from }
        } else {
            Action::ReportRename { scim_id, from }
        };
    }
    match matching.first() {
        None => Action::Create,
        Some(t) if own.adopt && t.external_id.is_none() => Action::Adopt {
            scim_id: t.id.clone(),
            external_id: key.to_owned(),
        },
        Some(t) => exists(t, false),
    }
}

/// The groups groupsync owns whose external key no source group has: the orphans to
/// check in the target. Every source group counts, screened out or not.
pub fn orphan_candidates<'a, 'g>(
    groups: impl IntoIterator<Item = &'g SourceGroup>,
    managed: &'a [ManagedGroup],
    mode: ExternalId,
) -> Vec<&'a ManagedGroup> {
    let keys: HashSet<&str> = groups.into_iter().map(|g| external_key(g, mode)).collect();
    managed
        .iter()
        .filter(|m| !keys.contains(m.external_id.as_str()))
        .collect()
}

/// What the target holds under each orphan candidate's id (`None`: not found), or why it
/// could not say; keyed by external key.
pub type Checked = HashMap<String, Result<Option<TargetGroup>, String>>;

/// Decides what becomes of each orphan candidate. Only a group still carrying our
/// externalId is an orphan; it is deleted only with `sync.delete_orphans`, a
/// `safety.max_deletes_per_run` above 0, and when the last successful run found its AD
/// group gone too (`missing_runs` ≥ 1).
pub fn orphans(
    candidates: &[&ManagedGroup],
    checked: &Checked,
    own: Ownership,
) -> Vec<PlannedOrphan> {
    candidates
        .iter()
        .map(|m| {
            let (name, action) = match checked.get(&m.external_id) {
                None => (
                    m.name.clone(),
                    OrphanAction::Unchecked("the target was not asked".into()),
                ),
                Some(Err(e)) => (m.name.clone(), OrphanAction::Unchecked(e.clone())),
                Some(Ok(Some(t))) if t.external_id.as_deref() == Some(m.external_id.as_str()) => {
                    let action = if own.deletes() && m.missing_runs >= 1 {
                        OrphanAction::Delete
                    } else {
                        OrphanAction::Report
                    };
                    (t.display_name.clone(), action)
                }
                Some(Ok(_)) => (m.name.clone(), OrphanAction::Forget),
            };
            PlannedOrphan {
                group: (*m).clone(),
                name,
                action,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        max_name_length: Some(20),
    };

    fn plan(groups: &[SourceGroup], lookups: Lookups, rules: Rules) -> Plan {
        with_refused(groups, lookups, rules, &Refused::new())
    }

    /// No target group carries an externalId: every lookup by it finds nothing.
    fn found(groups: &[SourceGroup], by_name: Lookups) -> Found {
        Found {
            by_name,
            by_external_id: groups.iter().map(|g| (g.id.clone(), Ok(vec![]))).collect(),
            listed: None,
        }
    }

    fn with_refused(
        groups: &[SourceGroup],
        lookups: Lookups,
        rules: Rules,
        refused: &Refused,
    ) -> Plan {
        super::plan(
            groups,
            &found(groups, lookups),
            rules,
            Ownership::default(),
            refused,
        )
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
        let p = plan(&groups, lookups, RULES);
        assert_eq!(
            actions(&p),
            vec![
                (
                    "Finance",
                    &Action::Exists {
                        scim_id: "t1".into(),
                        duplicates: 0,
                        managed: false
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
            plan(&groups, lookups, RULES).items[0].action,
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
            plan(&groups, lookups, RULES).items[0].action,
            Action::Exists {
                scim_id: "a".into(),
                duplicates: 1,
                managed: false
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
        let p = plan(&groups, lookups, RULES);
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
        let p = plan(&groups, lookups, RULES);
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
                duplicates: 0,
                managed: false
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
            plan(&groups, lookups, rules).items[0].action,
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
        let p = with_refused(&groups, lookups, RULES, &refused);
        assert_eq!(p.items[0].action, Action::StillRefused("too long".into()));
        assert_eq!(p.items[1].action, Action::Create);
        // Found in the target meanwhile: it exists, whatever was refused before.
        let found: Lookups = [("long".to_string(), Ok(vec![tgt("t", "Long")]))].into();
        let p = with_refused(&groups[..1], found, RULES, &refused);
        assert!(matches!(p.items[0].action, Action::Exists { .. }));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let groups = vec![src(&"é".repeat(20))];
        let lookups: Lookups = [(fold_name(&"é".repeat(20)), Ok(vec![]))].into();
        assert_eq!(
            plan(&groups, lookups, RULES).items[0].action,
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
        let p = plan(&groups, lookups, RULES);
        assert_eq!(
            p.items[0].action,
            Action::LookupFailed("the SCIM server failed (503)".into())
        );
        assert!(matches!(p.items[1].action, Action::LookupFailed(_)));
        assert_eq!(p.creates().count(), 0);
    }

    fn ours(id: &str, name: &str, ext: &str) -> TargetGroup {
        TargetGroup {
            id: id.into(),
            display_name: name.into(),
            external_id: Some(ext.into()),
        }
    }

    fn owned(
        g: &SourceGroup,
        by_name: Vec<TargetGroup>,
        by_ext: Option<Vec<TargetGroup>>,
        own: Ownership,
    ) -> Action {
        let mut found = Found::default();
        found.by_name.insert(fold_name(&g.name), Ok(by_name));
        if let Some(by_ext) = by_ext {
            found
                .by_external_id
                .insert(external_key(g, own.external_id).to_owned(), Ok(by_ext));
        }
        super::plan(std::slice::from_ref(g), &found, RULES, own, &Refused::new())
            .items
            .remove(0)
            .action
    }

    #[test]
    fn a_group_carrying_our_external_id_is_managed() {
        let g = src("Finance");
        let action = owned(
            &g,
            vec![ours("t1", "finance", "id-Finance")],
            None,
            Ownership::default(),
        );
        assert_eq!(
            action,
            Action::Exists {
                scim_id: "t1".into(),
                duplicates: 0,
                managed: true
            }
        );
    }

    #[test]
    fn a_renamed_ad_group_is_renamed_or_reported_and_never_created_again() {
        let g = src("Finance EU");
        let old = vec![ours("t1", "Finance", "id-Finance EU")];
        assert_eq!(
            owned(&g, vec![], Some(old.clone()), Ownership::default()),
            Action::ReportRename {
                scim_id: "t1".into(),
                from: "Finance".into()
            }
        );
        let rename = Ownership {
            rename: true,
            ..Ownership::default()
        };
        assert_eq!(
            owned(&g, vec![], Some(old.clone()), rename),
            Action::Rename {
                scim_id: "t1".into(),
                from: "Finance".into()
            }
        );
        // A hand-made group already holds the new name: ours is still the one renamed
        // (the target says whether it takes the name), the hand-made one is not touched.
        assert_eq!(
            owned(&g, vec![tgt("h", "Finance EU")], Some(old), rename),
            Action::Rename {
                scim_id: "t1".into(),
                from: "Finance".into()
            }
        );
        // Not asked, or the lookup by externalId failed: nothing is created.
        assert!(matches!(
            owned(&g, vec![], None, rename),
            Action::LookupFailed(_)
        ));
        let mut found = Found::default();
        found.by_name.insert(fold_name(&g.name), Ok(vec![]));
        found.by_external_id.insert(
            g.id.clone(),
            Err(LookupError::Target(ScimError::Timeout("slow".into()))),
        );
        let p = super::plan(
            std::slice::from_ref(&g),
            &found,
            RULES,
            rename,
            &Refused::new(),
        );
        assert!(matches!(p.items[0].action, Action::LookupFailed(_)));
        assert_eq!(p.creates().count(), 0);
    }

    #[test]
    fn a_hand_made_group_is_adopted_only_with_the_setting_and_without_an_external_id() {
        let g = src("Sales");
        let hand_made = vec![tgt("h", "SALES")];
        assert_eq!(
            owned(&g, hand_made.clone(), Some(vec![]), Ownership::default()),
            Action::Exists {
                scim_id: "h".into(),
                duplicates: 0,
                managed: false
            }
        );
        let adopt = Ownership {
            adopt: true,
            ..Ownership::default()
        };
        assert_eq!(
            owned(&g, hand_made, Some(vec![]), adopt),
            Action::Adopt {
                scim_id: "h".into(),
                external_id: "id-Sales".into()
            }
        );
        // Another tool's externalId: found existing, never adopted.
        let theirs = vec![ours("o", "Sales", "someone-else")];
        assert!(matches!(
            owned(&g, theirs, Some(vec![]), adopt),
            Action::Exists { managed: false, .. }
        ));
    }

    #[test]
    fn the_external_key_is_the_value_when_asked() {
        let mut g = src("Ops");
        g.value = "CN=Ops,OU=Groups,DC=corp".into();
        assert_eq!(external_key(&g, ExternalId::Id), "id-Ops");
        assert_eq!(
            external_key(&g, ExternalId::Value),
            "CN=Ops,OU=Groups,DC=corp"
        );
        let own = Ownership {
            external_id: ExternalId::Value,
            ..Ownership::default()
        };
        let action = owned(
            &g,
            vec![ours("t", "Ops", "CN=Ops,OU=Groups,DC=corp")],
            None,
            own,
        );
        assert!(matches!(action, Action::Exists { managed: true, .. }));
        g.value.clear();
        assert_eq!(external_key(&g, ExternalId::Value), "id-Ops");
    }

    fn managed(ext: &str, missing_runs: u32) -> ManagedGroup {
        ManagedGroup {
            external_id: ext.into(),
            scim_id: format!("s-{ext}"),
            name: format!("G {ext}"),
            missing_runs,
        }
    }

    #[test]
    fn orphans_are_reported_then_deleted_on_the_second_run_and_only_if_still_ours() {
        let groups = vec![src("Kept"), src(" ")];
        let all = vec![
            managed("id-Kept", 0),
            managed("id- ", 0),
            managed("first", 0),
            managed("second", 1),
            managed("retagged", 3),
            managed("gone", 3),
            managed("unasked", 3),
        ];
        let candidates = orphan_candidates(&groups, &all, ExternalId::Id);
        let names: Vec<&str> = candidates.iter().map(|m| m.external_id.as_str()).collect();
        assert_eq!(names, ["first", "second", "retagged", "gone", "unasked"]);
        let checked: Checked = [
            (
                "first".to_string(),
                Ok(Some(ours("s-first", "First", "first"))),
            ),
            (
                "second".to_string(),
                Ok(Some(ours("s-second", "Second", "second"))),
            ),
            (
                "retagged".to_string(),
                Ok(Some(ours("s-retagged", "R", "by-hand"))),
            ),
            ("gone".to_string(), Ok(None)),
            ("unasked".to_string(), Err("503".to_string())),
        ]
        .into();
        let actions = |own: Ownership| -> Vec<OrphanAction> {
            orphans(&candidates, &checked, own)
                .into_iter()
                .map(|o| o.action)
                .collect()
        };
        let report_only = actions(Ownership {
            delete_orphans: true,
            ..Ownership::default()
        });
        let delete = actions(Ownership {
            delete_orphans: true,
            max_deletes: 1,
            ..Ownership::default()
        });
        use OrphanAction::*;
        let unchecked = Unchecked("503".into());
        assert_eq!(
            report_only,
            [Report, Report, Forget, Forget, unchecked.clone()]
        );
        assert_eq!(delete, [Report, Delete, Forget, Forget, unchecked]);
        assert_eq!(
            orphans(&candidates, &checked, Ownership::default())[1].name,
            "Second"
        );
    }
}
