//! What KMS and Secrets Manager operations are authorized on, as AWS does it
//! (pure; the services resolve the references with one store get each):
//! KMS key operations on the key ARN (a KeyId given as key id, key ARN, alias
//! name or alias ARN is its key's ARN; Decrypt on the key inside the
//! ciphertext), alias operations on the alias ARN and its key, CreateKey and
//! the List operations on `*`; Secrets Manager operations on the secret ARN
//! (a name is its full ARN, random suffix included), ListSecrets on `*`;
//! SSM operations on parameter ARNs, DescribeParameters on `*`. Every table
//! names each routed operation: an operation it does not know is `None`.

use crate::crypto;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

/// One resource a KMS operation acts on, before lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsResource {
    /// Not resource-scoped.
    Any,
    /// A `KeyId` as given (key id, key ARN, alias name or alias ARN): the ARN
    /// of the key it resolves to.
    Key(String),
    /// An alias itself (`alias/NAME`): the alias ARN.
    Alias(String),
}

/// The resources of a KMS operation; `None` for an operation this table
/// does not know (every routed operation has an entry: see the tests).
pub fn kms_resources(operation: &str, input: &Value) -> Option<Vec<KmsResource>> {
    let param = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    let key = |name: &str| param(name).map_or(KmsResource::Any, KmsResource::Key);
    Some(match operation {
        // Not resource-scoped in AWS.
        "CreateKey" | "ListKeys" | "ListAliases" => vec![KmsResource::Any],
        "DescribeKey"
        | "Encrypt"
        | "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "ScheduleKeyDeletion"
        | "CancelKeyDeletion"
        | "EnableKey"
        | "DisableKey" => vec![key("KeyId")],
        // The key that made the ciphertext (a KeyId in the request must name it too).
        "Decrypt" => {
            let from_blob = param("CiphertextBlob")
                .and_then(|b| B64.decode(b).ok())
                .and_then(|blob| crypto::decode_blob(&blob).ok().map(|(id, _)| id));
            match (from_blob, param("KeyId")) {
                (Some(id), _) => vec![KmsResource::Key(id)],
                (None, Some(k)) => vec![KmsResource::Key(k)],
                (None, None) => vec![KmsResource::Any],
            }
        }
        "CreateAlias" => match (param("AliasName"), param("TargetKeyId")) {
            (Some(alias), Some(target)) => vec![KmsResource::Alias(alias), KmsResource::Key(target)],
            (Some(alias), None) => vec![KmsResource::Alias(alias)],
            _ => vec![KmsResource::Any],
        },
        // The alias and the key it points to.
        "DeleteAlias" => match param("AliasName") {
            Some(alias) => vec![KmsResource::Alias(alias.clone()), KmsResource::Key(alias)],
            None => vec![KmsResource::Any],
        },
        _ => return None,
    })
}

