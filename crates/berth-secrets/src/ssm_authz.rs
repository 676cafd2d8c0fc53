//! What an SSM operation is authorized on: the parameter ARNs it names
//! (with their tags and `ssm:` condition keys), and for every SecureString
//! value it decrypts or encrypts the caller's KMS permission on the value's
//! key through SSM (see [`crate::via_service`]): `kms:Decrypt` for
//! GetParameter, GetParameters, GetParametersByPath and GetParameterHistory
//! with `WithDecryption`, `kms:Encrypt` (standard tier) or
//! `kms:GenerateDataKey` (advanced tier) for PutParameter of a SecureString,
//! each with the encryption context `PARAMETER_ARN` = the parameter's ARN.
//!
//! A read decrypts with the key inside the stored envelope (whatever alias
//! the value was written with); a write encrypts with the `KeyId` given, or
//! the AWS managed key `alias/aws/ssm` (created on first use, as AWS does).
//! Keys are looked up once per request.

use super::{DEFAULT_KEY_ALIAS, ParamRecord, Ssm, VersionRecord, history_page, param_key};
use crate::authz::{self, ParameterScope};
use crate::rules;
use crate::via_service::{self, KeyFacts, KmsAction, Via};
use berth_proto::json::decode;
use berth_proto::{AuthzResource, RequestContext};
use berth_store::typed;
use serde_json::Value;
use std::collections::HashMap;

/// A parameter name of a request split from its selector.
struct Named {
    name: String,
    selector: Option<rules::Selector>,
}

/// The parameters an operation names (selectors split off; a path as
/// itself); none for DescribeParameters.
fn parameter_names(scope: ParameterScope, input: &Value) -> Vec<Named> {
    let raw: Vec<String> = match scope {
        ParameterScope::Any => vec![],
        ParameterScope::Path => input["Path"].as_str().map(String::from).into_iter().collect(),
        ParameterScope::Names => input["Names"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect())
            .unwrap_or_default(),
        ParameterScope::Name => input["Name"].as_str().map(String::from).into_iter().collect(),
    };
    raw.into_iter()
        .map(|n| match rules::parse_selector(&n) {
            Ok((name, sel)) => Named {
                name,
                selector: Some(sel),
            },
            Err(_) => Named {
                name: n,
                selector: None,
            },
        })
        .collect()
}

/// The KMS permission a PutParameter needs, if it writes a SecureString:
/// (action, KeyId or `None` for the AWS managed key).
fn put_needs(input: &Value, existing: Option<&ParamRecord>) -> Option<(KmsAction, Option<String>)> {
    let ty = match input["Type"].as_str() {
        Some(t) => t.to_string(),
        None => existing?.current().r#type.clone(),
    };
    if ty != "SecureString" {
        return None;
    }
    let action = match input["Tier"].as_str() {
        Some("Advanced") => KmsAction::GenerateDataKey,
        _ => KmsAction::Encrypt,
    };
    Some((action, input["KeyId"].as_str().map(String::from)))
}

