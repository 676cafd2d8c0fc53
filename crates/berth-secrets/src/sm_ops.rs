//! Secrets Manager operations as typed values ([`crate::operation`]): each
//! input decoded once; the secret a `SecretId` names (a name, full or
//! partial ARN) read once in the load step, for both the authorization (its
//! full ARN, random suffix included, tags as `aws:ResourceTag/…` and
//! `secretsmanager:ResourceTag/…`, and the request's `secretsmanager:`
//! condition keys) and the handler; CreateSecret on the new secret's ARN
//! (its random suffix drawn once, for the check and the secret), ListSecrets
//! on `*`. And the caller's KMS permission on the key of each value it
//! touches, through Secrets Manager (see [`crate::via_service`]):
//! `kms:Decrypt` for GetSecretValue (on the key inside the version's
//! envelope), `kms:GenerateDataKey` for CreateSecret, PutSecretValue and
//! UpdateSecret with a value (on the secret's key, the new `KmsKeyId`, or
//! the AWS managed key `alias/aws/secretsmanager`), and for an UpdateSecret
//! that changes the key, `kms:GenerateDataKey` on the new key and
//! `kms:Decrypt` on the key of the current value. The encryption context is
//! `SecretARN` and `SecretVersionId`, as AWS's.

use super::{DEFAULT_KEY_ALIAS, SecretRecord, SecretsManager, select_version};
use crate::kms::KeyRecord;
use crate::operation::{Entry, Operation, Scope, Table};
use crate::rules::{self, AWSCURRENT};
use crate::via_service::{self, KeyFacts, KmsAction};
use async_trait::async_trait;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use rand::RngCore;
use serde::Deserialize;
use serde_json::Value;

/// The table row of `O`.
const fn entry<O: Operation<SecretsManager>>() -> Entry<SecretsManager> {
    berth_proto::operation::entry::<SecretsManager, O>()
}

/// Every Secrets Manager operation Berth routes.
pub(super) const OPERATIONS: Table<SecretsManager> = Table(&[
    entry::<CreateSecret>(),
    entry::<GetSecretValue>(),
    entry::<PutSecretValue>(),
    entry::<UpdateSecret>(),
    entry::<DescribeSecret>(),
    entry::<ListSecrets>(),
    entry::<DeleteSecret>(),
    entry::<RestoreSecret>(),
    entry::<TagResource>(),
    entry::<UntagResource>(),
]);

/// What the load step found: the secret (`None` before it), the KMS
/// permissions its values need: (action, key, version), and the key a new
/// value is sealed under (the `KmsKeyId` given, the secret's key or the AWS
/// managed key; `None` when the request seals nothing and names no key).
#[derive(Default)]
pub(super) struct Found {
    secret: Option<Result<SecretRecord, AwsError>>,
    kms: Vec<(KmsAction, KeyFacts, String)>,
    key: Option<Result<KeyRecord, AwsError>>,
}

impl Found {
    /// The secret, for its handler.
    pub(super) fn secret(&mut self) -> Result<SecretRecord, AwsError> {
        self.secret
            .take()
            .unwrap_or_else(|| Err(AwsError::internal("the secret was not looked up")))
    }

    /// The key a new value is sealed under, as the load step resolved it.
    pub(super) fn take_key(&mut self) -> Result<KeyRecord, AwsError> {
        self.key
            .take()
            .unwrap_or_else(|| Err(AwsError::internal("the key was not looked up")))
    }

    fn record(&self) -> Option<&SecretRecord> {
        self.secret.as_ref().and_then(|s| s.as_ref().ok())
    }
}

/// The KMS permissions an operation needs on the secret's values, before lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyUse {
    /// `kms:Decrypt` on the key that sealed this version.
    DecryptVersion(String),
    /// `kms:GenerateDataKey` on this key (`None`: the AWS managed key) for a new version.
    Seal { key: Option<String>, version: String },
}

