//! What a Secrets Manager operation is authorized on: the secret (its full
//! ARN, tags as `aws:ResourceTag/…` and `secretsmanager:ResourceTag/…`, and
//! the request's `secretsmanager:` condition keys), and the caller's KMS
//! permission on the key of each value it touches, through Secrets Manager
//! (see [`crate::via_service`]): `kms:Decrypt` for GetSecretValue (on the key
//! inside the version's envelope), `kms:GenerateDataKey` for CreateSecret,
//! PutSecretValue and UpdateSecret with a value (on the secret's key, the
//! new `KmsKeyId`, or the AWS managed key `alias/aws/secretsmanager`), and
//! for an UpdateSecret that changes the key, `kms:GenerateDataKey` on the
//! new key and `kms:Decrypt` on the key of the current value. The
//! encryption context is `SecretARN` and `SecretVersionId`, as AWS's.

use super::{DEFAULT_KEY_ALIAS, SecretRecord, SecretsManager, select_version};
use crate::authz::{self, SecretResource};
use crate::rules::{self, AWSCURRENT};
use crate::via_service::{self, KeyFacts, KmsAction, Via};
use berth_proto::{AuthzResource, RequestContext};
use rand::RngCore;
use serde_json::Value;

/// The KMS permissions an operation needs on the secret's values, before lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyUse {
    /// `kms:Decrypt` on the key that sealed this version.
    DecryptVersion(String),
    /// `kms:GenerateDataKey` on this key (`None`: the AWS managed key) for a new version.
    Seal { key: Option<String>, version: String },
}

/// What `operation` does with the values of `rec` (the secret, if it
/// exists; CreateSecret has none), as KMS permissions to check.
fn key_uses(operation: &str, input: &Value, rec: Option<&SecretRecord>) -> Vec<KeyUse> {
    let text = |f: &str| input.get(f).and_then(Value::as_str).map(str::to_string);
    let has_value = input.get("SecretString").is_some() || input.get("SecretBinary").is_some();
    // The version a write creates: the client token (SDKs always send one), else a fresh id.
    let new_version = || text("ClientRequestToken").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    match (operation, rec) {
        ("GetSecretValue", Some(rec)) => {
            select_version(rec, text("VersionId").as_deref(), text("VersionStage").as_deref())
                .map(KeyUse::DecryptVersion)
                .into_iter()
                .collect()
        }
        ("CreateSecret", _) if has_value => vec![KeyUse::Seal {
            key: text("KmsKeyId"),
            version: new_version(),
        }],
        ("PutSecretValue", Some(rec)) => vec![KeyUse::Seal {
            key: rec.kms_key_id.clone(),
            version: new_version(),
        }],
        ("UpdateSecret", Some(rec)) => {
            let new_key = text("KmsKeyId");
            let key = new_key.clone().or_else(|| rec.kms_key_id.clone());
            let mut uses = Vec::new();
            if has_value {
                uses.push(KeyUse::Seal {
                    key: key.clone(),
                    version: new_version(),
                });
            }
            let changes_key = new_key.is_some() && new_key != rec.kms_key_id;
            if changes_key && let Ok(current) = select_version(rec, None, Some(AWSCURRENT)) {
                // AWS re-encrypts the current value under the new key.
                if !has_value {
                    uses.push(KeyUse::Seal {
                        key,
                        version: current.clone(),
                    });
                }
                uses.push(KeyUse::DecryptVersion(current));
            }
            uses
        }
        _ => vec![],
    }
}

impl SecretsManager {
    fn via<'a>(&'a self, ctx: &'a RequestContext) -> Via<'a> {
        Via {
            service: "secretsmanager",
            region: &self.region,
            account: &self.account,
            caller_account: &ctx.principal.account_id,
        }
    }

    async fn seal_key(&self, key: Option<&str>) -> Option<KeyFacts> {
        match key {
            Some(k) => self.kms.key_facts(k).await,
            None => self.kms.default_key_facts(DEFAULT_KEY_ALIAS).await.ok(),
        }
    }

