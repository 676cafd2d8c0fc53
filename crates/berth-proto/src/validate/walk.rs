//! The walk of one input through its shape: cleans the value, stops at the
//! first JSON type the shape cannot take, and collects constraint violations.

use super::{Constraint, Kind, ServiceModel, Shape, ShapeId};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;

/// A broken constraint: where (`path`, in AWS's form: `a.1.member.b` for a
/// list item, `a.KEY` for a map value), the value as shown in the message
/// (None: not shown), and the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub path: String,
    pub value: Option<String>,
    pub rule: Rule,
}

/// The rule a value broke, with the model's bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    NotNull,
    EnumSet(&'static [&'static str]),
    /// A number above `max` (`integral`: the bound is printed without a fraction).
    Max {
        max: f64,
        integral: bool,
    },
    Min {
        min: f64,
        integral: bool,
    },
    MaxLength(f64),
    MinLength(f64),
    Pattern(&'static str),
}

impl Rule {
    pub fn constraint(&self) -> Constraint {
        match self {
            Rule::NotNull => Constraint::Required,
            Rule::EnumSet(_) => Constraint::Enum,
            Rule::Max { .. } | Rule::Min { .. } => Constraint::Range,
            Rule::MaxLength(_) | Rule::MinLength(_) => Constraint::Length,
            Rule::Pattern(_) => Constraint::Pattern,
        }
    }
}

/// A position in the input, as the chain of steps from the root (on the
/// stack of the walk): the paths are written out only for a violation or an
/// unknown member, never for a value that passes. It reads as messages show
/// it (`a.1.member.b`) and as exemptions and extensions name it (`a[].b`,
/// `[]` for list items, `{}` for map values).
#[derive(Clone, Copy)]
enum Pos<'a> {
    Root,
    Member(&'a Pos<'a>, &'a str),
    Item(&'a Pos<'a>, usize),
    Entry(&'a Pos<'a>, &'a str),
}

impl Pos<'_> {
    fn shown(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, true);
        out
    }

    fn schema(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, false);
        out
    }

    fn write(&self, out: &mut String, shown: bool) {
        match *self {
            Pos::Root => {}
            Pos::Member(parent, name) => {
                parent.write(out, shown);
                if !out.is_empty() {
                    out.push('.');
                }
                if shown {
                    push_shown_name(out, name);
                } else {
                    out.push_str(name);
                }
            }
            Pos::Item(parent, index) => {
                parent.write(out, shown);
                if shown {
                    out.push('.');
                    out.push_str(&(index + 1).to_string());
                    out.push_str(".member");
                } else {
                    out.push_str("[]");
                }
            }
            Pos::Entry(parent, key) => {
                parent.write(out, shown);
                if shown {
                    out.push('.');
                    out.push_str(key);
                } else {
                    out.push_str("{}");
                }
            }
        }
    }
}

struct Walker<'a> {
    model: &'a ServiceModel,
    operation: &'a str,
    violations: Vec<Violation>,
}

/// Walks `input` through `shape`. `Err` is a type mismatch (the
/// SerializationException message); `Ok` is the cleaned value and the
/// violations, in the order of the model's members.
pub(super) fn walk(
    model: &ServiceModel,
    operation: &str,
    shape: ShapeId,
    input: Value,
) -> Result<(Value, Vec<Violation>), String> {
    let mut w = Walker {
        model,
        operation,
        violations: Vec::new(),
    };
    let mut cleaned = input;
    w.value(shape, &mut cleaned, &Pos::Root)?;
    Ok((cleaned, w.violations))
}

