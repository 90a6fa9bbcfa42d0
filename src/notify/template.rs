//! Email subjects and bodies as minijinja templates, checked when the configuration is read.
//!
//! Values reach a template only as data: a group named `{{ 7*7 }}` is printed as it is,
//! never evaluated. Mail is plain text, so nothing is HTML-escaped. A variable the template
//! does not know is an error (strict undefined), found at start-up rather than at the first
//! run that needs the template.
//!
//! The single-brace placeholders of earlier versions (`{group}`, `{created}` …) still work:
//! a template without `{{` or `{%` is read in the old form and translated.

use crate::config::EmailSettings;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;
use std::collections::BTreeSet;

/// `list(title, items, total)`: nothing for no items, else a blank line, `title (total):`,
/// one `  - "name": reason` line per item, and how many more there are when the list was
/// cut at `email.max_listed_groups`.
macro_rules! list_macro {
    () => {
        concat!(
            "{% macro list(title, items, total) %}{% if items %}\n",
            "{{ title }} ({{ total }}):\n",
            "{% for g in items %}  - \"{{ g.name }}\"{% if g.reason %}: {{ g.reason }}{% endif %}\n",
            "{% endfor %}{% if total > items|length %}  and {{ total - items|length }} more, ",
            "listed in the run's history\n{% endif %}{% endif %}{% endmacro %}",
        )
    };
}

macro_rules! loop_lines {
    () => {
        concat!(
            "\n{%- if close_loop %}\nIdentityNow entitlement aggregation of the Alation SCIM source ",
            "({{ close_loop.state }}): {{ close_loop.message }}\n",
            "{% for name in close_loop.missing %}  not an entitlement yet: {{ name }}\n{% endfor %}{% endif %}",
        )
    };
}

macro_rules! stopped_line {
    () => {
        "{%- if stopped %}\nThe run stopped early ({{ stopped.kind }}): {{ stopped.message }}\n{% endif %}"
    };
}

/// The one group a `per_group` notice is about.
#[derive(Debug, Clone, Serialize)]
pub struct GroupValues {
    pub group: String,
    pub source: String,
}

/// A whole run: the digest, and the `per_group` summary of groups not created. Each list
/// holds at most `email.max_listed_groups` groups; its count is the whole run's.
#[derive(Debug, Clone, Serialize)]
pub struct RunValues {
    pub run_id: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: String,
    pub created: usize,
    pub existing: usize,
    pub skipped: usize,
    pub failed: usize,
    pub adopted: usize,
    pub renamed: usize,
    pub would_rename: usize,
    pub orphans: usize,
    pub deleted: usize,
    pub created_groups: Vec<Item>,
    pub existing_groups: Vec<Item>,
    pub skipped_groups: Vec<Item>,
    pub failed_groups: Vec<Item>,
    /// Found existing without an externalId and given ours (`sync.adopt`).
    pub adopted_groups: Vec<Item>,
    /// Renamed after their AD group; the reason gives the former name.
    pub renamed_groups: Vec<Item>,
    /// Still under their AD group's former name (without `sync.rename`).
    pub would_rename_groups: Vec<Item>,
    /// Groups groupsync owns whose AD group is gone, not deleted.
    pub orphan_groups: Vec<Item>,
    /// Orphans deleted (`sync.delete_orphans`).
    pub deleted_groups: Vec<Item>,
    /// Why the run stopped early; none when it did not.
    pub stopped: Option<Stopped>,
    /// The aggregation of the Alation SCIM source after creates; none when there was none.
    pub close_loop: Option<LoopValues>,
}

/// The close-the-loop step (`identitynow.scim_source`) as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct LoopValues {
    /// `closed`, `incomplete`, `not_done`, `timed_out` or `failed`.
    pub state: String,
    pub message: String,
    /// Created groups the source did not list after an `incomplete` aggregation.
    pub missing: Vec<String>,
}

