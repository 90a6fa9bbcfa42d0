//! The guards stage: checked after the plan and before the first write, so that a wrong
//! tenant, a token that sees nothing, a wrong entitlement filter or a mistyped
//! `scim.base_url` stops the run instead of creating every group again (or "succeeding"
//! with nothing).
//!
//! A pure function of the plan, the number of groups the source returned and the last
//! successful run of the same AD source (whatever its target). Checked in this order; the
//! first that trips refuses the run:
//!
//! 1. `no_source_groups`: the source returned no groups (also on the very first run).
//! 2. `source_drop`: the source lost more than `safety.max_source_drop_percent` of the
//!    groups the last successful run read.
//! 3. `empty_target`: no group was found existing, while the last successful run found or
//!    created some.
//! 4. `mass_create`: more than `safety.max_create_percent` of the source's groups would be
//!    created, and more than `safety.creates_always_allowed`.
//! 5. `mass_delete`: more orphans would be deleted than `safety.max_deletes_per_run`.
//!
//! Before the first successful run only the first and the last apply. `force` lets one run
//! through.

use super::RunError;
use super::plan::{Action, Plan};
use crate::config::SafetySettings;
use crate::store::RunRecord;
use std::fmt;

/// What the guards look at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    /// The groups the source returned (before any skip).
    pub source_groups: usize,
    /// The last successful run of the same AD source; `None` before the first.
    pub last_success: Option<&'a RunRecord>,
    /// `--force` / `{"force": true}`: the guards let this run through.
    pub force: bool,
    /// The filter the entitlements were read with, and every attribute seen among them
    /// with its count: what an empty source's refusal names.
    pub source_filter: &'a str,
    pub attributes_seen: &'a str,
}

/// A guard that tripped, with the numbers that tripped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tripped {
    NoSourceGroups {
        filter: String,
        attributes: String,
    },
    SourceDrop {
        now: usize,
        before: usize,
        max_drop_percent: u32,
    },
    EmptyTarget {
        /// Groups the last successful run found or created in its target.
        before: usize,
    },
    MassCreate {
        creates: usize,
        source: usize,
        max_percent: u32,
    },
    MassDelete {
        deletes: usize,
        max: u32,
    },
}

impl Tripped {
    /// The guard's stable name, as the refusal and the docs give it.
    pub fn guard(&self) -> &'static str {
        match self {
            Tripped::NoSourceGroups { .. } => "no_source_groups",
            Tripped::SourceDrop { .. } => "source_drop",
            Tripped::EmptyTarget { .. } => "empty_target",
            Tripped::MassCreate { .. } => "mass_create",
            Tripped::MassDelete { .. } => "mass_delete",
        }
    }

    /// The run's error: which guard, the numbers and what to do.
    pub fn refusal(&self) -> RunError {
        RunError::GuardRefused {
            guard: self.guard().to_owned(),
            detail: self.to_string(),
        }
    }
}

const FORCE: &str = "run `groupsync run --force` (or POST /runs with {\"force\": true}) once";

