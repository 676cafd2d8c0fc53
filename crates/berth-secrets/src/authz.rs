//! What Secrets Manager and SSM operations are authorized on, as AWS does it
//! (pure; the services resolve the references with one store get each; KMS's
//! operations are typed, see `kms_ops.rs`): Secrets Manager operations on the secret ARN
//! (a name is its full ARN, random suffix included), ListSecrets on `*`. Every table
//! names each routed operation: an operation it does not know is `None`.

use serde_json::Value;

/// The secret a Secrets Manager operation acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretResource {
    Any,
    /// CreateSecret: the new secret's name.
    New(String),
    /// A `SecretId` as given (name, full or partial ARN).
    Existing(String),
}

/// The secret of a Secrets Manager operation; `None` for an operation this
/// table does not know.
pub fn secret_resource(operation: &str, input: &Value) -> Option<SecretResource> {
    let param = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    Some(match operation {
        "CreateSecret" => param("Name").map_or(SecretResource::Any, SecretResource::New),
        // Not resource-scoped in AWS.
        "ListSecrets" => SecretResource::Any,
        "GetSecretValue" | "PutSecretValue" | "UpdateSecret" | "DescribeSecret" | "DeleteSecret" | "RestoreSecret"
        | "TagResource" | "UntagResource" => param("SecretId").map_or(SecretResource::Any, SecretResource::Existing),
        _ => return None,
    })
}

/// The `secretsmanager:` condition keys of a request (besides
/// `secretsmanager:ResourceTag/…`, which come with the secret): `SecretId`
/// as given, `Name`, `Description` and `KmsKeyId` of CreateSecret and
/// UpdateSecret, `VersionId`/`VersionStage` of GetSecretValue,
/// `RecoveryWindowInDays`/`ForceDeleteWithoutRecovery` of DeleteSecret.
pub fn secret_condition_keys(operation: &str, input: &Value) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let mut copy = |field: &str, key: &str| match input.get(field) {
        Some(Value::String(s)) => keys.push((format!("secretsmanager:{key}"), s.clone())),
        Some(Value::Bool(b)) => keys.push((format!("secretsmanager:{key}"), b.to_string())),
        Some(Value::Number(n)) => keys.push((format!("secretsmanager:{key}"), n.to_string())),
        _ => {}
    };
    if operation != "CreateSecret" && operation != "ListSecrets" {
        copy("SecretId", "SecretId");
    }
    match operation {
        "CreateSecret" => {
            copy("Name", "Name");
            copy("Description", "Description");
            copy("KmsKeyId", "KmsKeyId");
        }
        "UpdateSecret" => {
            copy("Description", "Description");
            copy("KmsKeyId", "KmsKeyId");
        }
        "GetSecretValue" => {
            copy("VersionId", "VersionId");
            copy("VersionStage", "VersionStage");
        }
        "DeleteSecret" => {
            copy("RecoveryWindowInDays", "RecoveryWindowInDays");
            copy("ForceDeleteWithoutRecovery", "ForceDeleteWithoutRecovery");
        }
        _ => {}
    }
    keys
}

