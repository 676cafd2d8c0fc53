//! The tokenizer: words, quoted strings, operators and brackets, each with its
//! 1-based character position.

use super::ast::QueryError;
use std::fmt;

// ---------------------------------------------------------------- tokenizer

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    EqEq,
    NotEq,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
    Bang,
    AndAnd,
    OrOr,
    Word(String),
    Quoted(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Match => "=~",
            Tok::NotMatch => "!~",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Word(w) => w,
            Tok::Quoted(q) => return write!(f, "'\"{q}\"'"),
        };
        write!(f, "'{s}'")
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// 1-based character position.
    pub(super) pos: usize,
}

pub(super) fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !"()[],'\"=!<>&|".contains(c)
}

pub(super) fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            (',', _) => (Tok::Comma, 1),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('=', Some('~')) => (Tok::Match, 2),
            ('=', _) => {
                return Err(QueryError::at(
                    pos,
                    format!("unexpected '=' at position {pos}; use '==' to compare or '=~' to match a pattern"),
                ));
            }
            ('!', Some('=')) => (Tok::NotEq, 2),
            ('!', Some('~')) => (Tok::NotMatch, 2),
            ('!', _) => (Tok::Bang, 1),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('>', _) => (Tok::Gt, 1),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', _) => (Tok::Lt, 1),
            ('&', Some('&')) => (Tok::AndAnd, 2),
            ('&', _) => {
                return Err(QueryError::at(
                    pos,
                    format!("unexpected '&' at position {pos}; use '&&' or 'and'"),
                ));
            }
            ('|', Some('|')) => (Tok::OrOr, 2),
            ('|', _) => {
                return Err(QueryError::at(
                    pos,
                    format!("unexpected '|' at position {pos}; use '||' or 'or' (quote patterns that contain '|')"),
                ));
            }
            (q @ ('\'' | '"'), _) => {
                let Some(close) = chars[i + 1..].iter().position(|&ch| ch == q) else {
                    return Err(QueryError::at(
                        pos,
                        format!("unterminated quoted string starting at position {pos}; add the closing {q}"),
                    ));
                };
                let text: String = chars[i + 1..i + 1 + close].iter().collect();
                (Tok::Quoted(text), close + 2)
            }
            _ => {
                let len = chars[i..].iter().take_while(|&&ch| is_word_char(ch)).count();
                (Tok::Word(chars[i..i + len].iter().collect()), len)
            }
        };
        out.push(Token { tok, pos });
        i += len;
    }
    Ok(out)
}
