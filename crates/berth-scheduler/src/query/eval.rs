//! The evaluator: whether a container instance satisfies an expression
//! (values compared as text, numbers, versions or times by subject).

use super::ast::{Argument, Condition, Expr, Operator, Subject, Typed, Value};
use crate::types::InstanceView;
use std::cmp::Ordering;

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
pub(super) fn parse_version(s: &str) -> Option<Vec<u64>> {
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
pub(super) fn parse_time(s: &str) -> Option<(i64, i64)> {
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
