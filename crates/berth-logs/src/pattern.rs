//! CloudWatch Logs filter patterns: parsing and matching, pure.
//!
//! Supported:
//! * the empty pattern (everything matches);
//! * text patterns: terms that must all occur (`ERROR timeout`), quoted
//!   phrases (`"Failed to connect"`), exclusions (`-DEBUG`) and OR terms
//!   (`?ERROR ?WARN`: at least one must occur). Matching is case-sensitive.
//! * JSON patterns `{ SELECTOR OP VALUE }` over events whose message is a JSON
//!   object: selectors `$.a.b`, `$.a[0]`; `=`/`!=` with numbers or strings
//!   (`*` is a wildcard in strings), `<`, `<=`, `>`, `>=` with numbers,
//!   `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`; `&&`, `||` and parentheses.
//!
//! Space-delimited (`[a, b]`) and regular-expression (`%…%`) patterns are
//! refused with an explicit error rather than matched wrongly.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    All,
    Text(TextPattern),
    /// The expression, and literals every matching message must contain
    /// (a cheap substring test that skips parsing most non-matching lines).
    Json(JsonExpr, Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextPattern {
    pub required: Vec<String>,
    pub excluded: Vec<String>,
    pub any_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonExpr {
    And(Box<JsonExpr>, Box<JsonExpr>),
    Or(Box<JsonExpr>, Box<JsonExpr>),
    Compare(Vec<Segment>, Op, Literal),
    IsNull(Vec<Segment>),
    IsBool(Vec<Segment>, bool),
    NotExists(Vec<Segment>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter pattern: {0}")]
pub struct PatternError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let t = text.trim();
        if t.is_empty() || t == "\"\"" {
            return Ok(Pattern::All);
        }
        if t.starts_with('{') {
            if !t.ends_with('}') {
                return err("a JSON pattern must end with '}'");
            }
            let tokens = tokenize_json(&t[1..t.len() - 1])?;
            let mut p = JsonParser { tokens, pos: 0 };
            let expr = p.or_expr()?;
            if p.pos != p.tokens.len() {
                return err(format!("unexpected {:?} in JSON pattern", p.tokens[p.pos]));
            }
            let needles = needles(&expr);
            return Ok(Pattern::Json(expr, needles));
        }
        if t.starts_with('[') {
            return err("space-delimited patterns ([w1, w2, ...]) are not supported by Berth");
        }
        if t.starts_with('%') {
            return err("regular-expression patterns (%...%) are not supported by Berth");
        }
        parse_text(t).map(Pattern::Text)
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Text(t) => {
                t.required.iter().all(|w| message.contains(w.as_str()))
                    && !t.excluded.iter().any(|w| message.contains(w.as_str()))
                    && (t.any_of.is_empty() || t.any_of.iter().any(|w| message.contains(w.as_str())))
            }
            Pattern::Json(expr, needles) => {
                if !message.contains('\\') && !needles.iter().all(|n| message.contains(n.as_str())) {
                    return false;
                }
                let trimmed = message.trim_start();
                if !trimmed.starts_with('{') {
                    return false;
                }
                match serde_json::from_str::<Value>(trimmed) {
                    Ok(v) => eval(expr, &v),
                    Err(_) => false,
                }
            }
        }
    }
}

fn parse_text(t: &str) -> Result<TextPattern, PatternError> {
    let mut out = TextPattern::default();
    let mut chars = t.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let kind = match first {
            '-' | '?' => {
                chars.next();
                first
            }
            _ => ' ',
        };
        let mut term = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            term.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => term.push(c),
                }
            }
            if !closed {
                return err("unterminated quoted phrase");
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                term.push(c);
                chars.next();
            }
        }
        if term.is_empty() {
            if kind == ' ' {
                continue;
            }
            return err(format!("'{kind}' must be followed by a term"));
        }
        match kind {
            '-' => out.excluded.push(term),
            '?' => out.any_of.push(term),
            _ => out.required.push(term),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Op(Op),
    Selector(Vec<Segment>),
    Quoted(String),
    Word(String),
}

