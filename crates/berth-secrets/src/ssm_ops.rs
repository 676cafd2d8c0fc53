//! SSM operations as typed values ([`crate::operation`]): each input decoded
//! once; the parameters it names (selectors dropped; a path as its own ARN)
//! read once in the load step, for both the authorization (their ARNs,
//! tags and `ssm:` condition keys: `ssm:Overwrite` of PutParameter,
//! `ssm:Recursive` of GetParametersByPath) and the handler;
//! DescribeParameters on `*`. For every SecureString value it decrypts or
//! encrypts, the caller's KMS permission on the value's key through SSM
//! (see [`crate::via_service`]): `kms:Decrypt` for GetParameter,
//! GetParameters, GetParametersByPath and GetParameterHistory with
//! `WithDecryption`, `kms:Encrypt` (standard tier) or `kms:GenerateDataKey`
//! (advanced tier) for PutParameter of a SecureString, each with the
//! encryption context `PARAMETER_ARN` = the parameter's ARN.
//!
//! A read decrypts with the key inside the stored envelope (whatever alias
//! the value was written with); a write encrypts with the `KeyId` given, or
//! the AWS managed key `alias/aws/ssm` (created on first use, as AWS does).
//! Keys are looked up once per request.

use super::{DEFAULT_KEY_ALIAS, ParamRecord, Ssm, VersionRecord, history_page, param_key, parameter_arn};
use crate::kms::KeyRecord;
use crate::operation::{Entry, Operation, Scope, Table};
use crate::rules;
use crate::via_service::{self, KeyFacts, KmsAction};
use async_trait::async_trait;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The table row of `O`.
const fn entry<O: Operation<Ssm>>() -> Entry<Ssm> {
    berth_proto::operation::entry::<Ssm, O>()
}

/// Every SSM operation Berth routes.
pub(super) const OPERATIONS: Table<Ssm> = Table(&[
    entry::<PutParameter>(),
    entry::<GetParameter>(),
    entry::<GetParameters>(),
    entry::<GetParametersByPath>(),
    entry::<DeleteParameter>(),
    entry::<DeleteParameters>(),
    entry::<DescribeParameters>(),
    entry::<GetParameterHistory>(),
    entry::<LabelParameterVersion>(),
]);

/// What the load step found for a request: the record of each parameter
/// named (selector dropped; `Ok(None)`: no such parameter), the KMS
/// permissions its values need: (action, key, parameter name), and the key
/// a SecureString PutParameter encrypts with.
#[derive(Default)]
pub(super) struct Found {
    records: BTreeMap<String, Result<Option<ParamRecord>, AwsError>>,
    kms: Vec<(KmsAction, KeyFacts, String)>,
    key: Option<Result<KeyRecord, AwsError>>,
}

impl Found {
    /// The record of parameter `name`, as the load step read it.
    pub(super) fn record(&self, name: &str) -> Result<Option<ParamRecord>, AwsError> {
        self.records.get(name).cloned().unwrap_or(Ok(None))
    }

    /// The key a SecureString is encrypted with, as the load step resolved
    /// it (the `KeyId` given, else the AWS managed key).
    pub(super) fn take_key(&mut self) -> Result<KeyRecord, AwsError> {
        self.key
            .take()
            .unwrap_or_else(|| Err(AwsError::internal("the key was not looked up")))
    }
}

/// A parameter name of a request split from its selector (`None`: the
/// name does not parse; the handler reports it).
fn split(raw: &str) -> (String, Option<rules::Selector>) {
    match rules::parse_selector(raw) {
        Ok((name, sel)) => (name, Some(sel)),
        Err(_) => (raw.to_string(), None),
    }
}

/// Key lookups of one request (a key id → its facts; `None`: no such key).
#[derive(Default)]
struct Keys(HashMap<String, Option<KeyFacts>>);

impl Keys {
    async fn get(&mut self, ssm: &Ssm, key_ref: &str) -> Option<KeyFacts> {
        if let Some(k) = self.0.get(key_ref) {
            return k.clone();
        }
        let k = ssm.kms.key_facts(key_ref).await;
        self.0.insert(key_ref.to_string(), k.clone());
        k
    }
}

