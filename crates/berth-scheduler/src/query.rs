//! The ECS cluster query language: tokenizer, recursive-descent parser, AST
//! and evaluator.
//!
//! An expression is `subject operator [argument]`, combined with
//! `and`/`&&`, `or`/`||`, `not`/`!` and parentheses:
//!
//! ```text
//! attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d
//! ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']
//! not(task:group == database)
//! ```
//!
//! The same evaluator serves placement `memberOf` constraints and the
//! `filter` of ListContainerInstances: [`parse_expression`] once, then
//! [`Expr::matches`] per container instance.
//!
//! Choices where the AWS documentation is silent or loose (see also the
//! crate documentation):
//! - `=~`/`!~` take a regular expression that must match the *whole* value
//!   (the docs say "Java regular expression syntax"; `g2.*` therefore matches
//!   `g2.2xlarge`). Patterns use the `regex` crate dialect, which lacks
//!   back-references and look-around.
//! - `!=`, `!in` and `!~` are the negations of `==`, `in` and `=~`: an
//!   instance *without* the attribute satisfies `attribute:x != y`.
//! - `task:group` looks at every task on the instance: `==` means "runs a task
//!   of that group", `!=` means "runs no task of that group", `exists` means
//!   "runs any task".
//! - Keywords (`and`, `in`, `equals`, …) and the fixed subjects are matched
//!   case-insensitively; attribute names and values are case-sensitive.
//! - Arguments are bare words or quoted with `'` or `"` (no escapes: a quoted
//!   string ends at the next identical quote). A bare word ends at
//!   whitespace or at one of `( ) [ ] , ' " = ! < > & |`; quote patterns that
//!   need those characters, e.g. `=~ '(t2|m5)\..*'`.
//! - Lists are written `[a, b]` or `(a, b)`.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use crate::types::InstanceView;

/// Longest accepted expression, in characters (the ECS limit).
pub const MAX_EXPRESSION_LEN: usize = 2000;

/// Deepest accepted nesting of parentheses and `not`.
const MAX_DEPTH: usize = 100;

/// A malformed cluster query language expression.
///
/// `Display` gives the full sentence, e.g. `Invalid placement constraint
/// expression: unexpected token 'xyz' at position 12; expected 'and', 'or',
/// ')' or the end of the expression`. A caller that needs another prefix (the
/// ListContainerInstances `filter`) can use [`QueryError::message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid placement constraint expression: {message}")]
pub struct QueryError {
    /// What is wrong and where, without the "Invalid placement constraint
    /// expression:" prefix.
    pub message: String,
    /// 1-based character position of the offending token; 0 when the error
    /// concerns the expression as a whole (empty, too long).
    pub position: usize,
}

impl QueryError {
    fn at(position: usize, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            position,
        }
    }
}

/// A parsed cluster query language expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// All of the operands hold (`and`, `&&`).
    And(Vec<Expr>),
    /// Any of the operands holds (`or`, `||`).
    Or(Vec<Expr>),
    /// The operand does not hold (`not`, `!`).
    Not(Box<Expr>),
    /// A single `subject operator [argument]`.
    Condition(Condition),
}

/// One `subject operator [argument]` term.
#[derive(Debug, Clone)]
pub struct Condition {
    /// What is evaluated.
    pub subject: Subject,
    /// How it is compared.
    pub operator: Operator,
    /// What it is compared with; its kind fits the operator.
    pub argument: Argument,
}