fn tokenize_json(s: &str) -> Result<Vec<Tok>, PatternError> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '&' if b.get(i + 1) == Some(&'&') => {
                out.push(Tok::And);
                i += 2;
            }
            '|' if b.get(i + 1) == Some(&'|') => {
                out.push(Tok::Or);
                i += 2;
            }
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1;
            }
            '!' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let eq = b.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += if eq { 2 } else { 1 };
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        '\\' if i + 1 < b.len() => {
                            v.push(b[i + 1]);
                            i += 2;
                        }
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        ch => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    return err("unterminated string in JSON pattern");
                }
                out.push(Tok::Quoted(v));
            }
            '$' => {
                let start = i;
                while i < b.len() && !b[i].is_whitespace() && !"=!<>()&|".contains(b[i]) {
                    i += 1;
                }
                let text: String = b[start..i].iter().collect();
                out.push(Tok::Selector(parse_selector(&text)?));
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_whitespace() && !"=!<>()&|\"".contains(b[i]) {
                    i += 1;
                }
                if start == i {
                    return err(format!("unexpected character '{c}' in JSON pattern"));
                }
                out.push(Tok::Word(b[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn parse_selector(text: &str) -> Result<Vec<Segment>, PatternError> {
    let Some(rest) = text.strip_prefix('$') else {
        return err(format!("selector '{text}' must start with '$'"));
    };
    let mut segs = vec![];
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return err(format!("empty property name in selector '{text}'"));
            }
            segs.push(Segment::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return err(format!("unclosed '[' in selector '{text}'"));
            };
            let idx: usize = r[..end]
                .trim()
                .parse()
                .map_err(|_| PatternError(format!("array index in '{text}' must be a number")))?;
            segs.push(Segment::Index(idx));
            rest = &r[end + 1..];
        } else {
            return err(format!("selector '{text}' is malformed: expected '.' or '['"));
        }
    }
    if segs.is_empty() {
        return err("a selector must name a property, for example $.level");
    }
    Ok(segs)
}

struct JsonParser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl JsonParser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or_expr(&mut self) -> Result<JsonExpr, PatternError> {
        let mut left = self.and_expr()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and_expr()?;
            left = JsonExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and_expr(&mut self) -> Result<JsonExpr, PatternError> {
        let mut left = self.primary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let right = self.primary()?;
            left = JsonExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn word(&mut self, expected: &str) -> Result<(), PatternError> {
        match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(expected) => Ok(()),
            other => err(format!("expected {expected}, found {other:?}")),
        }
    }
    fn primary(&mut self) -> Result<JsonExpr, PatternError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or_expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => err("missing ')'"),
                }
            }
            Some(Tok::Selector(path)) => match self.next() {
                Some(Tok::Op(op)) => {
                    let lit = match self.next() {
                        Some(Tok::Quoted(s)) => Literal::Str(s),
                        Some(Tok::Word(w)) => match w.parse::<f64>() {
                            Ok(n) => Literal::Num(n),
                            Err(_) => Literal::Str(w),
                        },
                        other => return err(format!("expected a value after the operator, found {other:?}")),
                    };
                    if matches!(lit, Literal::Str(_)) && !matches!(op, Op::Eq | Op::Ne) {
                        return err("<, <=, > and >= compare numbers only");
                    }
                    Ok(JsonExpr::Compare(path, op, lit))
                }
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IS") => match self.next() {
                    Some(Tok::Word(v)) if v.eq_ignore_ascii_case("NULL") => Ok(JsonExpr::IsNull(path)),
                    Some(Tok::Word(v)) if v.eq_ignore_ascii_case("TRUE") => Ok(JsonExpr::IsBool(path, true)),
                    Some(Tok::Word(v)) if v.eq_ignore_ascii_case("FALSE") => Ok(JsonExpr::IsBool(path, false)),
                    other => err(format!("expected NULL, TRUE or FALSE after IS, found {other:?}")),
                },
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => {
                    self.word("EXISTS")?;
                    Ok(JsonExpr::NotExists(path))
                }
                other => err(format!("expected an operator after the selector, found {other:?}")),
            },
            other => err(format!("expected a selector such as $.level or '(', found {other:?}")),
        }
    }
}

/// Strings that must appear verbatim in a message the expression matches:
/// the operands of `=` comparisons with plain strings under `&&` only (a
/// message without escapes writes such a string, or the number or boolean
/// it may equal, as itself).
fn needles(e: &JsonExpr) -> Vec<String> {
    match e {
        JsonExpr::And(a, b) => {
            let mut v = needles(a);
            v.extend(needles(b));
            v
        }
        JsonExpr::Compare(_, Op::Eq, Literal::Str(s))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii() && !c.is_ascii_control() && !"*\\\"/".contains(c)) =>
        {
            vec![s.clone()]
        }
        _ => vec![],
    }
}

fn resolve<'a>(v: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| match seg {
        Segment::Key(k) => cur.get(k.as_str()),
        Segment::Index(i) => cur.get(*i),
    })
}

