//! Custom capacity providers (CreateCapacityProvider, UpdateCapacityProvider,
//! DeleteCapacityProvider): the stored record, the name rule, the
//! `autoScalingGroupProvider` with ECS's defaults and the checks the AWS
//! model's ranges do not make. Berth has no Auto Scaling groups: the
//! provider's `autoScalingGroupArn` names a Berth *host group* (agents
//! started with `berth agent --host-group NAME`). Pure.

use crate::status::{CapacityProviderStatus, Recorded, StatusName, status_enum};
use crate::tags::Tag;
use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use std::fmt;

status_enum! {
    /// `managedScaling.status`, `managedTerminationProtection`,
    /// `managedDraining`.
    Toggle {
        Enabled = "ENABLED",
        Disabled = "DISABLED",
    }
}

status_enum! {
    /// A capacity provider's `updateStatus`.
    CapacityProviderUpdateStatus {
        CreateComplete = "CREATE_COMPLETE",
        UpdateComplete = "UPDATE_COMPLETE",
        DeleteComplete = "DELETE_COMPLETE",
    }
}

/// How many capacity providers (the built-in two not counted) an account
/// may have in a region, as ECS's quota.
pub const MAX_CAPACITY_PROVIDERS: usize = 500;

/// `managedScaling` as a request gives it: every member optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedScalingInput {
    pub status: Option<Toggle>,
    pub target_capacity: Option<i64>,
    pub minimum_scaling_step_size: Option<i64>,
    pub maximum_scaling_step_size: Option<i64>,
    pub instance_warmup_period: Option<i64>,
}

/// `managedScaling` as stored and shown: ECS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedScaling {
    pub status: Toggle,
    pub target_capacity: i64,
    pub minimum_scaling_step_size: i64,
    pub maximum_scaling_step_size: i64,
    pub instance_warmup_period: i64,
}

impl Default for ManagedScaling {
    /// ECS's: scaling off, 100 %, steps of 1 to 10000, 300 s of warm-up.
    fn default() -> Self {
        Self {
            status: Toggle::Disabled,
            target_capacity: 100,
            minimum_scaling_step_size: 1,
            maximum_scaling_step_size: 10_000,
            instance_warmup_period: 300,
        }
    }
}

impl ManagedScaling {
    /// This with what `input` gives changed (the rest kept).
    pub fn merged(&self, input: &ManagedScalingInput) -> Self {
        Self {
            status: input.status.unwrap_or(self.status),
            target_capacity: input.target_capacity.unwrap_or(self.target_capacity),
            minimum_scaling_step_size: input
                .minimum_scaling_step_size
                .unwrap_or(self.minimum_scaling_step_size),
            maximum_scaling_step_size: input
                .maximum_scaling_step_size
                .unwrap_or(self.maximum_scaling_step_size),
            instance_warmup_period: input.instance_warmup_period.unwrap_or(self.instance_warmup_period),
        }
    }
}

/// `autoScalingGroupProvider` as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingGroupProvider {
    /// As given: the host group's name, or an Auto Scaling group ARN whose
    /// `autoScalingGroupName/NAME` names it.
    pub auto_scaling_group_arn: String,
    pub managed_scaling: ManagedScaling,
    pub managed_termination_protection: Toggle,
    pub managed_draining: Toggle,
}

impl AutoScalingGroupProvider {
    /// The Berth host group the provider's instances belong to.
    pub fn host_group(&self) -> &str {
        host_group_of(&self.auto_scaling_group_arn)
    }
}

/// A custom capacity provider as stored (`ecs/capacity-providers/NAME`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderRecord {
    pub capacity_provider_arn: String,
    pub name: String,
    pub status: Recorded<CapacityProviderStatus>,
    pub auto_scaling_group_provider: AutoScalingGroupProvider,
    pub update_status: CapacityProviderUpdateStatus,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Always EC2_AUTOSCALING (the built-in ones are not stored this way).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The host group an `autoScalingGroupArn` names: the name after
/// `autoScalingGroupName/` in an ARN, else the value itself.
pub fn host_group_of(arn_or_name: &str) -> &str {
    match arn_or_name.split_once(":autoScalingGroupName/") {
        Some((_, name)) => name,
        None => arn_or_name,
    }
}