/// The attribute or field an expression evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `agentConnected`: whether the container agent is connected.
    AgentConnected,
    /// `agentVersion`: the container agent version (dotted numbers).
    AgentVersion,
    /// `attribute:NAME`: a container instance attribute.
    Attribute(String),
    /// `ec2InstanceId`: the EC2 instance id.
    Ec2InstanceId,
    /// `registeredAt`: when the container instance registered.
    RegisteredAt,
    /// `runningTasksCount`: how many tasks the instance runs.
    RunningTasksCount,
    /// `task:group`: the groups of the tasks on the instance.
    TaskGroup,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `==`, `equals`
    Eq,
    /// `!=`, `not_equals`
    Ne,
    /// `>`, `greater_than`
    Gt,
    /// `>=`, `greater_than_equal`
    Ge,
    /// `<`, `less_than`
    Lt,
    /// `<=`, `less_than_equal`
    Le,
    /// `exists`
    Exists,
    /// `!exists`, `not_exists`
    NotExists,
    /// `in`
    In,
    /// `!in`, `not_in`
    NotIn,
    /// `=~`, `matches`
    Matches,
    /// `!~`, `not_matches`
    NotMatches,
}

/// The right-hand side of a condition.
#[derive(Debug, Clone)]
pub enum Argument {
    /// `exists` and `!exists` take no argument.
    None,
    /// A single literal.
    Value(Value),
    /// The list of `in` and `!in`.
    List(Vec<Value>),
    /// The regular expression of `=~` and `!~`.
    Pattern(Pattern),
}

/// A literal argument, checked against its subject when parsed (a number for
/// `runningTasksCount`, a date for `registeredAt`, …).
#[derive(Debug, Clone)]
pub struct Value {
    /// The literal as written, without quotes.
    pub text: String,
    typed: Typed,
}

#[derive(Debug, Clone)]
enum Typed {
    Text,
    Number(u64),
    /// Half-open range of Unix seconds the literal denotes: one second for a
    /// timestamp, a whole UTC day for a date.
    Time {
        start: i64,
        end: i64,
    },
    Version(Vec<u64>),
    Bool(bool),
}

/// A compiled `=~` pattern, anchored to match the whole value.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern as written.
    pub source: String,
    regex: Regex,
}

impl Pattern {
    /// Whether the pattern matches all of `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// Parses a cluster query language expression.
///
/// Errors carry a message a person can act on, naming the offending token
/// and its 1-based character position.
pub fn parse_expression(input: &str) -> Result<Expr, QueryError> {
    let len = input.chars().count();
    if len > MAX_EXPRESSION_LEN {
        return Err(QueryError::at(
            0,
            format!("the expression is {len} characters long; the maximum is {MAX_EXPRESSION_LEN}"),
        ));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(QueryError::at(0, "the expression is empty"));
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
        end: len + 1,
    };
    let expr = parser.parse_or()?;
    if let Some(tok) = parser.peek() {
        let message = if tok.tok == Tok::RParen {
            format!("unexpected ')' at position {}; there is no matching '('", tok.pos)
        } else {
            format!(
                "unexpected token {} at position {}; expected 'and', 'or' or the end of the expression",
                tok.tok, tok.pos
            )
        };
        return Err(QueryError::at(tok.pos, message));
    }
    Ok(expr)
}

impl Expr {
    /// Whether the container instance satisfies the expression.
    pub fn matches(&self, instance: &InstanceView) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.matches(instance)),
            Expr::Or(items) => items.iter().any(|e| e.matches(instance)),
            Expr::Not(inner) => !inner.matches(instance),
            Expr::Condition(c) => c.matches(instance),
        }
    }
}

impl Condition {
    /// Whether the container instance satisfies this single condition.
    pub fn matches(&self, instance: &InstanceView) -> bool {
        if self.subject == Subject::TaskGroup {
            return self.matches_task_group(instance);
        }
        let field = field_of(&self.subject, instance);
        match (self.operator, &self.argument) {
            (Operator::Exists, _) => field.is_some(),
            (Operator::NotExists, _) => field.is_none(),
            (Operator::Eq, Argument::Value(v)) => field.is_some_and(|f| equals(&f, v)),
            (Operator::Ne, Argument::Value(v)) => !field.is_some_and(|f| equals(&f, v)),
            (Operator::In, Argument::List(vs)) => field.is_some_and(|f| vs.iter().any(|v| equals(&f, v))),
            (Operator::NotIn, Argument::List(vs)) => !field.is_some_and(|f| vs.iter().any(|v| equals(&f, v))),
            (Operator::Matches, Argument::Pattern(p)) => field.is_some_and(|f| p.is_match(&f.text())),
            (Operator::NotMatches, Argument::Pattern(p)) => !field.is_some_and(|f| p.is_match(&f.text())),
            (op @ (Operator::Gt | Operator::Ge | Operator::Lt | Operator::Le), Argument::Value(v)) => {
                field.is_some_and(|f| ordered(op, &f, v))
            }
            // The parser never builds other combinations.
            _ => false,
        }
    }

