//! The filter parser: trees of valid filters, errors of invalid ones, JSON escapes.

use super::*;

fn cmp(name: &str, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare {
        path: AttrPath::parse(name, 1).unwrap(),
        op,
        value,
    }
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.to_owned())
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

#[test]
fn valid_filters_give_their_trees() {
    use CompareOp::*;
    let table: Vec<(&str, Filter)> = vec![
        (
            r#"displayName eq "Finance""#,
            cmp("displayName", Eq, s("Finance")),
        ),
        (r#"DISPLAYNAME EQ "x""#, cmp("DISPLAYNAME", Eq, s("x"))),
        ("  externalId   ne  \"a\"  ", cmp("externalId", Ne, s("a"))),
        (r#"displayName co "in""#, cmp("displayName", Co, s("in"))),
        (r#"displayName sw "F""#, cmp("displayName", Sw, s("F"))),
        (r#"displayName ew "e""#, cmp("displayName", Ew, s("e"))),
        (
            r#"meta.created gt "2020""#,
            cmp("meta.created", Gt, s("2020")),
        ),
        (
            "displayName pr",
            Filter::Present(AttrPath::simple("displayName")),
        ),
        (
            "displayName PR",
            Filter::Present(AttrPath::simple("displayName")),
        ),
        ("externalId eq null", cmp("externalId", Eq, CompValue::Null)),
        ("x eq true", cmp("x", Eq, CompValue::Bool(true))),
        ("x eq false", cmp("x", Eq, CompValue::Bool(false))),
        (
            "x ge -1.5e3",
            cmp("x", Ge, CompValue::Number("-1.5e3".parse().unwrap())),
        ),
        ("x le 42", cmp("x", Le, CompValue::Number(42.into()))),
        (
            r#"a eq "1" and b eq "2" or c eq "3""#,
            or(
                and(cmp("a", Eq, s("1")), cmp("b", Eq, s("2"))),
                cmp("c", Eq, s("3")),
            ),
        ),
        (
            r#"a eq "1" or b eq "2" and c eq "3""#,
            or(
                cmp("a", Eq, s("1")),
                and(cmp("b", Eq, s("2")), cmp("c", Eq, s("3"))),
            ),
        ),
        (
            r#"a eq "1" AND (b eq "2" Or c eq "3")"#,
            and(
                cmp("a", Eq, s("1")),
                or(cmp("b", Eq, s("2")), cmp("c", Eq, s("3"))),
            ),
        ),
        (
            r#"not (a pr) and b pr"#,
            and(
                Filter::Not(Box::new(Filter::Present(AttrPath::simple("a")))),
                Filter::Present(AttrPath::simple("b")),
            ),
        ),
        (
            r#"NOT(a eq "x")"#,
            Filter::Not(Box::new(cmp("a", Eq, s("x")))),
        ),
        (
            r#"members[value eq "u1"]"#,
            Filter::ValuePath {
                path: AttrPath::simple("members"),
                filter: Box::new(cmp("value", Eq, s("u1"))),
            },
        ),
    ];
    for (input, want) in table {
        assert_eq!(parse(input), Ok(want), "filter {input:?}");
    }
}

#[test]
fn uri_prefixed_paths_split_at_the_last_colon() {
    let f = parse(r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#).unwrap();
    let Filter::Compare { path, .. } = f else {
        panic!("not a comparison: {f:?}");
    };
    assert_eq!(
        path.uri.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:Group")
    );
    assert_eq!(path.name, "displayName");
    assert_eq!(path.sub, None);
    let f = parse(r#"members.$ref pr"#).unwrap();
    assert_eq!(
        f,
        Filter::Present(AttrPath {
            uri: None,
            name: "members".into(),
            sub: Some("$ref".into())
        })
    );
}

#[test]
fn invalid_filters_are_refused_with_a_position() {
    let table = [
        ("", "expected an attribute name"),
        ("garbage", "expected an operator"),
        (r#"displayName eq "x"#, "unterminated string"),
        (r#"displayName eq "a"b""#, "unterminated string"),
        (r#"displayName eq "a" b"#, "expected 'and', 'or' or the end"),
        (r#"displayName foo "x""#, "unknown operator 'foo'"),
        ("displayName eq x", "expected a JSON value"),
        ("displayName eq True", "expected a JSON value"),
        (
            "displayName eq \"fin\tance\"",
            "raw control character U+0009",
        ),
        ("displayName eq \"a\nb\"", "raw control character U+000A"),
        (r#"displayName eq "a\qb""#, "invalid escape"),
        (r#"displayName eq "\u12""#, "four hex digits"),
        (r#"displayName eq "\ud83d""#, "unpaired surrogate"),
        (r#"displayName eq "\ude00x""#, "unpaired surrogate"),
        (r#"displayName eq "\ud83dx""#, "unpaired surrogate"),
        (r#"displayName eq "x" and"#, "expected an attribute name"),
        (r#"(displayName eq "x""#, "expected ')'"),
        (r#"displayName eq "x")"#, "expected 'and', 'or' or the end"),
        (r#"members[value eq "x""#, "expected ']'"),
        ("displayName eq 01", "invalid number"),
        ("displayName eq -", "invalid number"),
        (r#"display*Name eq "x""#, "unexpected character '*'"),
        (r#"1abc eq "x""#, "expected an attribute name"),
        (r#"a.b.c eq "x""#, "invalid attribute path"),
        (r#":a eq "x""#, "unexpected character ':'"),
        (r#"urn:x: eq "x""#, "invalid attribute path"),
        (r#"not a eq "x""#, "unknown operator 'a'"),
    ];
    for (input, want) in table {
        let err = parse(input).expect_err(input);
        assert!(
            err.message.contains(want),
            "{input:?} gave {err}, wanted {want:?}"
        );
    }
    assert_eq!(
        parse(r#"displayName eq "x"#).unwrap_err().column,
        16,
        "the column of the unterminated literal"
    );
}

/// What a client produces with `serde_json::to_string(name)` must parse back to `name`.
#[test]
fn json_escapes_round_trip() {
    let names = [
        r#"R&D "Core" \ Ops"#,
        "tab\there",
        "line\nbreak\r\u{8}\u{c}",
        "Dép. Ventes/Nord+Sud 100% #1 a=b",
        "日本語 😀 groupe",
        "nul\u{0}and\u{1f}",
        "",
    ];
    for name in names {
        let literal = serde_json::to_string(name).unwrap();
        let parsed = parse(&format!("displayName eq {literal}")).unwrap();
        assert_eq!(
            parsed,
            cmp("displayName", CompareOp::Eq, s(name)),
            "{name:?}"
        );
    }
}

#[test]
fn every_json_escape_is_understood() {
    let f = parse(r#"x eq "\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00""#).unwrap();
    assert_eq!(f, cmp("x", CompareOp::Eq, s("\"\\/\u{8}\u{c}\n\r\té😀")));
}