/// The KMS condition keys of a request (besides the key's tags):
/// `kms:CallerAccount`, `kms:EncryptionContext:KEY` and
/// `kms:EncryptionAlgorithm` of the cryptographic operations,
/// `kms:RequestAlias` when the KeyId is an alias, the key's spec, usage and
/// origin (of the request for CreateKey), and
/// `kms:ScheduleKeyDeletionPendingWindowInDays`.
pub fn kms_condition_keys(operation: &str, input: &Value, caller_account: &str) -> Vec<(String, String)> {
    let param = |name: &str| input.get(name).and_then(Value::as_str);
    let mut keys = vec![("kms:CallerAccount".to_string(), caller_account.to_string())];
    let crypto_op = matches!(
        operation,
        "Encrypt" | "Decrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext"
    );
    if crypto_op {
        if let Some(ctx) = input.get("EncryptionContext").and_then(Value::as_object) {
            for (k, v) in ctx {
                if let Some(v) = v.as_str() {
                    keys.push((format!("kms:EncryptionContext:{k}"), v.to_string()));
                }
            }
        }
        if matches!(operation, "Encrypt" | "Decrypt") {
            let algorithm = param("EncryptionAlgorithm").unwrap_or("SYMMETRIC_DEFAULT");
            keys.push(("kms:EncryptionAlgorithm".into(), algorithm.into()));
        }
    }
    if (crypto_op || operation == "DescribeKey")
        && let Some(alias) = param("KeyId").and_then(alias_name)
    {
        keys.push(("kms:RequestAlias".into(), alias));
    }
    if operation == "CreateKey" {
        let spec = param("KeySpec")
            .or_else(|| param("CustomerMasterKeySpec"))
            .unwrap_or("SYMMETRIC_DEFAULT");
        keys.push(("kms:KeySpec".into(), spec.into()));
        keys.push((
            "kms:KeyUsage".into(),
            param("KeyUsage").unwrap_or("ENCRYPT_DECRYPT").into(),
        ));
        keys.push(("kms:KeyOrigin".into(), param("Origin").unwrap_or("AWS_KMS").into()));
    } else {
        // Berth's keys are all of one kind.
        keys.push(("kms:KeySpec".into(), "SYMMETRIC_DEFAULT".into()));
        keys.push(("kms:KeyUsage".into(), "ENCRYPT_DECRYPT".into()));
        keys.push(("kms:KeyOrigin".into(), "AWS_KMS".into()));
    }
    if operation == "ScheduleKeyDeletion" {
        let days = input.get("PendingWindowInDays").and_then(Value::as_i64).unwrap_or(30);
        keys.push(("kms:ScheduleKeyDeletionPendingWindowInDays".into(), days.to_string()));
    }
    keys
}

/// `alias/NAME` of a KeyId that is an alias name or alias ARN.
fn alias_name(key_id: &str) -> Option<String> {
    if key_id.starts_with("alias/") {
        return Some(key_id.to_string());
    }
    key_id
        .split_once(":alias/")
        .filter(|_| key_id.starts_with("arn:"))
        .map(|(_, n)| format!("alias/{n}"))
}

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

/// What an SSM operation is authorized on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterScope {
    /// Not resource-scoped (DescribeParameters).
    Any,
    /// `Name`: one parameter.
    Name,
    /// `Names`: each parameter.
    Names,
    /// `Path`: the path's own ARN.
    Path,
}

/// The scope of an SSM operation; `None` for an operation this table does not know.
pub fn parameter_scope(operation: &str) -> Option<ParameterScope> {
    Some(match operation {
        "DescribeParameters" => ParameterScope::Any,
        "PutParameter" | "GetParameter" | "DeleteParameter" | "GetParameterHistory" | "LabelParameterVersion" => {
            ParameterScope::Name
        }
        "GetParameters" | "DeleteParameters" => ParameterScope::Names,
        "GetParametersByPath" => ParameterScope::Path,
        _ => return None,
    })
}

