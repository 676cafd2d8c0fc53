//! KMS operations as typed values ([`crate::operation`]): each input decoded
//! once; the key a `KeyId` names (key id, key ARN, alias name or alias ARN)
//! resolved once in the load step, for both the authorization (the key's
//! ARN and tags) and the handler; Decrypt authorized on the key inside the
//! ciphertext; alias operations on the alias ARN and its key; CreateKey and
//! the List operations on `*`. Every resource carries the request's KMS
//! condition keys: `kms:CallerAccount`, `kms:EncryptionContext:KEY` and
//! `kms:EncryptionAlgorithm` of the cryptographic operations,
//! `kms:RequestAlias` when the KeyId is an alias, the key's spec, usage and
//! origin (of the request for CreateKey), and
//! `kms:ScheduleKeyDeletionPendingWindowInDays`.

use super::{KeyRecord, Kms};
use crate::operation::{Entry, Operation, Scope, Table};
use crate::{crypto, rules};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The table row of `O`.
const fn entry<O: Operation<Kms>>() -> Entry<Kms> {
    berth_proto::operation::entry::<Kms, O>()
}

/// Every KMS operation Berth routes.
pub(super) const OPERATIONS: Table<Kms> = Table(&[
    entry::<CreateKey>(),
    entry::<DescribeKey>(),
    entry::<ListKeys>(),
    entry::<CreateAlias>(),
    entry::<DeleteAlias>(),
    entry::<ListAliases>(),
    entry::<Encrypt>(),
    entry::<Decrypt>(),
    entry::<GenerateDataKey>(),
    entry::<GenerateDataKeyWithoutPlaintext>(),
    entry::<ScheduleKeyDeletion>(),
    entry::<CancelKeyDeletion>(),
    entry::<EnableKey>(),
    entry::<DisableKey>(),
]);

/// A key looked up once: the key, or the error its handler answers; `None`
/// before the load step.
pub(super) type Lookup = Option<Result<KeyRecord, AwsError>>;

/// The key of a [`Lookup`], for a handler.
pub(super) fn looked_up(key: Lookup) -> Result<KeyRecord, AwsError> {
    key.unwrap_or_else(|| Err(AwsError::internal("the key was not looked up")))
}

/// The resource a KeyId names: its key's ARN (its tags come with it); a
/// key or alias that does not exist is named as given (a key id as its key
/// ARN), and the operation then answers NotFoundException itself.
fn key_resource(scope: &Scope, key_id: &str, key: &Lookup) -> AuthzResource {
    if let Some(Ok(k)) = key {
        return AuthzResource::untagged(k.arn.clone());
    }
    match rules::parse_key_ref(key_id) {
        Ok(rules::KeyRef::Id(id)) => AuthzResource::untagged(scope.key_arn(&id)),
        Ok(rules::KeyRef::Alias(name)) => AuthzResource::untagged(scope.alias_arn(&name)),
        Err(_) => AuthzResource::untagged("*"),
    }
}

/// The condition keys every KMS request has: `kms:CallerAccount` and the
/// key's spec, usage and origin (Berth's keys are all of one kind).
fn base_keys(scope: &Scope) -> Vec<(String, String)> {
    vec![
        ("kms:CallerAccount".into(), scope.caller_account.clone()),
        ("kms:KeySpec".into(), "SYMMETRIC_DEFAULT".into()),
        ("kms:KeyUsage".into(), "ENCRYPT_DECRYPT".into()),
        ("kms:KeyOrigin".into(), "AWS_KMS".into()),
    ]
}

/// `kms:RequestAlias` of a KeyId that is an alias name or alias ARN.
fn request_alias(key_id: Option<&str>) -> Option<(String, String)> {
    let key_id = key_id?;
    let alias = if key_id.starts_with("alias/") {
        key_id.to_string()
    } else {
        let (_, n) = key_id.split_once(":alias/").filter(|_| key_id.starts_with("arn:"))?;
        format!("alias/{n}")
    };
    Some(("kms:RequestAlias".into(), alias))
}

