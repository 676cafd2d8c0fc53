//! An awsQuery form checked against its service's AWS model: the form's
//! dotted parameters, read along the operation's input shape, become the
//! JSON value the one walk of [`crate::validate`] checks (required members,
//! enums, ranges, lengths, patterns), so a query service answers the same
//! constraints in its own words (ELBv2: `ValidationError`, `1 validation
//! error detected: Value '0' at 'healthCheckIntervalSeconds' failed to
//! satisfy constraint: Member must have value greater than or equal to 5`).
//!
//! The generated tables of a query model name members as messages show
//! them (`healthCheckIntervalSeconds`); the form names them as the model
//! does (`HealthCheckIntervalSeconds`). A scalar that does not parse as its
//! type is left out here: the typed decoding answers it in its own words.

use super::QueryInput;
use super::de::{Node, tree};
use crate::AwsError;
use crate::validate::{Kind, ServiceModel, ShapeId};
use serde_json::{Map, Value};

/// Checks the form of `action` against `model` (an action the model does
/// not know passes).
pub fn check(model: &ServiceModel, action: &str, input: &QueryInput) -> Result<(), AwsError> {
    let Some(op) = model.operation(action) else {
        return Ok(());
    };
    let Some(shape) = op.input else { return Ok(()) };
    let value = to_json(model, shape, &tree(input)).unwrap_or_else(|| Value::Object(Map::new()));
    crate::validate::validate(Some(model), action, value).map(|_| ())
}

/// The JSON value of `node` read as `shape` (None: nothing usable).
fn to_json(model: &ServiceModel, shape: ShapeId, node: &Node) -> Option<Value> {
    let text = || match node {
        Node::Leaf(t) => Some(t.as_str()),
        Node::Branch(_) => None,
    };
    match &model.shapes[shape].kind {
        Kind::String | Kind::Enum(_) | Kind::Timestamp | Kind::Blob => text().map(|t| Value::String(t.to_string())),
        Kind::Boolean => text().and_then(|t| t.parse::<bool>().ok()).map(Value::Bool),
        Kind::Integer | Kind::Long => text().and_then(|t| t.parse::<i64>().ok()).map(Value::from),
        Kind::Float | Kind::Double => text()
            .and_then(|t| t.parse::<f64>().ok())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Kind::List(item) => {
            let items = node.items()?;
            Some(Value::Array(
                items
                    .into_iter()
                    .map(|n| to_json(model, *item, n).unwrap_or(Value::Null))
                    .collect(),
            ))
        }
        Kind::Map(_, value) => {
            let Node::Branch(children) = node else {
                return Some(Value::Object(Map::new()));
            };
            let mut out = Map::new();
            for entry in children.get("entry")?.items()? {
                if let Node::Branch(kv) = entry
                    && let (Some(Node::Leaf(k)), Some(v)) = (kv.get("key"), kv.get("value"))
                {
                    out.insert(k.clone(), to_json(model, *value, v).unwrap_or(Value::Null));
                }
            }
            Some(Value::Object(out))
        }
        Kind::Structure(members) | Kind::Union(members) => {
            let Node::Branch(children) = node else { return None };
            let mut out = Map::new();
            for m in members.iter() {
                if let Some(child) = children.get(&upper_first(m.name))
                    && let Some(v) = to_json(model, m.shape, child)
                {
                    out.insert(m.name.to_string(), v);
                }
            }
            Some(Value::Object(out))
        }
        Kind::Document => None,
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
