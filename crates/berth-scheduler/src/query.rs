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

mod ast;
mod display;
mod eval;
mod parser;
mod tokenizer;

pub use ast::{Argument, Condition, Expr, MAX_EXPRESSION_LEN, Operator, Pattern, QueryError, Subject, Value};
pub use parser::parse_expression;