/// One group in a list: its name and, when there is one, why it is listed (the reason it
/// was skipped, the target's answer when it failed, the group whose name it matched).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    pub kind: String,
    pub message: String,
}

/// Which values a template is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Group,
    Run,
}

/// One configurable template: its key, its default and what it is given.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub key: &'static str,
    pub default: &'static str,
    kind: Kind,
    /// Lines are joined into one (subjects).
    pub one_line: bool,
}

pub const SUBJECT: Slot = Slot {
    key: "email.subject_template",
    default: "Alation group {{ group }} already exists",
    kind: Kind::Group,
    one_line: true,
};
pub const BODY: Slot = Slot {
    key: "email.body_template",
    default: "The group {{ group }} from Active Directory already exists in Alation; groupsync did not create it.",
    kind: Kind::Group,
    one_line: false,
};
pub const DIGEST_SUBJECT: Slot = Slot {
    key: "email.digest_subject_template",
    default: "groupsync: {{ created }} created, {{ existing }} already existed",
    kind: Kind::Run,
    one_line: true,
};
pub const DIGEST_BODY: Slot = Slot {
    key: "email.digest_body_template",
    default: concat!(
        list_macro!(),
        "groupsync run {{ run_id }} for the source {{ source }}, {{ started_at }} to {{ finished_at }}.\n",
        "{{ list(\"Created in Alation\", created_groups, created) }}\n",
        "{{- list(\"Already in Alation, not created\", existing_groups, existing) }}\n",
        "{{- list(\"Skipped\", skipped_groups, skipped) }}\n",
        "{{- list(\"Adopted: found existing without an externalId, now groupsync's own\", adopted_groups, adopted) }}\n",
        "{{- list(\"Renamed after their AD group\", renamed_groups, renamed) }}\n",
        "{{- list(\"Would rename: their AD group was renamed (sync.rename is off)\", would_rename_groups, would_rename) }}\n",
        "{{- list(\"Orphans: their AD group is gone, not deleted\", orphan_groups, orphans) }}\n",
        "{{- list(\"Deleted: their AD group was gone on two successful runs in a row\", deleted_groups, deleted) }}\n",
        "{{- list(\"Failed\", failed_groups, failed) }}\n",
        stopped_line!(),
        loop_lines!(),
    ),
    kind: Kind::Run,
    one_line: false,
};
pub const SUMMARY_SUBJECT: Slot = Slot {
    key: "email.summary_subject_template",
    default: "groupsync: {{ skipped }} skipped, {{ failed }} failed, not created in Alation",
    kind: Kind::Run,
    one_line: true,
};
pub const SUMMARY_BODY: Slot = Slot {
    key: "email.summary_body_template",
    default: concat!(
        list_macro!(),
        "groupsync run {{ run_id }} for the source {{ source }}, {{ started_at }} to {{ finished_at }}: ",
        "these groups were not created in Alation.\n",
        "{{ list(\"Skipped\", skipped_groups, skipped) }}\n",
        "{{- list(\"Failed\", failed_groups, failed) }}\n",
        stopped_line!(),
    ),
    kind: Kind::Run,
    one_line: false,
};

/// Every template of `settings` with its slot, in the order of the keys.
pub fn configured(settings: &EmailSettings) -> [(Slot, &str); 6] {
    [
        (SUBJECT, &settings.subject_template),
        (BODY, &settings.body_template),
        (DIGEST_SUBJECT, &settings.digest_subject_template),
        (DIGEST_BODY, &settings.digest_body_template),
        (SUMMARY_SUBJECT, &settings.summary_subject_template),
        (SUMMARY_BODY, &settings.summary_body_template),
    ]
}

/// The placeholders the old single-brace form replaced, per kind; others stay as written.
fn old_placeholders(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Group => &["group", "source"],
        Kind::Run => &["created", "existing", "skipped", "failed", "source"],
    }
}

