//! Clusters and capacity-provider strategies.

use crate::status::{ClusterStatus, Recorded};
use crate::tags::Tag;
use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The capacity providers every account has, as in Fargate-enabled regions.
pub const BUILTIN_CAPACITY_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValueSetting {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    pub capacity_provider: String,
    #[serde(default)]
    pub weight: i64,
    #[serde(default)]
    pub base: i64,
}

/// A cluster as stored. Counts are not stored: they are derived from the
/// instances, tasks and services that exist when the cluster is described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    pub cluster_name: String,
    pub cluster_arn: String,
    /// ACTIVE, or INACTIVE once deleted (still describable, as in ECS).
    pub status: Recorded<ClusterStatus>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub settings: Vec<KeyValueSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Value>,
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    #[serde(default)]
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_defaults: Option<Value>,
}

/// Validates cluster settings: only `containerInsights` exists, with
/// values `enhanced`, `enabled` or `disabled`.
pub fn validate_cluster_settings(settings: &[KeyValueSetting]) -> Result<(), AwsError> {
    for s in settings {
        if s.name != "containerInsights" {
            return Err(AwsError::invalid_parameter(format!(
                "Cluster setting name '{}' is invalid. Valid names: containerInsights.",
                s.name
            )));
        }
        if !matches!(s.value.as_str(), "enabled" | "disabled" | "enhanced") {
            return Err(AwsError::invalid_parameter(format!(
                "Cluster setting value '{}' is invalid for containerInsights. Valid values: enhanced, enabled, disabled.",
                s.value
            )));
        }
    }
    Ok(())
}

/// Validates a capacity provider strategy against the providers a cluster has:
/// at most 20 items, weights 0–1000, base 0–100000, only one item with a
/// base, no duplicates, and every provider associated with the cluster.
pub fn validate_strategy(strategy: &[CapacityProviderStrategyItem], available: &[String]) -> Result<(), AwsError> {
    if strategy.len() > 20 {
        return Err(AwsError::invalid_parameter(
            "A capacity provider strategy can have at most 20 items.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut with_base = 0;
    for item in strategy {
        if !(0..=1000).contains(&item.weight) {
            return Err(AwsError::invalid_parameter(
                "The capacity provider strategy weight must be between 0 and 1000.",
            ));
        }
        if !(0..=100_000).contains(&item.base) {
            return Err(AwsError::invalid_parameter(
                "The capacity provider strategy base must be between 0 and 100000.",
            ));
        }
        if item.base > 0 {
            with_base += 1;
        }
        if !seen.insert(item.capacity_provider.as_str()) {
            return Err(AwsError::invalid_parameter(format!(
                "The capacity provider {} is specified more than once in the strategy.",
                item.capacity_provider
            )));
        }
        if !available.iter().any(|a| a == &item.capacity_provider) {
            return Err(AwsError::invalid_parameter(format!(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again. Capacity provider: {}",
                item.capacity_provider
            )));
        }
    }
    if with_base > 1 {
        return Err(AwsError::invalid_parameter(
            "Only one capacity provider in a capacity provider strategy can have a base defined.",
        ));
    }
    if !strategy.is_empty() && strategy.iter().all(|i| i.weight == 0) {
        return Err(AwsError::invalid_parameter(
            "At least one capacity provider in the strategy must have a weight greater than zero.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &str, weight: i64, base: i64) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: p.into(),
            weight,
            base,
        }
    }

    #[test]
    fn strategy_rules() {
        let avail = vec!["FARGATE".to_string(), "FARGATE_SPOT".to_string()];
        assert!(validate_strategy(&[item("FARGATE", 1, 1), item("FARGATE_SPOT", 4, 0)], &avail).is_ok());
        assert!(validate_strategy(&[item("OTHER", 1, 0)], &avail).is_err());
        assert!(validate_strategy(&[item("FARGATE", 1, 1), item("FARGATE_SPOT", 1, 1)], &avail).is_err());
        assert!(validate_strategy(&[item("FARGATE", 1001, 0)], &avail).is_err());
        assert!(validate_strategy(&[item("FARGATE", 0, 0)], &avail).is_err());
        assert!(validate_strategy(&[item("FARGATE", 1, 0), item("FARGATE", 1, 0)], &avail).is_err());
    }

    #[test]
    fn settings_rules() {
        let ok = KeyValueSetting {
            name: "containerInsights".into(),
            value: "enabled".into(),
        };
        assert!(validate_cluster_settings(&[ok]).is_ok());
        let bad = KeyValueSetting {
            name: "other".into(),
            value: "enabled".into(),
        };
        assert!(validate_cluster_settings(&[bad]).is_err());
    }
}
