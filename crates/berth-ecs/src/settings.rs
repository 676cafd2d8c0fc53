//! PutAccountSetting, PutAccountSettingDefault, ListAccountSettings,
//! DeleteAccountSetting.
//!
//! A setting applies to one principal (user or role); the root user's
//! setting is the account default (what PutAccountSettingDefault writes) and
//! applies to every principal without its own. When neither exists the AWS
//! default applies. Settings are stored under `keys::account_setting`, with
//! `default` as the principal part for the account level.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Arn;
use berth_core::arn::Scope;
use berth_proto::pagination::paginate_ordered;
use berth_proto::pagination::with_next_token;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every setting name with its AWS default, sorted by name.
pub(crate) const SETTINGS: [(&str, &str); 12] = [
    ("awsvpcTrunking", "disabled"),
    ("containerInsights", "disabled"),
    ("containerInstanceLongArnFormat", "enabled"),
    ("defaultLogDriverMode", "non-blocking"),
    ("dualStackIPv6", "disabled"),
    ("fargateEventWindows", "disabled"),
    ("fargateFIPSMode", "disabled"),
    ("fargateTaskRetirementWaitPeriod", "7"),
    ("guardDutyActivate", "off"),
    ("serviceLongArnFormat", "enabled"),
    ("tagResourceAuthorization", "on"),
    ("taskLongArnFormat", "enabled"),
];

/// The principal part of the store key for the account level.
const ACCOUNT_LEVEL: &str = "default";

fn allowed_values(name: &str) -> &'static [&'static str] {
    match name {
        "containerInsights" => &["enabled", "disabled", "enhanced"],
        "tagResourceAuthorization" => &["on", "off"],
        "fargateTaskRetirementWaitPeriod" => &["0", "7", "14"],
        "defaultLogDriverMode" => &["blocking", "non-blocking"],
        "guardDutyActivate" => &[],
        _ => &["enabled", "disabled"],
    }
}

fn aws_default(name: &str) -> Option<&'static str> {
    SETTINGS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// Checks that `name` is a setting ECS knows.
pub(crate) fn validate_setting_name(name: &str) -> Result<(), AwsError> {
    if aws_default(name).is_none() {
        let names: Vec<&str> = SETTINGS.iter().map(|(n, _)| *n).collect();
        return Err(AwsError::invalid_parameter(format!(
            "Invalid account setting name '{name}'. Valid names: {}.",
            names.join(", ")
        )));
    }
    Ok(())
}

/// Checks that a setting may be written with `value`.
pub(crate) fn validate_setting(name: &str, value: &str) -> Result<(), AwsError> {
    validate_setting_name(name)?;
    if name == "guardDutyActivate" {
        return Err(AwsError::invalid_parameter(
            "guardDutyActivate is read-only: Amazon GuardDuty controls this setting on your behalf.",
        ));
    }
    let allowed = allowed_values(name);
    if !allowed.contains(&value) {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid value '{value}' for account setting '{name}'. Valid values: {}.",
            allowed.join(", ")
        )));
    }
    Ok(())
}

/// A setting as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Setting {
    pub name: String,
    pub value: String,
    pub principal_arn: String,
    /// `user` when set by someone, `aws_managed` for AWS defaults.
    #[serde(rename = "type")]
    pub setting_type: String,
}

/// The principal a request reads or writes settings for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SettingPrincipal {
    pub arn: String,
    pub is_root: bool,
}

impl SettingPrincipal {
    fn key_part(&self) -> &str {
        if self.is_root { ACCOUNT_LEVEL } else { &self.arn }
    }
}

fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// The IAM identity whose settings a caller has: an assumed role acts as its
/// role, a federated user as the account root.
pub(crate) fn caller_principal(caller_arn: &str, account: &str) -> SettingPrincipal {
    let root = SettingPrincipal {
        arn: root_arn(account),
        is_root: true,
    };
    let Some(arn) = Arn::parse(caller_arn) else {
        return root;
    };
    let (kind, rest) = arn.resource_parts();
    match (arn.service.as_str(), kind) {
        ("iam", "root") => root,
        ("sts", "assumed-role") => SettingPrincipal {
            arn: format!(
                "arn:{}:iam::{}:role/{}",
                arn.partition,
                arn.account,
                rest.split('/').next().unwrap_or_default()
            ),
            is_root: false,
        },
        ("sts", "federated-user") => root,
        _ => SettingPrincipal {
            arn: caller_arn.to_string(),
            is_root: false,
        },
    }
}

