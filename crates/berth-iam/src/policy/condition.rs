//! The `Condition` block: operators, their `IfExists` and set
//! (`ForAnyValue:`/`ForAllValues:`) forms, and their evaluation against
//! the request's context keys.

use super::matching::{arn_like, glob_match, substitute};
use super::{ContextKeys, PolicyError, malformed};
use serde_json::Value;
use std::net::IpAddr;

/// The comparison an operator makes (its positive form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// A parsed operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConditionOp {
    pub compare: Compare,
    /// `StringNotEquals`, `NotIpAddress`, `ArnNotLike`, …
    pub negated: bool,
    pub if_exists: bool,
    pub set: SetQualifier,
}

impl ConditionOp {
    pub fn parse(name: &str) -> Option<Self> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::Single, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        use Compare::*;
        let (compare, negated) = match base {
            "StringEquals" => (StringEquals, false),
            "StringNotEquals" => (StringEquals, true),
            "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
            "StringLike" => (StringLike, false),
            "StringNotLike" => (StringLike, true),
            "NumericEquals" => (NumericEquals, false),
            "NumericNotEquals" => (NumericEquals, true),
            "NumericLessThan" => (NumericLessThan, false),
            "NumericLessThanEquals" => (NumericLessThanEquals, false),
            "NumericGreaterThan" => (NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
            "DateEquals" => (DateEquals, false),
            "DateNotEquals" => (DateEquals, true),
            "DateLessThan" => (DateLessThan, false),
            "DateLessThanEquals" => (DateLessThanEquals, false),
            "DateGreaterThan" => (DateGreaterThan, false),
            "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
            "Bool" => (Bool, false),
            "IpAddress" => (IpAddress, false),
            "NotIpAddress" => (IpAddress, true),
            "ArnEquals" => (ArnEquals, false),
            "ArnNotEquals" => (ArnEquals, true),
            "ArnLike" => (ArnLike, false),
            "ArnNotLike" => (ArnLike, true),
            "Null" => (Null, false),
            _ => return None,
        };
        if compare == Null && (if_exists || set != SetQualifier::Single) {
            return None;
        }
        Some(Self {
            compare,
            negated,
            if_exists,
            set,
        })
    }
}

/// One `"Operator": {"key": values}` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub op: ConditionOp,
    pub key: String,
    pub values: Vec<String>,
}

