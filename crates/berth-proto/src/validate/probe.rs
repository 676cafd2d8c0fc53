//! Bad inputs derived from a model's tables, for the table-driven tests of
//! every service that opts in: for each operation a minimal valid input
//! (its required members filled), then that input broken one way at a time
//! — a required member missing, a wrong JSON type, an unknown enum value,
//! an integer outside its 32/64-bit range or the model's range, a string
//! too long or not matching its pattern — and an unknown member added
//! (top level and nested), which must be dropped.

use super::walk::compile;
use super::{Constraint, Kind, ServiceModel, ShapeId};
use serde_json::{Map, Value, json};

/// What a probe must get back.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Accepted, cleaned to exactly this value.
    Cleaned(Value),
    /// A `SerializationException` with this message.
    Serialization(String),
    /// A constraint violation at `path`; `value` is what the message shows.
    Violation {
        path: String,
        value: Option<String>,
        what: Broken,
    },
}

/// The constraint a probe breaks, with the model's bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Broken {
    Required,
    Enum(&'static [&'static str]),
    AboveMax(i64),
    BelowMin(i64),
    TooLong(i64),
    Pattern(&'static str),
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub operation: &'static str,
    pub what: String,
    pub input: Value,
    pub expect: Expect,
}

/// Sample strings tried, in order, for a required string with a pattern.
const SAMPLES: &[&str] = &[
    "aa",
    "123456789012",
    "01234567-89ab-cdef-0123-456789abcdef",
    "sha256:0123456789abcdef",
    "arn:aws:iam::123456789012:role/r",
];

/// Every probe of every operation of `model`. Panics when no valid input can
/// be built for an operation (a new pattern needs a sample in `SAMPLES`).
pub fn probes(model: &ServiceModel) -> Vec<Probe> {
    let mut out = Vec::new();
    for op in model.operations {
        let Some(input) = op.input else { continue };
        let p = Prober {
            model,
            operation: op.name,
        };
        let base = p.minimal(input, 0);
        out.push(Probe {
            operation: op.name,
            what: "minimal valid input".into(),
            input: base.clone(),
            expect: Expect::Cleaned(base.clone()),
        });
        p.break_structure(input, &base, &mut Vec::new(), "", &mut out);
    }
    out
}

struct Prober<'a> {
    model: &'a ServiceModel,
    operation: &'static str,
}