impl Ssm {
    /// Reads the records of `names` (once each) into `found`.
    async fn read(&self, names: &[String], found: &mut Found) {
        for name in names {
            if !found.records.contains_key(name) {
                let rec = typed::get::<ParamRecord>(&*self.store, &param_key(name))
                    .await
                    .map(|r| r.map(|(p, _)| p))
                    .map_err(AwsError::state_store);
                found.records.insert(name.clone(), rec);
            }
        }
    }

    /// `kms:Decrypt` for each SecureString version of `versions` of `name`.
    async fn decrypts(&self, keys: &mut Keys, name: &str, versions: &[&VersionRecord], found: &mut Found) {
        for v in versions {
            let Some(key_id) = v.envelope.as_deref().and_then(via_service::envelope_key_id) else {
                continue;
            };
            if let Some(key) = keys.get(self, &key_id).await {
                found.kms.push((KmsAction::Decrypt, key, name.to_string()));
            }
        }
    }
}

/// The parameters `names` (their tags come with them) with
/// `condition_keys` (`*` when there are none), then the KMS permissions
/// `found` lists, with SSM's encryption context.
fn parameter_resources(
    scope: &Scope,
    names: &[String],
    condition_keys: &[(String, String)],
    found: &Found,
) -> Vec<AuthzResource> {
    let arn = |name: &str| parameter_arn(&scope.region, &scope.account, name);
    let mut out: Vec<AuthzResource> = names
        .iter()
        .map(|name| AuthzResource {
            condition_keys: condition_keys.to_vec(),
            ..AuthzResource::untagged(arn(name))
        })
        .collect();
    if out.is_empty() {
        out.push(AuthzResource {
            condition_keys: condition_keys.to_vec(),
            ..AuthzResource::untagged("*")
        });
    }
    let via = scope.via("ssm");
    for (action, key, name) in &found.kms {
        let context = std::collections::BTreeMap::from([("PARAMETER_ARN".to_string(), arn(name))]);
        out.push(via_service::kms_use(&via, *action, key, &context));
    }
    out
}

/// The KMS permission a PutParameter needs, if it writes a SecureString:
/// (action, KeyId or `None` for the AWS managed key).
fn put_needs(i: &PutParameterInput, existing: Option<&ParamRecord>) -> Option<(KmsAction, Option<String>)> {
    let ty = match &i.r#type {
        Some(t) => t.clone(),
        None => existing?.current().r#type.clone(),
    };
    if ty != "SecureString" {
        return None;
    }
    let action = match i.tier.as_deref() {
        Some("Advanced") => KmsAction::GenerateDataKey,
        _ => KmsAction::Encrypt,
    };
    Some((action, i.key_id.clone()))
}

/// The version a GetParameter(s) selector reads.
fn selected<'p>(p: &'p ParamRecord, selector: Option<&rules::Selector>) -> Vec<&'p VersionRecord> {
    selector.and_then(|s| p.select(s)).into_iter().collect()
}