impl Walker<'_> {
    fn violate(&mut self, pos: &Pos<'_>, value: Option<String>, rule: Rule) {
        let constraint = rule.constraint();
        let schema = pos.schema();
        let exempt = self
            .model
            .left_to_handler
            .iter()
            .any(|e| e.operation == self.operation && e.path == schema && e.constraint == constraint);
        if !exempt {
            self.violations.push(Violation {
                path: pos.shown(),
                value,
                rule,
            });
        }
    }

    fn is_extension(&self, pos: &Pos<'_>) -> bool {
        let candidates = || self.model.extensions.iter().filter(|e| e.operation == self.operation);
        if candidates().next().is_none() {
            return false;
        }
        let schema = pos.schema();
        candidates().any(|e| e.path == schema)
    }

    /// Checks `v` against shape `id` and cleans it in place: members the
    /// model does not know (but for extensions), nulls and null items are
    /// removed. `Err` is the first type mismatch.
    fn value(&mut self, id: ShapeId, v: &mut Value, pos: &Pos<'_>) -> Result<(), String> {
        let shape: &Shape = &self.model.shapes[id];
        match &shape.kind {
            Kind::Structure(members) | Kind::Union(members) => {
                let Value::Object(fields) = v else {
                    return Err(mismatch(v, "a Structure"));
                };
                for m in members.iter() {
                    let mpos = Pos::Member(pos, m.name);
                    match fields.get_mut(m.name) {
                        None | Some(Value::Null) => {
                            if m.required {
                                self.violate(&mpos, None, Rule::NotNull);
                            }
                        }
                        Some(value) => self.value(m.shape, value, &mpos)?,
                    }
                }
                // What is left is unknown to the model: dropped, but for extensions.
                fields.retain(|name, value| {
                    !value.is_null()
                        && (members.iter().any(|m| m.name == name.as_str())
                            || self.is_extension(&Pos::Member(pos, name)))
                });
                Ok(())
            }
            Kind::List(member) => {
                let Value::Array(items) = v else {
                    return Err(mismatch(v, "a List"));
                };
                for (i, item) in items.iter_mut().enumerate() {
                    if !item.is_null() {
                        self.value(*member, item, &Pos::Item(pos, i))?;
                    }
                }
                items.retain(|item| !item.is_null());
                self.length(shape, items.len(), pos, || list_shown(items));
                Ok(())
            }
            Kind::Map(key, value) => {
                let Value::Object(entries) = v else {
                    return Err(mismatch(v, "a Map"));
                };
                entries.retain(|_, item| !item.is_null());
                for (k, item) in entries.iter_mut() {
                    let epos = Pos::Entry(pos, k);
                    self.scalar_string(*key, k, &epos);
                    self.value(*value, item, &epos)?;
                }
                self.length(shape, entries.len(), pos, || None);
                Ok(())
            }
            Kind::Document => Ok(()),
            Kind::String | Kind::Enum(_) => {
                let Value::String(s) = &*v else {
                    return Err(mismatch(v, "a String"));
                };
                self.scalar_string(id, s, pos);
                Ok(())
            }
            Kind::Boolean => match v {
                Value::Bool(_) => Ok(()),
                _ => Err(mismatch(v, "a Boolean")),
            },
            Kind::Integer | Kind::Long => {
                let (bits_min, bits_max, what) = if matches!(shape.kind, Kind::Integer) {
                    (i64::from(i32::MIN), i64::from(i32::MAX), "an Integer")
                } else {
                    (i64::MIN, i64::MAX, "a Long")
                };
                let n = match &*v {
                    Value::Number(n) => n.as_i64().filter(|n| (bits_min..=bits_max).contains(n)),
                    _ => None,
                };
                let Some(n) = n else {
                    return Err(mismatch(v, what));
                };
                self.range(shape, n as f64, pos, || n.to_string());
                Ok(())
            }
            Kind::Float | Kind::Double => {
                let what = if matches!(shape.kind, Kind::Float) {
                    "a Float"
                } else {
                    "a Double"
                };
                match &*v {
                    Value::Number(n) => {
                        let f = n.as_f64().unwrap_or(f64::NAN);
                        self.range(shape, f, pos, || n.to_string());
                        Ok(())
                    }
                    Value::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => Ok(()),
                    _ => Err(mismatch(v, what)),
                }
            }
            // awsJson writes epoch seconds; a timestamp given as text
            // (ISO 8601 or epoch seconds) becomes that number, and text that
            // is neither is refused as AWS refuses it.
            Kind::Timestamp => match v {
                Value::Number(_) => Ok(()),
                Value::String(s) => match crate::timestamp::parse_timestamp(s).and_then(serde_json::Number::from_f64) {
                    Some(n) => {
                        *v = Value::Number(n);
                        Ok(())
                    }
                    None => Err(mismatch(v, "a Date")),
                },
                _ => Err(mismatch(v, "a Date")),
            },
            Kind::Blob => {
                let Value::String(s) = &*v else {
                    return Err(mismatch(v, "a ByteBuffer"));
                };
                // The decoded size, from the base64 text (no decoding: the handler does that).
                let padding = s.bytes().rev().take_while(|b| *b == b'=').count();
                let bytes = (s.len() / 4 * 3).saturating_sub(padding);
                self.length(shape, bytes, pos, || None);
                Ok(())
            }
        }
    }

    /// The checks of a string (or a map key): enum, length, pattern.
    fn scalar_string(&mut self, id: ShapeId, s: &str, pos: &Pos<'_>) {
        let shape = &self.model.shapes[id];
        if let Kind::Enum(values) = shape.kind {
            if !values.contains(&s) {
                self.violate(pos, Some(s.to_string()), Rule::EnumSet(values));
            }
            return;
        }
        self.length(shape, s.chars().count(), pos, || Some(s.to_string()));
        if let Some(pattern) = shape.pattern.filter(|p| !matches_whole(p, s)) {
            self.violate(pos, Some(s.to_string()), Rule::Pattern(pattern));
        }
    }

    fn length(&mut self, shape: &Shape, len: usize, pos: &Pos<'_>, shown: impl FnOnce() -> Option<String>) {
        let len = len as f64;
        if let Some(max) = shape.max.filter(|max| len > *max) {
            self.violate(pos, shown(), Rule::MaxLength(max));
        } else if let Some(min) = shape.min.filter(|min| len < *min) {
            self.violate(pos, shown(), Rule::MinLength(min));
        }
    }

    fn range(&mut self, shape: &Shape, n: f64, pos: &Pos<'_>, shown: impl FnOnce() -> String) {
        let integral = matches!(shape.kind, Kind::Integer | Kind::Long);
        if let Some(max) = shape.max.filter(|max| n > *max) {
            self.violate(pos, Some(shown()), Rule::Max { max, integral });
        } else if let Some(min) = shape.min.filter(|min| n < *min) {
            self.violate(pos, Some(shown()), Rule::Min { min, integral });
        }
    }
}

