//! Expressions written back as text (`Display`), in the language's own
//! syntax.

use super::ast::{Argument, Expr, Operator, Subject};
use super::tokenizer::is_word_char;
use std::fmt;

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