    fn matches_task_group(&self, instance: &InstanceView) -> bool {
        let mut groups = instance.tasks.iter().map(|t| t.group.as_str());
        match (self.operator, &self.argument) {
            (Operator::Exists, _) => !instance.tasks.is_empty(),
            (Operator::NotExists, _) => instance.tasks.is_empty(),
            (Operator::Eq, Argument::Value(v)) => groups.any(|g| g == v.text),
            (Operator::Ne, Argument::Value(v)) => !groups.any(|g| g == v.text),
            (Operator::In, Argument::List(vs)) => groups.any(|g| vs.iter().any(|v| v.text == g)),
            (Operator::NotIn, Argument::List(vs)) => !groups.any(|g| vs.iter().any(|v| v.text == g)),
            (Operator::Matches, Argument::Pattern(p)) => groups.any(|g| p.is_match(g)),
            (Operator::NotMatches, Argument::Pattern(p)) => !groups.any(|g| p.is_match(g)),
            _ => false,
        }
    }
}

/// A subject's value on one instance.
enum Field<'a> {
    Text(&'a str),
    Number(u64),
    Time(i64),
    Version(Vec<u64>),
    Bool(bool),
}

impl Field<'_> {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Field::Text(s) => std::borrow::Cow::Borrowed(s),
            Field::Number(n) => n.to_string().into(),
            Field::Time(t) => t.to_string().into(),
            Field::Version(v) => v.iter().map(u64::to_string).collect::<Vec<_>>().join(".").into(),
            Field::Bool(b) => std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

fn field_of<'a>(subject: &Subject, instance: &'a InstanceView) -> Option<Field<'a>> {
    match subject {
        Subject::AgentConnected => Some(Field::Bool(instance.agent_connected)),
        Subject::AgentVersion => instance
            .agent_version
            .as_deref()
            .and_then(parse_version)
            .map(Field::Version),
        // A valueless attribute exists and compares as the empty string.
        Subject::Attribute(name) => instance
            .attributes
            .get(name)
            .map(|v| Field::Text(v.as_deref().unwrap_or(""))),
        Subject::Ec2InstanceId => Some(Field::Text(&instance.ec2_instance_id)),
        Subject::RegisteredAt => Some(Field::Time(instance.registered_at)),
        Subject::RunningTasksCount => Some(Field::Number(instance.tasks.len() as u64)),
        Subject::TaskGroup => None,
    }
}

fn equals(field: &Field<'_>, value: &Value) -> bool {
    match (field, &value.typed) {
        (Field::Text(a), _) => *a == value.text,
        (Field::Number(a), Typed::Number(b)) => a == b,
        (Field::Time(t), Typed::Time { start, end }) => start <= t && t < end,
        (Field::Version(a), Typed::Version(b)) => compare_versions(a, b) == Ordering::Equal,
        (Field::Bool(a), Typed::Bool(b)) => a == b,
        _ => false,
    }
}

