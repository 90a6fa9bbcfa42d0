//! Query strings and filter expressions, written by hand.
//!
//! reqwest's `.query()` goes through `application/x-www-form-urlencoded`, which turns a
//! space into `+`. SailPoint documents its filters percent-encoded with `%20`, so the
//! query is built here: every byte but the RFC 3986 unreserved characters is escaped.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but `A-Z a-z 0-9 - . _ ~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `k1=v1&k2=v2`, keys and values percent-encoded, in the order given.
pub fn encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, COMPONENT),
                utf8_percent_encode(v, COMPONENT)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A filter value as a JSON string literal: quotes and backslashes escaped (`\"`, `\\`),
/// as SailPoint's filter syntax expects.
pub fn literal(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// `field eq "value"`.
pub fn eq(field: &str, value: &str) -> String {
    format!("{field} eq {}", literal(value))
}

/// `first and extra`, as one conjunction: `extra` is put in parentheses when it has an `or`
/// outside its string literals, since `and` binds tighter than `or`. Joined bare,
/// `source.id eq "…" and a or b` would read the entitlements matching `b` from every source.
pub fn and(first: &str, extra: &str) -> String {
    if has_or(extra) {
        format!("{first} and ({extra})")
    } else {
        format!("{first} and {extra}")
    }
}

/// Whether `filter` has the word `or` outside its string literals (any case: the tenant
/// refuses a capitalised operator, and parentheses do no harm then).
fn has_or(filter: &str) -> bool {
    let mut word = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in filter.chars().chain([' ']) {
        if quoted {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => escaped = false,
            }
            continue;
        }
        if c.is_alphanumeric() || matches!(c, '.' | '_') {
            word.push(c);
            continue;
        }
        if word.eq_ignore_ascii_case("or") {
            return true;
        }
        word.clear();
        quoted = c == '"';
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_or_in_the_extra_filter_is_kept_inside_parentheses() {
        let source = eq("source.id", "2c91");
        assert_eq!(
            and(&source, r#"attribute eq "memberOf""#),
            r#"source.id eq "2c91" and attribute eq "memberOf""#
        );
        assert_eq!(
            and(
                &source,
                r#"attribute eq "memberOf" or attribute eq "groups""#
            ),
            r#"source.id eq "2c91" and (attribute eq "memberOf" or attribute eq "groups")"#
        );
        assert_eq!(
            and(&source, r#"name sw "A" OR name sw "B""#),
            r#"source.id eq "2c91" and (name sw "A" OR name sw "B")"#
        );
        // `or` inside a literal, or inside a longer word, is no operator
        for bare in [
            r#"name eq "Sales or Marketing""#,
            r#"name eq "a \" or b""#,
            r#"origin eq "x" and attribute eq "memberOf""#,
            r#"name co "or""#,
        ] {
            assert_eq!(and(&source, bare), format!("{source} and {bare}"), "{bare}");
        }
        assert!(
            has_or(r#"name eq "x\\" or name eq "y""#),
            "an escaped backslash ends"
        );
    }

    #[test]
    fn spaces_and_quotes_are_percent_encoded() {
        let q = encode(&[
            ("filters", eq("source.id", "2c91")),
            ("sorters", "-created".into()),
        ]);
        assert_eq!(q, "filters=source.id%20eq%20%222c91%22&sorters=-created");
    }

    #[test]
    fn values_are_json_string_literals() {
        assert_eq!(literal(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            encode(&[("f", eq("name", "R&D #1 100%"))]),
            "f=name%20eq%20%22R%26D%20%231%20100%25%22"
        );
        assert_eq!(encode(&[("f", literal("é"))]), "f=%22%C3%A9%22");
    }
}
