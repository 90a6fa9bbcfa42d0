//! The `filters` query parameter: SailPoint's SCIM-like expressions, restricted to what the
//! simulated endpoints need: terms joined by `and`, string literals in double quotes
//! (`\"` and `\\` escapes), operators `eq`, `in`, `sw`, `co`, `isnull`.
//!
//! Operators and `and` are lowercase, as in the real API; anything unknown or unsupported
//! is an error that names the problem, so a client's mistake shows up in the sandbox
//! instead of silently matching nothing.

use crate::names::fold_case;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Co,
    Sw,
    In,
    Ca,
    Pr,
    IsNull,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "in" => Op::In,
            "ca" => Op::Ca,
            "pr" => Op::Pr,
            "isnull" => Op::IsNull,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }

    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::In => "in",
            Op::Ca => "ca",
            Op::Pr => "pr",
            Op::IsNull => "isnull",
        }
    }
}

/// One filterable field of an endpoint and the operators it accepts.
pub struct FieldSpec {
    pub name: &'static str,
    pub ops: &'static [Op],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filters: unterminated string literal starting at character {0}")]
    Unterminated(usize),
    #[error("filters: unsupported escape `\\{0}` in a string literal (only \\\" and \\\\)")]
    BadEscape(char),
    #[error("filters: unexpected character {0:?} at character {1}")]
    BadChar(char, usize),
    #[error("filters: expected {expected} but found {found}")]
    Expected { expected: String, found: String },
    #[error("filters: unknown operator `{0}` (operators are lowercase: eq, in, sw, co, isnull…)")]
    UnknownOperator(String),
    #[error("filters: `{0}` is not supported by this endpoint; join terms with lowercase `and`")]
    Unsupported(String),
    #[error("filters: field `{field}` cannot be filtered on (supported: {supported})")]
    UnknownField { field: String, supported: String },
    #[error("filters: operator `{op}` is not supported for field `{field}`")]
    OperatorNotAllowed { field: String, op: &'static str },
    #[error(
        "filters: `{field} {op}` needs a date-time such as 2024-01-31T00:00:00Z, not {value:?}"
    )]
    NotADateTime {
        field: String,
        op: &'static str,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Str(s) => format!("string {s:?}"),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::Comma => "`,`".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            '"' => tokens.push(Token::Str(string_literal(&mut chars, at)?)),
            c if c.is_alphanumeric() || "._-:+".contains(c) => {
                let mut word = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if !(n.is_alphanumeric() || "._-:+".contains(n)) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(FilterError::BadChar(other, at)),
        }
    }
    Ok(tokens)
}

fn string_literal(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    start: usize,
) -> Result<String, FilterError> {
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(FilterError::Unterminated(start)),
            Some((_, '"')) => return Ok(value),
            Some((_, '\\')) => match chars.next() {
                Some((_, c @ ('"' | '\\'))) => value.push(c),
                Some((_, c)) => return Err(FilterError::BadEscape(c)),
                None => return Err(FilterError::Unterminated(start)),
            },
            Some((_, c)) => value.push(c),
        }
    }
}

/// One `field op value(s)` comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub op: Op,
    pub values: Vec<String>,
}

/// A parsed filter: every term must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub terms: Vec<Term>,
}

struct Parser {
    tokens: std::vec::IntoIter<Token>,
}

impl Parser {
    fn next(&mut self, expected: &str) -> Result<Token, FilterError> {
        self.tokens.next().ok_or_else(|| FilterError::Expected {
            expected: expected.into(),
            found: "the end of the filter".into(),
        })
    }

    /// A comparison's operand: a quoted string, or a bare date-time as SailPoint's
    /// examples write them (`created gt 2024-01-01T00:00:00Z`).
    fn operand(&mut self, after: &str) -> Result<String, FilterError> {
        let expected = format!("a value after {after}");
        match self.next(&expected)? {
            Token::Str(s) | Token::Word(s) => Ok(s),
            other => Err(FilterError::Expected {
                expected,
                found: other.describe(),
            }),
        }
    }

    fn string(&mut self, after: &str) -> Result<String, FilterError> {
        let expected = format!("a string literal in double quotes after {after}");
        match self.next(&expected)? {
            Token::Str(s) => Ok(s),
            other => Err(FilterError::Expected {
                expected,
                found: other.describe(),
            }),
        }
    }

