//! The identity of a RunTask request: its `clientToken` (the stored
//! `TokenRecord`, how long one is remembered, what a retry with it
//! answers, the canonical request it is compared by) and `startedBy`.

use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A JSON value with object keys sorted, for comparing requests.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// How long a RunTask `clientToken` is remembered.
pub const CLIENT_TOKEN_TTL_SECS: f64 = 12.0 * 3600.0;

/// A stored RunTask `clientToken`: the request it was used with (its
/// canonical JSON without the token) and the tasks that request started.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    fingerprint: String,
    task_arns: Vec<String>,
    created_at: f64,
}

impl TokenRecord {
    pub fn new(fingerprint: &str, task_arns: Vec<String>, now: f64) -> Self {
        TokenRecord {
            fingerprint: fingerprint.to_string(),
            task_arns,
            created_at: now,
        }
    }

    /// Whether the token is still remembered at `now`.
    pub fn live_at(&self, now: f64) -> bool {
        now - self.created_at < CLIENT_TOKEN_TTL_SECS
    }

    /// A retry with the token: the same request (`fingerprint`) answers
    /// with the tasks it started; another request is a conflict.
    pub fn answer_for(&self, fingerprint: &str) -> Result<&[String], AwsError> {
        if self.fingerprint != fingerprint {
            return Err(AwsError::new(
                "ConflictException",
                400,
                format!(
                    "The clientToken is already in use with a different RunTask request. Existing tasks: {}",
                    self.task_arns.join(", ")
                ),
            ));
        }
        Ok(&self.task_arns)
    }
}

pub fn validate_client_token(t: &str) -> Result<(), AwsError> {
    if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(AwsError::invalid_parameter(
            "clientToken must be 1-64 characters in the range 33-126 (printable ASCII without spaces).",
        ));
    }
    Ok(())
}

pub fn validate_started_by(s: &str) -> Result<(), AwsError> {
    if s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'/')
    {
        return Err(AwsError::invalid_parameter(
            "startedBy may have up to 128 letters (uppercase and lowercase), numbers, hyphens (-), forward slash (/), and underscores (_).",
        ));
    }
    Ok(())
}
