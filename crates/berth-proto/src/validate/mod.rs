//! Input validation from the AWS API models: the tables a service's
//! generated `tables.rs` holds (scripts/gen_model.py writes them from the
//! model) and the one pure walk that checks an awsJson input against them.
//!
//! The walk ([`validate`]) follows the operation's input shape through the
//! JSON object: explicit nulls count as absent, members the model does not
//! know are removed (the cleaned value is what the service gets, so nothing
//! unknown is stored or echoed back), a JSON type the shape cannot take or an
//! integer outside its 32/64-bit range is a `SerializationException`, and the
//! model's constraints (required, enum, range, length, pattern) are answered
//! in the service's own form ([`ErrorStyle`]). Operations the model does not
//! know (Berth's own, such as `BerthHeartbeat`) pass through unchanged.

mod message;
pub mod probe;
mod walk;

#[cfg(test)]
mod tests;

use crate::AwsError;
use serde_json::Value;

pub use walk::Violation;

/// An index into [`ServiceModel::shapes`].
pub type ShapeId = usize;

/// One operation of the model and the shape of its input (None: no input).
#[derive(Debug)]
pub struct Operation {
    pub name: &'static str,
    pub input: Option<ShapeId>,
}

/// A member of a structure: its JSON name, its shape, whether it is required.
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub shape: ShapeId,
    pub required: bool,
}

/// What a shape is, as the model says.
#[derive(Debug)]
pub enum Kind {
    String,
    /// A string restricted to these values.
    Enum(&'static [&'static str]),
    Boolean,
    /// 32-bit.
    Integer,
    /// 64-bit.
    Long,
    Float,
    Double,
    /// Epoch seconds (a number) in awsJson; a string is accepted too.
    Timestamp,
    /// Base64 text in awsJson.
    Blob,
    List(ShapeId),
    /// Key shape, value shape.
    Map(ShapeId, ShapeId),
    Structure(&'static [Member]),
    /// A structure of which one member is meant to be set (walked as a structure).
    Union(&'static [Member]),
    /// Any JSON, passed on untouched.
    Document,
}

/// One shape of the model with its constraints: `min`/`max` are the
/// `range` of numbers and the `length` of strings (characters), blobs
/// (bytes), lists and maps (entries); `pattern` is a regular expression
/// the whole string must match.
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    pub kind: Kind,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<&'static str>,
}

/// The model's constraints, as an exemption names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    Required,
    Enum,
    Range,
    Length,
    Pattern,
}

/// A constraint the model step leaves to the handler, because the handler
/// answers it as AWS does with a different code or message (for example
/// ECS's `ClientException: Family can not be blank.` for a missing
/// `family`). `path` is the member path with `[]` for list items and `{}`
/// for map values, e.g. `containerDefinitions[].name`.
#[derive(Debug)]
pub struct LeftToHandler {
    pub operation: &'static str,
    pub path: &'static str,
    pub constraint: Constraint,
}

/// A member the model does not have but the service reads (a documented
/// Berth extension, such as `healthStatus` on the agent's state changes):
/// kept as sent instead of being removed. `path` as in [`LeftToHandler`].
#[derive(Debug)]
pub struct Extension {
    pub operation: &'static str,
    pub path: &'static str,
}

/// How a service words a constraint violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// The generic AWS (Coral) form, every violation listed: `1 validation
    /// error detected: Value 'FOO' at 'launchType' failed to satisfy
    /// constraint: Member must satisfy enum value set: [EC2, FARGATE,
    /// EXTERNAL]` (`N validation errors detected: …; …`).
    Coral { code: &'static str },
    /// ECR's form, the first violation only: `Invalid parameter at
    /// 'maxResults' failed to satisfy constraint: 'Member must have value
    /// less than or equal to 1000'`.
    Ecr { code: &'static str },
}

/// A service's model: its operations and shapes (generated), and how it
/// answers (written by hand, beside the generated tables).
#[derive(Debug)]
pub struct ServiceModel {
    /// Sorted by name.
    pub operations: &'static [Operation],
    pub shapes: &'static [Shape],
    pub style: ErrorStyle,
    pub left_to_handler: &'static [LeftToHandler],
    pub extensions: &'static [Extension],
}

impl ServiceModel {
    /// The operation named `name`, if the model has it.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations
            .binary_search_by(|o| o.name.cmp(name))
            .ok()
            .map(|i| &self.operations[i])
    }
}

/// Checks `input` against the input shape of `operation` and returns it
/// cleaned (nulls and unknown members removed), or the error AWS answers.
/// Without a model, or for an operation the model does not know, the input
/// is returned unchanged.
pub fn validate(model: Option<&ServiceModel>, operation: &str, input: Value) -> Result<Value, AwsError> {
    let Some(model) = model else { return Ok(input) };
    let Some(op) = model.operation(operation) else {
        return Ok(input);
    };
    let Some(shape) = op.input else {
        return Ok(Value::Object(Default::default()));
    };
    let (cleaned, violations) = walk::walk(model, op.name, shape, input).map_err(AwsError::serialization)?;
    match message::render(model.style, &violations) {
        Some(err) => Err(err),
        None => Ok(cleaned),
    }
}

/// Compiles every pattern of `model` (for the services' tests: a pattern
/// that does not compile would go unchecked).
pub fn compile_all_patterns(model: &ServiceModel) -> Result<(), String> {
    for shape in model.shapes {
        if let Some(p) = shape.pattern {
            walk::compile(p).map_err(|e| format!("{}: {e}", shape.name))?;
        }
    }
    Ok(())
}
