//! ECR's account settings (GetAccountSetting, PutAccountSetting): the
//! names and values the model documents, each with what Berth does.
//!
//! - `BLOB_MOUNTING` (`ENABLED` | `DISABLED`): whether a push may mount a
//!   layer from another repository (`POST …/blobs/uploads/?mount=&from=`).
//!   Berth applies it; its default is `DISABLED`, as AWS's: a mount
//!   request then starts an upload session. Enabled, layers are mounted
//!   only between repositories of the same encryption, and never from a
//!   repository of the pull-through cache (as ECR documents).
//! - `BASIC_SCAN_TYPE_VERSION`: `AWS_NATIVE` (Berth's offline basic
//!   scanner); `CLAIR` (AWS's retired engine) is refused.
//! - `REGISTRY_POLICY_SCOPE`: `V1` — Berth enforces a registry policy on
//!   the registry-level actions only (crate::registry_policy); `V2`
//!   (the policy applying to every ECR action) is refused.

use super::invalid_parameter;
use crate::{Registry, keys};
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetAccountSettingInput {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutAccountSettingInput {
    name: String,
    value: String,
}

/// A setting name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    BasicScanTypeVersion,
    RegistryPolicyScope,
    BlobMounting,
}

impl Setting {
    fn parse(name: &str) -> Result<Self, AwsError> {
        match name {
            "BASIC_SCAN_TYPE_VERSION" => Ok(Self::BasicScanTypeVersion),
            "REGISTRY_POLICY_SCOPE" => Ok(Self::RegistryPolicyScope),
            "BLOB_MOUNTING" => Ok(Self::BlobMounting),
            other => Err(invalid_parameter(format!(
                "Invalid account setting name '{other}': expected BASIC_SCAN_TYPE_VERSION, \
                 REGISTRY_POLICY_SCOPE or BLOB_MOUNTING."
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::BasicScanTypeVersion => "BASIC_SCAN_TYPE_VERSION",
            Self::RegistryPolicyScope => "REGISTRY_POLICY_SCOPE",
            Self::BlobMounting => "BLOB_MOUNTING",
        }
    }

    /// The value an account has before any PutAccountSetting.
    fn default_value(self) -> &'static str {
        match self {
            Self::BasicScanTypeVersion => "AWS_NATIVE",
            Self::RegistryPolicyScope => "V1",
            Self::BlobMounting => "DISABLED",
        }
    }

    /// Checks `value` is one ECR defines for this setting and Berth
    /// honours (pure).
    fn check(self, value: &str) -> Result<(), AwsError> {
        let ok = match self {
            Self::BasicScanTypeVersion => match value {
                "AWS_NATIVE" => true,
                "CLAIR" => {
                    return Err(invalid_parameter(
                        "BASIC_SCAN_TYPE_VERSION 'CLAIR' is not supported: Berth's basic scanning is \
                         AWS_NATIVE only.",
                    ));
                }
                _ => false,
            },
            Self::RegistryPolicyScope => match value {
                "V1" => true,
                "V2" => {
                    return Err(invalid_parameter(
                        "REGISTRY_POLICY_SCOPE 'V2' is not supported: Berth applies a registry policy to \
                         the registry-level actions only (scope V1: ecr:ReplicateImage, ecr:CreateRepository, \
                         ecr:BatchImportUpstreamImage).",
                    ));
                }
                _ => false,
            },
            Self::BlobMounting => matches!(value, "ENABLED" | "DISABLED"),
        };
        if ok {
            Ok(())
        } else {
            let valid = match self {
                Self::BasicScanTypeVersion => "AWS_NATIVE",
                Self::RegistryPolicyScope => "V1",
                Self::BlobMounting => "ENABLED or DISABLED",
            };
            Err(invalid_parameter(format!(
                "Invalid value '{value}' for account setting {}: expected {valid}.",
                self.name()
            )))
        }
    }
}

impl Registry {
    /// The value of an account setting (its default when never put).
    async fn account_setting(&self, s: Setting) -> Result<String, AwsError> {
        let stored: Option<String> = typed::get(&*self.store, &keys::account_setting(s.name()))
            .await
            .map_err(AwsError::state_store)?
            .map(|(v, _)| v);
        Ok(stored.unwrap_or_else(|| s.default_value().to_string()))
    }

    /// Whether a push may mount a blob from another repository
    /// (`BLOB_MOUNTING`); a store failure answers the default.
    pub(crate) async fn blob_mounting_enabled(&self) -> bool {
        self.account_setting(Setting::BlobMounting)
            .await
            .is_ok_and(|v| v == "ENABLED")
    }

    pub(crate) async fn get_account_setting(
        &self,
        _ctx: &RequestContext,
        input: GetAccountSettingInput,
    ) -> Result<Value, AwsError> {
        let s = Setting::parse(&input.name)?;
        Ok(json!({ "name": s.name(), "value": self.account_setting(s).await? }))
    }

    pub(crate) async fn put_account_setting(
        &self,
        _ctx: &RequestContext,
        input: PutAccountSettingInput,
    ) -> Result<Value, AwsError> {
        let s = Setting::parse(&input.name)?;
        s.check(&input.value)?;
        self.store
            .put(
                &keys::account_setting(s.name()),
                typed::encode(&input.value).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        tracing::info!(setting = s.name(), value = %input.value, "account setting put");
        Ok(json!({ "name": s.name(), "value": input.value }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_have_defaults() {
        for s in [
            Setting::BasicScanTypeVersion,
            Setting::RegistryPolicyScope,
            Setting::BlobMounting,
        ] {
            assert_eq!(Setting::parse(s.name()).unwrap(), s);
            s.check(s.default_value()).unwrap();
        }
        assert_eq!(Setting::parse("SCAN").unwrap_err().code, "InvalidParameterException");
    }

    #[test]
    fn values_berth_cannot_honour_are_refused() {
        Setting::BlobMounting.check("DISABLED").unwrap();
        assert!(Setting::BlobMounting.check("disabled").is_err());
        let v2 = Setting::RegistryPolicyScope.check("V2").unwrap_err();
        assert!(v2.message.contains("not supported"), "{}", v2.message);
        assert!(Setting::BasicScanTypeVersion.check("CLAIR").is_err());
        assert!(
            Setting::BasicScanTypeVersion
                .check("X")
                .unwrap_err()
                .message
                .contains("AWS_NATIVE")
        );
    }
}
