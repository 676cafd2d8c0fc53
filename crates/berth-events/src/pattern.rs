//! Event patterns as EventBridge matches them (pure): a pattern is a JSON
//! object whose keys name fields of the event; a nested object descends
//! into the field, an array lists what the field may be. An event matches
//! when every key of the pattern matches (and, in a `$or`, any one of its
//! alternatives). A field whose value is an array matches when any element
//! does.
//!
//! What an array may hold: literal strings, numbers (compared as numbers),
//! `true`, `false` and `null`; and the content filters `{"prefix": …}`,
//! `{"suffix": …}` (each also as `{"equals-ignore-case": …}` inside),
//! `{"equals-ignore-case": …}`, `{"wildcard": "a*b"}`,
//! `{"anything-but": …}` (a value, a list of values, or a prefix, suffix,
//! equals-ignore-case or wildcard filter), `{"numeric": [">", 0, "<=", 5]}`,
//! `{"exists": true|false}` and `{"cidr": "10.0.0.0/24"}`. A field that is
//! absent matches only `{"exists": false}`.

use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;

/// Why a pattern is not valid: the `Reason` of EventBridge's
/// `InvalidEventPatternException` ("Event pattern is not valid. Reason: …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPattern(pub String);

impl fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event pattern is not valid. Reason: {}", self.0)
    }
}

