//! The tokens of the filter language, with JSON string and number literals decoded.

use super::FilterError;
use serde_json::Number;

/// Splits `input` into tokens, each with the column (in characters, from 1) where it
/// starts; the list always ends with [`Tok::End`].
pub(super) fn tokenize(input: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    Lexer {
        chars: input.char_indices().peekable(),
        input,
    }
    .tokens()
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
    pub(super) fn describe(&self) -> String {
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