/// The version a write creates: the client token (SDKs always send one), else a fresh id.
fn new_version(token: Option<&str>) -> String {
    token.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// What GetSecretValue decrypts: the selected version.
fn read_uses(rec: &SecretRecord, version_id: Option<&str>, version_stage: Option<&str>) -> Vec<KeyUse> {
    select_version(rec, version_id, version_stage)
        .map(KeyUse::DecryptVersion)
        .into_iter()
        .collect()
}

/// What an UpdateSecret does with the values of `rec`.
fn update_uses(rec: &SecretRecord, new_key: Option<&str>, has_value: bool, token: Option<&str>) -> Vec<KeyUse> {
    let new_key = new_key.map(str::to_string);
    let key = new_key.clone().or_else(|| rec.kms_key_id.clone());
    let mut uses = Vec::new();
    if has_value {
        uses.push(KeyUse::Seal {
            key: key.clone(),
            version: new_version(token),
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

impl SecretsManager {
    /// Reads the secret `secret_id` names into `found`, and looks up the
    /// keys of the values `uses` (given the secret) touches.
    async fn find(&self, secret_id: &str, found: &mut Found, uses: impl FnOnce(&SecretRecord) -> Vec<KeyUse>) {
        found.secret = Some(self.load(secret_id).await);
        let uses = found.record().map(uses).unwrap_or_default();
        self.look_up_keys(uses, found).await;
    }

    /// Resolves the `KmsKeyId` a request names, when the keys it uses did
    /// not already (the handler reports a key that does not resolve).
    async fn name_key(&self, key_id: Option<&str>, found: &mut Found) {
        if key_id.is_some() && found.key.is_none() {
            found.key = Some(self.kms.sealing_key(key_id, DEFAULT_KEY_ALIAS).await);
        }
    }

    async fn look_up_keys(&self, uses: Vec<KeyUse>, found: &mut Found) {
        for u in uses {
            let (action, key, version) = match u {
                KeyUse::DecryptVersion(version) => {
                    let key = found
                        .record()
                        .and_then(|r| r.values.get(&version))
                        .and_then(|v| via_service::envelope_key_id(&v.envelope));
                    let Some(key) = key else { continue };
                    (KmsAction::Decrypt, self.kms.key_facts(&key).await, version)
                }
                KeyUse::Seal { key, version } => {
                    // Resolved once: authorized here, sealed with by the handler.
                    let key = self.kms.sealing_key(key.as_deref(), DEFAULT_KEY_ALIAS).await;
                    let facts = key.as_ref().ok().map(KeyRecord::facts);
                    found.key = Some(key);
                    (KmsAction::GenerateDataKey, facts, version)
                }
            };
            // An unknown key: the operation answers its own error.
            if let Some(key) = key {
                found.kms.push((action, key, version));
            }
        }
    }
}

/// The secret (its ARN; one that does not exist named as given, a name
/// as `secret:NAME`) with `keys` and, from the record read, its tags as
/// `secretsmanager:ResourceTag/…`, then the KMS permissions.
fn secret_resources(
    scope: &Scope,
    target: Target<'_>,
    mut keys: Vec<(String, String)>,
    found: &Found,
) -> Vec<AuthzResource> {
    let mut secret = match (target, found.record()) {
        (Target::Any, _) => AuthzResource::untagged("*"),
        (Target::New(arn), _) => AuthzResource::untagged(arn),
        (Target::Existing(_), Some(rec)) => {
            keys.extend(
                crate::authz::tag_pairs(&rec.tags)
                    .into_iter()
                    .map(|(k, v)| (format!("secretsmanager:ResourceTag/{k}"), v)),
            );
            AuthzResource::untagged(rec.arn.clone())
        }
        (Target::Existing(id), None) if id.starts_with("arn:") => AuthzResource::untagged(id),
        (Target::Existing(id), None) => AuthzResource::untagged(format!(
            "arn:aws:secretsmanager:{}:{}:secret:{id}",
            scope.region, scope.account
        )),
    };
    secret.condition_keys = keys;
    let via = scope.via("secretsmanager");
    let mut out = Vec::new();
    for (action, key, version) in &found.kms {
        let context = SecretsManager::context(&secret.arn, version);
        out.push(via_service::kms_use(&via, *action, key, &context));
    }
    out.insert(0, secret);
    out
}

/// The secret an operation acts on.
enum Target<'a> {
    /// Not resource-scoped.
    Any,
    /// CreateSecret: the new secret's ARN.
    New(&'a str),
    /// A `SecretId` as given (name, full or partial ARN).
    Existing(&'a str),
}

/// A secret's full ARN.
fn secret_arn(scope: &Scope, name: &str, suffix: &str) -> String {
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
        scope.region, scope.account
    )
}

/// `secretsmanager:KEY` = `value` for each given field.
fn condition_keys(fields: &[(&str, Option<String>)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (format!("secretsmanager:{k}"), v)))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateInput {
    pub name: String,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub secret_binary: Option<String>,
    pub secret_string: Option<String>,
    #[serde(default)]
    pub tags: Vec<Value>,
    /// The new secret's ARN suffix, drawn once: a fresh random one, so
    /// `NAME-??????` patterns match it and no existing secret's ARN does.
    #[serde(skip)]
    pub suffix: String,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetValueInput {
    pub secret_id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PutValueInput {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    pub secret_binary: Option<String>,
    pub secret_string: Option<String>,
    pub version_stages: Option<Vec<String>>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateInput {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub secret_binary: Option<String>,
    pub secret_string: Option<String>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SecretIdInput {
    pub secret_id: String,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListInput {
    pub include_planned_deletion: Option<bool>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    #[serde(default)]
    pub filters: Vec<Value>,
    pub sort_order: Option<String>,
    pub sort_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeleteInput {
    pub secret_id: String,
    pub recovery_window_in_days: Option<i64>,
    pub force_delete_without_recovery: Option<bool>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagInput {
    pub secret_id: String,
    #[serde(default)]
    pub tags: Vec<Value>,
    #[serde(default)]
    pub tag_keys: Vec<String>,
    #[serde(skip)]
    pub found: Found,
}

pub(super) struct CreateSecret;
#[async_trait]
impl Operation<SecretsManager> for CreateSecret {
    const NAME: &'static str = "CreateSecret";
    type Input = CreateInput;
    async fn load(sm: &SecretsManager, i: &mut CreateInput) {
        let mut suffix = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut suffix);
        i.suffix = rules::arn_suffix(&suffix);
        if i.secret_string.is_some() || i.secret_binary.is_some() {
            let seal = KeyUse::Seal {
                key: i.kms_key_id.clone(),
                version: new_version(i.client_request_token.as_deref()),
            };
            sm.look_up_keys(vec![seal], &mut i.found).await;
        }
        sm.name_key(i.kms_key_id.as_deref(), &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &CreateInput) -> Vec<AuthzResource> {
        let arn = secret_arn(scope, &i.name, &i.suffix);
        let keys = condition_keys(&[
            ("Name", Some(i.name.clone())),
            ("Description", i.description.clone()),
            ("KmsKeyId", i.kms_key_id.clone()),
        ]);
        secret_resources(scope, Target::New(&arn), keys, &i.found)
    }
    async fn run(sm: &SecretsManager, _: &RequestContext, i: CreateInput) -> Result<Value, AwsError> {
        sm.create_secret(i).await
    }
}

pub(super) struct GetSecretValue;
#[async_trait]
impl Operation<SecretsManager> for GetSecretValue {
    const NAME: &'static str = "GetSecretValue";
    type Input = GetValueInput;
    async fn load(sm: &SecretsManager, i: &mut GetValueInput) {
        let (id, stage) = (i.version_id.clone(), i.version_stage.clone());
        sm.find(&i.secret_id, &mut i.found, |rec| {
            read_uses(rec, id.as_deref(), stage.as_deref())
        })
        .await;
    }
    fn resources(scope: &Scope, i: &GetValueInput) -> Vec<AuthzResource> {
        let keys = condition_keys(&[
            ("SecretId", Some(i.secret_id.clone())),
            ("VersionId", i.version_id.clone()),
            ("VersionStage", i.version_stage.clone()),
        ]);
        secret_resources(scope, Target::Existing(&i.secret_id), keys, &i.found)
    }
    async fn run(sm: &SecretsManager, _: &RequestContext, i: GetValueInput) -> Result<Value, AwsError> {
        sm.get_secret_value(i).await
    }
}

pub(super) struct PutSecretValue;
#[async_trait]
impl Operation<SecretsManager> for PutSecretValue {
    const NAME: &'static str = "PutSecretValue";
    type Input = PutValueInput;
    async fn load(sm: &SecretsManager, i: &mut PutValueInput) {
        let token = i.client_request_token.clone();
        sm.find(&i.secret_id, &mut i.found, |rec| {
            vec![KeyUse::Seal {
                key: rec.kms_key_id.clone(),
                version: new_version(token.as_deref()),
            }]
        })
        .await;
    }
    fn resources(scope: &Scope, i: &PutValueInput) -> Vec<AuthzResource> {
        let keys = condition_keys(&[("SecretId", Some(i.secret_id.clone()))]);
        secret_resources(scope, Target::Existing(&i.secret_id), keys, &i.found)
    }
    async fn run(sm: &SecretsManager, _: &RequestContext, i: PutValueInput) -> Result<Value, AwsError> {
        sm.put_secret_value(i).await
    }
}

pub(super) struct UpdateSecret;
#[async_trait]
impl Operation<SecretsManager> for UpdateSecret {
    const NAME: &'static str = "UpdateSecret";
    type Input = UpdateInput;
    async fn load(sm: &SecretsManager, i: &mut UpdateInput) {
        let has_value = i.secret_string.is_some() || i.secret_binary.is_some();
        let (key, token) = (i.kms_key_id.clone(), i.client_request_token.clone());
        sm.find(&i.secret_id, &mut i.found, |rec| {
            update_uses(rec, key.as_deref(), has_value, token.as_deref())
        })
        .await;
        sm.name_key(key.as_deref(), &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &UpdateInput) -> Vec<AuthzResource> {
        let keys = condition_keys(&[
            ("SecretId", Some(i.secret_id.clone())),
            ("Description", i.description.clone()),
            ("KmsKeyId", i.kms_key_id.clone()),
        ]);
        secret_resources(scope, Target::Existing(&i.secret_id), keys, &i.found)
    }
    async fn run(sm: &SecretsManager, _: &RequestContext, i: UpdateInput) -> Result<Value, AwsError> {
        sm.update_secret(i).await
    }
}

pub(super) struct ListSecrets;
#[async_trait]
impl Operation<SecretsManager> for ListSecrets {
    const NAME: &'static str = "ListSecrets";
    type Input = ListInput;
    /// Not resource-scoped in AWS.
    fn resources(scope: &Scope, _: &ListInput) -> Vec<AuthzResource> {
        secret_resources(scope, Target::Any, vec![], &Found::default())
    }
    async fn run(sm: &SecretsManager, _: &RequestContext, i: ListInput) -> Result<Value, AwsError> {
        sm.list_secrets(i).await
    }
}

pub(super) struct DeleteSecret;
#[async_trait]
impl Operation<SecretsManager> for DeleteSecret {
    const NAME: &'static str = "DeleteSecret";
    type Input = DeleteInput;
    async fn load(sm: &SecretsManager, i: &mut DeleteInput) {
        sm.find(&i.secret_id, &mut i.found, |_| vec![]).await;
    }
    fn resources(scope: &Scope, i: &DeleteInput) -> Vec<AuthzResource> {
        let keys = condition_keys(&[
            ("SecretId", Some(i.secret_id.clone())),
            ("RecoveryWindowInDays", i.recovery_window_in_days.map(|d| d.to_string())),
            (
                "ForceDeleteWithoutRecovery",
                i.force_delete_without_recovery.map(|f| f.to_string()),
            ),
        ]);
        secret_resources(scope, Target::Existing(&i.secret_id), keys, &i.found)
    }
    async fn run(sm: &SecretsManager, _: &RequestContext, i: DeleteInput) -> Result<Value, AwsError> {
        sm.delete_secret(i).await
    }
}

/// The operations on one secret that touch no value: on the secret, read once.
macro_rules! secret_operation {
    ($name:ident, $input:ty, $method:ident $(, $arg:expr)?) => {
        pub(super) struct $name;
        #[async_trait]
        impl Operation<SecretsManager> for $name {
                    const NAME: &'static str = stringify!($name);
            type Input = $input;
            async fn load(sm: &SecretsManager, i: &mut $input) {
                sm.find(&i.secret_id, &mut i.found, |_| vec![]).await;
            }
            fn resources(scope: &Scope, i: &$input) -> Vec<AuthzResource> {
                let keys = condition_keys(&[("SecretId", Some(i.secret_id.clone()))]);
                secret_resources(scope, Target::Existing(&i.secret_id), keys, &i.found)
            }
            async fn run(sm: &SecretsManager, _: &RequestContext, i: $input) -> Result<Value, AwsError> {
                sm.$method(i $(, $arg)?).await
            }
        }
    };
}

secret_operation!(DescribeSecret, SecretIdInput, describe_secret);
secret_operation!(RestoreSecret, SecretIdInput, restore_secret);
secret_operation!(TagResource, TagInput, tag_resource, true);
secret_operation!(UntagResource, TagInput, tag_resource, false);

#[cfg(test)]
#[path = "sm_ops_tests.rs"]
mod tests;