fn invalid<T>(reason: impl Into<String>) -> Result<T, InvalidPattern> {
    Err(InvalidPattern(reason.into()))
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    fields: Vec<(String, Node)>,
    any_of: Vec<Vec<Pattern>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Nested(Pattern),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Text {
    Exact(String),
    IgnoreCase(String),
}

impl Text {
    fn prefix_of(&self, s: &str) -> bool {
        match self {
            Text::Exact(p) => s.starts_with(p.as_str()),
            Text::IgnoreCase(p) => s.to_lowercase().starts_with(&p.to_lowercase()),
        }
    }
    fn suffix_of(&self, s: &str) -> bool {
        match self {
            Text::Exact(p) => s.ends_with(p.as_str()),
            Text::IgnoreCase(p) => s.to_lowercase().ends_with(&p.to_lowercase()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Literal(Value),
    Prefix(Text),
    Suffix(Text),
    IgnoreCase(String),
    Wildcard(String),
    AnythingBut(Vec<Matcher>),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr(IpAddr, u8),
}

impl Pattern {
    /// Parses pattern text (`PutRule`'s `EventPattern`).
    pub fn parse(text: &str) -> Result<Pattern, InvalidPattern> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return invalid(format!("the pattern is not JSON: {e}")),
        };
        match &v {
            Value::Object(m) if !m.is_empty() => Pattern::object(m, ""),
            Value::Object(_) => invalid("the pattern is an empty object"),
            _ => invalid("the pattern must be a JSON object"),
        }
    }

    fn object(m: &Map<String, Value>, path: &str) -> Result<Pattern, InvalidPattern> {
        let mut p = Pattern {
            fields: Vec::new(),
            any_of: Vec::new(),
        };
        for (key, value) in m {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key == "$or" {
                let Value::Array(alternatives) = value else {
                    return invalid(format!("\"$or\" at {path:?} must be an array of patterns"));
                };
                if alternatives.len() < 2 {
                    return invalid("\"$or\" needs at least two alternatives");
                }
                let mut any = Vec::new();
                for a in alternatives {
                    match a {
                        Value::Object(o) if !o.is_empty() => any.push(Pattern::object(o, path)?),
                        _ => return invalid("each alternative of \"$or\" must be a non-empty object"),
                    }
                }
                p.any_of.push(any);
                continue;
            }
            let node = match value {
                Value::Object(o) if o.is_empty() => return invalid(format!("\"{here}\" is an empty object")),
                Value::Object(o) => Node::Nested(Pattern::object(o, &here)?),
                Value::Array(items) => {
                    if items.is_empty() {
                        return invalid(format!("\"{here}\" must match at least one value (an empty array)"));
                    }
                    Node::Leaf(items.iter().map(|i| matcher(i, &here)).collect::<Result<_, _>>()?)
                }
                _ => {
                    return invalid(format!(
                        "\"{here}\" must be an object or an array of values to match, not {value}"
                    ));
                }
            };
            p.fields.push((key.clone(), node));
        }
        Ok(p)
    }

    /// Whether `event` (an event as EventBridge delivers it: `version`,
    /// `id`, `detail-type`, `source`, `account`, `time`, `region`,
    /// `resources`, `detail`) matches.
    pub fn matches(&self, event: &Value) -> bool {
        let obj = event.as_object();
        self.fields.iter().all(|(key, node)| {
            let field = obj.and_then(|o| o.get(key));
            match node {
                Node::Nested(p) => match field {
                    Some(Value::Array(items)) => items.iter().any(|i| p.matches(i)),
                    Some(v) => p.matches(v),
                    None => p.matches(&Value::Null) && p.only_absence(),
                },
                Node::Leaf(ms) => ms.iter().any(|m| m.matches(field)),
            }
        }) && self.any_of.iter().all(|alts| alts.iter().any(|a| a.matches(event)))
    }

    /// Whether this nested pattern asks only that fields be absent (so an
    /// absent parent matches it).
    fn only_absence(&self) -> bool {
        self.fields.iter().all(|(_, n)| match n {
            Node::Nested(p) => p.only_absence(),
            Node::Leaf(ms) => ms.iter().all(|m| *m == Matcher::Exists(false)),
        }) && self.any_of.is_empty()
    }
}

fn text_filter(v: &Value, what: &str, here: &str) -> Result<Text, InvalidPattern> {
    match v {
        Value::String(s) => Ok(Text::Exact(s.clone())),
        Value::Object(o) if o.len() == 1 => match o.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok(Text::IgnoreCase(s.clone())),
            _ => invalid(format!(
                "\"{what}\" at \"{here}\" takes a string or {{\"equals-ignore-case\": string}}"
            )),
        },
        _ => invalid(format!("\"{what}\" at \"{here}\" takes a string")),
    }
}

fn matcher(v: &Value, here: &str) -> Result<Matcher, InvalidPattern> {
    let Value::Object(o) = v else {
        if v.is_array() {
            return invalid(format!("\"{here}\" holds an array inside its array of values"));
        }
        return Ok(Matcher::Literal(v.clone()));
    };
    if o.len() != 1 {
        return invalid(format!("a content filter at \"{here}\" must have exactly one key"));
    }
    let (kind, arg) = o.iter().next().expect("one key");
    Ok(match kind.as_str() {
        "prefix" => Matcher::Prefix(text_filter(arg, "prefix", here)?),
        "suffix" => Matcher::Suffix(text_filter(arg, "suffix", here)?),
        "equals-ignore-case" => match arg {
            Value::String(s) => Matcher::IgnoreCase(s.clone()),
            _ => return invalid(format!("\"equals-ignore-case\" at \"{here}\" takes a string")),
        },
        "wildcard" => match arg {
            Value::String(s) if !s.contains("**") => Matcher::Wildcard(s.clone()),
            Value::String(_) => {
                return invalid(format!(
                    "\"wildcard\" at \"{here}\" has consecutive wildcard characters"
                ));
            }
            _ => return invalid(format!("\"wildcard\" at \"{here}\" takes a string")),
        },
        "exists" => match arg {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => return invalid(format!("\"exists\" at \"{here}\" takes true or false")),
        },
        "numeric" => Matcher::Numeric(numeric(arg, here)?),
        "cidr" => cidr(arg, here)?,
        "anything-but" => Matcher::AnythingBut(anything_but(arg, here)?),
        other => return invalid(format!("unrecognized match type {other:?} at \"{here}\"")),
    })
}

fn anything_but(arg: &Value, here: &str) -> Result<Vec<Matcher>, InvalidPattern> {
    match arg {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(_) | Value::Number(_) => Ok(Matcher::Literal(i.clone())),
                _ => invalid(format!("\"anything-but\" at \"{here}\" lists strings or numbers")),
            })
            .collect(),
        Value::String(_) | Value::Number(_) => Ok(vec![Matcher::Literal(arg.clone())]),
        Value::Object(o) if o.len() == 1 => {
            let (kind, inner) = o.iter().next().expect("one key");
            Ok(vec![match kind.as_str() {
                "prefix" => Matcher::Prefix(text_filter(inner, "prefix", here)?),
                "suffix" => Matcher::Suffix(text_filter(inner, "suffix", here)?),
                "equals-ignore-case" => match inner {
                    Value::String(s) => Matcher::IgnoreCase(s.clone()),
                    Value::Array(items) => {
                        let mut out = Vec::new();
                        for i in items {
                            match i {
                                Value::String(s) => out.push(Matcher::IgnoreCase(s.clone())),
                                _ => return invalid(format!("\"equals-ignore-case\" at \"{here}\" lists strings")),
                            }
                        }
                        return Ok(out);
                    }
                    _ => return invalid(format!("\"equals-ignore-case\" at \"{here}\" takes a string")),
                },
                "wildcard" => match inner {
                    Value::String(s) => Matcher::Wildcard(s.clone()),
                    _ => return invalid(format!("\"wildcard\" at \"{here}\" takes a string")),
                },
                other => return invalid(format!("\"anything-but\" at \"{here}\" cannot hold {other:?}")),
            }])
        }
        _ => invalid(format!(
            "\"anything-but\" at \"{here}\" takes a value, a list of values or a prefix/suffix/equals-ignore-case/wildcard filter"
        )),
    }
}

