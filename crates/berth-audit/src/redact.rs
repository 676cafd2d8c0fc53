//! Secret values never reach the audit trail: request parameters are copied
//! with secret-looking fields replaced, and oversized ones summarised.

use serde_json::{Map, Value};

/// What CloudTrail itself writes in place of a hidden value.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";
/// Request parameters larger than this (serialized) keep only their scalar
/// top-level fields (an ECR layer part or a PutLogEvents batch is not audit).
pub const MAX_PARAMS_BYTES: usize = 8 * 1024;

/// Keys hidden in every service (compared case-insensitively, by substring
/// for the first group).
const SECRET_SUBSTRINGS: &[&str] = &["password", "secret", "plaintext", "privatekey", "token"];
/// Keys hidden only for services whose `value` is the secret (SSM parameters).
const VALUE_SERVICES: &[&str] = &["ssm.amazonaws.com", "secretsmanager.amazonaws.com"];

fn is_secret_key(key: &str, event_source: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k == "nexttoken" || k.ends_with("tokenid") || k == "secretarn" || k == "secretid" {
        return false;
    }
    if SECRET_SUBSTRINGS.iter().any(|s| k.contains(s)) {
        return true;
    }
    k == "value" && VALUE_SERVICES.contains(&event_source)
}

fn redact_value(v: &Value, event_source: &str) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k, event_source) && !v.is_null() {
                        Value::String(HIDDEN.into())
                    } else {
                        redact_value(v, event_source)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| redact_value(v, event_source)).collect()),
        other => other.clone(),
    }
}

/// The request parameters as recorded: secrets hidden, size bounded.
pub fn request_parameters(input: &Value, event_source: &str) -> Value {
    let redacted = redact_value(input, event_source);
    let size = serde_json::to_vec(&redacted).map(|b| b.len()).unwrap_or(0);
    if size <= MAX_PARAMS_BYTES {
        return redacted;
    }
    let mut out = Map::new();
    if let Value::Object(m) = &redacted {
        for (k, v) in m {
            match v {
                Value::String(s) if s.len() <= 1024 => {
                    out.insert(k.clone(), v.clone());
                }
                Value::Bool(_) | Value::Number(_) => {
                    out.insert(k.clone(), v.clone());
                }
                Value::Array(a) => {
                    out.insert(format!("{k}Count"), Value::from(a.len()));
                }
                _ => {}
            }
        }
    }
    out.insert("berthTruncatedBytes".into(), Value::from(size));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hides_secrets() {
        let table = [
            (
                "ssm.amazonaws.com",
                json!({"Name": "/db/pw", "Value": "s3cr3t", "Type": "SecureString"}),
            ),
            (
                "secretsmanager.amazonaws.com",
                json!({"SecretId": "x", "SecretString": "s3cr3t"}),
            ),
            (
                "secretsmanager.amazonaws.com",
                json!({"Name": "x", "SecretBinary": "czNjcjN0"}),
            ),
            ("iam.amazonaws.com", json!({"UserName": "u", "Password": "s3cr3t"})),
            ("kms.amazonaws.com", json!({"Plaintext": "s3cr3t"})),
            (
                "ecs.amazonaws.com",
                json!({"containerDefinitions": [{"repositoryCredentials": {"registryPassword": "s3cr3t"}}]}),
            ),
        ];
        for (src, input) in table {
            let out = request_parameters(&input, src).to_string();
            assert!(!out.contains("s3cr3t") && !out.contains("czNjcjN0"), "{src}: {out}");
            assert!(out.contains(HIDDEN), "{src}: {out}");
        }
    }

    #[test]
    fn keeps_ordinary_values() {
        let input = json!({"tags": [{"key": "team", "value": "blue"}], "nextToken": "abc", "SecretId": "name"});
        assert_eq!(request_parameters(&input, "ecs.amazonaws.com"), input);
    }

    #[test]
    fn bounds_size() {
        let input =
            json!({"logGroupName": "g", "logEvents": vec![json!({"message": "x".repeat(100), "timestamp": 1}); 500]});
        let out = request_parameters(&input, "logs.amazonaws.com");
        assert_eq!(out["logGroupName"], "g");
        assert_eq!(out["logEventsCount"], 500);
        assert!(out["berthTruncatedBytes"].as_u64().unwrap() > MAX_PARAMS_BYTES as u64);
    }
}
