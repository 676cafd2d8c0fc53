//! The cluster query language's syntax tree: expressions, conditions, subjects,
//! operators and typed values, and the error a malformed expression gets.

use regex::Regex;

/// Longest accepted expression, in characters (the ECS limit).
pub const MAX_EXPRESSION_LEN: usize = 2000;

/// Deepest accepted nesting of parentheses and `not`.
pub(super) const MAX_DEPTH: usize = 100;

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
    pub(super) fn at(position: usize, message: impl Into<String>) -> Self {
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
    pub(super) typed: Typed,
}

#[derive(Debug, Clone)]
pub(super) enum Typed {
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
    pub(super) regex: Regex,
}

impl Pattern {
    /// Whether the pattern matches all of `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}
