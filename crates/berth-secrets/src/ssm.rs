//! SSM Parameter Store (`AmazonSSM`): String, StringList and SecureString
//! parameters with versions and labels. SecureString values are stored only
//! as KMS envelopes (encryption context `PARAMETER_ARN`).

use crate::Kms;
use crate::kms::now;
use crate::rules::{self, Selector};
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

#[path = "ssm_ops.rs"]
mod ops;

pub const TARGET_PREFIX: &str = "AmazonSSM";
const PARAMS: &str = "ssm/params/";
/// The AWS managed key of Parameter Store.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/ssm";
const MAX_VERSIONS: usize = 100;
const MAX_LABELS_PER_VERSION: usize = 10;

/// A parameter's ARN.
fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!("arn:aws:ssm:{region}:{account}:parameter{sep}{name}")
}

fn param_key(name: &str) -> String {
    format!("{PARAMS}{name}")
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct VersionRecord {
    version: i64,
    r#type: String,
    /// The value in clear (String, StringList only).
    value: Option<String>,
    /// The KMS envelope, base64 (SecureString only).
    envelope: Option<String>,
    key_id: Option<String>,
    description: Option<String>,
    allowed_pattern: Option<String>,
    tier: String,
    data_type: String,
    labels: Vec<String>,
    last_modified_date: f64,
    last_modified_user: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ParamRecord {
    name: String,
    #[serde(default)]
    tags: Vec<Value>,
    /// Oldest first; the last is the current version.
    versions: Vec<VersionRecord>,
}

impl ParamRecord {
    fn current(&self) -> &VersionRecord {
        self.versions.last().expect("a parameter has at least one version")
    }
    fn select(&self, sel: &Selector) -> Option<&VersionRecord> {
        match sel {
            Selector::Latest => Some(self.current()),
            Selector::Version(v) => self.versions.iter().find(|x| x.version == *v),
            Selector::Label(l) => self.versions.iter().find(|x| x.labels.contains(l)),
        }
    }
}

#[derive(Clone)]
pub struct Ssm {
    store: Arc<dyn Store>,
    kms: Kms,
    region: String,
    account: String,
}

impl Ssm {
    pub fn new(store: Arc<dyn Store>, kms: Kms, region: &str, account: &str) -> Self {
        Self {
            store,
            kms,
            region: region.into(),
            account: account.into(),
        }
    }

    fn arn(&self, name: &str) -> String {
        parameter_arn(&self.region, &self.account, name)
    }

    /// The tags of the parameter an ARN names (one get per name it may
    /// stand for: `parameter/x` is `/x` or `x`).
    async fn parameter_tags(&self, arn: &str) -> Vec<(String, String)> {
        let Some((_, rest)) = arn.split_once(":parameter") else {
            return Vec::new();
        };
        let mut names = vec![rest.to_string()];
        if rest.matches('/').count() == 1 {
            names.push(rest.trim_start_matches('/').to_string());
        }
        for name in names {
            if let Ok(Some((p, _))) = typed::get::<ParamRecord>(&*self.store, &param_key(&name)).await {
                return crate::authz::tag_pairs(&p.tags);
            }
        }
        Vec::new()
    }

    fn context(&self, name: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("PARAMETER_ARN".to_string(), self.arn(name))])
    }

    async fn value_of(&self, name: &str, v: &VersionRecord, decrypt: bool) -> Result<String, AwsError> {
        match (&v.value, &v.envelope) {
            (Some(clear), _) => Ok(clear.clone()),
            (None, Some(env)) if !decrypt => Ok(env.clone()),
            (None, Some(env)) => {
                let bytes = B64
                    .decode(env)
                    .map_err(|_| AwsError::internal("corrupt parameter envelope"))?;
                let pt = self.kms.decrypt_internal(&bytes, &self.context(name)).await?;
                String::from_utf8(pt).map_err(|_| AwsError::internal("parameter value is not UTF-8"))
            }
            (None, None) => Err(AwsError::internal("parameter version has no value")),
        }
    }

    async fn render(
        &self,
        p: &ParamRecord,
        v: &VersionRecord,
        decrypt: bool,
        selector: Option<&str>,
    ) -> Result<Value, AwsError> {
        let mut out = json!({
            "Name": p.name,
            "Type": v.r#type,
            "Value": self.value_of(&p.name, v, decrypt).await?,
            "Version": v.version,
            "LastModifiedDate": v.last_modified_date,
            "ARN": self.arn(&p.name),
            "DataType": v.data_type,
        });
        if let Some(s) = selector {
            out["Selector"] = json!(s);
        }
        Ok(out)
    }

    fn metadata(&self, p: &ParamRecord) -> Value {
        let mut m = version_fields(&p.name, p.current());
        m["ARN"] = json!(self.arn(&p.name));
        m
    }

    async fn put_parameter(&self, ctx: &RequestContext, mut i: ops::PutParameterInput) -> Result<Value, AwsError> {
        rules::validate_parameter_name(&i.name).map_err(AwsError::validation)?;
        let overwrite = i.overwrite.unwrap_or(false);
        if overwrite && !i.tags.is_empty() {
            return Err(AwsError::validation(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            ));
        }
        crate::authz::check_tags(&i.tags).map_err(|v| AwsError::validation(v.to_string()))?;
        let tier = match i.tier.as_deref() {
            None | Some("Standard") | Some("Intelligent-Tiering") => "Standard",
            Some("Advanced") => "Advanced",
            Some(t) => return Err(AwsError::validation(format!("Invalid tier: {t}"))),
        };
        let limit = if tier == "Advanced" { 8192 } else { 4096 };
        if i.value.is_empty() || i.value.len() > limit {
            return Err(AwsError::validation(format!(
                "Parameter value must be between 1 and {limit} characters for the {tier} tier."
            )));
        }
        let data_type = i.data_type.clone().unwrap_or_else(|| "text".into());
        if data_type != "text" {
            return Err(AwsError::validation(format!(
                "The data type {data_type} is not supported by Berth; use text."
            )));
        }
        if let Some(t) = i.r#type.as_deref()
            && !matches!(t, "String" | "StringList" | "SecureString")
        {
            return Err(AwsError::code(
                "UnsupportedParameterType",
                format!("Parameter type {t} is not supported."),
            ));
        }
        if let Some(p) = &i.allowed_pattern
            && !allowed_pattern(p)?.is_match(&i.value)
        {
            return Err(AwsError::code(
                "ParameterPatternMismatchException",
                format!("Parameter value, cannot be validated against allowedPattern: {p}"),
            ));
        }
        let existing = i.found.record(&i.name)?;
        if existing.is_some() && !overwrite {
            return Err(AwsError::code(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this request value, set the overwrite option in the request to true.",
            ));
        }
        let ty = match (&i.r#type, &existing) {
            (Some(t), _) => t.clone(),
            (None, Some(p)) => p.current().r#type.clone(),
            (None, None) => {
                return Err(AwsError::validation(
                    "A parameter type is required when you create a parameter.",
                ));
            }
        };
        if i.key_id.is_some() && ty != "SecureString" {
            return Err(AwsError::validation(
                "KeyId is required for SecureString type parameter only.",
            ));
        }
        // Encrypt outside the CAS loop (a retry reuses the envelope).
        let (value, envelope, key_id) = if ty == "SecureString" {
            // The key the load step resolved (and authorized).
            let key = match (i.found.take_key(), &i.key_id) {
                (Err(_), Some(k)) => return Err(AwsError::code("InvalidKeyId", format!("Invalid KeyId: {k}"))),
                (key, _) => key?,
            };
            let env = self
                .kms
                .encrypt_under(&key, i.value.as_bytes(), &self.context(&i.name))?;
            (
                None,
                Some(B64.encode(env)),
                Some(i.key_id.clone().unwrap_or_else(|| DEFAULT_KEY_ALIAS.into())),
            )
        } else {
            (Some(i.value.clone()), None, None)
        };
        let user = ctx.principal.arn.clone();
        let t = now();
        let rec = typed::update_with::<ParamRecord, AwsError, _>(AwsError::state_store, &*self.store, &param_key(&i.name), |cur| {
            if cur.is_some() && !overwrite {
                return Err(AwsError::code(
                    "ParameterAlreadyExists",
                    "The parameter already exists. To overwrite this request value, set the overwrite option in the request to true.",
                ));
            }
            let mut p = cur.unwrap_or_else(|| ParamRecord {
                name: i.name.clone(),
                tags: i.tags.clone(),
                versions: vec![],
            });
            let prev = p.versions.last();
            let version = prev.map_or(1, |v| v.version + 1);
            let description = i.description.clone().or_else(|| prev.and_then(|v| v.description.clone()));
            let allowed_pattern = i.allowed_pattern.clone().or_else(|| prev.and_then(|v| v.allowed_pattern.clone()));
            p.versions.push(VersionRecord {
                version,
                r#type: ty.clone(),
                value: value.clone(),
                envelope: envelope.clone(),
                key_id: key_id.clone(),
                description,
                allowed_pattern,
                tier: tier.into(),
                data_type: data_type.clone(),
                labels: vec![],
                last_modified_date: t,
                last_modified_user: user.clone(),
            });
            if p.versions.len() > MAX_VERSIONS {
                if !p.versions[0].labels.is_empty() {
                    return Err(AwsError::code(
                        "ParameterMaxVersionLimitExceeded",
                        format!(
                            "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                            p.name, p.versions[0].version
                        ),
                    ));
                }
                p.versions.remove(0);
            }
            Ok(Some(p))
        })
        .await?
        .ok_or_else(|| AwsError::internal("parameter vanished"))?;
        Ok(json!({ "Version": rec.current().version, "Tier": tier }))
    }

    /// One `GetParameter(s)` name: `Ok(None)` when it does not exist.
    async fn get_one(&self, raw: &str, decrypt: bool, found: &ops::Found) -> Result<Option<Value>, AwsError> {
        let (name, sel) = rules::parse_selector(raw).map_err(AwsError::validation)?;
        let Some(p) = found.record(&name)? else {
            return Ok(None);
        };
        let selector = rules::selector_suffix(raw);
        match p.select(&sel) {
            Some(v) => Ok(Some(self.render(&p, v, decrypt, selector).await?)),
            None => Err(match sel {
                Selector::Version(n) => AwsError::code(
                    "ParameterVersionNotFound",
                    format!("Systems Manager could not find version {n} of {name}. Verify the version and try again."),
                ),
                Selector::Label(l) => AwsError::code(
                    "ParameterVersionNotFound",
                    format!("Systems Manager could not find label {l} of {name}. Verify the label and try again."),
                ),
                Selector::Latest => AwsError::internal("no current version"),
            }),
        }
    }

    async fn get_parameter(&self, i: ops::GetParameterInput) -> Result<Value, AwsError> {
        match self
            .get_one(&i.name, i.with_decryption.unwrap_or(false), &i.found)
            .await?
        {
            Some(p) => Ok(json!({ "Parameter": p })),
            None => Err(AwsError::code(
                "ParameterNotFound",
                format!("Parameter {} not found.", i.name),
            )),
        }
    }

    async fn get_parameters(&self, i: ops::GetParametersInput) -> Result<Value, AwsError> {
        if i.names.is_empty() || i.names.len() > 10 {
            return Err(AwsError::validation(
                "Names must contain between 1 and 10 parameter names.",
            ));
        }
        let mut params = vec![];
        let mut invalid = vec![];
        for n in &i.names {
            match self.get_one(n, i.with_decryption.unwrap_or(false), &i.found).await {
                Ok(Some(p)) => params.push(p),
                Ok(None) => invalid.push(json!(n)),
                Err(e) if e.code == "ParameterVersionNotFound" || e.code == "ValidationException" => {
                    invalid.push(json!(n))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(json!({ "Parameters": params, "InvalidParameters": invalid }))
    }

    /// The page of parameters GetParametersByPath answers (the handler and
    /// authorization read the same page).
    async fn by_path_page(&self, i: &ops::ByPathInput) -> Result<(Vec<ParamRecord>, Option<String>), AwsError> {
        if !i.path.starts_with('/') || (i.path.len() > 1 && i.path.ends_with("//")) {
            return Err(AwsError::validation(format!(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_. Path: {}",
                i.path
            )));
        }
        let recursive = i.recursive.unwrap_or(false);
        let filters = Filters::parse(&i.parameter_filters, false)?;
        let all: Vec<ParamRecord> = typed::list(&*self.store, PARAMS).await.map_err(AwsError::state_store)?;
        let matching: Vec<ParamRecord> = all
            .into_iter()
            .filter(|p| rules::under_path(&p.name, &i.path, recursive) && filters.matches(p))
            .collect();
        paginate(
            matching,
            |p| p.name.clone(),
            i.next_token.as_deref(),
            i.max_results,
            10,
            10,
        )
    }

    async fn get_parameters_by_path(&self, i: ops::ByPathInput) -> Result<Value, AwsError> {
        // The page the authorization read.
        let (page, next) = match i.page {
            Some(page) => page?,
            None => self.by_path_page(&i).await?,
        };
        let mut out = vec![];
        for p in &page {
            out.push(
                self.render(p, p.current(), i.with_decryption.unwrap_or(false), None)
                    .await?,
            );
        }
        let mut body = json!({ "Parameters": out });
        if let Some(n) = next {
            body["NextToken"] = json!(n);
        }
        Ok(body)
    }

    async fn delete_parameter(&self, i: ops::NameInput) -> Result<Value, AwsError> {
        if !self
            .store
            .delete(&param_key(&i.name))
            .await
            .map_err(AwsError::state_store)?
        {
            return Err(AwsError::code(
                "ParameterNotFound",
                format!("Parameter {} not found.", i.name),
            ));
        }
        Ok(json!({}))
    }

    async fn delete_parameters(&self, i: ops::NamesInput) -> Result<Value, AwsError> {
        if i.names.is_empty() || i.names.len() > 10 {
            return Err(AwsError::validation(
                "Names must contain between 1 and 10 parameter names.",
            ));
        }
        let (mut deleted, mut invalid) = (vec![], vec![]);
        for n in &i.names {
            if self.store.delete(&param_key(n)).await.map_err(AwsError::state_store)? {
                deleted.push(json!(n));
            } else {
                invalid.push(json!(n));
            }
        }
        Ok(json!({ "DeletedParameters": deleted, "InvalidParameters": invalid }))
    }

    async fn describe_parameters(&self, i: ops::DescribeInput) -> Result<Value, AwsError> {
        let mut filters = Filters::parse(&i.parameter_filters, true)?;
        for f in &i.filters {
            let key = f["Key"].as_str().unwrap_or("");
            let values: Vec<String> = f["Values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default();
            match key {
                "Name" => filters.0.push(Filter::Name("BeginsWith".into(), values)),
                "Type" => filters.0.push(Filter::Type(values)),
                "KeyId" => filters.0.push(Filter::KeyId(values)),
                other => {
                    return Err(AwsError::code(
                        "InvalidFilterKey",
                        format!("The filter key {other} is not valid."),
                    ));
                }
            }
        }
        let all: Vec<ParamRecord> = typed::list(&*self.store, PARAMS).await.map_err(AwsError::state_store)?;
        let matching: Vec<ParamRecord> = all.into_iter().filter(|p| filters.matches(p)).collect();
        let (page, next) = paginate(
            matching,
            |p| p.name.clone(),
            i.next_token.as_deref(),
            i.max_results,
            50,
            50,
        )?;
        let mut body = json!({ "Parameters": page.iter().map(|p| self.metadata(p)).collect::<Vec<_>>() });
        if let Some(n) = next {
            body["NextToken"] = json!(n);
        }
        Ok(body)
    }

    async fn get_parameter_history(&self, i: ops::HistoryInput) -> Result<Value, AwsError> {
        let Some(p) = i.found.record(&i.name)? else {
            return Err(AwsError::code(
                "ParameterNotFound",
                format!("Parameter {} not found.", i.name),
            ));
        };
        let (page, next) = history_page(&p, &i)?;
        let mut out = vec![];
        for v in &page {
            let mut h = version_fields(&p.name, v);
            h["Value"] = json!(self.value_of(&p.name, v, i.with_decryption.unwrap_or(false)).await?);
            h["Labels"] = json!(v.labels);
            out.push(h);
        }
        let mut body = json!({ "Parameters": out });
        if let Some(n) = next {
            body["NextToken"] = json!(n);
        }
        Ok(body)
    }

    async fn label_parameter_version(&self, i: ops::LabelInput) -> Result<Value, AwsError> {
        if i.labels.is_empty() || i.labels.len() > 10 {
            return Err(AwsError::validation("Labels must contain between 1 and 10 labels."));
        }
        let (valid, invalid): (Vec<String>, Vec<String>) =
            i.labels.iter().cloned().partition(|l| rules::validate_label(l).is_ok());
        let name = i.name.clone();
        let mut labelled = 0;
        typed::update_with::<ParamRecord, AwsError, _>(AwsError::state_store, &*self.store, &param_key(&i.name), |cur| {
            let mut p = cur.ok_or_else(|| AwsError::code("ParameterNotFound", format!("Parameter {name} not found.")))?;
            let target = i.parameter_version.unwrap_or(p.current().version);
            let idx = p.versions.iter().position(|v| v.version == target).ok_or_else(|| {
                AwsError::code(
                    "ParameterVersionNotFound",
                    format!("Systems Manager could not find version {target} of {name}. Verify the version and try again."),
                )
            })?;
            for v in p.versions.iter_mut() {
                v.labels.retain(|l| !valid.contains(l));
            }
            let v = &mut p.versions[idx];
            v.labels.extend(valid.iter().cloned());
            if v.labels.len() > MAX_LABELS_PER_VERSION {
                return Err(AwsError::code(
                    "ParameterVersionLabelLimitExceeded",
                    "A parameter version can have maximum 10 labels. Move one or more labels to another version and try again.",
                ));
            }
            labelled = target;
            Ok(Some(p))
        })
        .await?;
        Ok(json!({ "InvalidLabels": invalid, "ParameterVersion": labelled }))
    }
}

/// The page of versions GetParameterHistory answers.
fn history_page(p: &ParamRecord, i: &ops::HistoryInput) -> Result<(Vec<VersionRecord>, Option<String>), AwsError> {
    paginate(
        p.versions.clone(),
        |v| format!("{:020}", v.version),
        i.next_token.as_deref(),
        i.max_results,
        50,
        50,
    )
}

/// `AllowedPattern`: a regular expression the whole value must match.
fn allowed_pattern(pattern: &str) -> Result<regex::Regex, AwsError> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        AwsError::code(
            "InvalidAllowedPatternException",
            format!("The allowed pattern {pattern} is not a valid regular expression: {e}"),
        )
    })
}

enum Filter {
    /// (option, values)
    Name(String, Vec<String>),
    Type(Vec<String>),
    KeyId(Vec<String>),
    /// (recursive, paths)
    Path(bool, Vec<String>),
    Tier(Vec<String>),
}

struct Filters(Vec<Filter>);

impl Filters {
    fn parse(raw: &[Value], allow_path: bool) -> Result<Self, AwsError> {
        let mut out = vec![];
        for f in raw {
            let key = f["Key"].as_str().unwrap_or("");
            let option = f["Option"].as_str().unwrap_or("Equals").to_string();
            let values: Vec<String> = f["Values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let bad_option = || {
                AwsError::code(
                    "InvalidFilterOption",
                    format!("The filter option {option} is not valid for key {key}."),
                )
            };
            out.push(match key {
                "Name" if allow_path => {
                    if !matches!(option.as_str(), "Equals" | "BeginsWith" | "Contains") {
                        return Err(bad_option());
                    }
                    Filter::Name(option.clone(), values)
                }
                "Type" | "KeyId" | "Tier" => {
                    if option != "Equals" {
                        return Err(bad_option());
                    }
                    match key {
                        "Type" => Filter::Type(values),
                        "KeyId" => Filter::KeyId(values),
                        _ => Filter::Tier(values),
                    }
                }
                "Path" if allow_path => match option.as_str() {
                    "Recursive" => Filter::Path(true, values),
                    "OneLevel" | "Equals" => Filter::Path(false, values),
                    _ => return Err(bad_option()),
                },
                other => {
                    return Err(AwsError::code(
                        "InvalidFilterKey",
                        format!("The filter key {other} is not supported by Berth here."),
                    ));
                }
            });
        }
        Ok(Self(out))
    }

    fn matches(&self, p: &ParamRecord) -> bool {
        let v = p.current();
        self.0.iter().all(|f| match f {
            Filter::Name(opt, vals) => vals.iter().any(|x| {
                let (n, x) = (p.name.trim_start_matches('/'), x.trim_start_matches('/'));
                match opt.as_str() {
                    "BeginsWith" => n.starts_with(x),
                    "Contains" => n.contains(x),
                    _ => n == x,
                }
            }),
            Filter::Type(vals) => vals.contains(&v.r#type),
            Filter::KeyId(vals) => v.key_id.as_ref().is_some_and(|k| vals.contains(k)),
            Filter::Path(rec, vals) => vals.iter().any(|path| rules::under_path(&p.name, path, *rec)),
            Filter::Tier(vals) => vals.contains(&v.tier),
        })
    }
}

/// What DescribeParameters and GetParameterHistory both show of a version.
fn version_fields(name: &str, v: &VersionRecord) -> Value {
    let mut m = json!({
        "Name": name,
        "Type": v.r#type,
        "LastModifiedDate": v.last_modified_date,
        "LastModifiedUser": v.last_modified_user,
        "Version": v.version,
        "Tier": v.tier,
        "Policies": [],
        "DataType": v.data_type,
    });
    if let Some(k) = &v.key_id {
        m["KeyId"] = json!(k);
    }
    if let Some(d) = &v.description {
        m["Description"] = json!(d);
    }
    if let Some(a) = &v.allowed_pattern {
        m["AllowedPattern"] = json!(a);
    }
    m
}

#[async_trait]
impl JsonServiceInfo for Ssm {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }
    fn signing_name(&self) -> &'static str {
        "ssm"
    }
    /// A parameter's tags (one get).
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        self.parameter_tags(arn).await
    }
    /// A refused KMS permission as SSM words it.
    fn authz_denied(&self, ctx: &RequestContext, resource: &AuthzResource, denial: AwsError) -> AwsError {
        if crate::via_service::is_kms_use(resource) {
            crate::via_service::kms_denial("ssm", &ctx.request_id, denial)
        } else {
            denial
        }
    }
}

impl crate::operation::OperationService for Ssm {
    type Scope = crate::operation::Scope;
    fn scope(&self, ctx: &RequestContext) -> Self::Scope {
        crate::operation::Scope::new(&self.region, &self.account, ctx)
    }
    fn table() -> &'static crate::operation::Table<Self> {
        &ops::OPERATIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_pattern_subset() {
        let m = allowed_pattern("^[0-9]+$").unwrap();
        assert!(m.is_match("123"));
        assert!(!m.is_match("12a"));
        assert!(allowed_pattern("(").is_err());
    }
}
