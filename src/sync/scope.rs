//! The scope stage, before any target lookup: which source groups are synchronised at all
//! (include and exclude patterns on the name and on the DN), and under which name (the
//! name template). Pure, like the plan.
//!
//! Patterns are regular expressions (the `regex` crate's syntax) matched against the
//! whole name or DN, case-insensitively unless `sync.patterns_case_sensitive` (AD compares
//! names and DNs ignoring case). Regular expressions rather than globs: a DN is full of
//! characters a glob gives meaning to or cannot express (`,`, `=`, alternatives of OUs),
//! and the crate is already part of groupsync.
//!
//! A group is left out when it matches an exclude pattern (names first, then DNs), or when
//! an include list is set and it matches none of that list. The template then strips a
//! leading pattern, changes the case and adds a prefix and a suffix; two groups mapped to
//! the same name are case twins for the plan.

use super::plan::{Action, Plan};
use crate::config::ConfigError;
use crate::config::raw::RawSync;
use crate::domain::SourceGroup;
use crate::report::{GroupOutcome, SkipReason};
use regex::{Regex, RegexBuilder};
use std::collections::HashMap;

/// How the template changes the case of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameCase {
    Keep,
    Lower,
    Upper,
}

/// One list of patterns, with the key it was configured under.
#[derive(Debug, Clone)]
struct Patterns {
    key: &'static str,
    list: Vec<(String, Regex)>,
}

impl Patterns {
    fn compile(
        key: &'static str,
        raw: &Option<Vec<String>>,
        case_sensitive: bool,
    ) -> Result<Self, ConfigError> {
        let list = raw
            .iter()
            .flatten()
            .cloned()
            .enumerate()
            .map(|(i, p)| {
                let re = build(&format!("^(?:{p})$"), case_sensitive)
                    .map_err(|e| invalid(&format!("{key}[{i}]"), &p, &e))?;
                Ok((p, re))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Patterns { key, list })
    }

    /// The index and text of the first pattern matching `text`.
    fn first_match(&self, text: &str) -> Option<(usize, &str)> {
        self.list
            .iter()
            .position(|(_, re)| re.is_match(text))
            .map(|i| (i, self.list[i].0.as_str()))
    }

    /// Why `text` is left out by this exclude list.
    fn excludes(&self, text: &str) -> Option<SkipReason> {
        self.first_match(text).map(|(i, p)| SkipReason::OutOfScope {
            rule: format!("{}[{i}]", self.key),
            pattern: Some(p.to_owned()),
        })
    }

    /// Why `text` is left out by this include list (set, and nothing in it matches).
    fn fails_include(&self, text: &str) -> Option<SkipReason> {
        (!self.list.is_empty() && self.first_match(text).is_none()).then(|| {
            SkipReason::OutOfScope {
                rule: self.key.to_owned(),
                pattern: None,
            }
        })
    }
}

fn build(pattern: &str, case_sensitive: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .build()
}

fn invalid(key: &str, pattern: &str, e: &regex::Error) -> ConfigError {
    // The regex error spans several lines; its last line says what is wrong.
    let why = e.to_string();
    let why = why.lines().last().unwrap_or_default().trim().to_owned();
    ConfigError::new(
        key,
        format!("is not a valid regular expression ({why}): {pattern:?}"),
    )
}

/// Which groups are synchronised and under which name (validated `[sync]` keys).
#[derive(Debug, Clone)]
pub struct Scope {
    include_names: Patterns,
    exclude_names: Patterns,
    include_dns: Patterns,
    exclude_dns: Patterns,
    template: NameTemplate,
}

/// The name template: strip a leading pattern, change the case, add a prefix and suffix.
#[derive(Debug, Clone)]
pub struct NameTemplate {
    strip_prefix: Option<Regex>,
    case: NameCase,
    prefix: String,
    suffix: String,
}

/// Names a template is tried on at start-up: one that leaves nothing of any of them would
/// leave nothing of every name.
const PROBES: [&str; 6] = ["", "a", "Finance", "GRP_Sales-EMEA", "x y.z", "Équipe_9"];

impl NameTemplate {
    /// The name `name` maps to; `None` when nothing is left of it.
    pub fn map(&self, name: &str) -> Option<String> {
        let rest = match &self.strip_prefix {
            Some(re) => re.find(name).map_or(name, |m| &name[m.end()..]),
            None => name,
        };
        if rest.trim().is_empty() {
            return None;
        }
        let rest = match self.case {
            NameCase::Keep => rest.to_owned(),
            NameCase::Lower => rest.to_lowercase(),
            NameCase::Upper => rest.to_uppercase(),
        };
        Some(format!("{}{rest}{}", self.prefix, self.suffix))
    }

    fn is_identity(&self) -> bool {
        self.strip_prefix.is_none()
            && self.case == NameCase::Keep
            && self.prefix.is_empty()
            && self.suffix.is_empty()
    }
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::compile(&RawSync::default()).expect("the empty scope is valid")
    }
}