fn ordered(op: Operator, field: &Field<'_>, value: &Value) -> bool {
    if let (Field::Time(t), Typed::Time { start, end }) = (field, &value.typed) {
        // The literal denotes [start, end): a date is a whole day.
        return match op {
            Operator::Gt => *t >= *end,
            Operator::Ge => t >= start,
            Operator::Lt => t < start,
            Operator::Le => t < end,
            _ => false,
        };
    }
    let ord = match (field, &value.typed) {
        (Field::Number(a), Typed::Number(b)) => a.cmp(b),
        (Field::Version(a), Typed::Version(b)) => compare_versions(a, b),
        (Field::Text(a), _) => compare_text(a, &value.text),
        _ => return false,
    };
    match op {
        Operator::Gt => ord == Ordering::Greater,
        Operator::Ge => ord != Ordering::Less,
        Operator::Lt => ord == Ordering::Less,
        Operator::Le => ord != Ordering::Greater,
        _ => false,
    }
}

/// Attribute values compare as numbers when both sides are numbers, else as
/// strings.
fn compare_text(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

/// `1.14.5` or `v1.14.5` into its numbers.
fn parse_version(s: &str) -> Option<Vec<u64>> {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    s.split('.').map(|p| p.parse::<u64>().ok()).collect()
}

/// Parses the `registeredAt` formats into the half-open range of Unix
/// seconds they denote: `2018-06-18T22:28:28+00:00`, `2018-06-18T22:28:28Z`,
/// `2018-06-18T22:28:28` (UTC) — optionally with fractional seconds — and
/// `2018-06-18` (the whole UTC day).
fn parse_time(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let midnight = days_from_civil(year, month, day) * 86_400;
    if b.len() == 10 {
        return Some((midnight, midnight + 86_400));
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        i += digits;
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let t = midnight + hour * 3600 + minute * 60 + second - offset;
    Some((t, t + 1))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------- tokenizer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
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
struct Token {
    tok: Tok,
    /// 1-based character position.
    pos: usize,
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !"()[],'\"=!<>&|".contains(c)
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
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

// ------------------------------------------------------------------- parser

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
    /// Position just past the last character.
    end: usize,
}

fn is_keyword(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
}

const SUBJECTS: &str =
    "agentConnected, agentVersion, attribute:NAME, ec2InstanceId, registeredAt, runningTasksCount or task:group";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).cloned();
        if t.is_some() {
            self.next += 1;
        }
        t
    }

    fn eat(&mut self, f: impl Fn(&Tok) -> bool) -> bool {
        match self.peek() {
            Some(t) if f(&t.tok) => {
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    fn end_position(&self) -> usize {
        self.end
    }

    fn enter(&mut self, pos: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::at(
                pos,
                format!("the expression nests parentheses and 'not' more than {MAX_DEPTH} deep at position {pos}"),
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_and()?];
        while self.eat(|t| *t == Tok::OrOr || is_keyword(t, "or")) {
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_unary()?];
        while self.eat(|t| *t == Tok::AndAnd || is_keyword(t, "and")) {
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, QueryError> {
        if let Some(t) = self.peek()
            && (t.tok == Tok::Bang || is_keyword(&t.tok, "not"))
        {
            let pos = t.pos;
            self.next += 1;
            self.enter(pos)?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, QueryError> {
        let Some(token) = self.bump() else {
            let pos = self.end_position();
            return Err(QueryError::at(
                pos,
                format!("the expression ends at position {pos} where a condition was expected (subject: {SUBJECTS})"),
            ));
        };
        match token.tok {
            Tok::LParen => {
                self.enter(token.pos)?;
                let inner = self.parse_or()?;
                self.depth -= 1;
                match self.bump() {
                    Some(Token { tok: Tok::RParen, .. }) => Ok(inner),
                    Some(other) => Err(QueryError::at(
                        other.pos,
                        format!(
                            "unexpected token {} at position {}; expected ')' to close the '(' at position {}",
                            other.tok, other.pos, token.pos
                        ),
                    )),
                    None => Err(QueryError::at(
                        token.pos,
                        format!("missing ')' to close the '(' at position {}", token.pos),
                    )),
                }
            }
            Tok::Word(word) => self.parse_condition(&word, token.pos),
            other => Err(QueryError::at(
                token.pos,
                format!(
                    "unexpected token {other} at position {}; expected a condition such as 'attribute:ecs.instance-type == t2.small' (subject: {SUBJECTS})",
                    token.pos
                ),
            )),
        }
    }

    fn parse_subject(word: &str, pos: usize) -> Result<Subject, QueryError> {
        const FIXED: [(&str, Subject); 6] = [
            ("agentConnected", Subject::AgentConnected),
            ("agentVersion", Subject::AgentVersion),
            ("ec2InstanceId", Subject::Ec2InstanceId),
            ("registeredAt", Subject::RegisteredAt),
            ("runningTasksCount", Subject::RunningTasksCount),
            ("task:group", Subject::TaskGroup),
        ];
        if let Some((_, s)) = FIXED.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) {
            return Ok(s.clone());
        }
        if let Some(prefix) = word.get(..10)
            && prefix.eq_ignore_ascii_case("attribute:")
        {
            let name = &word[10..];
            if name.is_empty() {
                return Err(QueryError::at(
                    pos,
                    format!(
                        "missing attribute name after 'attribute:' at position {pos}, e.g. attribute:ecs.instance-type"
                    ),
                ));
            }
            return Ok(Subject::Attribute(name.to_string()));
        }
        Err(QueryError::at(
            pos,
            format!("unknown subject '{word}' at position {pos}; expected {SUBJECTS}"),
        ))
    }

    fn parse_operator(&mut self, subject: &Subject) -> Result<(Operator, usize), QueryError> {
        let Some(token) = self.bump() else {
            let pos = self.end_position();
            return Err(QueryError::at(
                pos,
                format!("the expression ends at position {pos}; expected an operator after '{subject}'"),
            ));
        };
        let op = match &token.tok {
            Tok::EqEq => Some(Operator::Eq),
            Tok::NotEq => Some(Operator::Ne),
            Tok::Gt => Some(Operator::Gt),
            Tok::Ge => Some(Operator::Ge),
            Tok::Lt => Some(Operator::Lt),
            Tok::Le => Some(Operator::Le),
            Tok::Match => Some(Operator::Matches),
            Tok::NotMatch => Some(Operator::NotMatches),
            Tok::Bang => {
                if self.eat(|t| is_keyword(t, "exists")) {
                    Some(Operator::NotExists)
                } else if self.eat(|t| is_keyword(t, "in")) {
                    Some(Operator::NotIn)
                } else {
                    return Err(QueryError::at(
                        token.pos,
                        format!(
                            "'!' at position {} must be followed by 'exists' or 'in' here",
                            token.pos
                        ),
                    ));
                }
            }
            Tok::Word(w) => {
                const WORDS: [(&str, Operator); 12] = [
                    ("equals", Operator::Eq),
                    ("not_equals", Operator::Ne),
                    ("greater_than", Operator::Gt),
                    ("greater_than_equal", Operator::Ge),
                    ("less_than", Operator::Lt),
                    ("less_than_equal", Operator::Le),
                    ("exists", Operator::Exists),
                    ("not_exists", Operator::NotExists),
                    ("in", Operator::In),
                    ("not_in", Operator::NotIn),
                    ("matches", Operator::Matches),
                    ("not_matches", Operator::NotMatches),
                ];
                WORDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(w)).map(|(_, op)| *op)
            }
            _ => None,
        };
        let Some(op) = op else {
            return Err(QueryError::at(
                token.pos,
                format!(
                    "unexpected token {} at position {}; expected an operator after '{subject}' (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)",
                    token.tok, token.pos
                ),
            ));
        };
        let allowed = allowed_operators(subject);
        if !allowed.contains(&op) {
            let list: Vec<String> = allowed.iter().map(|o| o.to_string()).collect();
            return Err(QueryError::at(
                token.pos,
                format!(
                    "operator '{op}' at position {} can't be used with '{subject}'; valid operators: {}",
                    token.pos,
                    list.join(", ")
                ),
            ));
        }
        Ok((op, token.pos))
    }

    fn parse_value_token(&mut self, after: &str) -> Result<(String, usize), QueryError> {
        match self.bump() {
            Some(Token {
                tok: Tok::Word(w) | Tok::Quoted(w),
                pos,
            }) => Ok((w, pos)),
            Some(other) => Err(QueryError::at(
                other.pos,
                format!(
                    "unexpected token {} at position {}; expected a value after {after} (quote values that contain special characters)",
                    other.tok, other.pos
                ),
            )),
            None => {
                let pos = self.end_position();
                Err(QueryError::at(
                    pos,
                    format!("the expression ends at position {pos}; expected a value after {after}"),
                ))
            }
        }
    }

    fn parse_condition(&mut self, word: &str, pos: usize) -> Result<Expr, QueryError> {
        let subject = Self::parse_subject(word, pos)?;
        let (operator, op_pos) = self.parse_operator(&subject)?;
        let after = format!("'{operator}' at position {op_pos}");
        let argument = match operator {
            Operator::Exists | Operator::NotExists => Argument::None,
            Operator::In | Operator::NotIn => {
                let close = match self.bump() {
                    Some(Token { tok: Tok::LBracket, .. }) => Tok::RBracket,
                    Some(Token { tok: Tok::LParen, .. }) => Tok::RParen,
                    Some(other) => {
                        return Err(QueryError::at(
                            other.pos,
                            format!(
                                "unexpected token {} at position {}; expected a list such as [a, b] after {after}",
                                other.tok, other.pos
                            ),
                        ));
                    }
                    None => {
                        let end = self.end_position();
                        return Err(QueryError::at(
                            end,
                            format!(
                                "the expression ends at position {end}; expected a list such as [a, b] after {after}"
                            ),
                        ));
                    }
                };
                let mut values = Vec::new();
                loop {
                    let (text, vpos) = self.parse_value_token(&after)?;
                    values.push(typed_value(&subject, text, vpos)?);
                    match self.bump() {
                        Some(Token { tok: Tok::Comma, .. }) => continue,
                        Some(t) if t.tok == close => break,
                        Some(other) => {
                            return Err(QueryError::at(
                                other.pos,
                                format!(
                                    "unexpected token {} at position {}; expected ',' or {} in the list after {after}",
                                    other.tok, other.pos, close
                                ),
                            ));
                        }
                        None => {
                            let end = self.end_position();
                            return Err(QueryError::at(
                                end,
                                format!("the list after {after} is missing its closing {close}"),
                            ));
                        }
                    }
                }
                Argument::List(values)
            }
            Operator::Matches | Operator::NotMatches => {
                let (source, vpos) = self.parse_value_token(&after)?;
                let regex = regex::RegexBuilder::new(&format!("^(?:{source})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        let detail = e.to_string();
                        let last = detail.lines().last().unwrap_or("").trim().to_string();
                        QueryError::at(
                            vpos,
                            format!(
                                "invalid regular expression '{source}' at position {vpos} ({last}); patterns match the whole value, use '.*' as a wildcard, e.g. t2.*"
                            ),
                        )
                    })?;
                Argument::Pattern(Pattern { source, regex })
            }
            _ => {
                let (text, vpos) = self.parse_value_token(&after)?;
                Argument::Value(typed_value(&subject, text, vpos)?)
            }
        };
        Ok(Expr::Condition(Condition {
            subject,
            operator,
            argument,
        }))
    }
}

fn allowed_operators(subject: &Subject) -> &'static [Operator] {
    use Operator::*;
    match subject {
        Subject::AgentConnected | Subject::Ec2InstanceId => &[Eq, Ne, In, NotIn, Matches, NotMatches],
        Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount => &[Eq, Ne, Gt, Ge, Lt, Le],
        Subject::TaskGroup => &[Eq, Ne, In, NotIn, Matches, NotMatches, Exists, NotExists],
        Subject::Attribute(_) => &[
            Eq, Ne, Gt, Ge, Lt, Le, Exists, NotExists, In, NotIn, Matches, NotMatches,
        ],
    }
}

fn typed_value(subject: &Subject, text: String, pos: usize) -> Result<Value, QueryError> {
    let typed = match subject {
        Subject::RunningTasksCount => Typed::Number(text.parse().map_err(|_| {
            QueryError::at(
                pos,
                format!(
                    "'{text}' at position {pos} is not a whole number; runningTasksCount compares with numbers such as 1"
                ),
            )
        })?),
        Subject::RegisteredAt => {
            let (start, end) = parse_time(&text).ok_or_else(|| {
                QueryError::at(
                    pos,
                    format!(
                        "'{text}' at position {pos} is not a valid date; use 2018-06-18T22:28:28Z, 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28 or 2018-06-18"
                    ),
                )
            })?;
            Typed::Time { start, end }
        }
        Subject::AgentVersion => Typed::Version(parse_version(&text).ok_or_else(|| {
            QueryError::at(
                pos,
                format!(
                    "'{text}' at position {pos} is not a valid agent version; use dotted numbers such as 1.14.5"
                ),
            )
        })?),
        Subject::AgentConnected => {
            if text.eq_ignore_ascii_case("true") {
                Typed::Bool(true)
            } else if text.eq_ignore_ascii_case("false") {
                Typed::Bool(false)
            } else {
                return Err(QueryError::at(
                    pos,
                    format!("'{text}' at position {pos} is not valid for agentConnected; use true or false"),
                ));
            }
        }
        Subject::Attribute(_) | Subject::Ec2InstanceId | Subject::TaskGroup => Typed::Text,
    };
    Ok(Value { text, typed })
}

// ------------------------------------------------------------------ display

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operator::Eq => "==",
            Operator::Ne => "!=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Exists => "exists",
            Operator::NotExists => "!exists",
            Operator::In => "in",
            Operator::NotIn => "!in",
            Operator::Matches => "=~",
            Operator::NotMatches => "!~",
        })
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::AgentConnected => f.write_str("agentConnected"),
            Subject::AgentVersion => f.write_str("agentVersion"),
            Subject::Attribute(name) => write!(f, "attribute:{name}"),
            Subject::Ec2InstanceId => f.write_str("ec2InstanceId"),
            Subject::RegisteredAt => f.write_str("registeredAt"),
            Subject::RunningTasksCount => f.write_str("runningTasksCount"),
            Subject::TaskGroup => f.write_str("task:group"),
        }
    }
}