/// The `ssm:` condition keys of a request: `ssm:Overwrite` (PutParameter),
/// `ssm:Recursive` (GetParametersByPath).
pub fn parameter_condition_keys(operation: &str, input: &Value) -> Vec<(String, String)> {
    let flag = |f: &str| input.get(f).and_then(Value::as_bool).unwrap_or(false).to_string();
    match operation {
        "PutParameter" => vec![("ssm:Overwrite".into(), flag("Overwrite"))],
        "GetParametersByPath" => vec![("ssm:Recursive".into(), flag("Recursive"))],
        _ => vec![],
    }
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
    fn kms_key_operations_name_the_key() {
        assert_eq!(
            kms_resources("Encrypt", &json!({"KeyId": "alias/app", "Plaintext": "eA=="})),
            Some(vec![KmsResource::Key("alias/app".into())])
        );
        assert_eq!(
            kms_resources("DescribeKey", &json!({"KeyId": "1234"})),
            Some(vec![KmsResource::Key("1234".into())])
        );
        for op in ["CreateKey", "ListKeys", "ListAliases"] {
            assert_eq!(kms_resources(op, &json!({})), Some(vec![KmsResource::Any]), "{op}");
        }
        assert_eq!(kms_resources("Encrypt", &json!({})), Some(vec![KmsResource::Any]));
        assert_eq!(kms_resources("ReEncrypt", &json!({})), None);
    }

    #[test]
    fn kms_decrypt_names_the_key_in_the_ciphertext() {
        let blob = crypto::encode_blob("k-1", &[0u8; 40]);
        let input = json!({"CiphertextBlob": B64.encode(blob), "KeyId": "alias/other"});
        assert_eq!(
            kms_resources("Decrypt", &input),
            Some(vec![KmsResource::Key("k-1".into())])
        );
        assert_eq!(
            kms_resources("Decrypt", &json!({"CiphertextBlob": "bm9wZQ==", "KeyId": "k-2"})),
            Some(vec![KmsResource::Key("k-2".into())])
        );
        assert_eq!(
            kms_resources("Decrypt", &json!({"CiphertextBlob": "!!"})),
            Some(vec![KmsResource::Any])
        );
    }

    #[test]
    fn kms_aliases_name_the_alias_and_its_key() {
        assert_eq!(
            kms_resources("CreateAlias", &json!({"AliasName": "alias/a", "TargetKeyId": "k"})),
            Some(vec![KmsResource::Alias("alias/a".into()), KmsResource::Key("k".into())])
        );
        assert_eq!(
            kms_resources("DeleteAlias", &json!({"AliasName": "alias/a"})),
            Some(vec![
                KmsResource::Alias("alias/a".into()),
                KmsResource::Key("alias/a".into())
            ])
        );
    }

    #[test]
    fn kms_condition_keys_of_requests() {
        let k = keys(kms_condition_keys(
            "Decrypt",
            &json!({"KeyId": "arn:aws:kms:us-east-1:000000000000:alias/app", "EncryptionContext": {"Dept": "it"}}),
            "000000000000",
        ));
        assert_eq!(k["kms:CallerAccount"], "000000000000");
        assert_eq!(k["kms:EncryptionContext:Dept"], "it");
        assert_eq!(k["kms:RequestAlias"], "alias/app");
        assert_eq!(k["kms:EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        let k = keys(kms_condition_keys("Encrypt", &json!({"KeyId": "1234"}), "1"));
        assert!(!k.contains_key("kms:RequestAlias"));
        let k = keys(kms_condition_keys(
            "CreateKey",
            &json!({"KeyUsage": "SIGN_VERIFY"}),
            "1",
        ));
        assert_eq!(k["kms:KeyUsage"], "SIGN_VERIFY");
        assert_eq!(k["kms:KeySpec"], "SYMMETRIC_DEFAULT");
        let k = keys(kms_condition_keys("ScheduleKeyDeletion", &json!({"KeyId": "k"}), "1"));
        assert_eq!(k["kms:ScheduleKeyDeletionPendingWindowInDays"], "30");
        assert!(!k.contains_key("kms:EncryptionContext:Dept"));
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

    #[test]
    fn parameter_scopes_and_keys() {
        assert_eq!(parameter_scope("DescribeParameters"), Some(ParameterScope::Any));
        assert_eq!(parameter_scope("GetParameters"), Some(ParameterScope::Names));
        assert_eq!(parameter_scope("GetParametersByPath"), Some(ParameterScope::Path));
        assert_eq!(parameter_scope("PutParameter"), Some(ParameterScope::Name));
        assert_eq!(parameter_scope("AddTagsToResource"), None);
        assert_eq!(
            parameter_condition_keys("PutParameter", &json!({"Overwrite": true})),
            vec![("ssm:Overwrite".to_string(), "true".to_string())]
        );
        assert_eq!(
            parameter_condition_keys("GetParametersByPath", &json!({})),
            vec![("ssm:Recursive".to_string(), "false".to_string())]
        );
    }

    /// Every operation a service routes is authorized on its resources or,
    /// explicitly, on `*`: adding a dispatch arm without an entry here fails.
    #[test]
    fn every_routed_operation_has_an_authorization_entry() {
        let kms = dispatched_operations(include_str!("kms.rs"));
        assert!(kms.len() >= 14, "{kms:?}");
        for op in &kms {
            assert!(
                kms_resources(op, &json!({})).is_some(),
                "kms:{op} has no authorization entry"
            );
        }
        let ssm = dispatched_operations(include_str!("ssm.rs"));
        assert!(ssm.len() >= 9, "{ssm:?}");
        for op in &ssm {
            assert!(parameter_scope(op).is_some(), "ssm:{op} has no authorization entry");
        }
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