/// The quoted operation names of the dispatch arms in `fn call` of a
/// service's source (what `scripts/compat.py` reads as routed), for the
/// tests that every routed operation is authorized on something.
#[cfg(test)]
pub(crate) fn dispatched_operations(source: &str) -> Vec<String> {
    let start = source.find("async fn call(").expect("the service has a dispatch");
    let body = &source[start..];
    let end = body.find("\n    }\n").unwrap_or(body.len());
    let arm = regex::Regex::new(r#"((?:"[A-Z][A-Za-z0-9]+"\s*\|\s*)*"[A-Z][A-Za-z0-9]+")\s*=>"#).unwrap();
    let name = regex::Regex::new(r#""([A-Z][A-Za-z0-9]+)""#).unwrap();
    let mut out = Vec::new();
    for m in arm.captures_iter(&body[..end]) {
        out.extend(name.captures_iter(&m[1]).map(|c| c[1].to_string()));
    }
    out
}

/// The store names a `SecretId` may be stored under, most specific first: a
/// name as given; for an ARN, its name without the `-XXXXXX` suffix, then
/// the whole resource part (a partial ARN of a name that ends in `-XXXXXX`).
pub fn secret_name_candidates(secret_id: &str) -> Vec<String> {
    match secret_id.split_once(":secret:") {
        Some((_, rest)) if secret_id.starts_with("arn:") => {
            let mut c = vec![rest.to_string()];
            if let Some((base, suffix)) = rest.rsplit_once('-')
                && suffix.len() == 6
            {
                c.insert(0, base.to_string());
            }
            c
        }
        _ => vec![secret_id.to_string()],
    }
}

/// `[{Key, Value}]` (Secrets Manager, SSM) or `[{TagKey, TagValue}]` (KMS) as pairs.
/// Checks request tags (`Key`/`Value` or `TagKey`/`TagValue`) against the
/// shared tag rule ([`berth_core::tags::check_tags`]).
pub fn check_tags(tags: &[Value]) -> Result<(), berth_core::tags::TagViolation> {
    let pairs = tag_pairs(tags);
    berth_core::tags::check_tags(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

pub fn tag_pairs(tags: &[Value]) -> Vec<(String, String)> {
    tags.iter()
        .filter_map(|t| {
            let key = t.get("Key").or_else(|| t.get("TagKey"))?.as_str()?;
            let value = t
                .get("Value")
                .or_else(|| t.get("TagValue"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(v: Vec<(String, String)>) -> std::collections::BTreeMap<String, String> {
        v.into_iter().collect()
    }

    #[test]
    fn secrets_by_id_and_new_names() {
        assert_eq!(
            secret_resource("CreateSecret", &json!({"Name": "db"})),
            Some(SecretResource::New("db".into()))
        );
        assert_eq!(
            secret_resource("GetSecretValue", &json!({"SecretId": "db"})),
            Some(SecretResource::Existing("db".into()))
        );
        assert_eq!(secret_resource("ListSecrets", &json!({})), Some(SecretResource::Any));
        assert_eq!(secret_resource("DescribeSecret", &json!({})), Some(SecretResource::Any));
        assert_eq!(secret_resource("BatchGetSecretValue", &json!({})), None);
    }

    #[test]
    fn secret_condition_keys_of_requests() {
        let k = keys(secret_condition_keys(
            "GetSecretValue",
            &json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}),
        ));
        assert_eq!(k["secretsmanager:SecretId"], "db");
        assert_eq!(k["secretsmanager:VersionStage"], "AWSPREVIOUS");
        let k = keys(secret_condition_keys(
            "CreateSecret",
            &json!({"Name": "db", "KmsKeyId": "alias/x", "Description": "d"}),
        ));
        assert_eq!(k["secretsmanager:Name"], "db");
        assert_eq!(k["secretsmanager:KmsKeyId"], "alias/x");
        assert_eq!(k["secretsmanager:Description"], "d");
        assert!(!k.contains_key("secretsmanager:SecretId"));
        let k = keys(secret_condition_keys(
            "DeleteSecret",
            &json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true}),
        ));
        assert_eq!(k["secretsmanager:ForceDeleteWithoutRecovery"], "true");
        let k = keys(secret_condition_keys(
            "DeleteSecret",
            &json!({"SecretId": "db", "RecoveryWindowInDays": 7}),
        ));
        assert_eq!(k["secretsmanager:RecoveryWindowInDays"], "7");
    }

    /// Every operation a service routes is authorized on its resources or,
    /// explicitly, on `*`: adding a dispatch arm without an entry here fails.
    #[test]
    fn every_routed_operation_has_an_authorization_entry() {
        let sm = dispatched_operations(include_str!("sm.rs"));
        assert!(sm.len() >= 10, "{sm:?}");
        for op in &sm {
            assert!(
                secret_resource(op, &json!({})).is_some(),
                "secretsmanager:{op} has no authorization entry"
            );
        }
    }

    #[test]
    fn secret_candidates() {
        assert_eq!(secret_name_candidates("db"), vec!["db"]);
        assert_eq!(
            secret_name_candidates("arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf"),
            vec!["db", "db-AbCdEf"]
        );
        assert_eq!(
            secret_name_candidates("arn:aws:secretsmanager:us-east-1:000000000000:secret:db"),
            vec!["db"]
        );
    }

    #[test]
    fn tags_of_both_shapes() {
        assert_eq!(
            tag_pairs(&[
                json!({"Key": "team", "Value": "a"}),
                json!({"TagKey": "env", "TagValue": "p"})
            ]),
            vec![("team".into(), "a".into()), ("env".into(), "p".into())]
        );
        assert!(tag_pairs(&[json!({"Value": "x"})]).is_empty());
    }
}
