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
    pub lifecycle_hooks: Option<Vec<Value>>,
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
        bake_time_in_minutes: None,
        canary_configuration: None,
        linear_configuration: None,
        lifecycle_hooks: vec![],
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
        if !matches!(s.as_str(), "ROLLING" | "BLUE_GREEN" | "LINEAR" | "CANARY") {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid deployment strategy {s}: use ROLLING, BLUE_GREEN, LINEAR or CANARY."
            )));
        }
        if s != &c.strategy {
            // A new strategy drops the settings of the previous one.
            c.bake_time_in_minutes = None;
            c.canary_configuration = None;
            c.linear_configuration = None;
            if s == "ROLLING" {
                c.lifecycle_hooks.clear();
            }
        }
        c.strategy = s.clone();
    }
    if let Some(hooks) = &input.lifecycle_hooks {
        c.lifecycle_hooks = super::parse_lifecycle_hooks(hooks)?;
    }
    if let Some(b) = input.bake_time_in_minutes {
        c.bake_time_in_minutes = Some(b);
    }
    if let Some(v) = &input.canary_configuration {
        c.canary_configuration = Some(v.clone());
    }
    if let Some(v) = &input.linear_configuration {
        c.linear_configuration = Some(v.clone());
    }
    if c.strategy == "ROLLING" {
        if !c.lifecycle_hooks.is_empty() {
            return Err(AwsError::invalid_parameter(
                "lifecycleHooks apply to the BLUE_GREEN, LINEAR and CANARY deployment strategies in Berth; this service uses ROLLING.",
            ));
        }
        if c.bake_time_in_minutes.is_some() || c.canary_configuration.is_some() || c.linear_configuration.is_some() {
            return Err(AwsError::invalid_parameter(
                "bakeTimeInMinutes, canaryConfiguration and linearConfiguration apply to the BLUE_GREEN, LINEAR and CANARY deployment strategies, not ROLLING.",
            ));
        }
    } else {
        crate::traffic_shift::ShiftStrategy::parse(
            &c.strategy,
            c.canary_configuration.as_ref(),
            c.linear_configuration.as_ref(),
        )
        .map_err(AwsError::invalid_parameter)?;
        match c.bake_time_in_minutes {
            None if c.strategy == "BLUE_GREEN" => {
                return Err(AwsError::invalid_parameter(
                    "bakeTimeInMinutes is required with the BLUE_GREEN deployment strategy.",
                ));
            }
            Some(b) if !(0..=i64::from(crate::traffic_shift::MAX_BAKE_MINUTES)).contains(&b) => {
                return Err(AwsError::invalid_parameter(format!(
                    "bakeTimeInMinutes must be from 0 to {} minutes, got {b}.",
                    crate::traffic_shift::MAX_BAKE_MINUTES
                )));
            }
            _ => {}
        }
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