/// Resolves the `principalArn` parameter (absent: the caller). Only the root
/// user may read or change another principal's settings.
pub(crate) fn target_principal(
    caller_arn: &str,
    caller_is_root: bool,
    account: &str,
    param: Option<&str>,
) -> Result<SettingPrincipal, AwsError> {
    let caller = caller_principal(caller_arn, account);
    let Some(raw) = param.filter(|p| !p.is_empty()) else {
        return Ok(caller);
    };
    let invalid = || {
        AwsError::invalid_parameter(format!(
            "Invalid principalArn '{raw}'. Specify the ARN of an IAM user, an IAM role or the root user of account {account}."
        ))
    };
    let arn = Arn::parse(raw).ok_or_else(invalid)?;
    if arn.service != "iam" || arn.account != account {
        return Err(invalid());
    }
    let target = match arn.resource_parts() {
        ("root", "") => SettingPrincipal {
            arn: root_arn(account),
            is_root: true,
        },
        ("user" | "role", rest) if !rest.is_empty() => SettingPrincipal {
            arn: raw.to_string(),
            is_root: false,
        },
        _ => return Err(invalid()),
    };
    if target != caller && !caller_is_root {
        return Err(AwsError::access_denied(format!(
            "Only the root user or the principal itself can access the account settings of {}.",
            target.arn
        )));
    }
    Ok(target)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutInput {
    name: String,
    value: String,
    principal_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutDefaultInput {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteInput {
    name: String,
    principal_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInput {
    name: Option<String>,
    value: Option<String>,
    principal_arn: Option<String>,
    #[serde(default)]
    effective_settings: bool,
    next_token: Option<String>,
    max_results: Option<i64>,
}

impl Ecs {
    async fn explicit_setting(&self, principal: &SettingPrincipal, name: &str) -> Result<Option<Setting>, AwsError> {
        let key = keys::account_setting(principal.key_part(), name);
        Ok(typed::get::<Setting>(&*self.store, &key)
            .await
            .map_err(AwsError::state_store)?
            .map(|(s, _)| s)
            .filter(|s| s.principal_arn == principal.arn))
    }

    /// The setting that applies to `principal`: its own, else the account
    /// default, else the AWS default.
    pub(crate) async fn effective_setting(
        &self,
        principal: &SettingPrincipal,
        name: &str,
    ) -> Result<Setting, AwsError> {
        if !principal.is_root
            && let Some(s) = self.explicit_setting(principal, name).await?
        {
            return Ok(s);
        }
        let account = SettingPrincipal {
            arn: root_arn(&self.scope.account),
            is_root: true,
        };
        if let Some(s) = self.explicit_setting(&account, name).await? {
            return Ok(s);
        }
        Ok(Setting {
            name: name.to_string(),
            value: aws_default(name).unwrap_or_default().to_string(),
            principal_arn: account.arn,
            setting_type: "aws_managed".into(),
        })
    }

    async fn put_setting(&self, principal: &SettingPrincipal, name: &str, value: &str) -> Result<Value, AwsError> {
        let setting = Setting {
            name: name.to_string(),
            value: value.to_string(),
            principal_arn: principal.arn.clone(),
            setting_type: "user".into(),
        };
        self.store
            .put(
                &keys::account_setting(principal.key_part(), name),
                typed::encode(&setting).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        tracing::info!(principal = %principal.arn, name, value, "account setting changed");
        Ok(json!({ "setting": setting }))
    }

    pub(crate) async fn put_account_setting(&self, ctx: &RequestContext, input: PutInput) -> Result<Value, AwsError> {
        validate_setting(&input.name, &input.value)?;
        let principal = target_principal(
            &ctx.principal.arn,
            ctx.principal.is_root,
            &self.scope.account,
            input.principal_arn.as_deref(),
        )?;
        if input.name == "fargateTaskRetirementWaitPeriod" && !principal.is_root {
            return Err(AwsError::invalid_parameter(
                "fargateTaskRetirementWaitPeriod applies to the whole account: set it as the root user, without a user or role principalArn.",
            ));
        }
        self.put_setting(&principal, &input.name, &input.value).await
    }

    pub(crate) async fn put_account_setting_default(
        &self,
        _ctx: &RequestContext,
        input: PutDefaultInput,
    ) -> Result<Value, AwsError> {
        validate_setting(&input.name, &input.value)?;
        let account = SettingPrincipal {
            arn: root_arn(&self.scope.account),
            is_root: true,
        };
        self.put_setting(&account, &input.name, &input.value).await
    }

    pub(crate) async fn delete_account_setting(
        &self,
        ctx: &RequestContext,
        input: DeleteInput,
    ) -> Result<Value, AwsError> {
        validate_setting_name(&input.name)?;
        if input.name == "guardDutyActivate" {
            return Err(AwsError::invalid_parameter(
                "guardDutyActivate is read-only: Amazon GuardDuty controls this setting on your behalf.",
            ));
        }
        let principal = target_principal(
            &ctx.principal.arn,
            ctx.principal.is_root,
            &self.scope.account,
            input.principal_arn.as_deref(),
        )?;
        let key = keys::account_setting(principal.key_part(), &input.name);
        let existing = self.explicit_setting(&principal, &input.name).await?;
        let setting = match existing {
            Some(s) => {
                self.store.delete(&key).await.map_err(AwsError::state_store)?;
                tracing::info!(principal = %principal.arn, name = %input.name, "account setting deleted");
                s
            }
            // Nothing was set: report what applies, as deleting is idempotent.
            None => self.effective_setting(&principal, &input.name).await?,
        };
        Ok(json!({ "setting": setting }))
    }

    pub(crate) async fn list_account_settings(
        &self,
        ctx: &RequestContext,
        input: ListInput,
    ) -> Result<Value, AwsError> {
        if let Some(n) = &input.name {
            validate_setting_name(n)?;
        }
        if input.value.is_some() && input.name.is_none() {
            return Err(AwsError::invalid_parameter(
                "To filter account settings by value, also specify the setting name.",
            ));
        }
        let principal = target_principal(
            &ctx.principal.arn,
            ctx.principal.is_root,
            &self.scope.account,
            input.principal_arn.as_deref(),
        )?;
        let mut settings = vec![];
        for (name, _) in SETTINGS {
            if input.name.as_deref().is_some_and(|n| n != name) {
                continue;
            }
            let s = if input.effective_settings {
                Some(self.effective_setting(&principal, name).await?)
            } else {
                self.explicit_setting(&principal, name).await?
            };
            if let Some(s) = s
                && input.value.as_deref().is_none_or(|v| v == s.value)
            {
                settings.push(s);
            }
        }
        let (page, next) = paginate_ordered(
            settings,
            |s| s.name.clone(),
            input.next_token.as_deref(),
            input.max_results,
            10,
            10,
            false,
        )?;
        Ok(with_next_token(json!({ "settings": page }), next))
    }
}

/// PutAccountSetting: not resource-scoped.
pub(crate) struct PutAccountSetting;

#[async_trait]
impl Operation<Ecs> for PutAccountSetting {
    const NAME: &'static str = "PutAccountSetting";
    type Input = PutInput;

    fn resources(_scope: &Scope, _input: &PutInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: PutInput) -> Result<Value, AwsError> {
        ecs.put_account_setting(ctx, input).await
    }
}

/// PutAccountSettingDefault: not resource-scoped.
pub(crate) struct PutAccountSettingDefault;

#[async_trait]
impl Operation<Ecs> for PutAccountSettingDefault {
    const NAME: &'static str = "PutAccountSettingDefault";
    type Input = PutDefaultInput;

    fn resources(_scope: &Scope, _input: &PutDefaultInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: PutDefaultInput) -> Result<Value, AwsError> {
        ecs.put_account_setting_default(ctx, input).await
    }
}

/// ListAccountSettings: not resource-scoped.
pub(crate) struct ListAccountSettings;

#[async_trait]
impl Operation<Ecs> for ListAccountSettings {
    const NAME: &'static str = "ListAccountSettings";
    type Input = ListInput;

    fn resources(_scope: &Scope, _input: &ListInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListInput) -> Result<Value, AwsError> {
        ecs.list_account_settings(ctx, input).await
    }
}

/// DeleteAccountSetting: not resource-scoped.
pub(crate) struct DeleteAccountSetting;

#[async_trait]
impl Operation<Ecs> for DeleteAccountSetting {
    const NAME: &'static str = "DeleteAccountSetting";
    type Input = DeleteInput;

    fn resources(_scope: &Scope, _input: &DeleteInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DeleteInput) -> Result<Value, AwsError> {
        ecs.delete_account_setting(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "000000000000";

    #[test]
    fn settings_are_sorted_and_valued() {
        let names: Vec<&str> = SETTINGS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "pagination relies on name order");
        for (name, default) in SETTINGS {
            if name != "guardDutyActivate" {
                assert!(validate_setting(name, default).is_ok(), "{name}={default}");
            }
        }
    }

    #[test]
    fn value_rules() {
        assert!(validate_setting("containerInsights", "enhanced").is_ok());
        assert!(validate_setting("serviceLongArnFormat", "enhanced").is_err());
        assert!(validate_setting("tagResourceAuthorization", "on").is_ok());
        assert!(validate_setting("tagResourceAuthorization", "enabled").is_err());
        assert!(validate_setting("fargateTaskRetirementWaitPeriod", "14").is_ok());
        assert!(validate_setting("fargateTaskRetirementWaitPeriod", "3").is_err());
        assert!(validate_setting("defaultLogDriverMode", "blocking").is_ok());
        assert!(validate_setting("defaultLogDriverMode", "enabled").is_err());
        assert!(validate_setting("guardDutyActivate", "on").is_err());
        let e = validate_setting("bogus", "enabled").unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
    }

    #[test]
    fn callers_map_to_principals() {
        let root = caller_principal("arn:aws:iam::000000000000:root", ACCT);
        assert!(root.is_root);
        let role = caller_principal("arn:aws:sts::000000000000:assumed-role/deployer/session-1", ACCT);
        assert_eq!(role.arn, "arn:aws:iam::000000000000:role/deployer");
        assert!(!role.is_root);
        let user = caller_principal("arn:aws:iam::000000000000:user/alice", ACCT);
        assert_eq!(user.arn, "arn:aws:iam::000000000000:user/alice");
        assert!(caller_principal("arn:aws:sts::000000000000:federated-user/bob", ACCT).is_root);
    }

    #[test]
    fn only_root_targets_others() {
        let root = "arn:aws:iam::000000000000:root";
        let alice = "arn:aws:iam::000000000000:user/alice";
        let bob = "arn:aws:iam::000000000000:user/bob";
        assert_eq!(target_principal(root, true, ACCT, Some(alice)).unwrap().arn, alice);
        assert_eq!(target_principal(alice, false, ACCT, None).unwrap().arn, alice);
        assert_eq!(target_principal(alice, false, ACCT, Some(alice)).unwrap().arn, alice);
        assert_eq!(
            target_principal(alice, false, ACCT, Some(bob)).unwrap_err().code,
            "AccessDeniedException"
        );
        assert_eq!(
            target_principal(alice, false, ACCT, Some(root)).unwrap_err().code,
            "AccessDeniedException"
        );
        for bad in [
            "nope",
            "arn:aws:iam::111111111111:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::000000000000:group/g",
        ] {
            assert_eq!(
                target_principal(root, true, ACCT, Some(bad)).unwrap_err().code,
                "InvalidParameterException",
                "{bad}"
            );
        }
    }
}