impl fmt::Display for Tripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tripped::NoSourceGroups { filter, attributes } => write!(
                f,
                "the AD source returned no groups: no entitlement read with the filter `{filter}` \
                 has the schema object type `group` (attributes seen: {attributes}); check \
                 `identitynow.entitlement_filter` and the source id (`identitynow.source_id`), \
                 or {FORCE} if the source really is empty"
            ),
            Tripped::SourceDrop {
                now,
                before,
                max_drop_percent,
            } => write!(
                f,
                "the AD source returned {}, the last successful run read {before}: \
                 more than the {max_drop_percent}% drop `safety.max_source_drop_percent` allows; \
                 check `identitynow.entitlement_filter` and the source, or {FORCE} if the groups really went",
                crate::report::count(*now, "group")
            ),
            Tripped::EmptyTarget { before } => write!(
                f,
                "the SCIM target holds none of the source's groups, while the last successful \
                 run found or created {before}; check `scim.base_url` and the SCIM token (a \
                 wrong tenant, or a token that sees nothing), or {FORCE} if this is a new target"
            ),
            Tripped::MassCreate {
                creates,
                source,
                max_percent,
            } => write!(
                f,
                "the run would create {creates} of the source's {source} groups: more than the \
                 {max_percent}% `safety.max_create_percent` allows; check `scim.base_url` and \
                 the SCIM token, or {FORCE} if these groups really are new"
            ),
            Tripped::MassDelete { deletes, max } => write!(
                f,
                "the run would delete {deletes} groups whose AD groups are gone: more than the \
                 {max} `safety.max_deletes_per_run` allows; check the source and \
                 `identitynow.entitlement_filter`, raise the limit, or {FORCE} if these groups \
                 really should go"
            ),
        }
    }
}

/// The first guard `inputs` trip, if any (never one when `inputs.force`).
pub fn check(inputs: &Inputs<'_>, safety: &SafetySettings) -> Option<Tripped> {
    if inputs.force {
        return None;
    }
    let now = inputs.source_groups;
    if now == 0 {
        return Some(Tripped::NoSourceGroups {
            filter: inputs.source_filter.to_owned(),
            attributes: inputs.attributes_seen.to_owned(),
        });
    }
    if let Some(tripped) = mass_delete(inputs.plan, safety) {
        return Some(tripped);
    }
    let last = inputs.last_success?;
    let before = last.counts.source;
    // `now / before < (100 - max) / 100`, in integers.
    if (now as u128) * 100 < (before as u128) * u128::from(100 - safety.max_source_drop_percent) {
        return Some(Tripped::SourceDrop {
            now,
            before,
            max_drop_percent: safety.max_source_drop_percent,
        });
    }
    let found = inputs
        .plan
        .items
        .iter()
        .filter(|p| {
            matches!(
                p.action,
                Action::Exists { .. }
                    | Action::Adopt { .. }
                    | Action::Rename { .. }
                    | Action::ReportRename { .. }
            )
        })
        .count();
    let c = &last.counts;
    let left_before = c.existed + c.created + c.adopted + c.renamed + c.would_rename;
    if found == 0 && left_before > 0 {
        return Some(Tripped::EmptyTarget {
            before: left_before,
        });
    }
    let creates = inputs.plan.creates().count();
    let over_percent =
        (creates as u128) * 100 > (now as u128) * u128::from(safety.max_create_percent);
    if over_percent && creates > safety.creates_always_allowed as usize {
        return Some(Tripped::MassCreate {
            creates,
            source: now,
            max_percent: safety.max_create_percent,
        });
    }
    None
}

