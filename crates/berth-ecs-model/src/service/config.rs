//! The `deploymentConfiguration` rule (pure): the defaults of a scheduling
//! strategy and a request's configuration merged on top and checked.

use super::deployment_alarms::DeploymentAlarms;
use super::records::{CircuitBreaker, DeploymentConfig, rolling};
use berth_proto::AwsError;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigIn {
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    pub maximum_percent: Option<i64>,
    pub minimum_healthy_percent: Option<i64>,
    pub alarms: Option<Value>,
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i64>,
    #[serde(default)]
    pub lifecycle_hooks: Vec<Value>,
    pub linear_configuration: Option<Value>,
    pub canary_configuration: Option<Value>,
}

/// The defaults of a scheduling strategy: REPLICA 100/200, DAEMON 0/100.
pub fn default_deployment_config(daemon: bool) -> DeploymentConfig {
    DeploymentConfig {
        deployment_circuit_breaker: CircuitBreaker::default(),
        maximum_percent: if daemon { 100 } else { 200 },
        minimum_healthy_percent: if daemon { 0 } else { 100 },
        alarms: None,
        strategy: rolling(),
    }
}

/// Applies a `deploymentConfiguration` on top of `base` and checks it.
pub fn merge_deployment_config(
    base: &DeploymentConfig,
    input: &DeploymentConfigIn,
    daemon: bool,
) -> Result<DeploymentConfig, AwsError> {
    let mut c = base.clone();
    if let Some(s) = &input.strategy {
        if s != "ROLLING" {
            return Err(AwsError::invalid_parameter(format!(
                "Deployment strategy {s} is not supported by Berth; use ROLLING."
            )));
        }
        c.strategy = s.clone();
    }
    if input.bake_time_in_minutes.is_some()
        || !input.lifecycle_hooks.is_empty()
        || input.linear_configuration.is_some()
        || input.canary_configuration.is_some()
    {
        return Err(AwsError::invalid_parameter(
            "bakeTimeInMinutes, lifecycleHooks, linearConfiguration and canaryConfiguration apply to BLUE_GREEN, LINEAR and CANARY deployments, which Berth does not support.",
        ));
    }
    if let Some(a) = &input.alarms {
        let a = DeploymentAlarms::parse(a)?;
        if a.enable && daemon {
            return Err(AwsError::invalid_parameter(
                "Deployment alarms apply to services using the REPLICA scheduling strategy; Berth does not watch alarms during DAEMON deployments.",
            ));
        }
        c.alarms = Some(a);
    }
    if let Some(cb) = &input.deployment_circuit_breaker {
        c.deployment_circuit_breaker = cb.clone();
    }
    if let Some(m) = input.maximum_percent {
        c.maximum_percent = m;
    }
    if let Some(m) = input.minimum_healthy_percent {
        c.minimum_healthy_percent = m;
    }
    if !(0..=100).contains(&c.minimum_healthy_percent) {
        return Err(AwsError::invalid_parameter(format!(
            "minimumHealthyPercent must be between 0 and 100, got {}.",
            c.minimum_healthy_percent
        )));
    }
    if !(100..=200).contains(&c.maximum_percent) {
        return Err(AwsError::invalid_parameter(format!(
            "maximumPercent must be between 100 and 200, got {}.",
            c.maximum_percent
        )));
    }
    if daemon && c.maximum_percent != 100 {
        return Err(AwsError::invalid_parameter(
            "The maximumPercent of a service using the DAEMON scheduling strategy must be 100.",
        ));
    }
    Ok(c)
}