impl Prober<'_> {
    fn exempt(&self, schema: &str, c: Constraint) -> bool {
        self.model
            .left_to_handler
            .iter()
            .any(|e| e.operation == self.operation && e.path == schema && e.constraint == c)
    }

    /// The smallest valid value of a shape: required members only, lists of `min` items.
    fn minimal(&self, id: ShapeId, depth: usize) -> Value {
        let shape = &self.model.shapes[id];
        assert!(
            depth < 20,
            "{}: required members recurse through {}",
            self.operation,
            shape.name
        );
        match &shape.kind {
            Kind::Structure(members) | Kind::Union(members) => {
                let mut m = Map::new();
                for member in members.iter().filter(|m| m.required) {
                    m.insert(member.name.into(), self.minimal(member.shape, depth + 1));
                }
                Value::Object(m)
            }
            Kind::List(item) => {
                let n = shape.min.unwrap_or(0.0) as usize;
                Value::Array((0..n).map(|_| self.minimal(*item, depth + 1)).collect())
            }
            Kind::Map(..) | Kind::Document => json!({}),
            Kind::Enum(values) => json!(values[0]),
            Kind::String => json!(self.sample(id)),
            Kind::Boolean => json!(false),
            Kind::Integer | Kind::Long => {
                json!(shape.min.unwrap_or(0.0).max(0.0).min(shape.max.unwrap_or(0.0).max(0.0)) as i64)
            }
            Kind::Float | Kind::Double => json!(shape.min.unwrap_or(0.0)),
            Kind::Timestamp => json!(0),
            Kind::Blob => json!("AAAA"),
        }
    }

    fn sample(&self, id: ShapeId) -> String {
        let shape = &self.model.shapes[id];
        let min = shape.min.unwrap_or(0.0) as usize;
        let max = shape.max.map(|m| m as usize).unwrap_or(usize::MAX);
        let Some(pattern) = shape.pattern else {
            return "a".repeat(min.max(1).min(max));
        };
        let re = compile(pattern).unwrap_or_else(|e| panic!("pattern of {}: {e}", shape.name));
        SAMPLES
            .iter()
            .find(|s| re.is_match(s) && (min..=max).contains(&s.chars().count()))
            .unwrap_or_else(|| panic!("no sample string matches {} ({pattern})", shape.name))
            .to_string()
    }

    /// Probes that break one member of the structure at `at` (a JSON pointer
    /// path of keys/indices into `base`), at `schema` (the exemption path).
    fn break_structure(&self, id: ShapeId, base: &Value, at: &mut Vec<Step>, schema: &str, out: &mut Vec<Probe>) {
        let (Kind::Structure(members) | Kind::Union(members)) = &self.model.shapes[id].kind else {
            return;
        };
        let shown = shown_path(at);
        let join = |base: &str, name: &str| {
            if base.is_empty() {
                name.to_string()
            } else {
                format!("{base}.{name}")
            }
        };
        let join_shown = |base: &str, name: &str| {
            let mut out = base.to_string();
            if !out.is_empty() {
                out.push('.');
            }
            super::walk::push_shown_name(&mut out, name);
            out
        };
        // An unknown member is dropped.
        out.push(Probe {
            operation: self.operation,
            what: format!("unknown member at '{shown}'"),
            input: with(base, at, "berthUnknownMember", Some(json!(128))),
            expect: Expect::Cleaned(base.clone()),
        });
        for m in members.iter() {
            let path = join_shown(&shown, m.name);
            let spath = join(schema, m.name);
            let shape = &self.model.shapes[m.shape];
            if m.required {
                let expect = if self.exempt(&spath, Constraint::Required) {
                    let mut cleaned = base.clone();
                    remove(&mut cleaned, at, m.name);
                    Expect::Cleaned(cleaned)
                } else {
                    Expect::Violation {
                        path: path.clone(),
                        value: None,
                        what: Broken::Required,
                    }
                };
                out.push(Probe {
                    operation: self.operation,
                    what: format!("missing required '{path}'"),
                    input: {
                        let mut v = base.clone();
                        remove(&mut v, at, m.name);
                        v
                    },
                    expect,
                });
            }
            let mut push = |what: String, value: Value, expect: Expect| {
                out.push(Probe {
                    operation: self.operation,
                    what: format!("{what} at '{path}'"),
                    input: with(base, at, m.name, Some(value)),
                    expect,
                })
            };
            let violation = |value: Option<String>, what: Broken| Expect::Violation {
                path: path.clone(),
                value,
                what,
            };
            match &shape.kind {
                Kind::String | Kind::Enum(_) => {
                    push(
                        "wrong type".into(),
                        json!(12),
                        Expect::Serialization("NUMBER_VALUE can not be converted to a String".into()),
                    );
                    if let Kind::Enum(values) = shape.kind {
                        if !self.exempt(&spath, Constraint::Enum) {
                            push(
                                "unknown enum value".into(),
                                json!("NOT_A_VALUE"),
                                violation(Some("NOT_A_VALUE".into()), Broken::Enum(values)),
                            );
                        }
                    } else {
                        if let Some(max) = shape.max.filter(|_| !self.exempt(&spath, Constraint::Length)) {
                            let long = "a".repeat(max as usize + 1);
                            push(
                                "too long".into(),
                                json!(long),
                                violation(Some(long.clone()), Broken::TooLong(max as i64)),
                            );
                        }
                        if let Some(p) = shape.pattern.filter(|_| !self.exempt(&spath, Constraint::Pattern)) {
                            let bad = "!!".to_string();
                            let fits = (shape.min.unwrap_or(0.0) as usize..=shape.max.unwrap_or(f64::MAX) as usize)
                                .contains(&2);
                            if fits && !compile(p).unwrap().is_match(&bad) {
                                push(
                                    "pattern mismatch".into(),
                                    json!(bad),
                                    violation(Some(bad.clone()), Broken::Pattern(p)),
                                );
                            }
                        }
                    }
                }
                Kind::Integer | Kind::Long => {
                    let (big, what) = if matches!(shape.kind, Kind::Integer) {
                        (json!(1i64 << 31), "an Integer")
                    } else {
                        (json!(u64::MAX), "a Long")
                    };
                    push(
                        "out of 32/64-bit range".into(),
                        big,
                        Expect::Serialization(format!("NUMBER_VALUE can not be converted to {what}")),
                    );
                    push(
                        "wrong type".into(),
                        json!("12"),
                        Expect::Serialization(format!("STRING_VALUE can not be converted to {what}")),
                    );
                    if !self.exempt(&spath, Constraint::Range) {
                        if let Some(max) = shape.max.filter(|m| *m < i32::MAX as f64) {
                            let n = max as i64 + 1;
                            push(
                                "above max".into(),
                                json!(n),
                                violation(Some(n.to_string()), Broken::AboveMax(max as i64)),
                            );
                        }
                        if let Some(min) = shape.min.filter(|m| *m > i32::MIN as f64) {
                            let n = min as i64 - 1;
                            push(
                                "below min".into(),
                                json!(n),
                                violation(Some(n.to_string()), Broken::BelowMin(min as i64)),
                            );
                        }
                    }
                }
                Kind::Boolean => push(
                    "wrong type".into(),
                    json!("true"),
                    Expect::Serialization("STRING_VALUE can not be converted to a Boolean".into()),
                ),
                Kind::List(_) => push(
                    "wrong type".into(),
                    json!("x"),
                    Expect::Serialization("STRING_VALUE can not be converted to a List".into()),
                ),
                Kind::Map(..) => push(
                    "wrong type".into(),
                    json!([]),
                    Expect::Serialization("Start of list found where not expected".into()),
                ),
                Kind::Structure(_) | Kind::Union(_) => {
                    push(
                        "wrong type".into(),
                        json!(true),
                        Expect::Serialization("BOOLEAN_VALUE can not be converted to a Structure".into()),
                    );
                    // Nested: break the members of a present (minimal) value of this structure.
                    if at.is_empty() {
                        let mut nested = base.clone();
                        let inner = self.minimal(m.shape, 1);
                        nested[m.name] = inner;
                        at.push(Step::Key(m.name));
                        self.break_structure(m.shape, &nested, at, &spath, out);
                        at.pop();
                    }
                }
                Kind::Float | Kind::Double | Kind::Timestamp | Kind::Blob | Kind::Document => {}
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Key(&'static str),
}

fn shown_path(at: &[Step]) -> String {
    let mut out = String::new();
    for (i, Step::Key(k)) in at.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        super::walk::push_shown_name(&mut out, k);
    }
    out
}

fn target<'v>(v: &'v mut Value, at: &[Step]) -> &'v mut Map<String, Value> {
    let mut cur = v;
    for Step::Key(k) in at {
        cur = &mut cur[*k];
    }
    cur.as_object_mut().expect("probe path names an object")
}

