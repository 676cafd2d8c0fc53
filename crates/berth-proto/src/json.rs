//! Helpers for awsJson inputs: typed decoding with AWS-shaped errors.

use crate::AwsError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes an operation's input into its typed shape. A type mismatch or an
/// unknown enum value becomes a `SerializationException`-style client error,
/// so a malformed request never reaches the domain logic.
pub fn decode<T: DeserializeOwned>(input: Value) -> Result<T, AwsError> {
    serde_json::from_value(input).map_err(|e| AwsError::serialization(format!("Invalid request: {e}")))
}

/// Encodes an output shape, dropping nothing.
pub fn encode<T: serde::Serialize>(output: &T) -> Result<Value, AwsError> {
    serde_json::to_value(output).map_err(|e| AwsError::internal(format!("failed to encode response: {e}")))
}
