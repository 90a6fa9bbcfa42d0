use super::*;
use crate::sync::plan::{self, Found, Lookups, Ownership, Refused, Rules};

fn g(id: &str, name: &str, dn: &str) -> SourceGroup {
    SourceGroup {
        id: id.into(),
        name: name.into(),
        value: dn.into(),
    }
}

fn list(p: &[&str]) -> Option<Vec<String>> {
    Some(p.iter().map(|s| (*s).to_owned()).collect())
}

fn reasons(s: &Scoped) -> Vec<(&str, String)> {
    s.left_out
        .iter()
        .map(|(_, g, r)| (g.name.as_str(), r.to_string()))
        .collect()
}

#[test]
fn excludes_win_and_name_the_pattern_that_matched() {
    let scope = Scope::compile(&RawSync {
        include_names: list(&["GRP_.*", "Finance"]),
        exclude_names: list(&["x", ".*_test"]),
        exclude_dns: list(&[".*,OU=Disabled,.*"]),
        ..RawSync::default()
    })
    .unwrap();
    let groups = vec![
        g("1", "GRP_Sales", "CN=GRP_Sales,OU=Groups,DC=corp"),
        g("2", "grp_sales_TEST", "CN=x,OU=Groups,DC=corp"),
        g("3", "GRP_Old", "CN=GRP_Old,ou=disabled,DC=corp"),
        g("4", "Marketing", "CN=Marketing,OU=Groups,DC=corp"),
        g("5", "FINANCE", ""),
    ];
    let s = scope.apply(&groups);
    let kept: Vec<&str> = s.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(kept, vec!["GRP_Sales", "FINANCE"]);
    assert_eq!(
        reasons(&s),
        vec![
            (
                "grp_sales_TEST",
                "left out by sync.exclude_names[1] (\".*_test\")".to_owned()
            ),
            (
                "GRP_Old",
                "left out by sync.exclude_dns[0] (\".*,OU=Disabled,.*\")".to_owned()
            ),
            (
                "Marketing",
                "left out: it matches none of sync.include_names".to_owned()
            ),
        ]
    );
}

#[test]
fn patterns_match_the_whole_value_and_can_be_case_sensitive() {
    let scope = Scope::compile(&RawSync {
        exclude_names: list(&["Fin"]),
        ..RawSync::default()
    })
    .unwrap();
    assert!(scope.apply(&[g("1", "Finance", "")]).left_out.is_empty());
    let scope = Scope::compile(&RawSync {
        exclude_names: list(&["finance"]),
        patterns_case_sensitive: Some(true),
        ..RawSync::default()
    })
    .unwrap();
    assert!(scope.apply(&[g("1", "Finance", "")]).left_out.is_empty());
    assert_eq!(scope.apply(&[g("1", "finance", "")]).left_out.len(), 1);
}

#[test]
fn include_dns_keep_only_groups_under_an_ou() {
    let scope = Scope::compile(&RawSync {
        include_dns: list(&[".*,OU=Alation,DC=corp,DC=example"]),
        ..RawSync::default()
    })
    .unwrap();
    let s = scope.apply(&[
        g("1", "A", "CN=A,OU=Alation,DC=corp,DC=example"),
        g("2", "B", "CN=B,OU=Other,DC=corp,DC=example"),
        g("3", "C", ""),
    ]);
    assert_eq!(s.groups.len(), 1);
    assert_eq!(
        s.left_out[0].2,
        SkipReason::OutOfScope {
            rule: "sync.include_dns".into(),
            pattern: None
        }
    );
}

#[test]
fn bad_patterns_are_refused_naming_the_key_and_index() {
    let e = Scope::compile(&RawSync {
        exclude_dns: list(&["ok", "CN=(unclosed"]),
        ..RawSync::default()
    })
    .unwrap_err();
    assert_eq!(e.key, "sync.exclude_dns[1]");
    assert!(e.problem.contains("CN=(unclosed"), "{e}");
    let e = Scope::compile(&RawSync {
        name_strip_prefix: Some("[".into()),
        ..RawSync::default()
    })
    .unwrap_err();
    assert_eq!(e.key, "sync.name_strip_prefix");
    let e = Scope::compile(&RawSync {
        name_case: Some("title".into()),
        ..RawSync::default()
    })
    .unwrap_err();
    assert_eq!(e.key, "sync.name_case");
}

