//! The pure checks on service requests: names and references, placement,
//! tag propagation, the health check grace period, the network
//! configuration, and the features Berth has no backing for.

use crate::short_name::short_name;
use berth_proto::AwsError;
use berth_scheduler::{PlacementConstraint, PlacementStrategy};
use serde_json::Value;

/// Service names: up to 255 letters, numbers, hyphens and underscores.
pub fn validate_service_name(name: &str) -> Result<(), AwsError> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AwsError::invalid_parameter(
            "Service names can have up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.",
        ));
    }
    Ok(())
}

/// Parses and checks placement constraints and strategies.
pub fn validate_placement(constraints: &[Value], strategies: &[Value]) -> Result<(), AwsError> {
    let cs: Vec<PlacementConstraint> = constraints
        .iter()
        .map(|c| {
            serde_json::from_value(c.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement constraint {c}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let ss: Vec<PlacementStrategy> = strategies
        .iter()
        .map(|s| {
            serde_json::from_value(s.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid placement strategy {s}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    berth_scheduler::validate(&cs, &ss).map_err(|e| AwsError::invalid_parameter(e.to_string()))
}

pub fn validate_propagate(p: &str) -> Result<(), AwsError> {
    if !matches!(p, "TASK_DEFINITION" | "SERVICE" | "NONE") {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid propagateTags value '{p}'. Valid values: TASK_DEFINITION, SERVICE, NONE."
        )));
    }
    Ok(())
}

pub fn validate_grace(g: Option<i64>) -> Result<(), AwsError> {
    if let Some(g) = g
        && !(0..=i64::from(i32::MAX)).contains(&g)
    {
        return Err(AwsError::invalid_parameter(
            "healthCheckGracePeriodSeconds must be between 0 and 2147483647.",
        ));
    }
    Ok(())
}

/// Rejects what Berth has no backing for (Cloud Map, VPC Lattice …).
pub fn reject_unsupported(input: &Value) -> Result<(), AwsError> {
    for (field, what) in [
        ("serviceRegistries", "AWS Cloud Map"),
        ("vpcLatticeConfigurations", "VPC Lattice"),
        ("volumeConfigurations", "Amazon EBS volumes"),
        ("gatewayConnectors", "gateway connectors"),
    ] {
        if input[field].as_array().is_some_and(|a| !a.is_empty()) {
            return Err(AwsError::invalid_parameter(format!(
                "{field} needs {what}, which Berth does not provide."
            )));
        }
    }
    if input["serviceConnectConfiguration"]["enabled"].as_bool() == Some(true) {
        return Err(AwsError::invalid_parameter(
            "Service Connect needs AWS Cloud Map, which Berth does not provide.",
        ));
    }
    if super::DeploymentControllerType::parse(&input["deploymentController"])?
        == super::DeploymentControllerType::External
    {
        super::check_external_service(input)?;
    }
    Ok(())
}

/// The network configuration a task definition needs (the rule RunTask and
/// StartTask share).
pub fn check_network(td: &Value, network: Option<&Value>) -> Result<(), AwsError> {
    crate::check_network_configuration(td["networkMode"].as_str(), network)
}

/// The service name in `NAME` or `arn:…:service/[CLUSTER/]NAME`.
pub fn service_name_of(reference: &str) -> &str {
    short_name(reference)
}