fn write_literal(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if !text.is_empty() && text.chars().all(is_word_char) {
        f.write_str(text)
    } else if text.contains('\'') {
        write!(f, "\"{text}\"")
    } else {
        write!(f, "'{text}'")
    }
}

/// Canonical text of the expression; parsing it again gives the same AST.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str| -> fmt::Result {
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                match e {
                    Expr::And(_) | Expr::Or(_) => write!(f, "({e})")?,
                    _ => write!(f, "{e}")?,
                }
            }
            Ok(())
        };
        match self {
            Expr::And(items) => join(f, items, " and "),
            Expr::Or(items) => join(f, items, " or "),
            Expr::Not(inner) => write!(f, "not ({inner})"),
            Expr::Condition(c) => {
                write!(f, "{} {}", c.subject, c.operator)?;
                match &c.argument {
                    Argument::None => Ok(()),
                    Argument::Value(v) => {
                        f.write_str(" ")?;
                        write_literal(f, &v.text)
                    }
                    Argument::Pattern(p) => {
                        f.write_str(" ")?;
                        write_literal(f, &p.source)
                    }
                    Argument::List(vs) => {
                        f.write_str(" [")?;
                        for (i, v) in vs.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write_literal(f, &v.text)?;
                        }
                        f.write_str("]")
                    }
                }
            }
        }
    }
}