/// The name rule: 1 to 255 letters, digits, underscores and hyphens, not
/// beginning with `aws`, `ecs` or `fargate` (any case).
pub fn validate_provider_name(name: &str) -> Result<(), AwsError> {
    let ok_chars = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok_chars {
        return Err(AwsError::invalid_parameter(
            "The capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens.",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if ["aws", "ecs", "fargate"].iter().any(|p| lower.starts_with(p)) {
        return Err(AwsError::invalid_parameter(
            "The capacity provider name cannot begin with 'aws', 'ecs', or 'fargate'. Specify a different name and try again.",
        ));
    }
    Ok(())
}

/// The checks on an `autoScalingGroupProvider` that the model's ranges do
/// not make: a host group named (an ARN must be an Auto Scaling group's
/// with its name), the step sizes in order, managed termination protection
/// only with managed scaling.
pub fn validate_group_provider(p: &AutoScalingGroupProvider) -> Result<(), AwsError> {
    let arn = p.auto_scaling_group_arn.as_str();
    if arn.starts_with("arn:") && !(arn.contains(":autoscaling:") && arn.contains(":autoScalingGroupName/")) {
        return Err(AwsError::invalid_parameter(format!(
            "The specified Auto Scaling group ARN '{arn}' is not valid: give an Auto Scaling group ARN ending in autoScalingGroupName/NAME, or the group name (in Berth, the host group of `berth agent --host-group NAME`)."
        )));
    }
    let group = p.host_group();
    let group_ok = !group.is_empty()
        && group.len() <= 255
        && group.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !group_ok {
        return Err(AwsError::invalid_parameter(format!(
            "The host group name '{group}' is not valid: up to 255 letters, digits, '_', '-' and '.'."
        )));
    }
    let s = &p.managed_scaling;
    if s.minimum_scaling_step_size > s.maximum_scaling_step_size {
        return Err(AwsError::invalid_parameter(
            "The managed scaling minimumScalingStepSize must be less than or equal to maximumScalingStepSize.",
        ));
    }
    if p.managed_termination_protection == Toggle::Enabled && s.status != Toggle::Enabled {
        return Err(AwsError::invalid_parameter(
            "The managed termination protection setting for the capacity provider is invalid. To enable managed termination protection for a capacity provider, managed scaling must be enabled.",
        ));
    }
    Ok(())
}

impl CapacityProviderRecord {
    /// Whether the provider can be used (DescribeCapacityProviders shows
    /// INACTIVE ones for a while, as ECS does).
    pub fn is_active(&self) -> bool {
        self.status == CapacityProviderStatus::Active
    }

    /// The `capacityProvider` ECS returns.
    pub fn render(&self, include_tags: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if !include_tags {
            v["tags"] = serde_json::json!([]);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(arn: &str) -> AutoScalingGroupProvider {
        AutoScalingGroupProvider {
            auto_scaling_group_arn: arn.into(),
            managed_scaling: ManagedScaling::default(),
            managed_termination_protection: Toggle::Disabled,
            managed_draining: Toggle::Enabled,
        }
    }

    #[test]
    fn names() {
        assert!(validate_provider_name("pool-1_a").is_ok());
        for bad in ["", "has space", "a/b", &"x".repeat(256)] {
            assert!(validate_provider_name(bad).is_err(), "{bad}");
        }
        for reserved in ["aws-pool", "ECSpool", "Fargate2", "fargate"] {
            let e = validate_provider_name(reserved).unwrap_err();
            assert!(e.message.contains("cannot begin with"), "{reserved}");
        }
    }

    #[test]
    fn host_groups() {
        assert_eq!(host_group_of("pool-a"), "pool-a");
        assert_eq!(
            host_group_of("arn:aws:autoscaling:us-east-1:1:autoScalingGroup:0f3a-11:autoScalingGroupName/pool-a"),
            "pool-a"
        );
        assert!(validate_group_provider(&provider("pool-a")).is_ok());
        assert!(
            validate_group_provider(&provider(
                "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:0f3a-11:autoScalingGroupName/pool-a"
            ))
            .is_ok()
        );
        assert!(validate_group_provider(&provider("arn:aws:ec2:us-east-1:1:instance/i-1")).is_err());
        assert!(validate_group_provider(&provider("bad name")).is_err());
    }

    #[test]
    fn managed_scaling_defaults_merge_and_checks() {
        let d = ManagedScaling::default();
        assert_eq!((d.status, d.target_capacity), (Toggle::Disabled, 100));
        assert_eq!((d.minimum_scaling_step_size, d.maximum_scaling_step_size), (1, 10_000));
        assert_eq!(d.instance_warmup_period, 300);
        let m = d.merged(&ManagedScalingInput {
            status: Some(Toggle::Enabled),
            target_capacity: Some(80),
            ..Default::default()
        });
        assert_eq!(
            (m.status, m.target_capacity, m.maximum_scaling_step_size),
            (Toggle::Enabled, 80, 10_000)
        );
        let mut p = provider("g");
        p.managed_scaling.minimum_scaling_step_size = 5;
        p.managed_scaling.maximum_scaling_step_size = 2;
        assert!(
            validate_group_provider(&p)
                .unwrap_err()
                .message
                .contains("minimumScalingStepSize")
        );
        let mut p = provider("g");
        p.managed_termination_protection = Toggle::Enabled;
        assert!(
            validate_group_provider(&p)
                .unwrap_err()
                .message
                .contains("managed scaling")
        );
        p.managed_scaling.status = Toggle::Enabled;
        assert!(validate_group_provider(&p).is_ok());
    }
}