pub(super) fn parse_block(v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let ops = v
        .as_object()
        .ok_or_else(|| malformed("Syntax errors in policy: Condition must be an object."))?;
    let mut out = vec![];
    for (name, entries) in ops {
        let op = ConditionOp::parse(name).ok_or_else(|| {
            malformed(format!(
                "Invalid Condition type : {name} (not a known condition operator)"
            ))
        })?;
        let entries = entries
            .as_object()
            .ok_or_else(|| malformed(format!("Syntax errors in policy: condition {name} must be an object.")))?;
        for (key, values) in entries {
            let values = match values {
                Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other)?],
            };
            out.push(Condition {
                op,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> Result<String, PolicyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(malformed(
            "Syntax errors in policy: condition values must be strings, numbers or booleans.",
        )),
    }
}

impl Condition {
    /// Whether the condition holds for the request described by `keys`.
    pub fn holds(&self, keys: &ContextKeys) -> bool {
        let present = keys.get(&self.key);
        if self.op.compare == Compare::Null {
            // `"Null": {"k": "true"}` — the key is absent.
            let absent = present.is_none_or(|v| v.is_empty());
            return self.values.iter().any(|v| v.eq_ignore_ascii_case("true") == absent);
        }
        let Some(ctx_values) = present.filter(|v| !v.is_empty()) else {
            // No value in the request: IfExists and ForAllValues hold vacuously;
            // negated operators hold (nothing equals the policy values); others fail.
            return self.op.if_exists || self.op.set == SetQualifier::ForAllValues || self.op.negated;
        };
        // Policy variables in condition values.
        let policy_values: Vec<String> = self.values.iter().filter_map(|v| substitute(v, keys)).collect();
        let matches_any = |ctx: &str| policy_values.iter().any(|p| compare(self.op.compare, ctx, p));
        match (self.op.set, self.op.negated) {
            (SetQualifier::Single | SetQualifier::ForAnyValue, false) => ctx_values.iter().any(|c| matches_any(c)),
            (SetQualifier::Single, true) => !ctx_values.iter().any(|c| matches_any(c)),
            (SetQualifier::ForAnyValue, true) => ctx_values.iter().any(|c| !matches_any(c)),
            (SetQualifier::ForAllValues, false) => ctx_values.iter().all(|c| matches_any(c)),
            (SetQualifier::ForAllValues, true) => ctx_values.iter().all(|c| !matches_any(c)),
        }
    }
}

fn compare(op: Compare, ctx: &str, policy: &str) -> bool {
    use Compare::*;
    match op {
        StringEquals => ctx == policy,
        StringEqualsIgnoreCase => ctx.to_lowercase() == policy.to_lowercase(),
        StringLike => glob_match(policy, ctx, false),
        NumericEquals | NumericLessThan | NumericLessThanEquals | NumericGreaterThan | NumericGreaterThanEquals => {
            match (ctx.trim().parse::<f64>(), policy.trim().parse::<f64>()) {
                (Ok(c), Ok(p)) => ordered(op, c.partial_cmp(&p)),
                _ => false,
            }
        }
        DateEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => {
            match (parse_date(ctx), parse_date(policy)) {
                (Some(c), Some(p)) => ordered(op, Some(c.cmp(&p))),
                _ => false,
            }
        }
        Bool => ctx.eq_ignore_ascii_case(policy),
        IpAddress => match (ctx.parse::<IpAddr>(), parse_cidr(policy)) {
            (Ok(ip), Some((net, len))) => in_cidr(ip, net, len),
            _ => false,
        },
        ArnEquals => ctx == policy,
        ArnLike => arn_like(policy, ctx),
        Null => false,
    }
}

fn ordered(op: Compare, ord: Option<std::cmp::Ordering>) -> bool {
    use Compare::*;
    use std::cmp::Ordering::*;
    match (op, ord) {
        (_, None) => false,
        (NumericEquals | DateEquals, Some(o)) => o == Equal,
        (NumericLessThan | DateLessThan, Some(o)) => o == Less,
        (NumericLessThanEquals | DateLessThanEquals, Some(o)) => o != Greater,
        (NumericGreaterThan | DateGreaterThan, Some(o)) => o == Greater,
        (NumericGreaterThanEquals | DateGreaterThanEquals, Some(o)) => o != Less,
        _ => false,
    }
}

/// A date as IAM accepts it: ISO 8601 (`2026-01-01T00:00:00Z`, or a bare
/// `2026-01-01`) or epoch seconds. Returned as epoch nanoseconds.
fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Some(t) = berth_core::time::parse_rfc3339(s) {
        return Some(t.unix_timestamp_nanos());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos())
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip.to_ipv4_mapped().is_some_and(|v4| in_cidr(IpAddr::V4(v4), net, len)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(block: Value) -> Vec<Condition> {
        parse_block(&block).unwrap()
    }

    fn keys() -> ContextKeys {
        let mut k = ContextKeys::new();
        k.set("aws:username", "bob")
            .set("aws:PrincipalArn", "arn:aws:iam::123456789012:user/bob")
            .set("aws:SourceIp", "10.1.2.3")
            .set("aws:CurrentTime", "2026-06-15T12:00:00Z")
            .set("aws:EpochTime", "1781524800")
            .set("aws:SecureTransport", "false")
            .set("aws:ResourceTag/env", "prod")
            .set("aws:RequestTag/team", "blue")
            .set_many("aws:TagKeys", vec!["team".into(), "owner".into()]);
        k
    }

    /// (operator, key, values, expected) against [`keys`].
    #[test]
    fn operator_table() {
        let k = keys();
        let table: Vec<(&str, &str, Value, bool)> = vec![
            ("StringEquals", "aws:username", json!("bob"), true),
            ("StringEquals", "aws:username", json!("Bob"), false),
            ("StringEquals", "AWS:USERNAME", json!(["alice", "bob"]), true),
            ("StringNotEquals", "aws:username", json!("alice"), true),
            ("StringNotEquals", "aws:username", json!("bob"), false),
            ("StringEqualsIgnoreCase", "aws:username", json!("BOB"), true),
            ("StringNotEqualsIgnoreCase", "aws:username", json!("BOB"), false),
            ("StringLike", "aws:PrincipalArn", json!("arn:aws:iam::*:user/b?b"), true),
            (
                "StringNotLike",
                "aws:PrincipalArn",
                json!("arn:aws:iam::*:role/*"),
                true,
            ),
            ("StringLike", "aws:username", json!("${aws:username}"), true),
            (
                "ArnEquals",
                "aws:PrincipalArn",
                json!("arn:aws:iam::123456789012:user/bob"),
                true,
            ),
            ("ArnLike", "aws:PrincipalArn", json!("arn:aws:iam::*:user/*"), true),
            ("ArnNotLike", "aws:PrincipalArn", json!("arn:aws:iam::*:user/*"), false),
            ("ArnNotEquals", "aws:PrincipalArn", json!("arn:aws:iam::1:user/x"), true),
            ("Bool", "aws:SecureTransport", json!(false), true),
            ("Bool", "aws:SecureTransport", json!("true"), false),
            ("NumericEquals", "aws:EpochTime", json!(1781524800), true),
            ("NumericNotEquals", "aws:EpochTime", json!(1), true),
            ("NumericLessThan", "aws:EpochTime", json!("1781524801"), true),
            ("NumericLessThan", "aws:EpochTime", json!("1781524800"), false),
            ("NumericLessThanEquals", "aws:EpochTime", json!("1781524800"), true),
            ("NumericGreaterThan", "aws:EpochTime", json!("1781524799"), true),
            ("NumericGreaterThanEquals", "aws:EpochTime", json!("1781524801"), false),
            ("NumericEquals", "aws:username", json!(1), false),
            ("DateLessThan", "aws:CurrentTime", json!("2027-01-01T00:00:00Z"), true),
            ("DateLessThan", "aws:CurrentTime", json!("2026-01-01"), false),
            ("DateGreaterThan", "aws:CurrentTime", json!("2026-01-01"), true),
            ("DateEquals", "aws:CurrentTime", json!("2026-06-15T12:00:00Z"), true),
            ("DateNotEquals", "aws:CurrentTime", json!("2026-06-15T12:00:00Z"), false),
            ("DateLessThanEquals", "aws:CurrentTime", json!(1781524800), true),
            (
                "DateGreaterThanEquals",
                "aws:EpochTime",
                json!("2026-06-15T12:00:00Z"),
                true,
            ),
            ("IpAddress", "aws:SourceIp", json!("10.0.0.0/8"), true),
            (
                "IpAddress",
                "aws:SourceIp",
                json!(["192.168.0.0/16", "10.1.2.3/32"]),
                true,
            ),
            ("IpAddress", "aws:SourceIp", json!("10.1.2.3"), true),
            ("IpAddress", "aws:SourceIp", json!("192.168.0.0/16"), false),
            ("NotIpAddress", "aws:SourceIp", json!("192.168.0.0/16"), true),
            ("NotIpAddress", "aws:SourceIp", json!("0.0.0.0/0"), false),
            ("Null", "aws:ResourceTag/env", json!("false"), true),
            ("Null", "aws:ResourceTag/env", json!("true"), false),
            ("Null", "aws:ResourceTag/missing", json!("true"), true),
            ("StringEquals", "aws:ResourceTag/env", json!("prod"), true),
            ("StringEquals", "aws:RequestTag/team", json!("red"), false),
            // Missing keys: positive operators fail, negated ones and IfExists hold.
            ("StringEquals", "aws:ResourceTag/missing", json!("x"), false),
            ("StringNotEquals", "aws:ResourceTag/missing", json!("x"), true),
            ("StringEqualsIfExists", "aws:ResourceTag/missing", json!("x"), true),
            ("StringEqualsIfExists", "aws:ResourceTag/env", json!("dev"), false),
            ("NumericLessThanIfExists", "missing", json!(1), true),
            // Multi-valued keys.
            ("ForAnyValue:StringEquals", "aws:TagKeys", json!(["team"]), true),
            ("ForAnyValue:StringEquals", "aws:TagKeys", json!(["cost"]), false),
            (
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                json!(["team", "owner", "cost"]),
                true,
            ),
            ("ForAllValues:StringEquals", "aws:TagKeys", json!(["team"]), false),
            ("ForAllValues:StringEquals", "aws:Missing", json!(["team"]), true),
            ("ForAnyValue:StringNotEquals", "aws:TagKeys", json!(["team"]), true),
            ("ForAllValues:StringNotEquals", "aws:TagKeys", json!(["cost"]), true),
            ("ForAllValues:StringNotLike", "aws:TagKeys", json!(["t*"]), false),
        ];
        for (op, key, values, want) in table {
            let c = cond(json!({ op: { key: values.clone() } }));
            assert_eq!(c[0].holds(&k), want, "{op} {key} {values}");
        }
    }

    #[test]
    fn ipv6_and_bad_values() {
        let mut k = ContextKeys::new();
        k.set("aws:SourceIp", "2001:db8::1");
        assert!(cond(json!({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}))[0].holds(&k));
        assert!(!cond(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))[0].holds(&k));
        assert!(!cond(json!({"IpAddress": {"aws:SourceIp": "not-a-cidr"}}))[0].holds(&k));
        k.set("aws:SourceIp", "::ffff:10.0.0.1");
        assert!(cond(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))[0].holds(&k));
    }

    #[test]
    fn operator_names() {
        assert!(ConditionOp::parse("ForAnyValue:StringLikeIfExists").is_some());
        assert!(ConditionOp::parse("NullIfExists").is_none());
        assert!(ConditionOp::parse("StringFuzzy").is_none());
        assert!(parse_block(&json!({"Bogus": {"k": "v"}})).is_err());
        assert!(parse_block(&json!({"StringEquals": {"k": {"nested": 1}}})).is_err());
    }
}
