//! The SCIM filter language (RFC 7644 §3.4.2.2): a tokenizer and a recursive-descent
//! parser that turn `displayName eq "Finance"` into a [`Filter`] tree.
//!
//! The parser knows the grammar only; which attributes exist and how they compare is
//! decided when the tree is resolved against the Group schema (`query.rs`), so the same
//! parser also serves PATCH paths such as `members[value eq "u1"]`.
//!
//! Comparison values follow JSON (RFC 8259): strings are double-quoted with the JSON
//! escapes, raw control characters are refused, `\uXXXX` surrogate pairs are joined and
//! a lone surrogate is refused (a Rust string cannot hold one).

use serde_json::Number;

/// A parsed filter, attribute names as written (they are matched case-insensitively later).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `members[value eq "u1"]`: some element of a multi-valued attribute matches.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// `[URI ":"] name ["." sub]`, e.g. `urn:ietf:params:scim:schemas:core:2.0:Group:displayName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A JSON literal on the right of an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompValue {
    Str(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// Why a filter could not be parsed; `column` counts characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

/// Parses a whole filter expression.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(input)?;
    let filter = parser.or_expr()?;
    parser.expect_end()?;
    Ok(filter)
}

impl AttrPath {
    /// A path without URI or sub-attribute (handy in tests and code).
    pub fn simple(name: &str) -> Self {
        AttrPath {
            uri: None,
            name: name.to_owned(),
            sub: None,
        }
    }