#[test]
fn a_template_that_strips_everything_is_refused() {
    for strip in [".*", "(?s).*", ".*?$"] {
        let e = Scope::compile(&RawSync {
            name_strip_prefix: Some(strip.into()),
            name_prefix: Some("AD-".into()),
            ..RawSync::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "sync.name_strip_prefix", "{strip}");
    }
}

#[test]
fn the_template_strips_changes_case_and_adds() {
    let scope = Scope::compile(&RawSync {
        name_strip_prefix: Some("GRP_".into()),
        name_case: Some("upper".into()),
        name_prefix: Some("AD-".into()),
        name_suffix: Some("-x".into()),
        ..RawSync::default()
    })
    .unwrap();
    let s = scope.apply(&[
        g("1", "grp_Finance", ""),
        g("2", "Sales", ""),
        g("3", "GRP_", ""),
        g("4", "GRP_  ", ""),
    ]);
    let kept: Vec<&str> = s.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(kept, vec!["AD-FINANCE-x", "AD-SALES-x"]);
    assert_eq!(s.renamed["1"], "grp_Finance");
    assert_eq!(s.left_out.len(), 2);
    assert!(
        s.left_out
            .iter()
            .all(|(_, _, r)| *r == SkipReason::EmptyMappedName)
    );
}

#[test]
fn groups_mapped_to_one_name_are_twins_and_positions_survive_the_merge() {
    let scope = Scope::compile(&RawSync {
        name_strip_prefix: Some("(GRP|APP)_".into()),
        exclude_names: list(&["skip.*"]),
        ..RawSync::default()
    })
    .unwrap();
    let groups = vec![
        g("b", "APP_Finance", ""),
        g("c", "skip me", ""),
        g("a", "GRP_finance", ""),
    ];
    let mut s = scope.apply(&groups);
    let rules = Rules {
        max_name_length: None,
    };
    let names: Vec<&str> = plan::candidates(&s.groups, rules)
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, vec!["finance"]);
    let lookups: Lookups = [("finance".to_owned(), Ok(vec![]))].into();
    let found = Found {
        by_name: lookups,
        by_external_id: s
            .groups
            .iter()
            .map(|g| (g.id.clone(), Ok(vec![])))
            .collect(),
        listed: None,
    };
    let p = s.merge(plan::plan(
        &s.groups,
        &found,
        rules,
        Ownership::default(),
        &Refused::new(),
    ));
    assert_eq!(p.items.len(), 3);
    assert_eq!(
        p.items[0].action,
        Action::Twin {
            of: "finance".into(),
            first: 2
        }
    );
    assert!(matches!(p.items[1].action, Action::Skip(_)));
    assert_eq!(p.items[1].group.name, "skip me");
    assert_eq!(p.items[2].action, Action::Create);

    let mut outcomes: Vec<GroupOutcome> = p
        .items
        .iter()
        .map(|i| GroupOutcome {
            source_id: i.group.id.clone(),
            name: i.group.name.clone(),
            source_name: None,
            outcome: crate::report::Outcome::WouldCreate,
        })
        .collect();
    s.annotate(&mut outcomes);
    assert_eq!(outcomes[0].source_name.as_deref(), Some("APP_Finance"));
    assert_eq!(outcomes[1].source_name, None);
}

#[test]
fn the_empty_scope_keeps_everything_as_it_is() {
    let groups = vec![g("1", "A", ""), g("2", "", "")];
    let s = Scope::default().apply(&groups);
    assert_eq!(s.groups, groups);
    assert!(s.renamed.is_empty() && s.left_out.is_empty());
}