/// The SerializationException message for a JSON value a shape cannot
/// take, in the form AWS's JSON services use (`STRING_VALUE can not be
/// converted to an Integer`).
fn mismatch(v: &Value, what: &str) -> String {
    match v {
        Value::Object(_) => "Start of structure or map found where not expected.".to_string(),
        Value::Array(_) => "Start of list found where not expected".to_string(),
        Value::String(_) => format!("STRING_VALUE can not be converted to {what}"),
        Value::Number(_) => format!("NUMBER_VALUE can not be converted to {what}"),
        Value::Bool(_) => format!("BOOLEAN_VALUE can not be converted to {what}"),
        Value::Null => format!("null can not be converted to {what}"),
    }
}

/// A list shown as Java prints one (`[a, b]`), when its items are strings or numbers.
fn list_shown(items: &[Value]) -> Option<String> {
    let parts: Option<Vec<String>> = items
        .iter()
        .map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    parts.map(|p| format!("[{}]", p.join(", ")))
}

/// Whether the whole of `s` matches the model's `pattern` (compiled once
/// per pattern; one that does not compile is not enforced — a unit test
/// keeps every pattern of the tables compiling).
fn matches_whole(pattern: &'static str, s: &str) -> bool {
    // One cache per thread: no lock shared by the requests of every worker.
    thread_local! {
        static CACHE: RefCell<HashMap<&'static str, Option<regex::Regex>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let re = cache.entry(pattern).or_insert_with(|| compile(pattern).ok());
        re.as_ref().is_none_or(|re| re.is_match(s))
    })
}

/// A model pattern anchored at both ends (AWS matches the whole value).
pub fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// A member's name as AWS's messages write it: in lower camel case whatever
/// the wire name (`ServiceNamespace` → `serviceNamespace`, `KeyId` → `keyId`).
pub(crate) fn push_shown_name(out: &mut String, name: &str) {
    let mut chars = name.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_lowercase());
        out.push_str(chars.as_str());
    }
}