/// `text` as a minijinja template: as it is when it has `{{` or `{%`; otherwise read in the
/// old form, each known `{name}` becoming `{{ name }}` and the rest kept literally.
fn translate(text: &str, kind: Kind) -> String {
    if text.contains("{{") || text.contains("{%") {
        return text.to_owned();
    }
    let known = old_placeholders(kind);
    let mut out = String::with_capacity(text.len() + 16);
    let mut literal = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after
            .find('}')
            .map(|close| &after[..close])
            .filter(|name| known.contains(name));
        match name {
            Some(name) => {
                push_literal(&mut out, &literal);
                literal.clear();
                out.push_str("{{ ");
                out.push_str(name);
                out.push_str(" }}");
                rest = &after[name.len() + 1..];
            }
            None => {
                literal.push('{');
                rest = after;
            }
        }
    }
    literal.push_str(rest);
    push_literal(&mut out, &literal);
    out
}

/// Literal text that could start a comment (`{#`) or touch a tag is kept raw.
fn push_literal(out: &mut String, literal: &str) {
    if literal.contains('{') || literal.contains('}') {
        out.push_str("{% raw %}");
        out.push_str(literal);
        out.push_str("{% endraw %}");
    } else {
        out.push_str(literal);
    }
}

fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}

/// The templates of one set of settings, read once, rendered for many notices.
pub struct Renderer {
    sources: Vec<(Slot, String)>,
    env: Environment<'static>,
    max_listed: usize,
}

impl Renderer {
    pub fn new(settings: &EmailSettings) -> Renderer {
        Renderer {
            sources: configured(settings)
                .into_iter()
                .map(|(slot, text)| (slot, translate(text, slot.kind)))
                .collect(),
            env: environment(),
            max_listed: settings.max_listed_groups,
        }
    }

    /// `email.max_listed_groups`: the most groups a list of a run-wide notice names.
    pub fn max_listed(&self) -> usize {
        self.max_listed
    }

    /// `slot`'s template with `values`; its default when the configured one fails (it was
    /// checked at start-up, so only a value the sample did not have can make it fail).
    pub fn render(&self, slot: Slot, values: &impl Serialize) -> String {
        let source = self
            .sources
            .iter()
            .find(|(s, _)| s.key == slot.key)
            .map_or(slot.default, |(_, text)| text.as_str());
        let env = &self.env;
        let ctx = Value::from_serialize(values);
        let text = env.render_str(source, &ctx).unwrap_or_else(|e| {
            tracing::warn!(key = slot.key, error = %e, "email template failed; its default is used");
            env.render_str(slot.default, &ctx)
                .unwrap_or_else(|e| format!("(the email could not be written: {e})"))
        });
        if slot.one_line {
            super::text::one_line(&text)
        } else {
            text
        }
    }
}

/// Checks every template of `settings`: each must parse, use only the variables its key is
/// given, and render against sample values. The error names the key and the problem.
pub fn check(settings: &EmailSettings) -> Result<(), (&'static str, String)> {
    for (slot, text) in configured(settings) {
        check_one(slot, text).map_err(|problem| (slot.key, problem))?;
    }
    Ok(())
}