/// The condition keys of a cryptographic request: the base keys, the
/// encryption context, the algorithm (Encrypt, Decrypt) and the alias.
fn crypto_keys(
    scope: &Scope,
    key_id: Option<&str>,
    context: &BTreeMap<String, String>,
    algorithm: Option<Option<&str>>,
) -> Vec<(String, String)> {
    let mut keys = base_keys(scope);
    keys.extend(crate::via_service::context_keys(context));
    if let Some(a) = algorithm {
        keys.push((
            "kms:EncryptionAlgorithm".into(),
            a.unwrap_or("SYMMETRIC_DEFAULT").into(),
        ));
    }
    keys.extend(request_alias(key_id));
    keys
}

/// `resource` with `keys` as its condition keys.
fn with_keys(mut resource: AuthzResource, keys: &[(String, String)]) -> AuthzResource {
    resource.condition_keys = keys.to_vec();
    resource
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateKeyInput {
    pub description: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub origin: Option<String>,
    #[serde(default)]
    pub tags: Vec<Value>,
}

/// An operation on one key named by `KeyId`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdInput {
    pub key_id: String,
    #[serde(skip)]
    pub key: Lookup,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListInput {
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListAliasesInput {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasInput {
    pub alias_name: String,
    pub target_key_id: Option<String>,
    /// The key of `TargetKeyId` (CreateAlias) or of the alias (DeleteAlias).
    #[serde(skip)]
    pub key: Lookup,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptInput {
    pub key_id: String,
    pub plaintext: String,
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
    pub encryption_algorithm: Option<String>,
    #[serde(skip)]
    pub key: Lookup,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptInput {
    pub key_id: Option<String>,
    pub ciphertext_blob: String,
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
    pub encryption_algorithm: Option<String>,
    /// The id of the key inside the ciphertext and that key (`Ok(None)`:
    /// no such key); `None` when the blob does not parse.
    #[serde(skip)]
    pub blob_key: Option<(String, Result<Option<KeyRecord>, AwsError>)>,
    /// The key of `KeyId`, if given.
    #[serde(skip)]
    pub key: Lookup,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GenerateDataKeyInput {
    pub key_id: String,
    pub key_spec: Option<String>,
    pub number_of_bytes: Option<i64>,
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
    #[serde(skip)]
    pub key: Lookup,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleInput {
    pub key_id: String,
    pub pending_window_in_days: Option<i64>,
    #[serde(skip)]
    pub key: Lookup,
}

pub(super) struct CreateKey;
#[async_trait]
impl Operation<Kms> for CreateKey {
    const NAME: &'static str = "CreateKey";
    type Input = CreateKeyInput;
    /// Not resource-scoped in AWS; the request's spec, usage and origin.
    fn resources(scope: &Scope, i: &CreateKeyInput) -> Vec<AuthzResource> {
        let spec = i
            .key_spec
            .as_deref()
            .or(i.customer_master_key_spec.as_deref())
            .unwrap_or("SYMMETRIC_DEFAULT");
        let keys = vec![
            ("kms:CallerAccount".to_string(), scope.caller_account.clone()),
            ("kms:KeySpec".into(), spec.into()),
            (
                "kms:KeyUsage".into(),
                i.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT").into(),
            ),
            ("kms:KeyOrigin".into(), i.origin.as_deref().unwrap_or("AWS_KMS").into()),
        ];
        vec![with_keys(AuthzResource::untagged("*"), &keys)]
    }
    async fn run(kms: &Kms, _: &RequestContext, i: CreateKeyInput) -> Result<Value, AwsError> {
        kms.create_key(i).await
    }
}

pub(super) struct DescribeKey;
#[async_trait]
impl Operation<Kms> for DescribeKey {
    const NAME: &'static str = "DescribeKey";
    type Input = KeyIdInput;
    async fn load(kms: &Kms, i: &mut KeyIdInput) {
        i.key = Some(kms.resolve(&i.key_id).await);
    }
    fn resources(scope: &Scope, i: &KeyIdInput) -> Vec<AuthzResource> {
        let mut keys = base_keys(scope);
        keys.extend(request_alias(Some(&i.key_id)));
        vec![with_keys(key_resource(scope, &i.key_id, &i.key), &keys)]
    }
    async fn run(kms: &Kms, _: &RequestContext, i: KeyIdInput) -> Result<Value, AwsError> {
        Ok(serde_json::json!({ "KeyMetadata": kms.metadata(&looked_up(i.key)?) }))
    }
}

/// The listing operations: not resource-scoped in AWS.
macro_rules! list_operation {
    ($name:ident, $input:ty, $method:ident) => {
        pub(super) struct $name;
        #[async_trait]
        impl Operation<Kms> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = $input;
            fn resources(scope: &Scope, _: &$input) -> Vec<AuthzResource> {
                vec![with_keys(AuthzResource::untagged("*"), &base_keys(scope))]
            }
            async fn run(kms: &Kms, _: &RequestContext, i: $input) -> Result<Value, AwsError> {
                kms.$method(i).await
            }
        }
    };
}

list_operation!(ListKeys, ListInput, list_keys);
list_operation!(ListAliases, ListAliasesInput, list_aliases);

pub(super) struct CreateAlias;
#[async_trait]
impl Operation<Kms> for CreateAlias {
    const NAME: &'static str = "CreateAlias";
    type Input = AliasInput;
    async fn load(kms: &Kms, i: &mut AliasInput) {
        if let Some(target) = &i.target_key_id {
            i.key = Some(kms.resolve(target).await);
        }
    }
    /// The alias and the key it will point to.
    fn resources(scope: &Scope, i: &AliasInput) -> Vec<AuthzResource> {
        let keys = base_keys(scope);
        let mut out = vec![with_keys(
            AuthzResource::untagged(scope.alias_arn(&i.alias_name)),
            &keys,
        )];
        if let Some(target) = &i.target_key_id {
            out.push(with_keys(key_resource(scope, target, &i.key), &keys));
        }
        out
    }
    async fn run(kms: &Kms, _: &RequestContext, i: AliasInput) -> Result<Value, AwsError> {
        kms.create_alias(i).await
    }
}

pub(super) struct DeleteAlias;
#[async_trait]
impl Operation<Kms> for DeleteAlias {
    const NAME: &'static str = "DeleteAlias";
    type Input = AliasInput;
    async fn load(kms: &Kms, i: &mut AliasInput) {
        i.key = Some(kms.resolve(&i.alias_name).await);
    }
    /// The alias and the key it points to.
    fn resources(scope: &Scope, i: &AliasInput) -> Vec<AuthzResource> {
        let keys = base_keys(scope);
        vec![
            with_keys(AuthzResource::untagged(scope.alias_arn(&i.alias_name)), &keys),
            with_keys(key_resource(scope, &i.alias_name, &i.key), &keys),
        ]
    }
    async fn run(kms: &Kms, _: &RequestContext, i: AliasInput) -> Result<Value, AwsError> {
        kms.delete_alias(i).await
    }
}

pub(super) struct Encrypt;
#[async_trait]
impl Operation<Kms> for Encrypt {
    const NAME: &'static str = "Encrypt";
    type Input = EncryptInput;
    async fn load(kms: &Kms, i: &mut EncryptInput) {
        i.key = Some(kms.resolve(&i.key_id).await);
    }
    fn resources(scope: &Scope, i: &EncryptInput) -> Vec<AuthzResource> {
        let algorithm = Some(i.encryption_algorithm.as_deref());
        let keys = crypto_keys(scope, Some(&i.key_id), &i.encryption_context, algorithm);
        vec![with_keys(key_resource(scope, &i.key_id, &i.key), &keys)]
    }
    async fn run(kms: &Kms, ctx: &RequestContext, i: EncryptInput) -> Result<Value, AwsError> {
        kms.encrypt(ctx, i).await
    }
}

pub(super) struct Decrypt;
#[async_trait]
impl Operation<Kms> for Decrypt {
    const NAME: &'static str = "Decrypt";
    type Input = DecryptInput;
    async fn load(kms: &Kms, i: &mut DecryptInput) {
        let id = B64
            .decode(&i.ciphertext_blob)
            .ok()
            .and_then(|blob| crypto::decode_blob(&blob).ok().map(|(id, _)| id));
        if let Some(id) = id {
            let key = kms.load_key(&id).await;
            i.blob_key = Some((id, key));
        }
        if let Some(k) = &i.key_id {
            i.key = Some(kms.resolve(k).await);
        }
    }
    /// The key that made the ciphertext (a KeyId in the request must name it too).
    fn resources(scope: &Scope, i: &DecryptInput) -> Vec<AuthzResource> {
        let algorithm = Some(i.encryption_algorithm.as_deref());
        let keys = crypto_keys(scope, i.key_id.as_deref(), &i.encryption_context, algorithm);
        let resource = match (&i.blob_key, &i.key_id) {
            (Some((_, Ok(Some(k)))), _) => AuthzResource::untagged(k.arn.clone()),
            (Some((id, _)), _) => AuthzResource::untagged(scope.key_arn(id)),
            (None, Some(k)) => key_resource(scope, k, &i.key),
            (None, None) => AuthzResource::untagged("*"),
        };
        vec![with_keys(resource, &keys)]
    }
    async fn run(kms: &Kms, ctx: &RequestContext, i: DecryptInput) -> Result<Value, AwsError> {
        kms.decrypt(ctx, i).await
    }
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext (`$plaintext`: the
/// answer carries the data key in plaintext too): on the key, looked up once.
macro_rules! data_key_operation {
    ($name:ident, $plaintext:expr) => {
        pub(super) struct $name;
        #[async_trait]
        impl Operation<Kms> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = GenerateDataKeyInput;
            async fn load(kms: &Kms, i: &mut GenerateDataKeyInput) {
                i.key = Some(kms.resolve(&i.key_id).await);
            }
            fn resources(scope: &Scope, i: &GenerateDataKeyInput) -> Vec<AuthzResource> {
                let keys = crypto_keys(scope, Some(&i.key_id), &i.encryption_context, None);
                vec![with_keys(key_resource(scope, &i.key_id, &i.key), &keys)]
            }
            async fn run(kms: &Kms, ctx: &RequestContext, i: GenerateDataKeyInput) -> Result<Value, AwsError> {
                kms.generate_data_key(ctx, i, $plaintext).await
            }
        }
    };
}

data_key_operation!(GenerateDataKey, true);
data_key_operation!(GenerateDataKeyWithoutPlaintext, false);

/// The key-state operations: on the key, looked up once.
macro_rules! key_state_operation {
    ($name:ident) => {
        pub(super) struct $name;
        #[async_trait]
        impl Operation<Kms> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = ScheduleInput;
            async fn load(kms: &Kms, i: &mut ScheduleInput) {
                i.key = Some(kms.resolve(&i.key_id).await);
            }
            fn resources(scope: &Scope, i: &ScheduleInput) -> Vec<AuthzResource> {
                let mut keys = base_keys(scope);
                if Self::NAME == "ScheduleKeyDeletion" {
                    let days = i.pending_window_in_days.unwrap_or(30);
                    keys.push((
                        "kms:ScheduleKeyDeletionPendingWindowInDays".into(),
                        days.to_string(),
                    ));
                }
                vec![with_keys(key_resource(scope, &i.key_id, &i.key), &keys)]
            }
            async fn run(kms: &Kms, _: &RequestContext, i: ScheduleInput) -> Result<Value, AwsError> {
                kms.set_state(i, Self::NAME).await
            }
        }
    };
}

key_state_operation!(ScheduleKeyDeletion);
key_state_operation!(CancelKeyDeletion);
key_state_operation!(EnableKey);
key_state_operation!(DisableKey);

#[cfg(test)]
#[path = "kms_ops_tests.rs"]
mod tests;
