//! The operations' typed inputs, decoded once from the awsJson body (the
//! model already checked types, enums and ranges). Timestamps are epoch
//! seconds. What `load` finds for the authorization and the handler is
//! kept beside the input (`#[serde(skip)]`).

use crate::records::TargetRecord;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

/// The target a request names, as `load` found it (with its store revision).
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub target: Option<TargetRecord>,
    /// For a new target: the id its ARN will carry.
    pub new_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SuspendedStateInput {
    pub dynamic_scaling_in_suspended: Option<bool>,
    pub dynamic_scaling_out_suspended: Option<bool>,
    pub scheduled_scaling_suspended: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterScalableTargetInput {
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub min_capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    #[serde(rename = "RoleARN")]
    pub role_arn: Option<String>,
    pub suspended_state: Option<SuspendedStateInput>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip)]
    pub loaded: Loaded,
}

/// DeregisterScalableTarget.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetInput {
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    #[serde(skip)]
    pub loaded: Loaded,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalableTargetsInput {
    pub service_namespace: String,
    pub resource_ids: Option<Vec<String>>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DimensionInput {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedInput {
    pub predefined_metric_type: String,
    pub resource_label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomizedInput {
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub dimensions: Option<Vec<DimensionInput>>,
    pub statistic: Option<String>,
    pub unit: Option<String>,
    /// Metric math (`TargetTrackingMetricDataQuery`s).
    pub metrics: Option<Vec<QueryInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryInput {
    pub id: String,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub metric_stat: Option<MetricStatInput>,
    pub return_data: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStatInput {
    pub metric: MetricInput,
    pub stat: String,
    pub unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricInput {
    pub dimensions: Option<Vec<DimensionInput>>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTrackingInput {
    pub target_value: f64,
    pub predefined_metric_specification: Option<PredefinedInput>,
    pub customized_metric_specification: Option<CustomizedInput>,
    pub scale_out_cooldown: Option<i64>,
    pub scale_in_cooldown: Option<i64>,
    pub disable_scale_in: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepAdjustmentInput {
    pub metric_interval_lower_bound: Option<f64>,
    pub metric_interval_upper_bound: Option<f64>,
    pub scaling_adjustment: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepScalingInput {
    pub adjustment_type: Option<String>,
    pub step_adjustments: Option<Vec<StepAdjustmentInput>>,
    pub min_adjustment_magnitude: Option<i64>,
    pub cooldown: Option<i64>,
    pub metric_aggregation_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScalingPolicyInput {
    pub policy_name: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub policy_type: Option<String>,
    pub step_scaling_policy_configuration: Option<StepScalingInput>,
    pub target_tracking_scaling_policy_configuration: Option<TargetTrackingInput>,
    /// Predictive scaling: refused.
    pub predictive_scaling_policy_configuration: Option<IgnoredAny>,
    #[serde(skip)]
    pub loaded: Loaded,
}

/// DeleteScalingPolicy.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyInput {
    pub policy_name: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    #[serde(skip)]
    pub loaded: Loaded,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalingPoliciesInput {
    pub policy_names: Option<Vec<String>>,
    pub service_namespace: String,
    pub resource_id: Option<String>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalableTargetActionInput {
    pub min_capacity: Option<i64>,
    pub max_capacity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScheduledActionInput {
    pub service_namespace: String,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub scheduled_action_name: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub scalable_target_action: Option<ScalableTargetActionInput>,
    #[serde(skip)]
    pub loaded: Loaded,
}

/// DeleteScheduledAction.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduledActionInput {
    pub service_namespace: String,
    pub scheduled_action_name: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    #[serde(skip)]
    pub loaded: Loaded,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScheduledActionsInput {
    pub scheduled_action_names: Option<Vec<String>>,
    pub service_namespace: String,
    pub resource_id: Option<String>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalingActivitiesInput {
    pub service_namespace: String,
    pub resource_id: Option<String>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub include_not_scaled_activities: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "Tags")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip)]
    pub loaded: Loaded,
}

#[derive(Debug, Deserialize)]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(rename = "TagKeys")]
    pub tag_keys: Vec<String>,
    #[serde(skip)]
    pub loaded: Loaded,
}

#[derive(Debug, Deserialize)]
pub struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    #[serde(skip)]
    pub loaded: Loaded,
}
