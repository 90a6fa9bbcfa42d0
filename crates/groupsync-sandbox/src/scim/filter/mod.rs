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

mod lexer;
#[cfg(test)]
mod tests;

use lexer::Tok;
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

/// Precedence from loose to tight: `or`, `and`, `not`/grouping, attribute expressions.
struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, FilterError> {
        Ok(Parser {
            tokens: lexer::tokenize(input)?,
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