fn with(base: &Value, at: &[Step], name: &str, value: Option<Value>) -> Value {
    let mut v = base.clone();
    if let Some(value) = value {
        target(&mut v, at).insert(name.to_string(), value);
    }
    v
}

fn remove(v: &mut Value, at: &[Step], name: &str) {
    target(v, at).remove(name);
}

/// Runs every probe of every operation of `model` through [`super::validate`]
/// and panics at the first answer that is not the expected one. Cleaned
/// inputs and `SerializationException`s are checked here; a violation is
/// checked by `worded(path, value, broken, error)`, which says whether the
/// error is the service's code and words for it. Returns how many probes ran.
pub fn check_every_probe(
    model: &ServiceModel,
    worded: impl Fn(&str, &Option<String>, &Broken, &crate::AwsError) -> bool,
) -> usize {
    let all = probes(model);
    let ops: std::collections::BTreeSet<_> = all.iter().map(|p| p.operation).collect();
    assert_eq!(ops.len(), model.operations.iter().filter(|o| o.input.is_some()).count());
    // Each operation gets its valid input, an unknown member and one probe per member at least.
    assert!(all.len() > 3 * ops.len(), "{} probes", all.len());
    for p in &all {
        let got = super::validate(Some(model), p.operation, p.input.clone());
        let ctx = format!("{} {}: {}", p.operation, p.what, p.input);
        match (&p.expect, got) {
            (Expect::Cleaned(v), Ok(out)) => assert_eq!(&out, v, "{ctx}"),
            (Expect::Serialization(msg), Err(e)) => assert_eq!(
                (e.code.as_ref(), e.message.as_str(), e.status),
                ("SerializationException", msg.as_str(), 400),
                "{ctx}"
            ),
            (Expect::Violation { path, value, what }, Err(e)) => {
                assert_eq!(e.status, 400, "{ctx}");
                assert!(worded(path, value, what, &e), "{ctx}: {} {}", e.code, e.message);
            }
            (expect, got) => panic!("{ctx}: expected {expect:?}, got {got:?}"),
        }
    }
    all.len()
}
