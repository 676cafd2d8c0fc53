//! What KMS and Secrets Manager operations are authorized on, as AWS does it
//! (pure; the services resolve the references with one store get each):
//! KMS key operations on the key ARN (a KeyId given as key id, key ARN, alias
//! name or alias ARN is its key's ARN; Decrypt on the key inside the
//! ciphertext), alias operations on the alias ARN and its key, CreateKey and
//! the List operations on `*`; Secrets Manager operations on the secret ARN
//! (a name is its full ARN, random suffix included), ListSecrets on `*`.

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

/// The resources of a KMS operation.
pub fn kms_resources(operation: &str, input: &Value) -> Vec<KmsResource> {
    let param = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    let key = |name: &str| param(name).map_or(KmsResource::Any, KmsResource::Key);
    match operation {
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
        _ => vec![KmsResource::Any],
    }
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

pub fn secret_resource(operation: &str, input: &Value) -> SecretResource {
    let param = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    match operation {
        "CreateSecret" => param("Name").map_or(SecretResource::Any, SecretResource::New),
        "ListSecrets" => SecretResource::Any,
        _ => param("SecretId").map_or(SecretResource::Any, SecretResource::Existing),
    }
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

    #[test]
    fn kms_key_operations_name_the_key() {
        assert_eq!(
            kms_resources("Encrypt", &json!({"KeyId": "alias/app", "Plaintext": "eA=="})),
            vec![KmsResource::Key("alias/app".into())]
        );
        assert_eq!(
            kms_resources("DescribeKey", &json!({"KeyId": "1234"})),
            vec![KmsResource::Key("1234".into())]
        );
        for op in ["CreateKey", "ListKeys", "ListAliases"] {
            assert_eq!(kms_resources(op, &json!({})), vec![KmsResource::Any], "{op}");
        }
        assert_eq!(kms_resources("Encrypt", &json!({})), vec![KmsResource::Any]);
    }

    #[test]
    fn kms_decrypt_names_the_key_in_the_ciphertext() {
        let blob = crypto::encode_blob("k-1", &[0u8; 40]);
        let input = json!({"CiphertextBlob": B64.encode(blob), "KeyId": "alias/other"});
        assert_eq!(kms_resources("Decrypt", &input), vec![KmsResource::Key("k-1".into())]);
        assert_eq!(
            kms_resources("Decrypt", &json!({"CiphertextBlob": "bm9wZQ==", "KeyId": "k-2"})),
            vec![KmsResource::Key("k-2".into())]
        );
        assert_eq!(
            kms_resources("Decrypt", &json!({"CiphertextBlob": "!!"})),
            vec![KmsResource::Any]
        );
    }

    #[test]
    fn kms_aliases_name_the_alias_and_its_key() {
        assert_eq!(
            kms_resources("CreateAlias", &json!({"AliasName": "alias/a", "TargetKeyId": "k"})),
            vec![KmsResource::Alias("alias/a".into()), KmsResource::Key("k".into())]
        );
        assert_eq!(
            kms_resources("DeleteAlias", &json!({"AliasName": "alias/a"})),
            vec![KmsResource::Alias("alias/a".into()), KmsResource::Key("alias/a".into())]
        );
    }

    #[test]
    fn secrets_by_id_and_new_names() {
        assert_eq!(
            secret_resource("CreateSecret", &json!({"Name": "db"})),
            SecretResource::New("db".into())
        );
        assert_eq!(
            secret_resource("GetSecretValue", &json!({"SecretId": "db"})),
            SecretResource::Existing("db".into())
        );
        assert_eq!(secret_resource("ListSecrets", &json!({})), SecretResource::Any);
        assert_eq!(secret_resource("DescribeSecret", &json!({})), SecretResource::Any);
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