/// The versions a GetParameterHistory page shows.
fn history_versions<'p>(p: &'p ParamRecord, i: &HistoryInput) -> Vec<&'p VersionRecord> {
    let Ok((page, _)) = history_page(p, i) else {
        return vec![];
    };
    let wanted: Vec<i64> = page.iter().map(|v| v.version).collect();
    p.versions.iter().filter(|v| wanted.contains(&v.version)).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PutParameterInput {
    pub name: String,
    pub value: String,
    pub r#type: Option<String>,
    pub overwrite: Option<bool>,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: Option<String>,
    pub data_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<Value>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetParameterInput {
    pub name: String,
    pub with_decryption: Option<bool>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetParametersInput {
    pub names: Vec<String>,
    pub with_decryption: Option<bool>,
    #[serde(skip)]
    pub found: Found,
}

/// The page GetParametersByPath answers (`Err`: its own error).
pub(super) type Page = Result<(Vec<ParamRecord>, Option<String>), AwsError>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ByPathInput {
    pub path: String,
    pub recursive: Option<bool>,
    pub with_decryption: Option<bool>,
    #[serde(default)]
    pub parameter_filters: Vec<Value>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    /// The page, read once for the authorization and the handler.
    #[serde(skip)]
    pub page: Option<Page>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NameInput {
    pub name: String,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NamesInput {
    pub names: Vec<String>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeInput {
    #[serde(default)]
    pub filters: Vec<Value>,
    #[serde(default)]
    pub parameter_filters: Vec<Value>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HistoryInput {
    pub name: String,
    pub with_decryption: Option<bool>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    #[serde(skip)]
    pub found: Found,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct LabelInput {
    pub name: String,
    pub parameter_version: Option<i64>,
    pub labels: Vec<String>,
    #[serde(skip)]
    pub found: Found,
}

fn flag(name: &str, value: Option<bool>) -> Vec<(String, String)> {
    vec![(name.to_string(), value.unwrap_or(false).to_string())]
}

pub(super) struct PutParameter;
#[async_trait]
impl Operation<Ssm> for PutParameter {
    const NAME: &'static str = "PutParameter";
    type Input = PutParameterInput;
    async fn load(ssm: &Ssm, i: &mut PutParameterInput) {
        ssm.read(std::slice::from_ref(&i.name), &mut i.found).await;
        let existing = i.found.record(&i.name).ok().flatten();
        if let Some((action, key_id)) = put_needs(i, existing.as_ref()) {
            // Resolved once: authorized here, encrypted with by the handler.
            let key = ssm.kms.sealing_key(key_id.as_deref(), DEFAULT_KEY_ALIAS).await;
            // An unknown KeyId: PutParameter answers InvalidKeyId itself.
            if let Ok(key) = &key {
                i.found.kms.push((action, key.facts(), i.name.clone()));
            }
            i.found.key = Some(key);
        }
    }
    fn resources(scope: &Scope, i: &PutParameterInput) -> Vec<AuthzResource> {
        let keys = flag("ssm:Overwrite", i.overwrite);
        parameter_resources(scope, std::slice::from_ref(&i.name), &keys, &i.found)
    }
    async fn run(ssm: &Ssm, ctx: &RequestContext, i: PutParameterInput) -> Result<Value, AwsError> {
        ssm.put_parameter(ctx, i).await
    }
}

pub(super) struct GetParameter;
#[async_trait]
impl Operation<Ssm> for GetParameter {
    const NAME: &'static str = "GetParameter";
    type Input = GetParameterInput;
    async fn load(ssm: &Ssm, i: &mut GetParameterInput) {
        load_selected(ssm, std::slice::from_ref(&i.name), i.with_decryption, &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &GetParameterInput) -> Vec<AuthzResource> {
        parameter_resources(scope, &[split(&i.name).0], &[], &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: GetParameterInput) -> Result<Value, AwsError> {
        ssm.get_parameter(i).await
    }
}

/// Reads the parameters `raw` names and, with decryption, the keys of the
/// versions their selectors pick.
async fn load_selected(ssm: &Ssm, raw: &[String], with_decryption: Option<bool>, found: &mut Found) {
    let split: Vec<_> = raw.iter().map(|r| split(r)).collect();
    let names: Vec<String> = split.iter().map(|(n, _)| n.clone()).collect();
    ssm.read(&names, found).await;
    if with_decryption.unwrap_or(false) {
        let mut keys = Keys::default();
        for (name, sel) in &split {
            if let Ok(Some(p)) = found.record(name) {
                ssm.decrypts(&mut keys, name, &selected(&p, sel.as_ref()), found).await;
            }
        }
    }
}

pub(super) struct GetParameters;
#[async_trait]
impl Operation<Ssm> for GetParameters {
    const NAME: &'static str = "GetParameters";
    type Input = GetParametersInput;
    async fn load(ssm: &Ssm, i: &mut GetParametersInput) {
        load_selected(ssm, &i.names, i.with_decryption, &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &GetParametersInput) -> Vec<AuthzResource> {
        let names: Vec<String> = i.names.iter().map(|n| split(n).0).collect();
        parameter_resources(scope, &names, &[], &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: GetParametersInput) -> Result<Value, AwsError> {
        ssm.get_parameters(i).await
    }
}

pub(super) struct GetParametersByPath;
#[async_trait]
impl Operation<Ssm> for GetParametersByPath {
    const NAME: &'static str = "GetParametersByPath";
    type Input = ByPathInput;
    async fn load(ssm: &Ssm, i: &mut ByPathInput) {
        let page = ssm.by_path_page(i).await;
        if i.with_decryption.unwrap_or(false)
            && let Ok((params, _)) = &page
        {
            let mut keys = Keys::default();
            for p in params {
                ssm.decrypts(&mut keys, &p.name, &[p.current()], &mut i.found).await;
            }
        }
        i.page = Some(page);
    }
    /// The path's own ARN, and the keys of the page's values.
    fn resources(scope: &Scope, i: &ByPathInput) -> Vec<AuthzResource> {
        let keys = flag("ssm:Recursive", i.recursive);
        parameter_resources(scope, std::slice::from_ref(&i.path), &keys, &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: ByPathInput) -> Result<Value, AwsError> {
        ssm.get_parameters_by_path(i).await
    }
}

pub(super) struct DeleteParameter;
#[async_trait]
impl Operation<Ssm> for DeleteParameter {
    const NAME: &'static str = "DeleteParameter";
    type Input = NameInput;
    async fn load(ssm: &Ssm, i: &mut NameInput) {
        ssm.read(&[split(&i.name).0], &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &NameInput) -> Vec<AuthzResource> {
        parameter_resources(scope, &[split(&i.name).0], &[], &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: NameInput) -> Result<Value, AwsError> {
        ssm.delete_parameter(i).await
    }
}

pub(super) struct DeleteParameters;
#[async_trait]
impl Operation<Ssm> for DeleteParameters {
    const NAME: &'static str = "DeleteParameters";
    type Input = NamesInput;
    async fn load(ssm: &Ssm, i: &mut NamesInput) {
        let names: Vec<String> = i.names.iter().map(|n| split(n).0).collect();
        ssm.read(&names, &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &NamesInput) -> Vec<AuthzResource> {
        let names: Vec<String> = i.names.iter().map(|n| split(n).0).collect();
        parameter_resources(scope, &names, &[], &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: NamesInput) -> Result<Value, AwsError> {
        ssm.delete_parameters(i).await
    }
}

pub(super) struct DescribeParameters;
#[async_trait]
impl Operation<Ssm> for DescribeParameters {
    const NAME: &'static str = "DescribeParameters";
    type Input = DescribeInput;
    /// Not resource-scoped in AWS.
    fn resources(scope: &Scope, _: &DescribeInput) -> Vec<AuthzResource> {
        parameter_resources(scope, &[], &[], &Found::default())
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: DescribeInput) -> Result<Value, AwsError> {
        ssm.describe_parameters(i).await
    }
}

pub(super) struct GetParameterHistory;
#[async_trait]
impl Operation<Ssm> for GetParameterHistory {
    const NAME: &'static str = "GetParameterHistory";
    type Input = HistoryInput;
    async fn load(ssm: &Ssm, i: &mut HistoryInput) {
        let name = split(&i.name).0;
        ssm.read(std::slice::from_ref(&name), &mut i.found).await;
        if i.with_decryption.unwrap_or(false)
            && let Ok(Some(p)) = i.found.record(&name)
        {
            let mut keys = Keys::default();
            let versions = history_versions(&p, i);
            ssm.decrypts(&mut keys, &name, &versions, &mut i.found).await;
        }
    }
    fn resources(scope: &Scope, i: &HistoryInput) -> Vec<AuthzResource> {
        parameter_resources(scope, &[split(&i.name).0], &[], &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: HistoryInput) -> Result<Value, AwsError> {
        ssm.get_parameter_history(i).await
    }
}

pub(super) struct LabelParameterVersion;
#[async_trait]
impl Operation<Ssm> for LabelParameterVersion {
    const NAME: &'static str = "LabelParameterVersion";
    type Input = LabelInput;
    async fn load(ssm: &Ssm, i: &mut LabelInput) {
        ssm.read(&[split(&i.name).0], &mut i.found).await;
    }
    fn resources(scope: &Scope, i: &LabelInput) -> Vec<AuthzResource> {
        parameter_resources(scope, &[split(&i.name).0], &[], &i.found)
    }
    async fn run(ssm: &Ssm, _: &RequestContext, i: LabelInput) -> Result<Value, AwsError> {
        ssm.label_parameter_version(i).await
    }
}

#[cfg(test)]
#[path = "ssm_ops_tests.rs"]
mod tests;