    pub(super) async fn authz(&self, ctx: &RequestContext, operation: &str, input: &Value) -> Vec<AuthzResource> {
        let Some(target) = authz::secret_resource(operation, input) else {
            return vec![AuthzResource::untagged("*")];
        };
        let (mut secret, rec) = match target {
            SecretResource::Any => (AuthzResource::untagged("*"), None),
            SecretResource::New(name) => {
                // The would-be ARN: a fresh random suffix, so `NAME-??????`
                // patterns match it and no existing secret's ARN does.
                let mut suffix = [0u8; 6];
                rand::thread_rng().fill_bytes(&mut suffix);
                (
                    AuthzResource::untagged(self.secret_arn(&name, &rules::arn_suffix(&suffix))),
                    None,
                )
            }
            SecretResource::Existing(id) => self.authz_secret(&id).await,
        };
        let mut keys = authz::secret_condition_keys(operation, input);
        keys.extend(
            secret
                .tags
                .iter()
                .map(|(k, v)| (format!("secretsmanager:ResourceTag/{k}"), v.clone())),
        );
        secret.condition_keys = keys;
        let secret_arn = secret.arn.clone();
        let mut out = vec![secret];
        let via = self.via(ctx);
        for u in key_uses(operation, input, rec.as_ref()) {
            let (action, key, version) = match u {
                KeyUse::DecryptVersion(version) => {
                    let key = rec
                        .as_ref()
                        .and_then(|r| r.values.get(&version))
                        .and_then(|v| via_service::envelope_key_id(&v.envelope));
                    let Some(key) = key else { continue };
                    (KmsAction::Decrypt, self.kms.key_facts(&key).await, version)
                }
                KeyUse::Seal { key, version } => {
                    (KmsAction::GenerateDataKey, self.seal_key(key.as_deref()).await, version)
                }
            };
            // An unknown key: the operation answers its own error.
            if let Some(key) = key {
                let context = Self::context(&secret_arn, &version);
                out.push(via_service::kms_use(&via, action, &key, &context));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn secret(kms_key_id: Option<&str>) -> SecretRecord {
        SecretRecord {
            name: "db".into(),
            arn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf".into(),
            description: None,
            kms_key_id: kms_key_id.map(String::from),
            tags: vec![],
            created: 0.0,
            last_changed: 0.0,
            deleted_date: None,
            deletion_date: None,
            stages: BTreeMap::from([
                ("v1".to_string(), vec!["AWSPREVIOUS".to_string()]),
                ("v2".to_string(), vec!["AWSCURRENT".to_string()]),
            ]),
            values: BTreeMap::new(),
        }
    }

    const TOKEN: &str = "00000000-0000-0000-0000-000000000001";

    #[test]
    fn reads_decrypt_the_selected_version() {
        let rec = secret(None);
        assert_eq!(
            key_uses("GetSecretValue", &json!({"SecretId": "db"}), Some(&rec)),
            vec![KeyUse::DecryptVersion("v2".into())]
        );
        assert_eq!(
            key_uses(
                "GetSecretValue",
                &json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}),
                Some(&rec)
            ),
            vec![KeyUse::DecryptVersion("v1".into())]
        );
        // A version that does not exist: GetSecretValue answers its own error.
        assert!(key_uses("GetSecretValue", &json!({"VersionId": "nope"}), Some(&rec)).is_empty());
        assert!(key_uses("DescribeSecret", &json!({}), Some(&rec)).is_empty());
    }

    #[test]
    fn writes_seal_under_the_secrets_key() {
        let put = json!({"SecretId": "db", "SecretString": "x", "ClientRequestToken": TOKEN});
        assert_eq!(
            key_uses("PutSecretValue", &put, Some(&secret(Some("alias/app")))),
            vec![KeyUse::Seal {
                key: Some("alias/app".into()),
                version: TOKEN.into()
            }]
        );
        let create = json!({"Name": "db", "SecretString": "x", "ClientRequestToken": TOKEN});
        assert_eq!(
            key_uses("CreateSecret", &create, None),
            vec![KeyUse::Seal {
                key: None,
                version: TOKEN.into()
            }]
        );
        assert!(key_uses("CreateSecret", &json!({"Name": "db"}), None).is_empty());
        // A description change touches no value.
        assert!(key_uses("UpdateSecret", &json!({"Description": "d"}), Some(&secret(None))).is_empty());
    }

    #[test]
    fn a_key_change_decrypts_the_current_value_and_seals_it_anew() {
        let rec = secret(Some("alias/old"));
        assert_eq!(
            key_uses(
                "UpdateSecret",
                &json!({"SecretId": "db", "KmsKeyId": "alias/new"}),
                Some(&rec)
            ),
            vec![
                KeyUse::Seal {
                    key: Some("alias/new".into()),
                    version: "v2".into()
                },
                KeyUse::DecryptVersion("v2".into())
            ]
        );
        let with_value =
            json!({"SecretId": "db", "KmsKeyId": "alias/new", "SecretString": "x", "ClientRequestToken": TOKEN});
        assert_eq!(
            key_uses("UpdateSecret", &with_value, Some(&rec)),
            vec![
                KeyUse::Seal {
                    key: Some("alias/new".into()),
                    version: TOKEN.into()
                },
                KeyUse::DecryptVersion("v2".into())
            ]
        );
        // The same key again is no change.
        assert!(key_uses("UpdateSecret", &json!({"KmsKeyId": "alias/old"}), Some(&rec)).is_empty());
    }
}