impl Scope {
    /// Compiles the patterns and the template of `[sync]`; an error names the key (and the
    /// pattern's index in its list).
    pub fn compile(r: &RawSync) -> Result<Scope, ConfigError> {
        let cs = r.patterns_case_sensitive.unwrap_or(false);
        let case = match r.name_case.as_deref().unwrap_or("keep") {
            "keep" => NameCase::Keep,
            "lower" => NameCase::Lower,
            "upper" => NameCase::Upper,
            other => {
                return Err(ConfigError::new(
                    "sync.name_case",
                    format!("must be `keep`, `lower` or `upper`, got {other:?}"),
                ));
            }
        };
        let strip_prefix = match r.name_strip_prefix.as_ref().filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => Some(
                build(&format!("^(?:{p})"), cs)
                    .map_err(|e| invalid("sync.name_strip_prefix", p, &e))?,
            ),
        };
        let template = NameTemplate {
            strip_prefix,
            case,
            prefix: r.name_prefix.clone().unwrap_or_default(),
            suffix: r.name_suffix.clone().unwrap_or_default(),
        };
        if PROBES.iter().all(|p| template.map(p).is_none()) {
            return Err(ConfigError::new(
                "sync.name_strip_prefix",
                "strips every name entirely, so no group would keep a name",
            ));
        }
        Ok(Scope {
            include_names: Patterns::compile("sync.include_names", &r.include_names, cs)?,
            exclude_names: Patterns::compile("sync.exclude_names", &r.exclude_names, cs)?,
            include_dns: Patterns::compile("sync.include_dns", &r.include_dns, cs)?,
            exclude_dns: Patterns::compile("sync.exclude_dns", &r.exclude_dns, cs)?,
            template,
        })
    }

    /// Why `group` is left out, if it is (the first rule that leaves it out).
    fn left_out(&self, group: &SourceGroup) -> Option<SkipReason> {
        self.exclude_names
            .excludes(&group.name)
            .or_else(|| self.exclude_dns.excludes(&group.value))
            .or_else(|| self.include_names.fails_include(&group.name))
            .or_else(|| self.include_dns.fails_include(&group.value))
    }

    /// Splits the source's groups into those in scope (renamed by the template) and those
    /// left out, keeping their positions.
    pub fn apply(&self, groups: &[SourceGroup]) -> Scoped {
        self.apply_owned(groups.to_vec())
    }

    /// As [`Scope::apply`], moving the groups rather than copying them.
    pub fn apply_owned(&self, groups: Vec<SourceGroup>) -> Scoped {
        let mut scoped = Scoped {
            total: groups.len(),
            groups: Vec::with_capacity(groups.len()),
            ..Scoped::default()
        };
        for (i, mut g) in groups.into_iter().enumerate() {
            if let Some(reason) = self.left_out(&g) {
                scoped.left_out.push((i, g, reason));
                continue;
            }
            if self.template.is_identity() {
                scoped.groups.push(g);
                scoped.positions.push(i);
                continue;
            }
            match self.template.map(&g.name) {
                None => scoped.left_out.push((i, g, SkipReason::EmptyMappedName)),
                Some(name) => {
                    if name != g.name {
                        let from = std::mem::replace(&mut g.name, name);
                        scoped.renamed.insert(g.id.clone(), from);
                    }
                    scoped.groups.push(g);
                    scoped.positions.push(i);
                }
            }
        }
        scoped
    }
}

/// The source's groups after scoping.
#[derive(Debug, Clone, Default)]
pub struct Scoped {
    /// The groups in scope, named as the template maps them, in source order.
    pub groups: Vec<SourceGroup>,
    /// The source position of each group in `groups`.
    positions: Vec<usize>,
    /// The groups left out, with their source position and why.
    pub left_out: Vec<(usize, SourceGroup, SkipReason)>,
    /// The source name of each renamed group, by entitlement id.
    pub renamed: HashMap<String, String>,
    total: usize,
}

impl Scoped {
    /// The plan of the groups in scope, with the groups left out put back in source order
    /// as skipped (case twins point at their first's new position).
    pub fn merge(&mut self, plan: Plan) -> Plan {
        if self.left_out.is_empty() {
            return plan;
        }
        let mut slots: Vec<Option<super::plan::Planned>> = vec![None; self.total];
        for (i, group, reason) in std::mem::take(&mut self.left_out) {
            slots[i] = Some(super::plan::Planned {
                group,
                action: Action::Skip(reason),
            });
        }
        for (k, mut item) in plan.items.into_iter().enumerate() {
            if let Action::Twin { first, .. } = &mut item.action {
                *first = self.positions[*first];
            }
            slots[self.positions[k]] = Some(item);
        }
        Plan {
            items: slots.into_iter().flatten().collect(),
            orphans: plan.orphans,
        }
    }

    /// Marks each outcome of a renamed group with its source name.
    pub fn annotate(&self, outcomes: &mut [GroupOutcome]) {
        for o in outcomes {
            if let Some(from) = self.source_name(&o.source_id, &o.name) {
                o.source_name = Some(from.to_owned());
            }
        }
    }

    /// The source name of the group `id`, when the template renamed it to other than `name`.
    pub fn source_name(&self, id: &str, name: &str) -> Option<&str> {
        self.renamed
            .get(id)
            .filter(|from| *from != name)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests;
