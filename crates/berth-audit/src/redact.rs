//! Secret values never reach the audit trail: request parameters are copied
//! with secret-looking fields replaced, and oversized ones summarised.

use berth_proto::direct::{Summary, Top};
use berth_proto::json_len::{number_len, str_len};
use serde_json::{Map, Number, Value};

/// What CloudTrail itself writes in place of a hidden value.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";
/// Request parameters larger than this (serialized) keep only their scalar
/// top-level fields (an ECR layer part or a PutLogEvents batch is not audit).
pub const MAX_PARAMS_BYTES: usize = 8 * 1024;

/// Keys hidden in every service (compared case-insensitively, by substring
/// for the first group).
const SECRET_SUBSTRINGS: &[&str] = &["password", "secret", "plaintext", "privatekey", "token", "apikeyvalue"];
/// Keys hidden only for services whose `value` is the secret (SSM
/// parameters; EventBridge connections' invocation parameters).
const VALUE_SERVICES: &[&str] = &[
    "ssm.amazonaws.com",
    "secretsmanager.amazonaws.com",
    "events.amazonaws.com",
];

/// The bytes (either case) a substring of [`SECRET_SUBSTRINGS`] begins with.
const FIRST_LETTERS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < SECRET_SUBSTRINGS.len() {
        let c = SECRET_SUBSTRINGS[i].as_bytes()[0];
        table[c as usize] = true;
        table[c.to_ascii_uppercase() as usize] = true;
        i += 1;
    }
    table
};

/// The length of the shortest of [`SECRET_SUBSTRINGS`].
const SHORTEST: usize = 5;

/// Whether `key` contains one of [`SECRET_SUBSTRINGS`], ignoring ASCII
/// case: one pass over the key, a table lookup per byte, a substring
/// compared only where its first letter is (a PutMetricData batch has
/// thousands of keys, few of them with one of those letters; a key
/// shorter than every substring is not scanned).
fn has_secret_substring(key: &str) -> bool {
    let bytes = key.as_bytes();
    if bytes.len() < SHORTEST {
        return false;
    }
    (0..=bytes.len() - SHORTEST).any(|i| {
        FIRST_LETTERS[usize::from(bytes[i])]
            && SECRET_SUBSTRINGS.iter().any(|s| {
                bytes
                    .get(i..i + s.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(s.as_bytes()))
            })
    })
}

