//! Secrets Manager (`secretsmanager`): secrets with versions and staging
//! labels, deletion with a recovery window. Values are stored only as KMS
//! envelopes (encryption context `SecretARN` + `SecretVersionId`).

use crate::kms::{KeyRecord, b64_field, now};
use crate::rules::{self, AWSCURRENT};
use crate::{Kms, authz};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_proto::pagination::paginate;
use berth_proto::{AuthzResource, AwsError, JsonServiceInfo, RequestContext};
use berth_store::{Store, typed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

#[path = "sm_ops.rs"]
mod ops;

pub const TARGET_PREFIX: &str = "secretsmanager";
const SECRETS: &str = "secretsmanager/secrets/";
/// The AWS managed key of Secrets Manager.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";

fn secret_key(name: &str) -> String {
    format!("{SECRETS}{name}")
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct VersionValue {
    created: f64,
    /// The KMS envelope, base64.
    envelope: String,
    binary: bool,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SecretRecord {
    name: String,
    arn: String,
    description: Option<String>,
    kms_key_id: Option<String>,
    #[serde(default)]
    tags: Vec<Value>,
    created: f64,
    last_changed: f64,
    /// When DeleteSecret was called (the secret is "marked for deletion").
    deleted_date: Option<f64>,
    /// When it is purged.
    deletion_date: Option<f64>,
    stages: BTreeMap<String, Vec<String>>,
    values: BTreeMap<String, VersionValue>,
}

fn not_found() -> AwsError {
    AwsError::resource_not_found("Secrets Manager can't find the specified secret.")
}

/// Refuses a change to a secret scheduled for deletion.
fn live(r: &SecretRecord) -> Result<(), AwsError> {
    match r.deleted_date {
        Some(_) => Err(marked_for_deletion()),
        None => Ok(()),
    }
}

fn marked_for_deletion() -> AwsError {
    AwsError::invalid_request("You can't perform this operation on the secret because it was marked for deletion.")
}

#[derive(Clone)]
pub struct SecretsManager {
    store: Arc<dyn Store>,
    kms: Kms,
    region: String,
    account: String,
}

/// The secret value of a request: a string or base64 bytes.
enum NewValue {
    Text(String),
    Binary(Vec<u8>),
}

fn new_value(s: Option<String>, b: Option<String>) -> Result<Option<NewValue>, AwsError> {
    match (s, b) {
        (Some(_), Some(_)) => Err(AwsError::invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(s), None) => {
            if s.len() > 65536 {
                return Err(AwsError::invalid_parameter("SecretString must be at most 65536 bytes."));
            }
            Ok(Some(NewValue::Text(s)))
        }
        (None, Some(b)) => Ok(Some(NewValue::Binary(b64_field("SecretBinary", &b)?))),
        (None, None) => Ok(None),
    }
}

fn client_token(t: Option<String>) -> Result<String, AwsError> {
    match t {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(t) if (32..=64).contains(&t.len()) => Ok(t),
        Some(_) => Err(AwsError::invalid_parameter(
            "ClientRequestToken must be between 32 and 64 characters.",
        )),
    }
}

impl SecretsManager {
    pub fn new(store: Arc<dyn Store>, kms: Kms, region: &str, account: &str) -> Self {
        Self {
            store,
            kms,
            region: region.into(),
            account: account.into(),
        }
    }

    fn context(arn: &str, version: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("SecretARN".to_string(), arn.to_string()),
            ("SecretVersionId".to_string(), version.to_string()),
        ])
    }

    /// The name a SecretId (name, full or partial ARN) refers to, and the record.
    async fn load(&self, secret_id: &str) -> Result<SecretRecord, AwsError> {
        for name in authz::secret_name_candidates(secret_id) {
            if let Some((rec, _)) = typed::get::<SecretRecord>(&*self.store, &secret_key(&name))
                .await
                .map_err(AwsError::state_store)?
            {
                if secret_id.starts_with("arn:")
                    && rec.arn != secret_id
                    && !rec.arn.starts_with(&format!("{secret_id}-"))
                {
                    continue;
                }
                if rec.deletion_date.is_some_and(|d| d <= now()) {
                    // The recovery window has passed: purge it now.
                    self.store
                        .delete(&secret_key(&rec.name))
                        .await
                        .map_err(AwsError::state_store)?;
                    return Err(not_found());
                }
                return Ok(rec);
            }
        }
        Err(not_found())
    }

    fn secret_arn(&self, name: &str, suffix: &str) -> String {
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
            self.region, self.account
        )
    }

    /// The tags of the secret an ARN names (one get per candidate name).
    async fn secret_tags(&self, arn: &str) -> Vec<(String, String)> {
        for name in authz::secret_name_candidates(arn) {
            if let Ok(Some((rec, _))) = typed::get::<SecretRecord>(&*self.store, &secret_key(&name)).await
                && (rec.arn == arn || rec.arn.starts_with(&format!("{arn}-")))
            {
                return authz::tag_pairs(&rec.tags);
            }
        }
        Vec::new()
    }

    /// Seals a new value of `rec` under `key`, the key the load step
    /// resolved (the secret's, or the AWS managed key).
    fn seal(
        &self,
        rec: &SecretRecord,
        version: &str,
        v: &NewValue,
        key: &Result<KeyRecord, AwsError>,
    ) -> Result<VersionValue, AwsError> {
        let (bytes, binary) = match v {
            NewValue::Text(s) => (s.as_bytes(), false),
            NewValue::Binary(b) => (b.as_slice(), true),
        };
        let env = key
            .clone()
            .and_then(|key| self.kms.encrypt_under(&key, bytes, &Self::context(&rec.arn, version)))
            .map_err(|e| AwsError::code("EncryptionFailure", e.message))?;
        Ok(VersionValue {
            created: now(),
            envelope: B64.encode(env),
            binary,
        })
    }

    async fn open(&self, rec: &SecretRecord, version: &str, v: &VersionValue) -> Result<Vec<u8>, AwsError> {
        let env = B64
            .decode(&v.envelope)
            .map_err(|_| AwsError::internal("corrupt secret envelope"))?;
        self.kms
            .decrypt_internal(&env, &Self::context(&rec.arn, version))
            .await
            .map_err(|e| AwsError::code("DecryptionFailure", e.message))
    }

    /// Adds a version (idempotent on the token and value) and moves `stages` to it.
    /// Returns the record after the write.
    async fn add_version(
        &self,
        current: SecretRecord,
        version: &str,
        value: &NewValue,
        stages: &[String],
        key: &Result<KeyRecord, AwsError>,
        update: impl Fn(&mut SecretRecord),
    ) -> Result<SecretRecord, AwsError> {
        if current.deleted_date.is_some() {
            return Err(marked_for_deletion());
        }
        if let Some(existing) = current.values.get(version) {
            let same = match value {
                NewValue::Text(s) => !existing.binary && self.open(&current, version, existing).await? == s.as_bytes(),
                NewValue::Binary(b) => existing.binary && self.open(&current, version, existing).await? == *b,
            };
            if same {
                return Ok(current);
            }
            return Err(AwsError::code(
                "ResourceExistsException",
                format!(
                    "You can't modify an existing version, you can only create a new version. VersionId: {version}"
                ),
            ));
        }
        let sealed = self.seal(&current, version, value, key)?;
        self.modify(&current.name, |r| {
            live(r)?;
            r.values.insert(version.to_string(), sealed.clone());
            for orphan in rules::move_stages(&mut r.stages, version, stages) {
                r.stages.remove(&orphan);
                r.values.remove(&orphan);
            }
            r.last_changed = now();
            update(r);
            Ok(())
        })
        .await
    }

    fn entry(&self, r: &SecretRecord, full: bool) -> Value {
        let mut m = json!({
            "ARN": r.arn,
            "Name": r.name,
            "LastChangedDate": r.last_changed,
            "CreatedDate": r.created,
            "RotationEnabled": false,
        });
        if let Some(d) = &r.description {
            m["Description"] = json!(d);
        }
        if let Some(k) = &r.kms_key_id {
            m["KmsKeyId"] = json!(k);
        }
        if !r.tags.is_empty() {
            m["Tags"] = json!(r.tags);
        }
        if let Some(d) = r.deleted_date {
            m["DeletedDate"] = json!(d);
        }
        let key = if full {
            "VersionIdsToStages"
        } else {
            "SecretVersionsToStages"
        };
        m[key] = json!(r.stages);
        m
    }

    async fn create_secret(&self, mut i: ops::CreateInput) -> Result<Value, AwsError> {
        rules::validate_secret_name(&i.name).map_err(AwsError::invalid_parameter)?;
        authz::check_tags(&i.tags).map_err(|v| AwsError::invalid_parameter(v.to_string()))?;
        let value = new_value(i.secret_string, i.secret_binary)?;
        let version = client_token(i.client_request_token)?;
        // The key the load step resolved (and authorized): a KmsKeyId that
        // does not resolve is refused here.
        let key = i.found.take_key();
        if let (Some(_), Err(e)) = (&i.kms_key_id, &key) {
            return Err(e.clone());
        }
        let kms_key_id = i.kms_key_id.clone();
        let t = now();
        let mut rec = SecretRecord {
            // The ARN the authorization checked.
            arn: self.secret_arn(&i.name, &i.suffix),
            name: i.name.clone(),
            description: i.description,
            kms_key_id,
            tags: i.tags,
            created: t,
            last_changed: t,
            deleted_date: None,
            deletion_date: None,
            stages: BTreeMap::new(),
            values: BTreeMap::new(),
        };
        if let Some((existing, _)) = typed::get::<SecretRecord>(&*self.store, &secret_key(&i.name))
            .await
            .map_err(AwsError::state_store)?
        {
            if existing.deleted_date.is_some() {
                return Err(AwsError::invalid_request(
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ));
            }
            return Err(AwsError::code(
                "ResourceExistsException",
                format!("The operation failed because the secret {} already exists.", i.name),
            ));
        }
        if let Some(v) = &value {
            let sealed = self.seal(&rec, &version, v, &key)?;
            rec.values.insert(version.clone(), sealed);
            rec.stages.insert(version.clone(), vec![AWSCURRENT.to_string()]);
        }
        if !self
            .store
            .create(
                &secret_key(&i.name),
                typed::encode(&rec).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?
        {
            return Err(AwsError::code(
                "ResourceExistsException",
                format!("The operation failed because the secret {} already exists.", i.name),
            ));
        }
        let mut out = json!({ "ARN": rec.arn, "Name": rec.name });
        if value.is_some() {
            out["VersionId"] = json!(version);
        }
        Ok(out)
    }

    async fn get_secret_value(&self, mut i: ops::GetValueInput) -> Result<Value, AwsError> {
        let rec = i.found.secret()?;
        if rec.deleted_date.is_some() {
            return Err(AwsError::invalid_request(
                "You can't perform this operation on the secret because it was marked for deletion.",
            ));
        }
        let version = select_version(&rec, i.version_id.as_deref(), i.version_stage.as_deref())?;
        let vv = rec.values.get(&version).ok_or_else(|| {
            AwsError::resource_not_found(format!(
                "Secrets Manager can't find the specified secret value for VersionId: {version}"
            ))
        })?;
        let bytes = self.open(&rec, &version, vv).await?;
        let mut out = json!({
            "ARN": rec.arn,
            "Name": rec.name,
            "VersionId": version,
            "VersionStages": rec.stages.get(&version).cloned().unwrap_or_default(),
            "CreatedDate": vv.created,
        });
        if vv.binary {
            out["SecretBinary"] = json!(B64.encode(bytes));
        } else {
            out["SecretString"] =
                json!(String::from_utf8(bytes).map_err(|_| AwsError::internal("secret string is not UTF-8"))?);
        }
        Ok(out)
    }

    async fn put_secret_value(&self, mut i: ops::PutValueInput) -> Result<Value, AwsError> {
        let value = new_value(i.secret_string, i.secret_binary)?
            .ok_or_else(|| AwsError::invalid_parameter("You must provide either SecretString or SecretBinary."))?;
        let version = client_token(i.client_request_token)?;
        let stages = i.version_stages.unwrap_or_else(|| vec![AWSCURRENT.to_string()]);
        if stages.is_empty() || stages.len() > 20 {
            return Err(AwsError::invalid_parameter(
                "VersionStages must have between 1 and 20 labels.",
            ));
        }
        let current = i.found.secret()?;
        let key = i.found.take_key();
        let rec = self
            .add_version(current, &version, &value, &stages, &key, |_| {})
            .await?;
        Ok(json!({
            "ARN": rec.arn,
            "Name": rec.name,
            "VersionId": version,
            "VersionStages": rec.stages.get(&version).cloned().unwrap_or_default(),
        }))
    }

    async fn update_secret(&self, mut i: ops::UpdateInput) -> Result<Value, AwsError> {
        let value = new_value(i.secret_string, i.secret_binary)?;
        // The key the load step resolved: the KmsKeyId given, else the secret's.
        let key = i.found.take_key();
        if let (Some(_), Err(e)) = (&i.kms_key_id, &key) {
            return Err(e.clone());
        }
        let (description, kms_key_id) = (i.description.clone(), i.kms_key_id.clone());
        let apply = move |r: &mut SecretRecord| {
            if let Some(d) = &description {
                r.description = Some(d.clone());
            }
            if let Some(k) = &kms_key_id {
                r.kms_key_id = Some(k.clone());
            }
        };
        match value {
            Some(v) => {
                let version = client_token(i.client_request_token)?;
                // The new key (if any) must seal the new version: apply first.
                let mut rec = i.found.secret()?;
                if rec.deleted_date.is_some() {
                    return Err(marked_for_deletion());
                }
                if i.kms_key_id.is_some() {
                    rec = self.update_meta(&rec.name, &apply).await?;
                }
                let rec = self
                    .add_version(rec, &version, &v, &[AWSCURRENT.to_string()], &key, &apply)
                    .await?;
                Ok(json!({ "ARN": rec.arn, "Name": rec.name, "VersionId": version }))
            }
            None => {
                let rec = i.found.secret()?;
                if rec.deleted_date.is_some() {
                    return Err(marked_for_deletion());
                }
                let rec = self.update_meta(&rec.name, &apply).await?;
                Ok(json!({ "ARN": rec.arn, "Name": rec.name }))
            }
        }
    }

    async fn update_meta(
        &self,
        name: &str,
        f: &(dyn Fn(&mut SecretRecord) + Send + Sync),
    ) -> Result<SecretRecord, AwsError> {
        self.modify(name, |r| {
            f(r);
            r.last_changed = now();
            Ok(())
        })
        .await
    }

    /// Read-modify-write of an existing secret (NotFound when it is gone).
    async fn modify(
        &self,
        name: &str,
        mut f: impl FnMut(&mut SecretRecord) -> Result<(), AwsError>,
    ) -> Result<SecretRecord, AwsError> {
        typed::update_with::<SecretRecord, AwsError, _>(AwsError::state_store, &*self.store, &secret_key(name), |cur| {
            let mut r = cur.ok_or_else(not_found)?;
            f(&mut r)?;
            Ok(Some(r))
        })
        .await?
        .ok_or_else(not_found)
    }

    async fn describe_secret(&self, mut i: ops::SecretIdInput) -> Result<Value, AwsError> {
        let rec = i.found.secret()?;
        Ok(self.entry(&rec, true))
    }

    async fn list_secrets(&self, i: ops::ListInput) -> Result<Value, AwsError> {
        if i.sort_order.as_deref().is_some_and(|o| o != "asc") || i.sort_by.as_deref().is_some_and(|o| o != "name") {
            return Err(AwsError::invalid_parameter(
                "Berth lists secrets by name in ascending order only (SortBy name, SortOrder asc).",
            ));
        }
        let include_deleted = i.include_planned_deletion.unwrap_or(false);
        let mut filters: Vec<(String, Vec<String>)> = vec![];
        for f in &i.filters {
            let key = f["Key"].as_str().unwrap_or("").to_string();
            if !matches!(key.as_str(), "name" | "description" | "tag-key" | "tag-value" | "all") {
                return Err(AwsError::invalid_parameter(format!("Invalid filter key: {key}")));
            }
            let values = f["Values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default();
            filters.push((key, values));
        }
        let t = now();
        let all: Vec<SecretRecord> = typed::list(&*self.store, SECRETS)
            .await
            .map_err(AwsError::state_store)?;
        let matching: Vec<SecretRecord> = all
            .into_iter()
            .filter(|r| r.deletion_date.is_none_or(|d| d > t))
            .filter(|r| include_deleted || r.deleted_date.is_none())
            .filter(|r| {
                filters
                    .iter()
                    .all(|(k, vals)| vals.iter().any(|v| secret_matches(r, k, v)))
            })
            .collect();
        let (page, next) = paginate(
            matching,
            |r| r.name.clone(),
            i.next_token.as_deref(),
            i.max_results,
            100,
            100,
        )?;
        let mut body = json!({ "SecretList": page.iter().map(|r| self.entry(r, false)).collect::<Vec<_>>() });
        if let Some(n) = next {
            body["NextToken"] = json!(n);
        }
        Ok(body)
    }

    async fn delete_secret(&self, mut i: ops::DeleteInput) -> Result<Value, AwsError> {
        let force = i.force_delete_without_recovery.unwrap_or(false);
        if force && i.recovery_window_in_days.is_some() {
            return Err(AwsError::invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        let window = rules::pending_window(i.recovery_window_in_days).map_err(|_| {
            AwsError::invalid_parameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
        })?;
        let rec = i.found.secret()?;
        let t = now();
        if force {
            self.store
                .delete(&secret_key(&rec.name))
                .await
                .map_err(AwsError::state_store)?;
            return Ok(json!({ "ARN": rec.arn, "Name": rec.name, "DeletionDate": t }));
        }
        let rec = self
            .modify(&rec.name, |r| {
                live(r)?;
                r.deleted_date = Some(t);
                r.deletion_date = Some(t + (window * 86400) as f64);
                Ok(())
            })
            .await?;
        Ok(json!({ "ARN": rec.arn, "Name": rec.name, "DeletionDate": rec.deletion_date }))
    }

    async fn restore_secret(&self, mut i: ops::SecretIdInput) -> Result<Value, AwsError> {
        let rec = i.found.secret()?;
        let rec = self
            .modify(&rec.name, |r| {
                r.deleted_date = None;
                r.deletion_date = None;
                Ok(())
            })
            .await?;
        Ok(json!({ "ARN": rec.arn, "Name": rec.name }))
    }

    async fn tag_resource(&self, mut i: ops::TagInput, tag: bool) -> Result<Value, AwsError> {
        for t in &i.tags {
            if t.get("Key").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(AwsError::invalid_parameter("Each tag needs a non-empty Key."));
            }
        }
        authz::check_tags(&i.tags).map_err(|v| AwsError::invalid_parameter(v.to_string()))?;
        let rec = i.found.secret()?;
        let (tags, keys) = (i.tags, i.tag_keys);
        typed::update_with::<SecretRecord, AwsError, _>(
            AwsError::state_store,
            &*self.store,
            &secret_key(&rec.name),
            |cur| {
                let mut r = cur.ok_or_else(not_found)?;
                if tag {
                    for t in &tags {
                        r.tags.retain(|x| x.get("Key") != t.get("Key"));
                        r.tags.push(t.clone());
                    }
                } else {
                    r.tags.retain(|x| {
                        !x.get("Key")
                            .and_then(Value::as_str)
                            .is_some_and(|k| keys.iter().any(|d| d == k))
                    });
                }
                Ok(Some(r))
            },
        )
        .await?;
        Ok(json!({}))
    }
}

/// The version GetSecretValue reads: `VersionId` (which must carry
/// `VersionStage` if both are given), else the version with `VersionStage`
/// (`AWSCURRENT` by default).
fn select_version(
    rec: &SecretRecord,
    version_id: Option<&str>,
    version_stage: Option<&str>,
) -> Result<String, AwsError> {
    match version_id {
        Some(v) => {
            let stages = rec.stages.get(v).ok_or_else(|| {
                AwsError::resource_not_found(format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {v}"
                ))
            })?;
            if let Some(s) = version_stage
                && !stages.iter().any(|x| x == s)
            {
                return Err(AwsError::invalid_request(format!(
                    "You provided a VersionStage that is not associated to the provided VersionId: {s}"
                )));
            }
            Ok(v.to_string())
        }
        None => {
            let s = version_stage.unwrap_or(AWSCURRENT);
            rec.stages
                .iter()
                .find(|(_, l)| l.iter().any(|x| x == s))
                .map(|(v, _)| v.clone())
                .ok_or_else(|| {
                    AwsError::resource_not_found(format!(
                        "Secrets Manager can't find the specified secret value for staging label: {s}"
                    ))
                })
        }
    }
}

fn secret_matches(r: &SecretRecord, key: &str, value: &str) -> bool {
    let (neg, v) = match value.strip_prefix('!') {
        Some(v) => (true, v),
        None => (false, value),
    };
    let tag_field = |f: &str| {
        r.tags
            .iter()
            .any(|t| t.get(f).and_then(Value::as_str).is_some_and(|x| x.starts_with(v)))
    };
    let hit = match key {
        "name" => r.name.starts_with(v),
        "description" => r.description.as_deref().is_some_and(|d| d.starts_with(v)),
        "tag-key" => tag_field("Key"),
        "tag-value" => tag_field("Value"),
        _ => {
            r.name.starts_with(v)
                || r.description.as_deref().is_some_and(|d| d.starts_with(v))
                || tag_field("Key")
                || tag_field("Value")
        }
    };
    hit != neg
}

#[async_trait]
impl JsonServiceInfo for SecretsManager {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }
    fn signing_name(&self) -> &'static str {
        "secretsmanager"
    }
    /// A secret's tags (one get per candidate name).
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        self.secret_tags(arn).await
    }
    /// A refused KMS permission as Secrets Manager words it.
    fn authz_denied(&self, ctx: &RequestContext, resource: &AuthzResource, denial: AwsError) -> AwsError {
        if crate::via_service::is_kms_use(resource) {
            crate::via_service::kms_denial("secretsmanager", &ctx.request_id, denial)
        } else {
            denial
        }
    }
}

impl crate::operation::OperationService for SecretsManager {
    type Scope = crate::operation::Scope;
    fn scope(&self, ctx: &RequestContext) -> Self::Scope {
        crate::operation::Scope::new(&self.region, &self.account, ctx)
    }
    fn table() -> &'static crate::operation::Table<Self> {
        &ops::OPERATIONS
    }
}