/// `mass_delete`: more deletes planned than `safety.max_deletes_per_run`.
fn mass_delete(plan: &Plan, safety: &SafetySettings) -> Option<Tripped> {
    let deletes = plan.deletes();
    (deletes > safety.max_deletes_per_run as usize).then_some(Tripped::MassDelete {
        deletes,
        max: safety.max_deletes_per_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SourceGroup;
    use crate::report::Counts;
    use crate::sync::plan::Planned;
    use chrono::Utc;

    fn plan(existing: usize, creates: usize) -> Plan {
        let item = |i: usize, action: Action| Planned {
            group: SourceGroup {
                id: format!("e{i}"),
                name: format!("G{i}"),
                value: String::new(),
            },
            action,
        };
        let mut items: Vec<Planned> = (0..existing)
            .map(|i| {
                item(
                    i,
                    Action::Exists {
                        scim_id: format!("s{i}"),
                        duplicates: 0,
                        managed: true,
                    },
                )
            })
            .collect();
        items.extend((existing..existing + creates).map(|i| item(i, Action::Create)));
        Plan {
            items,
            orphans: vec![],
        }
    }

    fn success(source: usize, existed: usize, created: usize) -> RunRecord {
        RunRecord {
            id: "last".into(),
            job: "default".into(),
            trigger: "cli".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            status: "succeeded".into(),
            dry_run: false,
            source: None,
            error: None,
            close_loop: None,
            stage: None,
            unchanged: 0,
            counts: Counts {
                source,
                existed,
                created,
                ..Counts::default()
            },
        }
    }

    fn run(p: &Plan, last: Option<&RunRecord>, force: bool) -> Option<Tripped> {
        run_with(p, last, force, &SafetySettings::default())
    }

    fn run_with(
        p: &Plan,
        last: Option<&RunRecord>,
        force: bool,
        safety: &SafetySettings,
    ) -> Option<Tripped> {
        let inputs = Inputs {
            plan: p,
            source_groups: p.items.len(),
            last_success: last,
            force,
            source_filter: "source.id eq \"s\"",
            attributes_seen: "assignedLicenses (2)",
        };
        check(&inputs, safety)
    }

    fn no_source_groups() -> Option<Tripped> {
        Some(Tripped::NoSourceGroups {
            filter: "source.id eq \"s\"".into(),
            attributes: "assignedLicenses (2)".into(),
        })
    }

    #[test]
    fn an_empty_source_is_refused_even_on_the_first_run() {
        let empty = plan(0, 0);
        assert_eq!(run(&empty, None, false), no_source_groups());
        let last = success(10, 10, 0);
        assert_eq!(run(&empty, Some(&last), false), no_source_groups());
        let said = no_source_groups().unwrap().to_string();
        assert!(
            said.contains("source.id eq \"s\"") && said.contains("assignedLicenses (2)"),
            "{said}"
        );
    }

    #[test]
    fn the_first_run_has_no_percentage_guard() {
        assert_eq!(run(&plan(0, 500), None, false), None);
    }

    #[test]
    fn the_source_may_drop_to_half_but_not_below() {
        let last = success(100, 100, 0);
        assert_eq!(run(&plan(50, 0), Some(&last), false), None);
        let tripped = run(&plan(49, 0), Some(&last), false).unwrap();
        assert_eq!(
            tripped,
            Tripped::SourceDrop {
                now: 49,
                before: 100,
                max_drop_percent: 50
            }
        );
        let text = tripped.to_string();
        assert!(text.contains("49") && text.contains("100"), "{text}");
        assert!(text.contains("--force"), "{text}");
    }

    #[test]
    fn the_drop_threshold_follows_the_setting() {
        let last = success(100, 100, 0);
        let strict = SafetySettings {
            max_source_drop_percent: 10,
            ..SafetySettings::default()
        };
        let p = plan(89, 0);
        let inputs = Inputs {
            plan: &p,
            source_groups: 89,
            last_success: Some(&last),
            force: false,
            source_filter: "",
            attributes_seen: "",
        };
        assert_eq!(check(&inputs, &strict).unwrap().guard(), "source_drop");
        let p = plan(90, 0);
        let inputs = Inputs {
            plan: &p,
            source_groups: 90,
            ..inputs
        };
        assert_eq!(check(&inputs, &strict), None);
    }

    #[test]
    fn ten_percent_of_creates_pass_and_more_do_not() {
        let last = success(100, 100, 0);
        assert_eq!(run(&plan(90, 10), Some(&last), false), None);
        let tripped = run(&plan(89, 11), Some(&last), false).unwrap();
        assert_eq!(
            tripped,
            Tripped::MassCreate {
                creates: 11,
                source: 100,
                max_percent: 10
            }
        );
        assert!(tripped.to_string().contains("scim.base_url"), "{tripped}");
    }

    #[test]
    fn a_few_creates_on_a_small_source_always_pass() {
        // one new group of five is 20 %, but within `creates_always_allowed`
        let last = success(4, 4, 0);
        assert_eq!(run(&plan(4, 1), Some(&last), false), None);
        assert_eq!(run(&plan(4, 5), Some(&last), false), None);
        let tripped = run(&plan(4, 6), Some(&last), false).unwrap();
        assert_eq!(tripped.guard(), "mass_create");
        let percentage_alone = SafetySettings {
            creates_always_allowed: 0,
            ..SafetySettings::default()
        };
        let p = plan(4, 1);
        let inputs = Inputs {
            plan: &p,
            source_groups: 5,
            last_success: Some(&last),
            force: false,
            source_filter: "",
            attributes_seen: "",
        };
        assert_eq!(
            check(&inputs, &percentage_alone).unwrap().guard(),
            "mass_create"
        );
    }

    #[test]
    fn an_empty_target_is_refused_when_the_last_run_left_groups_there() {
        let found_some = success(10, 10, 0);
        assert_eq!(
            run(&plan(0, 10), Some(&found_some), false),
            Some(Tripped::EmptyTarget { before: 10 })
        );
        let created_some = success(10, 0, 10);
        assert_eq!(
            run(&plan(0, 10), Some(&created_some), false).map(|t| t.guard()),
            Some("empty_target")
        );
        // One group found is not an empty target.
        assert_eq!(run(&plan(1, 0), Some(&success(1, 1, 0)), false), None);
    }

    #[test]
    fn an_empty_target_passes_when_the_last_run_left_nothing() {
        let last = success(1, 0, 0);
        let mut p = plan(0, 0);
        p.items.push(Planned {
            group: SourceGroup {
                id: "x".into(),
                name: String::new(),
                value: String::new(),
            },
            action: Action::Skip(crate::report::SkipReason::EmptyName),
        });
        assert_eq!(run(&p, Some(&last), false), None);
    }

    #[test]
    fn force_lets_any_run_through() {
        let last = success(100, 100, 0);
        assert_eq!(run(&plan(0, 0), None, true), None);
        assert_eq!(run(&plan(0, 100), Some(&last), true), None);
        assert_eq!(run(&plan(10, 0), Some(&last), true), None);
    }

    #[test]
    fn a_refusal_is_a_guard_refused_error_naming_the_guard() {
        let e = Tripped::EmptyTarget { before: 3 }.refusal();
        let f = e.failure();
        assert_eq!(f.kind.as_str(), "guard_refused");
        assert!(f.message.contains("empty_target"), "{f}");
        assert!(f.message.contains("nothing was changed"), "{f}");
    }

    #[test]
    fn more_deletes_than_allowed_refuse_the_run_unless_forced() {
        use crate::domain::ManagedGroup;
        use crate::sync::plan::{OrphanAction, PlannedOrphan};
        let mut p = plan(5, 0);
        let orphan = |i: usize, action: OrphanAction| PlannedOrphan {
            group: ManagedGroup {
                external_id: format!("o{i}"),
                scim_id: format!("so{i}"),
                name: format!("O{i}"),
                missing_runs: 1,
            },
            name: format!("O{i}"),
            action,
        };
        p.orphans = vec![
            orphan(1, OrphanAction::Delete),
            orphan(2, OrphanAction::Delete),
            orphan(3, OrphanAction::Report),
        ];
        let last = success(5, 5, 0);
        let limit = |max: u32| SafetySettings {
            max_deletes_per_run: max,
            ..SafetySettings::default()
        };
        let tripped =
            run_with(&p, Some(&last), false, &limit(1)).expect("two deletes, one allowed");
        assert_eq!(tripped, Tripped::MassDelete { deletes: 2, max: 1 });
        assert_eq!(tripped.guard(), "mass_delete");
        assert!(tripped.to_string().contains("safety.max_deletes_per_run"));
        assert_eq!(run_with(&p, Some(&last), false, &limit(2)), None);
        assert_eq!(run_with(&p, Some(&last), true, &limit(1)), None);
    }
}