    fn term(&mut self) -> Result<Term, FilterError> {
        let field = match self.next("a field name")? {
            Token::Word(w) if w == "not" => return Err(FilterError::Unsupported(w)),
            Token::Word(w) => w,
            Token::Open => return Err(FilterError::Unsupported("(".into())),
            other => {
                return Err(FilterError::Expected {
                    expected: "a field name".into(),
                    found: other.describe(),
                });
            }
        };
        let op = match self.next(&format!("an operator after `{field}`"))? {
            Token::Word(w) => Op::parse(&w).ok_or(FilterError::UnknownOperator(w))?,
            other => {
                return Err(FilterError::Expected {
                    expected: format!("an operator after `{field}`"),
                    found: other.describe(),
                });
            }
        };
        let after = format!("`{field} {}`", op.name());
        let values = match op {
            Op::IsNull | Op::Pr => Vec::new(),
            Op::In => self.list(&after)?,
            Op::Gt | Op::Ge | Op::Lt | Op::Le => vec![self.operand(&after)?],
            _ => vec![self.string(&after)?],
        };
        Ok(Term { field, op, values })
    }

    fn list(&mut self, after: &str) -> Result<Vec<String>, FilterError> {
        match self.next(&format!("`(` after {after}"))? {
            Token::Open => {}
            other => {
                return Err(FilterError::Expected {
                    expected: format!("`(` after {after}"),
                    found: other.describe(),
                });
            }
        }
        let mut values = vec![self.string(after)?];
        loop {
            match self.next("`,` or `)`")? {
                Token::Comma => values.push(self.string(after)?),
                Token::Close => return Ok(values),
                other => {
                    return Err(FilterError::Expected {
                        expected: "`,` or `)`".into(),
                        found: other.describe(),
                    });
                }
            }
        }
    }
}

impl Filter {
    /// Parses `text` and checks every term against the endpoint's `fields`.
    pub fn parse(text: &str, fields: &[FieldSpec]) -> Result<Filter, FilterError> {
        let mut parser = Parser {
            tokens: lex(text)?.into_iter(),
        };
        let mut terms = vec![parser.term()?];
        while let Some(token) = parser.tokens.next() {
            match token {
                Token::Word(w) if w == "and" => terms.push(parser.term()?),
                Token::Word(w) if w == "or" => return Err(FilterError::Unsupported(w)),
                Token::Word(w) if w.eq_ignore_ascii_case("and") => {
                    return Err(FilterError::UnknownOperator(w));
                }
                other => {
                    return Err(FilterError::Expected {
                        expected: "`and` or the end of the filter".into(),
                        found: other.describe(),
                    });
                }
            }
        }
        for term in &terms {
            check(term, fields)?;
        }
        Ok(Filter { terms })
    }

    /// Splits into (terms on fields `pick` selects, the other terms).
    pub fn split(&self, pick: impl Fn(&str) -> bool) -> (Filter, Filter) {
        let (a, b) = self.terms.iter().cloned().partition(|t| pick(&t.field));
        (Filter { terms: a }, Filter { terms: b })
    }

    /// True when every term matches; `get` gives an object's value for a field name.
    /// Comparisons ignore case, as most of SailPoint's string comparisons do.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.terms.iter().all(|t| term_matches(t, get(&t.field)))
    }
}

fn check(term: &Term, fields: &[FieldSpec]) -> Result<(), FilterError> {
    let spec = fields
        .iter()
        .find(|f| f.name == term.field)
        .ok_or_else(|| FilterError::UnknownField {
            field: term.field.clone(),
            supported: fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", "),
        })?;
    if !spec.ops.contains(&term.op) {
        return Err(FilterError::OperatorNotAllowed {
            field: term.field.clone(),
            op: term.op.name(),
        });
    }
    if term.op.is_ordering() {
        for value in &term.values {
            if date_time(value).is_none() {
                return Err(FilterError::NotADateTime {
                    field: term.field.clone(),
                    op: term.op.name(),
                    value: value.clone(),
                });
            }
        }
    }
    Ok(())
}

fn date_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `gt`, `ge`, `lt`, `le` on date-times (the only ordered fields the endpoints have).
fn ordered(op: Op, value: &str, wanted: &str) -> bool {
    let (Some(v), Some(w)) = (date_time(value), date_time(wanted)) else {
        return false;
    };
    match op {
        Op::Gt => v > w,
        Op::Ge => v >= w,
        Op::Lt => v < w,
        Op::Le => v <= w,
        _ => false,
    }
}