    /// Checks `word` against the ABNF: `[URI ":"] ATTRNAME ["." ATTRNAME]`.
    pub fn parse(word: &str, column: usize) -> Result<Self, FilterError> {
        let bad = || FilterError {
            column,
            message: format!("invalid attribute path '{word}'"),
        };
        let (uri, rest) = match word.rsplit_once(':') {
            Some((uri, rest)) if !uri.is_empty() => (Some(uri.to_owned()), rest),
            Some(_) => return Err(bad()),
            None => (None, word),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(bad());
        }
        Ok(AttrPath {
            uri,
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref` which RFC 7643 uses for references.
fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl CompareOp {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Number(Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Number(n) => format!("the number {n}"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::End => "the end of the filter".into(),
        }
    }
}

/// Splits the input into tokens, each with the column where it starts.
struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    input: &'a str,
}

impl<'a> Lexer<'a> {
    fn column(&self, byte: usize) -> usize {
        self.input[..byte].chars().count() + 1
    }

    fn tokens(mut self) -> Result<Vec<(Tok, usize)>, FilterError> {
        let mut out = Vec::new();
        loop {
            while self
                .chars
                .next_if(|(_, c)| c.is_ascii_whitespace())
                .is_some()
            {}
            let Some(&(at, c)) = self.chars.peek() else {
                out.push((Tok::End, self.column(self.input.len())));
                return Ok(out);
            };
            let column = self.column(at);
            let tok = match c {
                '(' | ')' | '[' | ']' => {
                    self.chars.next();
                    match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        _ => Tok::RBracket,
                    }
                }
                '"' => Tok::Str(self.string(column)?),
                '-' | '0'..='9' => Tok::Number(self.number(column)?),
                c if c.is_ascii_alphabetic() || c == '$' => Tok::Word(self.word()),
                other => {
                    return Err(FilterError {
                        column,
                        message: format!("unexpected character {other:?}"),
                    });
                }
            };
            out.push((tok, column));
        }
    }

    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some((_, c)) = self
            .chars
            .next_if(|(_, c)| c.is_ascii_alphanumeric() || "-_:.$".contains(*c))
        {
            word.push(c);
        }
        word
    }

    fn number(&mut self, column: usize) -> Result<Number, FilterError> {
        let mut text = String::new();
        while let Some((_, c)) = self
            .chars
            .next_if(|(_, c)| c.is_ascii_digit() || "+-.eE".contains(*c))
        {
            text.push(c);
        }
        serde_json::from_str(&text).map_err(|_| FilterError {
            column,
            message: format!("invalid number '{text}'"),
        })
    }

    /// Reads a JSON string literal; the opening quote is the next character.
    fn string(&mut self, column: usize) -> Result<String, FilterError> {
        let err = |message: String| FilterError { column, message };
        self.chars.next();
        let mut out = String::new();
        loop {
            let Some((_, c)) = self.chars.next() else {
                return Err(err(
                    "unterminated string (a quote inside a value is written \\\")".into(),
                ));
            };
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape().map_err(err)?),
                c if u32::from(c) < 0x20 => {
                    return Err(err(format!(
                        "raw control character U+{:04X} in a string (write it as an escape)",
                        u32::from(c)
                    )));
                }
                c => out.push(c),
            }
        }
    }

    /// The character after a backslash, with `\uXXXX` surrogate pairs joined.
    fn escape(&mut self) -> Result<char, String> {
        let Some((_, c)) = self.chars.next() else {
            return Err("unterminated string".into());
        };
        Ok(match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => return self.unicode_escape(),
            other => return Err(format!("invalid escape '\\{other}'")),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                let follows = self.chars.next().map(|(_, c)| c) == Some('\\')
                    && self.chars.next().map(|(_, c)| c) == Some('u');
                let low = if follows { self.hex4()? } else { 0 };
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(format!("unpaired surrogate \\u{high:04X}"));
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(format!("unpaired surrogate \\u{high:04X}")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| format!("invalid code point U+{code:X}"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .chars
                .next()
                .and_then(|(_, c)| c.to_digit(16))
                .ok_or("\\u needs four hex digits")?;
            code = code * 16 + digit;
        }
        Ok(code)
    }
}

/// Precedence from loose to tight: `or`, `and`, `not`/grouping, attribute expressions.
struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, FilterError> {
        let lexer = Lexer {
            chars: input.char_indices().peekable(),
            input,
        };
        Ok(Parser {
            tokens: lexer.tokens()?,
            pos: 0,
        })
    }

    fn peek(&self) -> &(Tok, usize) {
        // The token list always ends with `End`, and `advance` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> (Tok, usize) {
        let tok = self.peek().clone();
        if tok.0 != Tok::End {
            self.pos += 1;
        }
        tok
    }

    fn error<T>(&self, column: usize, message: String) -> Result<T, FilterError> {
        Err(FilterError { column, message })
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().0, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect_end(&mut self) -> Result<(), FilterError> {
        match self.advance() {
            (Tok::End, _) => Ok(()),
            (tok, column) => self.error(
                column,
                format!("expected 'and', 'or' or the end, found {}", tok.describe()),
            ),
        }
    }

    fn expect(&mut self, want: Tok) -> Result<(), FilterError> {
        let (tok, column) = self.advance();
        if tok == want {
            return Ok(());
        }
        self.error(
            column,
            format!("expected {}, found {}", want.describe(), tok.describe()),
        )
    }

    fn or_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and_expr()?;
        while self.peek_keyword("or") {
            self.advance();
            left = Filter::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.advance();
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let is_not = self.peek_keyword("not")
            && self.tokens.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::LParen);
        if is_not {
            self.advance();
            return Ok(Filter::Not(Box::new(self.grouped()?)));
        }
        if self.peek().0 == Tok::LParen {
            return self.grouped();
        }
        self.attr_expr()
    }

    fn grouped(&mut self) -> Result<Filter, FilterError> {
        self.expect(Tok::LParen)?;
        let inner = self.or_expr()?;
        self.expect(Tok::RParen)?;
        Ok(inner)
    }

    fn attr_expr(&mut self) -> Result<Filter, FilterError> {
        let (tok, column) = self.advance();
        let Tok::Word(word) = tok else {
            return self.error(
                column,
                format!(
                    "expected an attribute name, 'not' or '(', found {}",
                    tok.describe()
                ),
            );
        };
        let path = AttrPath::parse(&word, column)?;
        let (tok, column) = self.advance();
        match tok {
            Tok::LBracket => {
                let filter = Box::new(self.or_expr()?);
                self.expect(Tok::RBracket)?;
                Ok(Filter::ValuePath { path, filter })
            }
            Tok::Word(op) if op.eq_ignore_ascii_case("pr") => Ok(Filter::Present(path)),
            Tok::Word(op) => match CompareOp::from_word(&op) {
                Some(op) => Ok(Filter::Compare {
                    path,
                    op,
                    value: self.value()?,
                }),
                None => self.error(column, format!("unknown operator '{op}'")),
            },
            other => self.error(
                column,
                format!(
                    "expected an operator after '{word}', found {}",
                    other.describe()
                ),
            ),
        }
    }

    fn value(&mut self) -> Result<CompValue, FilterError> {
        let (tok, column) = self.advance();
        Ok(match tok {
            Tok::Str(s) => CompValue::Str(s),
            Tok::Number(n) => CompValue::Number(n),
            Tok::Word(w) if w == "true" => CompValue::Bool(true),
            Tok::Word(w) if w == "false" => CompValue::Bool(false),
            Tok::Word(w) if w == "null" => CompValue::Null,
            other => {
                return self.error(
                    column,
                    format!(
                        "expected a JSON value (a quoted string, number, true, false or null), found {}",
                        other.describe()
                    ),
                );
            }
        })
    }
}

#[cfg(test)]
mod tests {
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
}