fn eval(e: &JsonExpr, doc: &Value) -> bool {
    match e {
        JsonExpr::And(a, b) => eval(a, doc) && eval(b, doc),
        JsonExpr::Or(a, b) => eval(a, doc) || eval(b, doc),
        JsonExpr::IsNull(p) => matches!(resolve(doc, p), Some(Value::Null)),
        JsonExpr::IsBool(p, b) => resolve(doc, p).and_then(Value::as_bool) == Some(*b),
        JsonExpr::NotExists(p) => resolve(doc, p).is_none(),
        JsonExpr::Compare(p, op, lit) => {
            let Some(v) = resolve(doc, p) else { return false };
            match lit {
                Literal::Num(n) => {
                    let Some(x) = v.as_f64() else { return false };
                    match op {
                        Op::Eq => x == *n,
                        Op::Ne => x != *n,
                        Op::Lt => x < *n,
                        Op::Le => x <= *n,
                        Op::Gt => x > *n,
                        Op::Ge => x >= *n,
                    }
                }
                Literal::Str(s) => {
                    let text = match v {
                        Value::String(t) => t.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => return false,
                    };
                    let eq = wildcard_match(s, &text);
                    if *op == Op::Eq { eq } else { !eq }
                }
            }
        }
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, msg: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(msg)
    }

    #[test]
    fn text_patterns() {
        let table: &[(&str, &str, bool)] = &[
            ("", "anything", true),
            ("ERROR", "an ERROR here", true),
            ("ERROR", "an error here", false),
            ("ERROR timeout", "ERROR: timeout after 5s", true),
            ("ERROR timeout", "ERROR: refused", false),
            ("\"Failed to connect\"", "x Failed to connect y", true),
            ("\"Failed to connect\"", "Failed connect to", false),
            ("ERROR -Exiting", "ERROR: bad", true),
            ("ERROR -Exiting", "ERROR: Exiting now", false),
            ("?ERROR ?WARN", "WARN low disk", true),
            ("?ERROR ?WARN", "INFO fine", false),
            ("-DEBUG", "INFO x", true),
            ("-DEBUG", "DEBUG x", false),
        ];
        for (p, msg, want) in table {
            assert_eq!(m(p, msg), *want, "pattern {p:?} on {msg:?}");
        }
    }

    #[test]
    fn json_patterns() {
        let table: &[(&str, &str, bool)] = &[
            (r#"{ $.level = "error" }"#, r#"{"level":"error","n":1}"#, true),
            (r#"{ $.level = "error" }"#, r#"{"level":"info"}"#, false),
            (r#"{ $.level = "error" }"#, r#"level error"#, false),
            (r#"{ $.level = error }"#, r#"{"level":"error"}"#, true),
            (r#"{ $.level != "error" }"#, r#"{"level":"info"}"#, true),
            (r#"{ $.level != "error" }"#, r#"{"other":1}"#, false),
            (r#"{ $.x > 5 }"#, r#"{"x":6}"#, true),
            (r#"{ $.x > 5 }"#, r#"{"x":5}"#, false),
            (r#"{ $.x >= 5 }"#, r#"{"x":5}"#, true),
            (r#"{ $.x < 5 }"#, r#"{"x":"4"}"#, false),
            (r#"{ $.x = 5 }"#, r#"{"x":5.0}"#, true),
            (r#"{ $.user.id = "u-*" }"#, r#"{"user":{"id":"u-42"}}"#, true),
            (r#"{ $.user.id = "u-*" }"#, r#"{"user":{"id":"v-42"}}"#, false),
            (r#"{ $.a[1] = "b" }"#, r#"{"a":["a","b"]}"#, true),
            (
                r#"{ $.level = "error" && $.x > 1 }"#,
                r#"{"level":"error","x":2}"#,
                true,
            ),
            (
                r#"{ $.level = "error" && $.x > 1 }"#,
                r#"{"level":"error","x":0}"#,
                false,
            ),
            (r#"{ $.level = "error" || $.x > 1 }"#, r#"{"level":"info","x":2}"#, true),
            (r#"{ ($.a = 1 || $.b = 1) && $.c = 1 }"#, r#"{"b":1,"c":1}"#, true),
            (r#"{ ($.a = 1 || $.b = 1) && $.c = 1 }"#, r#"{"b":1,"c":2}"#, false),
            (r#"{ $.gone NOT EXISTS }"#, r#"{"here":1}"#, true),
            (r#"{ $.v IS NULL }"#, r#"{"v":null}"#, true),
            (r#"{ $.ok IS TRUE }"#, r#"{"ok":true}"#, true),
            (r#"{ $.ok IS FALSE }"#, r#"{"ok":true}"#, false),
            (r#"{ $.ok = true }"#, r#"{"ok":true}"#, true),
            (r#"{ $.n = "5" }"#, r#"{"n":5}"#, true),
            (r#"{ $.level = "error" }"#, r#"{"level":"\u0065rror"}"#, true),
        ];
        for (p, msg, want) in table {
            assert_eq!(m(p, msg), *want, "pattern {p:?} on {msg:?}");
        }
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in [
            "{ $.level = ",
            "{ level = \"x\" }",
            "{ $.x > \"a\" }",
            "{ $.x = 1",
            "\"open",
            "[a, b]",
            "%err%",
            "{ ($.a = 1 }",
            "{ $.a IS maybe }",
            "-",
        ] {
            assert!(Pattern::parse(p).is_err(), "{p:?} should be refused");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(!wildcard_match("a*c", "abbbd"));
        assert!(wildcard_match("*x*", "0x0"));
        assert!(wildcard_match("abc", "abc"));
        assert!(!wildcard_match("abc", "abcd"));
    }
}