fn term_matches(term: &Term, value: Option<&str>) -> bool {
    let Some(value) = value else {
        return term.op == Op::IsNull;
    };
    if term.op.is_ordering() {
        return term.values.iter().all(|w| ordered(term.op, value, w));
    }
    let value = fold_case(value);
    let mut wanted = term.values.iter().map(|v| fold_case(v));
    match term.op {
        Op::Eq | Op::In => wanted.any(|w| w == value),
        Op::Sw => wanted.any(|w| value.starts_with(&w)),
        Op::Co => wanted.any(|w| value.contains(&w)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[FieldSpec] = &[
        FieldSpec {
            name: "source.id",
            ops: &[Op::Eq, Op::In],
        },
        FieldSpec {
            name: "name",
            ops: &[Op::Eq, Op::Sw],
        },
        FieldSpec {
            name: "completionStatus",
            ops: &[Op::Eq, Op::IsNull],
        },
    ];

    #[test]
    fn parses_terms_with_escapes_and_lists() {
        let f = Filter::parse(
            r#"source.id in ("a","b") and name eq "say \"hi\" C:\\x""#,
            FIELDS,
        )
        .unwrap();
        assert_eq!(f.terms.len(), 2);
        assert_eq!(f.terms[0].values, vec!["a", "b"]);
        assert_eq!(f.terms[1].values, vec![r#"say "hi" C:\x"#]);
        let g = Filter::parse("completionStatus isnull", FIELDS).unwrap();
        assert_eq!(g.terms[0].op, Op::IsNull);
    }

    #[test]
    fn dates_compare_as_instants_quoted_or_bare() {
        const DATED: &[FieldSpec] = &[FieldSpec {
            name: "created",
            ops: &[Op::Gt, Op::Ge, Op::Lt, Op::Le],
        }];
        let f = Filter::parse(
            r#"created ge 2020-01-01T00:00:00Z and created lt "2021-01-01T01:00:00+01:00""#,
            DATED,
        )
        .unwrap();
        let at = |t: &'static str| move |_: &str| Some(t);
        assert!(f.matches(at("2020-01-01T00:00:00.000Z")));
        assert!(f.matches(at("2020-12-31T23:59:59.999Z")));
        assert!(!f.matches(at("2021-01-01T00:00:00.000Z")), "lt is strict");
        assert!(!f.matches(at("2019-12-31T23:59:59.999Z")));
        let g = Filter::parse("created gt 2020-06-01T00:00:00Z", DATED).unwrap();
        assert!(!g.matches(at("2020-06-01T00:00:00.000Z")), "gt is strict");
        let le = Filter::parse("created le 2020-06-01T00:00:00Z", DATED).unwrap();
        assert!(le.matches(at("2020-06-01T00:00:00.000Z")));
        assert!(matches!(
            Filter::parse("created gt yesterday", DATED).unwrap_err(),
            FilterError::NotADateTime { .. }
        ));
        assert!(matches!(
            Filter::parse(r#"created eq "2020-06-01T00:00:00Z""#, DATED).unwrap_err(),
            FilterError::OperatorNotAllowed { .. }
        ));
    }

    #[test]
    fn matching_ignores_case_and_handles_missing_values() {
        let f = Filter::parse(r#"name sw "gg-" and source.id eq "S1""#, FIELDS).unwrap();
        assert!(f.matches(|k| Some(if k == "name" { "GG-Finance" } else { "s1" })));
        assert!(!f.matches(|k| Some(if k == "name" { "SG_Finance" } else { "s1" })));
        let g = Filter::parse("completionStatus isnull", FIELDS).unwrap();
        assert!(g.matches(|_| None));
        assert!(!g.matches(|_| Some("SUCCESS")));
    }

    #[test]
    fn splits_terms_by_field() {
        let f = Filter::parse(r#"name eq "a" and source.id eq "s""#, FIELDS).unwrap();
        let (src, rest) = f.split(|field| field == "source.id");
        assert_eq!(src.terms, vec![f.terms[1].clone()]);
        assert_eq!(rest.terms, vec![f.terms[0].clone()]);
        assert!(
            Filter::default().matches(|_| None),
            "no terms: everything matches"
        );
    }

    #[test]
    fn rejects_what_it_does_not_understand_with_a_reason() {
        let err = |t: &str| Filter::parse(t, FIELDS).unwrap_err();
        assert!(matches!(
            err(r#"type eq "x""#),
            FilterError::UnknownField { .. }
        ));
        assert!(matches!(
            err(r#"name co "x""#),
            FilterError::OperatorNotAllowed { .. }
        ));
        assert!(matches!(
            err(r#"name EQ "x""#),
            FilterError::UnknownOperator(_)
        ));
        assert!(matches!(
            err(r#"name eq "x" AND name eq "y""#),
            FilterError::UnknownOperator(_)
        ));
        assert!(matches!(
            err(r#"name eq "x" or name eq "y""#),
            FilterError::Unsupported(_)
        ));
        assert!(matches!(
            err(r#"name eq "x"#),
            FilterError::Unterminated(0..)
        ));
        assert!(matches!(
            err(r#"name eq "\n""#),
            FilterError::BadEscape('n')
        ));
        assert!(matches!(err("name eq x"), FilterError::Expected { .. }));
        assert!(matches!(err("name eq"), FilterError::Expected { .. }));
        assert!(matches!(err(""), FilterError::Expected { .. }));
        assert!(matches!(
            err(r#"name eq "x" name"#),
            FilterError::Expected { .. }
        ));
        assert!(err(r#"type eq "x""#).to_string().contains("`type`"));
    }
}