/// The versions whose values a read decrypts.
fn decrypted_versions<'p>(
    operation: &str,
    input: &Value,
    p: &'p ParamRecord,
    selector: Option<&rules::Selector>,
) -> Vec<&'p VersionRecord> {
    match operation {
        "GetParameter" | "GetParameters" => selector.and_then(|s| p.select(s)).into_iter().collect(),
        "GetParameterHistory" => {
            let Ok(i) = decode::<super::HistoryInput>(input.clone()) else {
                return vec![];
            };
            let Ok((page, _)) = history_page(p, &i) else {
                return vec![];
            };
            let wanted: Vec<i64> = page.iter().map(|v| v.version).collect();
            p.versions.iter().filter(|v| wanted.contains(&v.version)).collect()
        }
        _ => vec![],
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
    fn via<'a>(&'a self, ctx: &'a RequestContext) -> Via<'a> {
        Via {
            service: "ssm",
            region: &self.region,
            account: &self.account,
            caller_account: &ctx.principal.account_id,
        }
    }

    /// `action` on `key` for the value of parameter `name`.
    fn kms_use(&self, ctx: &RequestContext, action: KmsAction, key: &KeyFacts, name: &str) -> AuthzResource {
        via_service::kms_use(&self.via(ctx), action, key, &self.context(name))
    }

    /// `kms:Decrypt` for each SecureString version of `versions`.
    async fn decrypts(
        &self,
        ctx: &RequestContext,
        keys: &mut Keys,
        name: &str,
        versions: &[&VersionRecord],
        out: &mut Vec<AuthzResource>,
    ) {
        for v in versions {
            let Some(key_id) = v.envelope.as_deref().and_then(via_service::envelope_key_id) else {
                continue;
            };
            if let Some(key) = keys.get(self, &key_id).await {
                out.push(self.kms_use(ctx, KmsAction::Decrypt, &key, name));
            }
        }
    }

    pub(super) async fn authz(&self, ctx: &RequestContext, operation: &str, input: &Value) -> Vec<AuthzResource> {
        let Some(scope) = authz::parameter_scope(operation) else {
            return vec![AuthzResource::untagged("*")];
        };
        let condition_keys = authz::parameter_condition_keys(operation, input);
        let decrypt = input["WithDecryption"].as_bool().unwrap_or(false);
        let mut keys = Keys::default();
        let mut out = Vec::new();
        let mut kms = Vec::new();
        for n in parameter_names(scope, input) {
            let rec = typed::get::<ParamRecord>(&*self.store, &param_key(&n.name))
                .await
                .ok()
                .flatten()
                .map(|(p, _)| p);
            out.push(AuthzResource {
                arn: self.arn(&n.name),
                tags: rec.as_ref().map(|p| authz::tag_pairs(&p.tags)).unwrap_or_default(),
                condition_keys: condition_keys.clone(),
                ..AuthzResource::default()
            });
            if operation == "PutParameter" {
                if let Some((action, key_id)) = put_needs(input, rec.as_ref()) {
                    let key = match key_id {
                        Some(k) => keys.get(self, &k).await,
                        None => self.kms.default_key_facts(DEFAULT_KEY_ALIAS).await.ok(),
                    };
                    // An unknown KeyId: PutParameter answers InvalidKeyId itself.
                    if let Some(key) = key {
                        kms.push(self.kms_use(ctx, action, &key, &n.name));
                    }
                }
            } else if decrypt && let Some(p) = &rec {
                let versions = decrypted_versions(operation, input, p, n.selector.as_ref());
                self.decrypts(ctx, &mut keys, &p.name, &versions, &mut kms).await;
            }
        }
        if scope == ParameterScope::Path
            && decrypt
            && let Ok(i) = decode::<super::ByPathInput>(input.clone())
            && let Ok((page, _)) = self.by_path_page(&i).await
        {
            for p in &page {
                self.decrypts(ctx, &mut keys, &p.name, &[p.current()], &mut kms).await;
            }
        }
        if out.is_empty() {
            // DescribeParameters: not resource-scoped in AWS.
            out.push(AuthzResource {
                condition_keys,
                ..AuthzResource::untagged("*")
            });
        }
        out.extend(kms);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(scope: ParameterScope, input: Value) -> Vec<String> {
        parameter_names(scope, &input).into_iter().map(|n| n.name).collect()
    }

    #[test]
    fn parameter_names_drop_selectors() {
        let input = json!({"Names": ["/app/db:3", "plain:label", "x"]});
        assert_eq!(names(ParameterScope::Names, input), vec!["/app/db", "plain", "x"]);
        assert_eq!(names(ParameterScope::Path, json!({"Path": "/app"})), vec!["/app"]);
        assert!(names(ParameterScope::Any, json!({})).is_empty());
        assert_eq!(names(ParameterScope::Name, json!({"Name": "/a/b"})), vec!["/a/b"]);
        assert_eq!(
            names(
                ParameterScope::Name,
                json!({"Name": "arn:aws:ssm:us-east-1:000000000000:parameter/a/b:2"})
            ),
            vec!["/a/b"]
        );
    }

    fn record(ty: &str) -> ParamRecord {
        ParamRecord {
            name: "/p".into(),
            tags: vec![],
            versions: vec![VersionRecord {
                version: 1,
                r#type: ty.into(),
                value: None,
                envelope: None,
                key_id: None,
                description: None,
                allowed_pattern: None,
                tier: "Standard".into(),
                data_type: "text".into(),
                labels: vec!["blue".into()],
                last_modified_date: 0.0,
                last_modified_user: String::new(),
            }],
        }
    }

    #[test]
    fn what_a_put_needs_of_kms() {
        assert_eq!(
            put_needs(&json!({"Type": "SecureString"}), None),
            Some((KmsAction::Encrypt, None))
        );
        assert_eq!(
            put_needs(
                &json!({"Type": "SecureString", "Tier": "Advanced", "KeyId": "alias/k"}),
                None
            ),
            Some((KmsAction::GenerateDataKey, Some("alias/k".into())))
        );
        assert_eq!(put_needs(&json!({"Type": "String"}), None), None);
        // Overwriting without a Type keeps the parameter's type.
        assert_eq!(
            put_needs(&json!({"Overwrite": true}), Some(&record("SecureString"))),
            Some((KmsAction::Encrypt, None))
        );
        assert_eq!(put_needs(&json!({"Overwrite": true}), Some(&record("String"))), None);
        assert_eq!(put_needs(&json!({}), None), None);
    }

    #[test]
    fn reads_decrypt_the_selected_versions() {
        let p = record("SecureString");
        let sel = rules::Selector::Label("blue".into());
        assert_eq!(decrypted_versions("GetParameter", &json!({}), &p, Some(&sel)).len(), 1);
        let missing = rules::Selector::Version(9);
        assert!(decrypted_versions("GetParameters", &json!({}), &p, Some(&missing)).is_empty());
        assert_eq!(
            decrypted_versions("GetParameterHistory", &json!({"Name": "/p"}), &p, None).len(),
            1
        );
        assert!(decrypted_versions("DeleteParameter", &json!({}), &p, Some(&sel)).is_empty());
    }
}