fn check_one(slot: Slot, text: &str) -> Result<(), String> {
    let source = translate(text, slot.kind);
    let env = environment();
    let template = env
        .template_from_str(&source)
        .map_err(|e| format!("is not a valid template: {e}"))?;
    let sample = sample(slot.kind);
    let known: BTreeSet<String> = sample
        .try_iter()
        .map(|keys| keys.map(|k| k.to_string()).collect())
        .unwrap_or_default();
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !known.contains(v) && !globals.contains(v.as_str()))
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        return Err(format!(
            "uses {} it is not given ({}); it can use {}",
            if unknown.len() == 1 {
                "a variable"
            } else {
                "variables"
            },
            unknown.join(", "),
            known.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    if slot.key == SUBJECT.key && !template.undeclared_variables(false).contains("group") {
        return Err("must contain the group's name: {{ group }} (or {group})".into());
    }
    template
        .render(&sample)
        .map(|_| ())
        .map_err(|e| format!("cannot be rendered: {e}"))
}

/// Values of every variable a template of `kind` is given, for checking it.
fn sample(kind: Kind) -> Value {
    let item = |name: &str, reason: &str| Item {
        name: name.into(),
        reason: reason.into(),
    };
    match kind {
        Kind::Group => Value::from_serialize(GroupValues {
            group: "Finance".into(),
            source: "Active Directory".into(),
        }),
        Kind::Run => Value::from_serialize(RunValues {
            run_id: "run".into(),
            source: "Active Directory".into(),
            started_at: "2026-01-01 00:00:00 UTC".into(),
            finished_at: "2026-01-01 00:00:01 UTC".into(),
            created: 1,
            existing: 1,
            skipped: 1,
            failed: 1,
            adopted: 1,
            renamed: 1,
            would_rename: 1,
            orphans: 1,
            deleted: 1,
            created_groups: vec![item("Finance", "")],
            existing_groups: vec![item("HR", "")],
            skipped_groups: vec![item(" ", "the name is empty or whitespace")],
            failed_groups: vec![item("Ops", "the SCIM server failed (502)")],
            adopted_groups: vec![item("Sales", "")],
            renamed_groups: vec![item("Finance EU", "was \"Finance\"")],
            would_rename_groups: vec![item("People", "still named \"HR\" in Alation")],
            orphan_groups: vec![item("Old", "")],
            deleted_groups: vec![item("Older", "")],
            stopped: Some(Stopped {
                kind: "shutdown".into(),
                message: "groupsync was stopped".into(),
            }),
            close_loop: Some(LoopValues {
                state: "incomplete".into(),
                message: "1 of 2 created groups is an entitlement".into(),
                missing: vec!["Finance".into()],
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_form_is_translated() {
        assert_eq!(
            translate("Alation group {group} already exists", Kind::Group),
            "Alation group {{ group }} already exists"
        );
        assert_eq!(
            translate("{created} {unknown} {#1} {", Kind::Run),
            "{{ created }}{% raw %} {unknown} {#1} {{% endraw %}"
        );
        assert_eq!(
            translate("{{ group }} {source}", Kind::Group),
            "{{ group }} {source}"
        );
    }

    #[test]
    fn the_defaults_pass_their_own_check() {
        for slot in [
            SUBJECT,
            BODY,
            DIGEST_SUBJECT,
            DIGEST_BODY,
            SUMMARY_SUBJECT,
            SUMMARY_BODY,
        ] {
            assert_eq!(check_one(slot, slot.default), Ok(()), "{}", slot.key);
        }
    }

    #[test]
    fn the_reference_shows_the_default_bodies() {
        let reference = include_str!("../../docs/configuration.md");
        assert!(reference.contains(DIGEST_BODY.default));
        let summary = SUMMARY_BODY.default.trim_start_matches(list_macro!());
        assert!(reference.contains(summary));
    }

    #[test]
    fn bad_templates_are_refused_with_the_problem() {
        let err = check_one(BODY, "{{ group }").unwrap_err();
        assert!(err.starts_with("is not a valid template"), "{err}");
        let err = check_one(BODY, "{{ grop }}").unwrap_err();
        assert!(
            err.contains("(grop)") && err.contains("group, source"),
            "{err}"
        );
        let err = check_one(DIGEST_SUBJECT, "{% if x %}{{ created }}{% endif %}").unwrap_err();
        assert!(err.contains("(x)"), "{err}");
        let err = check_one(DIGEST_BODY, "{{ stopped.reason }}").unwrap_err();
        assert!(err.starts_with("cannot be rendered"), "{err}");
        let err = check_one(SUBJECT, "{{ source }}").unwrap_err();
        assert!(err.contains("group"), "{err}");
        assert_eq!(
            check_one(SUBJECT, "{{ group|upper }} {{ range(2)|length }}"),
            Ok(())
        );
    }
}
