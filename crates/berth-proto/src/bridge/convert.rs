//! The pure conversions between a service's awsJson values and the forms of
//! the other protocols, driven by the model's shapes where JSON alone cannot
//! tell (a timestamp and a number are both JSON numbers):
//!
//! - rpcv2Cbor → JSON ([`cbor_to_json`]): tag 1 (epoch seconds) → a number,
//!   a byte string → base64 text, any other tag → what it wraps. No model
//!   needed: the awsJson forms of those are what the typed inputs read.
//!   The bridge reads a body in one pass with the same rules
//!   ([`super::cbor_input`], tested against this reference).
//! - JSON → rpcv2Cbor ([`json_to_cbor`]): a timestamp member → tag 1, a blob
//!   (base64 text) → a byte string, by the output shape.
//! - awsQuery form → JSON ([`form_to_json`]): the input shape walked through
//!   the dotted names (`A.B`, `A.member.N`, `A.entry.N.key`/`.value`), each
//!   scalar read as its kind says (numbers, booleans, ISO 8601 timestamps).
//! - JSON → awsQuery XML ([`json_to_xml_tree`]): the output reshaped for
//!   quick-xml's serializer — lists as `<member>` elements, maps as
//!   `<entry><key/><value/></entry>`, timestamps as ISO 8601 text.

use crate::AwsError;
pub use crate::timestamp::{format_timestamp, parse_timestamp};
use crate::validate::{Kind, ServiceModel, ShapeId};
use base64::Engine;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An rpcv2Cbor input as the service's awsJson input.
pub fn cbor_to_json(v: Cbor) -> Result<Value, AwsError> {
    Ok(match v {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            match i64::try_from(i) {
                Ok(i) => Value::from(i),
                Err(_) => Value::from(i as f64),
            }
        }
        Cbor::Float(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| AwsError::serialization(format!("{f} is not a number the API takes")))?,
        ),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(B64.encode(b)),
        Cbor::Tag(_, inner) => cbor_to_json(*inner)?,
        Cbor::Array(items) => Value::Array(items.into_iter().map(cbor_to_json).collect::<Result<_, _>>()?),
        Cbor::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries {
                let Cbor::Text(k) = k else {
                    return Err(AwsError::serialization("A map key in the request is not text"));
                };
                out.insert(k, cbor_to_json(v)?);
            }
            Value::Object(out)
        }
        _ => {
            return Err(AwsError::serialization(
                "Request body holds a CBOR value the API does not take",
            ));
        }
    })
}

/// A JSON value as CBOR, the model's `shape` (when known) telling
/// timestamps and blobs.
pub fn json_to_cbor(model: &ServiceModel, shape: Option<ShapeId>, v: &Value) -> Cbor {
    let kind = shape.map(|s| &model.shapes[s].kind);
    match (kind, v) {
        (Some(Kind::Timestamp), Value::Number(n)) => {
            let inner = match n.as_i64() {
                Some(i) => Cbor::Integer(i.into()),
                None => Cbor::Float(n.as_f64().unwrap_or_default()),
            };
            Cbor::Tag(1, Box::new(inner))
        }
        (Some(Kind::Blob), Value::String(s)) => match B64.decode(s) {
            Ok(bytes) => Cbor::Bytes(bytes),
            Err(_) => Cbor::Text(s.clone()),
        },
        (Some(Kind::Double | Kind::Float), Value::Number(n)) => Cbor::Float(n.as_f64().unwrap_or_default()),
        (Some(Kind::Structure(members) | Kind::Union(members)), Value::Object(o)) => Cbor::Map(
            o.iter()
                .map(|(k, v)| {
                    let shape = members.iter().find(|m| m.name == k).map(|m| m.shape);
                    (Cbor::Text(k.clone()), json_to_cbor(model, shape, v))
                })
                .collect(),
        ),
        (Some(Kind::List(item)), Value::Array(a)) => {
            Cbor::Array(a.iter().map(|v| json_to_cbor(model, Some(*item), v)).collect())
        }
        (Some(Kind::Map(_, value)), Value::Object(o)) => Cbor::Map(
            o.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), json_to_cbor(model, Some(*value), v)))
                .collect(),
        ),
        (_, Value::Null) => Cbor::Null,
        (_, Value::Bool(b)) => Cbor::Bool(*b),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => Cbor::Integer(i.into()),
            None => Cbor::Float(n.as_f64().unwrap_or_default()),
        },
        (_, Value::String(s)) => Cbor::Text(s.clone()),
        (_, Value::Array(a)) => Cbor::Array(a.iter().map(|v| json_to_cbor(model, None, v)).collect()),
        (_, Value::Object(o)) => Cbor::Map(
            o.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), json_to_cbor(model, None, v)))
                .collect(),
        ),
    }
}