fn numeric(arg: &Value, here: &str) -> Result<Vec<(Cmp, f64)>, InvalidPattern> {
    let Value::Array(items) = arg else {
        return invalid(format!(
            "\"numeric\" at \"{here}\" takes an array such as [\">\", 0, \"<=\", 5]"
        ));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return invalid(format!("\"numeric\" at \"{here}\" takes one or two comparisons"));
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let cmp = match pair[0].as_str() {
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some("=") => Cmp::Eq,
            Some(">=") => Cmp::Ge,
            Some(">") => Cmp::Gt,
            _ => return invalid(format!("unrecognized numeric range operator {} at \"{here}\"", pair[0])),
        };
        let Some(n) = pair[1].as_f64() else {
            return invalid(format!(
                "\"numeric\" at \"{here}\" compares with numbers, not {}",
                pair[1]
            ));
        };
        if !(-5.0e9..=5.0e9).contains(&n) {
            return invalid(format!("the number {n} at \"{here}\" is outside -5.0e9 to 5.0e9"));
        }
        out.push((cmp, n));
    }
    if out.len() == 2 {
        let lower = matches!(out[0].0, Cmp::Gt | Cmp::Ge);
        let upper = matches!(out[1].0, Cmp::Lt | Cmp::Le);
        if !(lower && upper) || out[0].1 >= out[1].1 {
            return invalid(format!(
                "a numeric range at \"{here}\" is a lower bound (> or >=) then a greater upper bound (< or <=)"
            ));
        }
    }
    Ok(out)
}

fn cidr(arg: &Value, here: &str) -> Result<Matcher, InvalidPattern> {
    let bad = || {
        invalid(format!(
            "\"cidr\" at \"{here}\" takes a CIDR block such as \"10.0.0.0/24\""
        ))
    };
    let Some((ip, bits)) = arg.as_str().and_then(|s| s.split_once('/')) else {
        return bad();
    };
    let (Ok(ip), Ok(bits)) = (ip.parse::<IpAddr>(), bits.parse::<u8>()) else {
        return bad();
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return bad();
    }
    Ok(Matcher::Cidr(ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `*` matches any run of characters (none included).
fn wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

fn same_literal(pattern: &Value, v: &Value) -> bool {
    match (pattern, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => pattern == v,
    }
}

impl Matcher {
    /// Whether the field (`None` when absent) matches.
    fn matches(&self, field: Option<&Value>) -> bool {
        match (self, field) {
            (Matcher::Exists(want), f) => *want == f.is_some(),
            (_, None) => false,
            (_, Some(Value::Array(items))) => items.iter().any(|i| self.matches_scalar(i)),
            (_, Some(v)) => self.matches_scalar(v),
        }
    }

    fn matches_scalar(&self, v: &Value) -> bool {
        match self {
            Matcher::Literal(p) => same_literal(p, v),
            Matcher::Prefix(t) => v.as_str().is_some_and(|s| t.prefix_of(s)),
            Matcher::Suffix(t) => v.as_str().is_some_and(|s| t.suffix_of(s)),
            Matcher::IgnoreCase(p) => v.as_str().is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
            Matcher::Wildcard(p) => v.as_str().is_some_and(|s| wildcard(p, s)),
            Matcher::AnythingBut(not) => (v.is_string() || v.is_number()) && !not.iter().any(|m| m.matches_scalar(v)),
            Matcher::Numeric(ranges) => v.as_f64().is_some_and(|n| {
                ranges.iter().all(|(cmp, bound)| match cmp {
                    Cmp::Lt => n < *bound,
                    Cmp::Le => n <= *bound,
                    Cmp::Eq => n == *bound,
                    Cmp::Ge => n >= *bound,
                    Cmp::Gt => n > *bound,
                })
            }),
            Matcher::Exists(_) => true,
            Matcher::Cidr(net, bits) => v
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| in_cidr(ip, *net, *bits)),
        }
    }
}

#[cfg(test)]
mod tests;