/// Compared without lower-casing `key` into a new string: a large input
/// (a PutMetricData batch) has thousands of keys.
fn is_secret_key(key: &str, event_source: &str) -> bool {
    let is = |name: &str| key.eq_ignore_ascii_case(name);
    let ends_with_token_id = key.len() >= 7 && key.as_bytes()[key.len() - 7..].eq_ignore_ascii_case(b"tokenid");
    if is("nexttoken") || ends_with_token_id || is("secretarn") || is("secretid") {
        return false;
    }
    if has_secret_substring(key) {
        return true;
    }
    is("value") && VALUE_SERVICES.contains(&event_source)
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

/// The request parameters as recorded: secrets hidden, size bounded. The
/// size is counted before anything is copied, so a large input (a
/// PutMetricData or PutLogEvents batch) costs one walk, not a copy and a
/// serialization thrown away.
pub fn request_parameters(input: &Value, event_source: &str) -> Value {
    let size = redacted_len(input, event_source);
    if size <= MAX_PARAMS_BYTES {
        return redact_value(input, event_source);
    }
    let members = input.as_object().into_iter().flatten().map(|(k, v)| {
        let kept = match v {
            Value::String(s) => Kept::Text(s),
            Value::Number(n) => Kept::Number(n),
            Value::Bool(b) => Kept::Bool(*b),
            Value::Array(a) => Kept::List(a.len()),
            Value::Object(_) => Kept::Other,
            Value::Null => Kept::Null,
        };
        (k.as_str(), kept)
    });
    truncated(members, size, event_source)
}

/// The record of an input read straight from its body, from its summary
/// (the general path's `Value` was never built): what
/// [`request_parameters`] makes of that `Value` when it is truncated. None
/// when it would be kept whole, or when one of the names the input may
/// hold is hidden (its redacted size is not the summary's): the caller
/// then records the parsed body.
pub fn request_parameters_of_summary(summary: &Summary, event_source: &str) -> Option<Value> {
    if summary.json_len <= MAX_PARAMS_BYTES || summary.names.iter().any(|k| is_secret_key(k, event_source)) {
        return None;
    }
    let members = summary.top.iter().map(|(k, v)| {
        let kept = match v {
            Top::Text(s) => Kept::Text(s),
            Top::Number(n) => Kept::Number(n),
            Top::Bool(b) => Kept::Bool(*b),
            Top::List(n) => Kept::List(*n),
            Top::Object => Kept::Other,
        };
        (*k, kept)
    });
    Some(truncated(members, summary.json_len, event_source))
}

/// A top-level member as a truncated record keeps it.
enum Kept<'a> {
    Text(&'a str),
    Number(&'a Number),
    Bool(bool),
    /// A list, by its length.
    List(usize),
    Other,
    Null,
}

/// A record too large to keep whole (`size` bytes once redacted): its
/// scalar top-level members (strings up to 1 KiB), each list's length as
/// `<name>Count`, the size.
fn truncated<'a>(members: impl Iterator<Item = (&'a str, Kept<'a>)>, size: usize, event_source: &str) -> Value {
    let mut out = Map::new();
    for (k, v) in members {
        if is_secret_key(k, event_source) && !matches!(v, Kept::Null) {
            out.insert(k.to_owned(), Value::String(HIDDEN.into()));
            continue;
        }
        match v {
            Kept::Text(s) if s.len() <= 1024 => {
                out.insert(k.to_owned(), Value::String(s.to_owned()));
            }
            Kept::Number(n) => {
                out.insert(k.to_owned(), Value::Number(n.clone()));
            }
            Kept::Bool(b) => {
                out.insert(k.to_owned(), Value::Bool(b));
            }
            Kept::List(n) => {
                out.insert(format!("{k}Count"), Value::from(n));
            }
            Kept::Text(_) | Kept::Other | Kept::Null => {}
        }
    }
    out.insert("berthTruncatedBytes".into(), Value::from(size));
    Value::Object(out)
}

/// The length of `v` once redacted, serialized as compact JSON, counted
/// without building either.
fn redacted_len(v: &Value, event_source: &str) -> usize {
    match v {
        Value::Object(m) => {
            let entries: usize = m
                .iter()
                .map(|(k, v)| {
                    let value = if is_secret_key(k, event_source) && !v.is_null() {
                        str_len(HIDDEN)
                    } else {
                        redacted_len(v, event_source)
                    };
                    str_len(k) + 1 + value
                })
                .sum();
            2 + m.len().saturating_sub(1) + entries
        }
        Value::Array(a) => {
            2 + a.len().saturating_sub(1) + a.iter().map(|v| redacted_len(v, event_source)).sum::<usize>()
        }
        Value::Null => 4,
        Value::Bool(b) => 4 + usize::from(!b),
        Value::Number(n) => number_len(n),
        Value::String(s) => str_len(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_found_in_any_case_without_lower_casing() {
        for k in [
            "Password",
            "dbPASSWORD",
            "clientSecret",
            "PlainText",
            "privateKey",
            "SessionToken",
        ] {
            assert!(is_secret_key(k, "ecs.amazonaws.com"), "{k}");
        }
        for k in [
            "NextToken",
            "nextToken",
            "KmsTokenId",
            "SecretArn",
            "SecretId",
            "Value",
            "MetricName",
            "",
        ] {
            assert!(!is_secret_key(k, "monitoring.amazonaws.com"), "{k}");
        }
        assert!(is_secret_key("Value", "ssm.amazonaws.com"));
        assert!(is_secret_key("VALUE", "secretsmanager.amazonaws.com"));
    }

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
    fn hides_eventbridge_connection_secrets() {
        let input = json!({"Name": "c", "AuthParameters": {
            "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-123"},
            "InvocationHttpParameters": {"HeaderParameters": [{"Key": "X-T", "Value": "v-456", "IsValueSecret": true}]}}});
        let out = request_parameters(&input, "events.amazonaws.com").to_string();
        assert!(
            !out.contains("k-123") && !out.contains("v-456") && out.contains("x-api-key"),
            "{out}"
        );
    }

    #[test]
    fn keeps_ordinary_values() {
        let input = json!({"tags": [{"key": "team", "value": "blue"}], "nextToken": "abc", "SecretId": "name"});
        assert_eq!(request_parameters(&input, "ecs.amazonaws.com"), input);
    }

    #[test]
    fn the_counted_size_is_the_serialized_size() {
        let values = [
            json!({}),
            json!([]),
            json!({"a": [1, 2.5, null, true, false, "x\"y\u{e9}\n"], "Password": "s3cr3t", "token": null}),
            json!({"nested": {"SecretString": "abc", "list": [{"k": "v"}, [], {}]}, "n": -12}),
            json!("plain"),
            json!({"ctl\u{1}\u{1f}\u{7f}": "\u{8}\u{c}\r\t\\/\u{0}", "k\"": "\u{2028}"}),
            json!([0, 9, 10, 99, 100, u64::MAX, i64::MIN, -1, -9, -10, i64::MAX]),
            json!([
                0.0,
                -0.0,
                0.1,
                1.5e300,
                -2.5e-300,
                1e21,
                1e-7,
                123456.789,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324
            ]),
            json!({"MetricData": [{"MetricName": "Load", "Timestamp": 1.7e9, "Value": 42.0, "Unit": "Percent",
                                   "Dimensions": [{"Name": "Host", "Value": "h1"}]}]}),
        ];
        for v in values {
            for src in ["ecs.amazonaws.com", "ssm.amazonaws.com"] {
                let built = serde_json::to_vec(&redact_value(&v, src)).unwrap().len();
                assert_eq!(redacted_len(&v, src), built, "{v} ({src})");
            }
        }
    }

    #[test]
    fn secret_substrings_are_found_anywhere() {
        for k in [
            "p",
            "pass",
            "xPASSWORDx",
            "tokenX",
            "aToKeN",
            "mySecret",
            "PrivateKeyPem",
            "thePlaintext",
            "token",
            "xToken",
            "toke",
            "ApiKeyValue",
            "xapikeyvalu",
            "tökenPassword",
            "MetricName",
            "Dimensions",
        ] {
            assert_eq!(
                has_secret_substring(k),
                SECRET_SUBSTRINGS.iter().any(|s| k.to_ascii_lowercase().contains(s)),
                "{k}"
            );
        }
    }

    #[test]
    fn a_large_input_keeps_its_hidden_top_level_secrets_hidden() {
        let input = json!({"Name": "/p", "Value": "s3cr3t", "Tags": vec![json!({"Key": "k", "Value": "v"}); 400]});
        let out = request_parameters(&input, "ssm.amazonaws.com");
        assert_eq!(out["Value"], HIDDEN);
        assert_eq!(out["Name"], "/p");
        assert_eq!(out["TagsCount"], 400);
        assert!(!out.to_string().contains("s3cr3t"));
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

    /// The summary of an input (what a body reader counted) and the input itself.
    fn summarized(input: &Value, names: &'static [&'static str]) -> Summary {
        let top = input
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let name: &'static str = names.iter().copied().find(|n| n == k).unwrap();
                let t = match v {
                    Value::String(s) => Top::Text(s.clone()),
                    Value::Number(n) => Top::Number(n.clone()),
                    Value::Bool(b) => Top::Bool(*b),
                    Value::Array(a) => Top::List(a.len()),
                    _ => Top::Object,
                };
                (name, t)
            })
            .collect();
        Summary {
            json_len: input.to_string().len(),
            top,
            names,
        }
    }

    #[test]
    fn a_large_input_is_recorded_from_its_summary_as_from_its_value() {
        let names = &[
            "MetricData",
            "Namespace",
            "Flag",
            "Size",
            "Long",
            "Entity",
            "MetricName",
            "Value",
        ];
        let input = json!({
            "MetricData": vec![json!({"MetricName": "m", "Value": 1.5}); 500],
            "Namespace": "App",
            "Flag": true,
            "Size": -3,
            "Long": "x".repeat(2000),
            "Entity": {"a": 1},
        });
        let source = "monitoring.amazonaws.com";
        let whole = request_parameters(&input, source);
        let from_summary = request_parameters_of_summary(&summarized(&input, names), source).unwrap();
        assert_eq!(from_summary, whole);
        // The same text too (the members in the input's order).
        assert_eq!(from_summary.to_string(), whole.to_string());
        assert_eq!(whole["MetricDataCount"], 500);
        assert!(whole.get("Long").is_none() && whole.get("Entity").is_none());
    }

    #[test]
    fn a_summary_is_not_the_record_of_a_small_input_or_one_with_a_hidden_name() {
        let small = json!({"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1}]});
        let names = &["Namespace", "MetricData", "MetricName", "Value"];
        assert_eq!(
            request_parameters_of_summary(&summarized(&small, names), "monitoring.amazonaws.com"),
            None
        );
        let large = json!({"Name": "/p", "Values": vec![json!({"Value": "v"}); 1000]});
        let names = &["Name", "Values", "Value"];
        let summary = summarized(&large, names);
        assert!(request_parameters_of_summary(&summary, "monitoring.amazonaws.com").is_some());
        // SSM hides `Value`: the redacted size is not the summary's.
        assert_eq!(request_parameters_of_summary(&summary, "ssm.amazonaws.com"), None);
    }
}