/// The form's parameters (without `Action` and `Version`) as the awsJson
/// input of the operation whose input shape is `shape`. A scalar that does
/// not read as its kind answers `code` (the service's invalid-value error).
pub fn form_to_json(
    model: &ServiceModel,
    shape: ShapeId,
    params: &BTreeMap<String, String>,
    code: &'static str,
) -> Result<Value, AwsError> {
    let walker = FormWalk { model, params, code };
    Ok(walker.value(shape, "")?.unwrap_or_else(|| Value::Object(Map::new())))
}

struct FormWalk<'a> {
    model: &'a ServiceModel,
    params: &'a BTreeMap<String, String>,
    code: &'static str,
}

impl FormWalk<'_> {
    fn value(&self, shape: ShapeId, path: &str) -> Result<Option<Value>, AwsError> {
        match &self.model.shapes[shape].kind {
            Kind::Structure(members) | Kind::Union(members) => {
                let mut out = Map::new();
                for m in *members {
                    let sub = if path.is_empty() {
                        m.name.to_string()
                    } else {
                        format!("{path}.{}", m.name)
                    };
                    if let Some(v) = self.value(m.shape, &sub)? {
                        out.insert(m.name.to_string(), v);
                    }
                }
                Ok((!out.is_empty() || path.is_empty()).then_some(Value::Object(out)))
            }
            Kind::List(item) => {
                let prefix = format!("{path}.member.");
                let mut items = Vec::new();
                for n in self.indexes(&prefix) {
                    if let Some(v) = self.value(*item, &format!("{prefix}{n}"))? {
                        items.push(v);
                    }
                }
                // `Name=` (empty) is an empty list.
                let empty = self.params.get(path).is_some_and(String::is_empty);
                Ok((!items.is_empty() || empty).then_some(Value::Array(items)))
            }
            Kind::Map(key, value) => {
                let prefix = format!("{path}.entry.");
                let mut out = Map::new();
                for n in self.indexes(&prefix) {
                    let k = self.value(*key, &format!("{prefix}{n}.key"))?;
                    let v = self.value(*value, &format!("{prefix}{n}.value"))?;
                    if let (Some(Value::String(k)), Some(v)) = (k, v) {
                        out.insert(k, v);
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            Kind::Document => Ok(None),
            kind => match self.params.get(path) {
                None => Ok(None),
                Some(text) => self.scalar(kind, path, text).map(Some),
            },
        }
    }

    /// The indexes `N` of the parameters under `prefix` (`A.member.N…`), in
    /// numeric order.
    fn indexes(&self, prefix: &str) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .params
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('.').next()?.parse().ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn scalar(&self, kind: &Kind, path: &str, text: &str) -> Result<Value, AwsError> {
        let bad = |what: &str| {
            AwsError::new(
                self.code,
                400,
                format!("Value '{text}' for parameter {path} is not a valid {what}."),
            )
        };
        Ok(match kind {
            Kind::Boolean => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(bad("boolean")),
            },
            Kind::Integer | Kind::Long => Value::from(text.trim().parse::<i64>().map_err(|_| bad("integer"))?),
            Kind::Float | Kind::Double => {
                let f: f64 = text.trim().parse().map_err(|_| bad("number"))?;
                Value::Number(Number::from_f64(f).ok_or_else(|| bad("number"))?)
            }
            Kind::Timestamp => Value::Number(
                parse_timestamp(text)
                    .and_then(Number::from_f64)
                    .ok_or_else(|| bad("timestamp"))?,
            ),
            _ => Value::String(text.to_string()),
        })
    }
}

/// A JSON output reshaped for the awsQuery XML serializer: each list a
/// `{"member": [...]}`, each map `{"entry": [{"key", "value"}]}`, each
/// timestamp ISO 8601 text, nulls dropped; members in the model's order.
pub fn json_to_xml_tree(model: &ServiceModel, shape: Option<ShapeId>, v: &Value) -> Value {
    let kind = shape.map(|s| &model.shapes[s].kind);
    match (kind, v) {
        (Some(Kind::Timestamp), Value::Number(n)) => Value::String(format_timestamp(n.as_f64().unwrap_or_default())),
        (Some(Kind::Structure(members) | Kind::Union(members)), Value::Object(o)) => {
            let mut out = Map::new();
            for m in *members {
                if let Some(v) = o.get(m.name).filter(|v| !v.is_null()) {
                    out.insert(m.name.to_string(), json_to_xml_tree(model, Some(m.shape), v));
                }
            }
            Value::Object(out)
        }
        (Some(Kind::List(item)), Value::Array(a)) => {
            let items: Vec<Value> = a.iter().map(|v| json_to_xml_tree(model, Some(*item), v)).collect();
            if items.is_empty() {
                Value::String(String::new())
            } else {
                serde_json::json!({ "member": items })
            }
        }
        (Some(Kind::Map(_, value)), Value::Object(o)) => {
            let entries: Vec<Value> = o
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": json_to_xml_tree(model, Some(*value), v)}))
                .collect();
            serde_json::json!({ "entry": entries })
        }
        _ => v.clone(),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
