//! KMS (`TrentService`): symmetric keys whose material is sealed under the
//! master key, aliases, Encrypt/Decrypt/GenerateDataKey, key deletion
//! scheduling, and the internal envelope API used by SSM and Secrets Manager.

use crate::crypto::{self, CryptoError};
use crate::via_service::KeyFacts;
use crate::{authz, rules};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, JsonServiceInfo, RequestContext};
use berth_store::{Compare, Op, Store, typed};
use serde::{Deserialize, Serialize};

#[path = "kms_ops.rs"]
mod ops;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub const TARGET_PREFIX: &str = "TrentService";
const KEYS: &str = "kms/keys/";
const ALIASES: &str = "kms/aliases/";

fn key_key(id: &str) -> String {
    format!("{KEYS}{id}")
}
fn alias_key(name: &str) -> String {
    format!("{ALIASES}{name}")
}

pub(crate) fn now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    pub key_id: String,
    pub arn: String,
    pub creation_date: f64,
    #[serde(default)]
    pub description: String,
    /// `Enabled`, `Disabled` or `PendingDeletion`.
    pub key_state: String,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: String,
    pub deletion_date: Option<f64>,
    pub pending_window_in_days: Option<i64>,
    #[serde(default)]
    pub tags: Vec<Value>,
    /// The key material, sealed under the master key (base64).
    pub sealed_material: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct AliasRecord {
    alias_name: String,
    target_key_id: String,
    creation_date: f64,
    last_updated_date: f64,
}

#[derive(Clone)]
pub struct Kms {
    store: Arc<dyn Store>,
    region: String,
    account: String,
    master: Arc<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("BERTH_KMS_MASTER_KEY: {0}")]
    Operator(CryptoError),
    #[error("the KMS master key file {path}: {source}")]
    File { path: String, source: std::io::Error },
}

impl Kms {
    /// Opens KMS: the master key comes from the operator (base64 of 32 bytes)
    /// or from `DATA_DIR/kms-master.key`, created on first start with mode 0600.
    pub fn open(
        store: Arc<dyn Store>,
        region: &str,
        account: &str,
        data_dir: &Path,
        operator_key: Option<&str>,
    ) -> Result<Self, OpenError> {
        let master = match operator_key.filter(|k| !k.trim().is_empty()) {
            Some(k) => crypto::parse_master_key(k).map_err(OpenError::Operator)?,
            None => {
                let path = data_dir.join("kms-master.key");
                crypto::load_or_create_master_key(&path).map_err(|source| OpenError::File {
                    path: path.display().to_string(),
                    source,
                })?
            }
        };
        Ok(Self {
            store,
            region: region.to_string(),
            account: account.to_string(),
            master: Arc::new(master),
        })
    }

    /// The server's master key, for the components that seal their own
    /// secrets under it (IAM access-key and session secrets).
    pub fn master_key(&self) -> Arc<Vec<u8>> {
        self.master.clone()
    }

    fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }
    fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account)
    }

    fn material(&self, rec: &KeyRecord) -> Result<Vec<u8>, AwsError> {
        let sealed = B64
            .decode(&rec.sealed_material)
            .map_err(|_| AwsError::internal("corrupt key material"))?;
        crypto::open(&self.master, &sealed, material_aad(&rec.key_id).as_bytes()).map_err(|_| {
            tracing::error!(key_id = %rec.key_id, "key material does not open under the master key");
            AwsError::new(
                "KMSInternalException",
                500,
                "The key material cannot be decrypted with this server's master key.",
            )
        })
    }

    /// Resolves a KeyId (id, key ARN, alias name, alias ARN) to its record.
    async fn resolve(&self, key_id: &str) -> Result<KeyRecord, AwsError> {
        let id = match rules::parse_key_ref(key_id).map_err(AwsError::kms_not_found)? {
            rules::KeyRef::Id(id) => id,
            rules::KeyRef::Alias(name) => {
                let Some((a, _)) = typed::get::<AliasRecord>(&*self.store, &alias_key(&name))
                    .await
                    .map_err(AwsError::state_store)?
                else {
                    return Err(AwsError::kms_not_found(format!(
                        "Alias {} is not found.",
                        self.alias_arn(&name)
                    )));
                };
                a.target_key_id
            }
        };
        match self.load_key(&id).await? {
            Some(k) => Ok(k),
            None => Err(AwsError::kms_not_found(format!(
                "Key '{}' does not exist",
                self.key_arn(&id)
            ))),
        }
    }

    /// What authorization needs of the key a KeyId (id, key ARN, alias name
    /// or alias ARN) names: one get, two for an alias, no purge. `None` when
    /// there is no such key (the operation answers its own not-found error).
    pub async fn key_facts(&self, key_id: &str) -> Option<KeyFacts> {
        let id = match rules::parse_key_ref(key_id).ok()? {
            rules::KeyRef::Id(id) => id,
            rules::KeyRef::Alias(name) => {
                typed::get::<AliasRecord>(&*self.store, &alias_key(&name))
                    .await
                    .ok()??
                    .0
                    .target_key_id
            }
        };
        let (k, _) = typed::get::<KeyRecord>(&*self.store, &key_key(&id)).await.ok()??;
        Some(k.facts())
    }

    /// The facts of the AWS managed key behind `alias`, created on first use
    /// (as the service would on its first write).
    pub async fn default_key_facts(&self, alias: &str) -> Result<KeyFacts, AwsError> {
        Ok(self.default_key(alias).await?.facts())
    }

    /// A key record; a key whose deletion date has passed is deleted now
    /// (with its aliases) and reads as absent.
    async fn load_key(&self, id: &str) -> Result<Option<KeyRecord>, AwsError> {
        let Some((k, rev)) = typed::get::<KeyRecord>(&*self.store, &key_key(id))
            .await
            .map_err(AwsError::state_store)?
        else {
            return Ok(None);
        };
        if k.key_state == "PendingDeletion" && k.deletion_date.is_some_and(|d| d <= now()) {
            let mut ops = vec![Op::Delete(key_key(id))];
            for a in typed::list::<AliasRecord>(&*self.store, ALIASES)
                .await
                .map_err(AwsError::state_store)?
            {
                if a.target_key_id == id {
                    ops.push(Op::Delete(alias_key(&a.alias_name)));
                }
            }
            self.store
                .txn(vec![Compare::ModRevision(key_key(id), rev)], ops)
                .await
                .map_err(AwsError::state_store)?;
            tracing::info!(key_id = %id, "KMS key deleted at the end of its waiting period");
            return Ok(None);
        }
        Ok(Some(k))
    }

    fn usable(&self, rec: &KeyRecord) -> Result<(), AwsError> {
        match rec.key_state.as_str() {
            "Enabled" => Ok(()),
            "Disabled" => Err(AwsError::code("DisabledException", format!("{} is disabled.", rec.arn))),
            "PendingDeletion" => Err(AwsError::kms_invalid_state(format!("{} is pending deletion.", rec.arn))),
            other => Err(AwsError::kms_invalid_state(format!("{} is {other}.", rec.arn))),
        }
    }

    fn new_key(&self, description: String, key_manager: &str, tags: Vec<Value>) -> KeyRecord {
        let id = uuid::Uuid::new_v4().to_string();
        let material = crypto::random_bytes(crypto::KEY_LEN);
        let sealed = crypto::seal(&self.master, &material, material_aad(&id).as_bytes());
        KeyRecord {
            arn: self.key_arn(&id),
            key_id: id,
            creation_date: now(),
            description,
            key_state: "Enabled".into(),
            key_manager: key_manager.into(),
            deletion_date: None,
            pending_window_in_days: None,
            tags,
            sealed_material: B64.encode(sealed),
        }
    }

    fn metadata(&self, k: &KeyRecord) -> Value {
        let mut m = json!({
            "AWSAccountId": self.account,
            "KeyId": k.key_id,
            "Arn": k.arn,
            "CreationDate": k.creation_date,
            "Enabled": k.key_state == "Enabled",
            "Description": k.description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": k.key_state,
            "Origin": "AWS_KMS",
            "KeyManager": k.key_manager,
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false,
        });
        if let Some(d) = k.deletion_date {
            m["DeletionDate"] = json!(d);
        }
        if let Some(w) = k.pending_window_in_days {
            m["PendingDeletionWindowInDays"] = json!(w);
        }
        m
    }

    /// Seals `plaintext` under a usable key: a KMS ciphertext blob.
    fn seal_under(
        &self,
        rec: &KeyRecord,
        plaintext: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, AwsError> {
        self.usable(rec)?;
        let material = self.material(rec)?;
        let sealed = crypto::seal(&material, plaintext, &crypto::context_aad(ctx));
        Ok(crypto::encode_blob(&rec.key_id, &sealed))
    }

    /// Opens a KMS ciphertext blob: (plaintext, key record).
    async fn open_blob(&self, blob: &[u8], ctx: &BTreeMap<String, String>) -> Result<(Vec<u8>, KeyRecord), AwsError> {
        let (id, sealed) = crypto::decode_blob(blob).map_err(|_| AwsError::invalid_ciphertext())?;
        let rec = self.load_key(&id).await?;
        self.open_sealed(rec, sealed, ctx)
    }

    /// Opens the sealed part of a KMS ciphertext blob with its key (`None`:
    /// the key does not exist): (plaintext, key record).
    fn open_sealed(
        &self,
        rec: Option<KeyRecord>,
        sealed: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> Result<(Vec<u8>, KeyRecord), AwsError> {
        let rec = rec.ok_or_else(AwsError::invalid_ciphertext)?;
        self.usable(&rec)?;
        let material = self.material(&rec)?;
        let pt =
            crypto::open(&material, sealed, &crypto::context_aad(ctx)).map_err(|_| AwsError::invalid_ciphertext())?;
        Ok((pt, rec))
    }

    /// The AWS managed key behind `alias` (`alias/aws/ssm`, …), created on first use.
    pub async fn default_key(&self, alias: &str) -> Result<KeyRecord, AwsError> {
        if let Some((a, _)) = typed::get::<AliasRecord>(&*self.store, &alias_key(alias))
            .await
            .map_err(AwsError::state_store)?
        {
            return self.resolve(&a.target_key_id).await;
        }
        let service = alias.rsplit('/').next().unwrap_or(alias);
        let rec = self.new_key(
            format!("Default key that protects my {service} data when no other key is defined"),
            "AWS",
            vec![],
        );
        let t = now();
        let a = AliasRecord {
            alias_name: alias.to_string(),
            target_key_id: rec.key_id.clone(),
            creation_date: t,
            last_updated_date: t,
        };
        let res = self
            .store
            .txn(
                vec![Compare::Absent(alias_key(alias))],
                vec![
                    Op::Put(
                        key_key(&rec.key_id),
                        typed::encode(&rec).map_err(AwsError::state_store)?,
                    ),
                    Op::Put(alias_key(alias), typed::encode(&a).map_err(AwsError::state_store)?),
                ],
            )
            .await
            .map_err(AwsError::state_store)?;
        if res.succeeded {
            Ok(rec)
        } else {
            // Someone else created it first.
            self.resolve(alias).await
        }
    }

    /// The key a value is sealed under, resolved once for a request (SSM's
    /// and Secrets Manager's load step; its authorization and its handler
    /// both use it): `key_id` (id, key ARN, alias name or alias ARN), else
    /// the AWS managed key behind `default_alias`, created on first use.
    pub async fn sealing_key(&self, key_id: Option<&str>, default_alias: &str) -> Result<KeyRecord, AwsError> {
        match key_id {
            Some(k) => self.resolve(k).await,
            None => self.default_key(default_alias).await,
        }
    }

    /// Envelope-encrypts a value: a fresh data key seals it, and the data key
    /// is sealed under `key_id` (or the AWS managed key `default_alias`).
    /// Returns the envelope and the ARN of the KMS key used.
    pub async fn encrypt_internal(
        &self,
        key_id: Option<&str>,
        default_alias: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<(Vec<u8>, String), AwsError> {
        let rec = self.sealing_key(key_id, default_alias).await?;
        Ok((self.encrypt_under(&rec, plaintext, context)?, rec.arn))
    }

    /// Envelope-encrypts a value under `key` (from [`Kms::sealing_key`]),
    /// which must be usable: a fresh data key seals it, and the data key is
    /// sealed under `key`.
    pub fn encrypt_under(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, AwsError> {
        let data_key = crypto::random_bytes(crypto::KEY_LEN);
        let wrapped = self.seal_under(key, &data_key, context)?;
        let sealed = crypto::seal(&data_key, plaintext, &crypto::context_aad(context));
        Ok(crypto::encode_envelope(&wrapped, &sealed))
    }

    /// Opens an envelope made by [`Kms::encrypt_internal`] with the same context.
    pub async fn decrypt_internal(
        &self,
        envelope: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, AwsError> {
        let (wrapped, sealed) = crypto::decode_envelope(envelope).map_err(|_| AwsError::invalid_ciphertext())?;
        let (data_key, _) = self.open_blob(wrapped, context).await?;
        crypto::open(&data_key, sealed, &crypto::context_aad(context)).map_err(|_| AwsError::invalid_ciphertext())
    }

    async fn create_key(&self, i: ops::CreateKeyInput) -> Result<Value, AwsError> {
        if let Some(u) = i.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
            return Err(AwsError::code(
                "UnsupportedOperationException",
                format!("KeyUsage {u} is not supported by Berth; only ENCRYPT_DECRYPT."),
            ));
        }
        for spec in [i.key_spec.as_deref(), i.customer_master_key_spec.as_deref()]
            .into_iter()
            .flatten()
        {
            if spec != "SYMMETRIC_DEFAULT" {
                return Err(AwsError::code(
                    "UnsupportedOperationException",
                    format!("KeySpec {spec} is not supported by Berth; only SYMMETRIC_DEFAULT."),
                ));
            }
        }
        if let Some(o) = i.origin.as_deref().filter(|o| *o != "AWS_KMS") {
            return Err(AwsError::code(
                "UnsupportedOperationException",
                format!("Origin {o} is not supported by Berth; only AWS_KMS."),
            ));
        }
        let description = i.description.unwrap_or_default();
        if description.len() > 8192 {
            return Err(AwsError::validation("Description must be at most 8192 characters."));
        }
        for t in &i.tags {
            if t.get("TagKey").and_then(Value::as_str).is_none_or(str::is_empty) || t.get("TagValue").is_none() {
                return Err(AwsError::code(
                    "TagException",
                    "Each tag needs a TagKey and a TagValue.",
                ));
            }
        }
        authz::check_tags(&i.tags).map_err(|v| AwsError::code("TagException", v.to_string()))?;
        let rec = self.new_key(description, "CUSTOMER", i.tags);
        self.store
            .create(
                &key_key(&rec.key_id),
                typed::encode(&rec).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        Ok(json!({ "KeyMetadata": self.metadata(&rec) }))
    }

    async fn list_keys(&self, i: ops::ListInput) -> Result<Value, AwsError> {
        let t = now();
        let keys: Vec<KeyRecord> = typed::list::<KeyRecord>(&*self.store, KEYS)
            .await
            .map_err(AwsError::state_store)?
            .into_iter()
            .filter(|k| !(k.key_state == "PendingDeletion" && k.deletion_date.is_some_and(|d| d <= t)))
            .collect();
        let (page, next) = paginate(keys, |k| k.key_id.clone(), i.marker.as_deref(), i.limit, 100, 1000)?;
        let keys: Vec<Value> = page
            .iter()
            .map(|k| json!({ "KeyId": k.key_id, "KeyArn": k.arn }))
            .collect();
        Ok(page_out(json!({ "Keys": keys }), next))
    }

    async fn create_alias(&self, i: ops::AliasInput) -> Result<Value, AwsError> {
        rules::validate_alias_name(&i.alias_name, false).map_err(|m| AwsError::code("InvalidAliasNameException", m))?;
        let target = i
            .target_key_id
            .ok_or_else(|| AwsError::validation("TargetKeyId is required."))?;
        if target.starts_with("alias/") || target.contains(":alias/") {
            return Err(AwsError::validation(
                "TargetKeyId must be a key ID or key ARN, not an alias.",
            ));
        }
        let rec = ops::looked_up(i.key)?;
        if rec.key_manager == "AWS" {
            return Err(AwsError::kms_invalid_state(format!(
                "{} is an AWS managed key; aliases cannot point to it.",
                rec.arn
            )));
        }
        if rec.key_state == "PendingDeletion" {
            return Err(AwsError::kms_invalid_state(format!("{} is pending deletion.", rec.arn)));
        }
        let t = now();
        let a = AliasRecord {
            alias_name: i.alias_name.clone(),
            target_key_id: rec.key_id,
            creation_date: t,
            last_updated_date: t,
        };
        if !self
            .store
            .create(
                &alias_key(&i.alias_name),
                typed::encode(&a).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?
        {
            return Err(AwsError::code(
                "AlreadyExistsException",
                format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(&i.alias_name)
                ),
            ));
        }
        Ok(json!({}))
    }

    async fn delete_alias(&self, i: ops::AliasInput) -> Result<Value, AwsError> {
        rules::validate_alias_name(&i.alias_name, false).map_err(|m| AwsError::code("InvalidAliasNameException", m))?;
        if !self
            .store
            .delete(&alias_key(&i.alias_name))
            .await
            .map_err(AwsError::state_store)?
        {
            return Err(AwsError::kms_not_found(format!(
                "Alias {} is not found.",
                self.alias_arn(&i.alias_name)
            )));
        }
        Ok(json!({}))
    }

    async fn list_aliases(&self, i: ops::ListAliasesInput) -> Result<Value, AwsError> {
        let filter = match &i.key_id {
            Some(k) => Some(self.resolve(k).await?.key_id),
            None => None,
        };
        let aliases: Vec<AliasRecord> = typed::list::<AliasRecord>(&*self.store, ALIASES)
            .await
            .map_err(AwsError::state_store)?
            .into_iter()
            .filter(|a| filter.as_ref().is_none_or(|f| *f == a.target_key_id))
            .collect();
        let (page, next) = paginate(
            aliases,
            |a| a.alias_name.clone(),
            i.marker.as_deref(),
            i.limit,
            100,
            100,
        )?;
        let out: Vec<Value> = page
            .iter()
            .map(|a| {
                json!({
                    "AliasName": a.alias_name,
                    "AliasArn": self.alias_arn(&a.alias_name),
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": a.creation_date,
                    "LastUpdatedDate": a.last_updated_date,
                })
            })
            .collect();
        Ok(page_out(json!({ "Aliases": out }), next))
    }

    async fn encrypt(&self, ctx: &RequestContext, i: ops::EncryptInput) -> Result<Value, AwsError> {
        check_algorithm(i.encryption_algorithm.as_deref())?;
        let pt = b64_field("Plaintext", &i.plaintext)?;
        if pt.is_empty() || pt.len() > 4096 {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096",
            ));
        }
        let rec = ops::looked_up(i.key)?;
        only_through_its_service(ctx, &rec, "kms:Encrypt")?;
        let blob = self.seal_under(&rec, &pt, &i.encryption_context)?;
        Ok(json!({ "CiphertextBlob": B64.encode(blob), "KeyId": rec.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" }))
    }

    async fn decrypt(&self, ctx: &RequestContext, i: ops::DecryptInput) -> Result<Value, AwsError> {
        check_algorithm(i.encryption_algorithm.as_deref())?;
        let blob = b64_field("CiphertextBlob", &i.ciphertext_blob)?;
        let (_, sealed) = crypto::decode_blob(&blob).map_err(|_| AwsError::invalid_ciphertext())?;
        // The key inside the blob, looked up once before the authorization.
        let key = match i.blob_key {
            Some((_, key)) => key?,
            None => None,
        };
        let (pt, rec) = self.open_sealed(key, sealed, &i.encryption_context)?;
        only_through_its_service(ctx, &rec, "kms:Decrypt")?;
        if i.key_id.is_some() {
            let want = ops::looked_up(i.key)?;
            if want.key_id != rec.key_id {
                return Err(AwsError::code(
                    "IncorrectKeyException",
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        Ok(json!({ "KeyId": rec.arn, "Plaintext": B64.encode(pt), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" }))
    }

    async fn generate_data_key(
        &self,
        ctx: &RequestContext,
        i: ops::GenerateDataKeyInput,
        with_plaintext: bool,
    ) -> Result<Value, AwsError> {
        let n = rules::data_key_len(i.key_spec.as_deref(), i.number_of_bytes).map_err(AwsError::validation)?;
        let rec = ops::looked_up(i.key)?;
        let action = if with_plaintext {
            "kms:GenerateDataKey"
        } else {
            "kms:GenerateDataKeyWithoutPlaintext"
        };
        only_through_its_service(ctx, &rec, action)?;
        let dk = crypto::random_bytes(n);
        let blob = self.seal_under(&rec, &dk, &i.encryption_context)?;
        let mut out = json!({ "CiphertextBlob": B64.encode(blob), "KeyId": rec.arn });
        if with_plaintext {
            out["Plaintext"] = json!(B64.encode(dk));
        }
        Ok(out)
    }

    async fn set_state(&self, i: ops::ScheduleInput, op: &str) -> Result<Value, AwsError> {
        if i.key_id.starts_with("alias/") || i.key_id.contains(":alias/") {
            return Err(AwsError::code(
                "InvalidArnException",
                "KeyId must be a key ID or key ARN.",
            ));
        }
        let window = match op {
            "ScheduleKeyDeletion" => {
                Some(rules::pending_window(i.pending_window_in_days).map_err(AwsError::validation)?)
            }
            _ => None,
        };
        let rec = ops::looked_up(i.key)?;
        if rec.key_manager == "AWS" {
            return Err(AwsError::access_denied(format!(
                "{} is an AWS managed key; it cannot be changed.",
                rec.arn
            )));
        }
        let updated = typed::update_with::<KeyRecord, AwsError, _>(
            AwsError::state_store,
            &*self.store,
            &key_key(&rec.key_id),
            |cur| {
                let mut k = cur.ok_or_else(|| AwsError::kms_not_found(format!("Key '{}' does not exist", rec.arn)))?;
                match (op, k.key_state.as_str()) {
                    ("ScheduleKeyDeletion", "PendingDeletion") => {
                        return Err(AwsError::kms_invalid_state(format!("{} is pending deletion.", k.arn)));
                    }
                    ("ScheduleKeyDeletion", _) => {
                        let w = window.unwrap_or(30);
                        k.key_state = "PendingDeletion".into();
                        k.pending_window_in_days = Some(w);
                        k.deletion_date = Some(now() + (w * 86400) as f64);
                    }
                    ("CancelKeyDeletion", "PendingDeletion") => {
                        // As in AWS, a key whose deletion is cancelled is disabled.
                        k.key_state = "Disabled".into();
                        k.pending_window_in_days = None;
                        k.deletion_date = None;
                    }
                    ("CancelKeyDeletion", _) => {
                        return Err(AwsError::kms_invalid_state(format!(
                            "{} is not pending deletion.",
                            k.arn
                        )));
                    }
                    (_, "PendingDeletion") => {
                        return Err(AwsError::kms_invalid_state(format!("{} is pending deletion.", k.arn)));
                    }
                    ("EnableKey", _) => k.key_state = "Enabled".into(),
                    _ => k.key_state = "Disabled".into(),
                }
                Ok(Some(k))
            },
        )
        .await?
        .ok_or_else(|| AwsError::internal("key vanished"))?;
        Ok(match op {
            "ScheduleKeyDeletion" => json!({
                "KeyId": updated.arn,
                "DeletionDate": updated.deletion_date,
                "KeyState": updated.key_state,
                "PendingWindowInDays": updated.pending_window_in_days,
            }),
            "CancelKeyDeletion" => json!({ "KeyId": updated.arn }),
            _ => json!({}),
        })
    }
}

impl KeyRecord {
    /// What authorization needs to know of the key.
    pub fn facts(&self) -> KeyFacts {
        KeyFacts {
            key_id: self.key_id.clone(),
            arn: self.arn.clone(),
            aws_managed: self.key_manager == "AWS",
            tags: authz::tag_pairs(&self.tags),
        }
    }
}

fn material_aad(key_id: &str) -> String {
    format!("berth-kms-key-material:{key_id}")
}

/// An AWS managed key's policy allows its cryptographic operations only
/// through the service that owns it (`kms:ViaService`), to no one directly
/// — not even the account's root: a direct Encrypt, Decrypt or
/// GenerateDataKey with it is refused as AWS refuses it.
fn only_through_its_service(ctx: &RequestContext, rec: &KeyRecord, action: &str) -> Result<(), AwsError> {
    if rec.key_manager != "AWS" {
        return Ok(());
    }
    Err(AwsError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {} because no resource-based policy allows the {action} action",
        ctx.principal.arn, rec.arn
    )))
}

fn check_algorithm(a: Option<&str>) -> Result<(), AwsError> {
    match a {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(a) => Err(AwsError::code(
            "InvalidKeyUsageException",
            format!("The encryption algorithm {a} is not supported for this key."),
        )),
    }
}

pub(crate) fn b64_field(name: &str, v: &str) -> Result<Vec<u8>, AwsError> {
    B64.decode(v)
        .map_err(|_| AwsError::serialization(format!("{name} is not valid base64.")))
}

fn page_out(mut body: Value, next: Option<String>) -> Value {
    body["Truncated"] = json!(next.is_some());
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    body
}

#[async_trait]
impl JsonServiceInfo for Kms {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }
    fn signing_name(&self) -> &'static str {
        "kms"
    }
    /// A key's tags (one get; an alias has none).
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        if !arn.contains(":key/") {
            return Vec::new();
        }
        self.key_facts(arn).await.map(|k| k.tags).unwrap_or_default()
    }
}

impl crate::operation::OperationService for Kms {
    type Scope = crate::operation::Scope;
    fn scope(&self, ctx: &RequestContext) -> Self::Scope {
        crate::operation::Scope::new(&self.region, &self.account, ctx)
    }
    fn table() -> &'static crate::operation::Table<Self> {
        &ops::OPERATIONS
    }
}
