//! A service's `loadBalancers`: the entries as given and stored, the pure
//! checks ECS makes on them (against the task definition and the target
//! groups they name), and the pure rules the service controller follows to
//! keep a service's tasks registered (which target a task is, the events
//! and stop reasons ECS writes).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most load balancers (target groups) a service has.
pub const MAX_LOAD_BALANCERS: usize = 5;

/// A `loadBalancers` entry as given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIn {
    pub target_group_arn: Option<String>,
    pub load_balancer_name: Option<String>,
    pub container_name: Option<String>,
    pub container_port: Option<i64>,
    pub advanced_configuration: Option<Value>,
}

/// A `loadBalancers` entry as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i64,
    /// Blue/green: the alternate target group and the rules shifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_configuration: Option<super::AdvancedConfiguration>,
}

/// A target group's target type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    Instance,
    Ip,
    /// `lambda` or `alb`: nothing an ECS task can be.
    Other,
}

impl TargetType {
    pub fn parse(s: &str) -> TargetType {
        match s {
            "instance" => TargetType::Instance,
            "ip" => TargetType::Ip,
            _ => TargetType::Other,
        }
    }
}

/// What ECS checks of a target group named by a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupFacts {
    pub arn: String,
    pub target_type: TargetType,
    /// Whether a listener or rule of a load balancer forwards to it.
    pub has_load_balancer: bool,
}

/// Another service using a target group: its ARN, cluster ARN and
/// scheduling strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupUser {
    pub target_group_arn: String,
    pub service_arn: String,
    pub cluster_arn: String,
    pub scheduling_strategy: String,
}

/// The service a `loadBalancers` list is checked for.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFacts<'a> {
    pub cluster_arn: &'a str,
    pub scheduling_strategy: &'a str,
}

fn invalid(message: String) -> berth_proto::AwsError {
    berth_proto::AwsError::invalid_parameter(message)
}

/// The checks of the entries alone (before any target group is looked
/// up): at most five, each an ELBv2 target group with a container name and
/// port; Classic Load Balancers and blue/green configurations refused.
pub fn check_load_balancer_entries(given: &[LoadBalancerIn]) -> Result<(), berth_proto::AwsError> {
    if given.len() > MAX_LOAD_BALANCERS {
        return Err(invalid(format!(
            "A service can have at most {MAX_LOAD_BALANCERS} load balancers (target groups); {} were given.",
            given.len()
        )));
    }
    for lb in given {
        match (&lb.load_balancer_name, &lb.target_group_arn) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "loadBalancerName and targetGroupArn cannot both be specified. You must specify either a loadBalancerName or a targetGroupArn."
                        .into(),
                ));
            }
            (Some(name), None) => {
                return Err(invalid(format!(
                    "loadBalancerName {name}: Classic Load Balancers are not supported by Berth; use an ELBv2 target group (targetGroupArn)."
                )));
            }
            (None, None) => {
                return Err(invalid(
                    "targetGroupArn is required: each load balancer of a service is an ELBv2 target group.".into(),
                ));
            }
            (None, Some(_)) => {}
        }
        if let Some(a) = &lb.advanced_configuration {
            super::AdvancedConfiguration::parse(a)?;
        }
        if lb.container_name.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("Container Name can not be blank.".into()));
        }
        if lb.container_port.is_none() {
            return Err(invalid("Container Port can not be blank.".into()));
        }
    }
    let mut seen: Vec<(&str, &str, i64)> = vec![];
    for lb in given {
        let key = (
            lb.target_group_arn.as_deref().unwrap_or_default(),
            lb.container_name.as_deref().unwrap_or_default(),
            lb.container_port.unwrap_or_default(),
        );
        if seen.contains(&key) {
            return Err(invalid(format!(
                "The target group {} is given twice for container {} port {}.",
                key.0, key.1, key.2
            )));
        }
        seen.push(key);
    }
    Ok(())
}

/// Checks `given` (already through [`check_load_balancer_entries`])
/// against the task definition `td` (its network mode and port mappings),
/// the target groups it names (`groups`, those found) and the other
/// services using them; returns the entries to store.
pub fn check_load_balancers(
    given: &[LoadBalancerIn],
    td: &Value,
    groups: &[TargetGroupFacts],
    users: &[TargetGroupUser],
    service: ServiceFacts<'_>,
) -> Result<Vec<ServiceLoadBalancer>, berth_proto::AwsError> {
    check_load_balancer_entries(given)?;
    let mode = td["networkMode"].as_str().unwrap_or("bridge");
    let mut out = vec![];
    for lb in given {
        let arn = lb.target_group_arn.clone().unwrap_or_default();
        let name = lb.container_name.clone().unwrap_or_default();
        let port = lb.container_port.unwrap_or_default();
        let tg = groups.iter().find(|g| g.arn == arn).ok_or_else(|| {
            invalid(format!(
                "The target group with targetGroupArn {arn} does not exist in this region and account."
            ))
        })?;
        if !tg.has_load_balancer {
            return Err(invalid(format!(
                "The target group with targetGroupArn {arn} does not have an associated load balancer."
            )));
        }
        match (tg.target_type, mode) {
            (TargetType::Instance, "bridge" | "host") | (TargetType::Ip, "awsvpc") => {}
            (TargetType::Ip, m) => {
                return Err(invalid(format!(
                    "The provided target group {arn} has target type ip, which is incompatible with the {m} network mode specified in the task definition."
                )));
            }
            (TargetType::Instance, m) => {
                return Err(invalid(format!(
                    "The provided target group {arn} has target type instance, which is incompatible with the {m} network mode specified in the task definition."
                )));
            }
            (TargetType::Other, _) => {
                return Err(invalid(format!(
                    "The provided target group {arn} has a target type ECS tasks cannot be registered with (instance or ip only)."
                )));
            }
        }
        let container = td["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"].as_str() == Some(name.as_str()))
            .ok_or_else(|| invalid(format!("The container {name} does not exist in the task definition.")))?;
        let has_port = container["portMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["containerPort"].as_i64() == Some(port) && m["protocol"].as_str().unwrap_or("tcp") == "tcp");
        if !has_port {
            return Err(invalid(format!(
                "The container {name} did not have a container port {port} defined."
            )));
        }
        if let Some(other) = users.iter().find(|u| {
            u.target_group_arn == arn
                && (u.cluster_arn != service.cluster_arn || u.scheduling_strategy != service.scheduling_strategy)
        }) {
            return Err(invalid(format!(
                "The target group {arn} is already associated with the service {} ({} scheduling strategy, cluster {}). A target group can be shared only by services of the same cluster and scheduling strategy.",
                other.service_arn, other.scheduling_strategy, other.cluster_arn
            )));
        }
        let advanced = lb
            .advanced_configuration
            .as_ref()
            .map(super::AdvancedConfiguration::parse)
            .transpose()?;
        if let Some(a) = &advanced {
            let alt = &a.alternate_target_group_arn;
            let g = groups.iter().find(|g| &g.arn == alt).ok_or_else(|| {
                invalid(format!(
                    "The alternate target group {alt} does not exist in this region and account."
                ))
            })?;
            if g.target_type != tg.target_type || !g.has_load_balancer {
                return Err(invalid(format!(
                    "The alternate target group {alt} must have the target type of {arn} and an associated load balancer."
                )));
            }
        }
        out.push(ServiceLoadBalancer {
            target_group_arn: arn,
            container_name: name,
            container_port: port,
            advanced_configuration: advanced,
        });
    }
    Ok(out)
}

/// Where a task is reached for one of its service's load balancers: the
/// host port its container binds `container_port` (TCP) to, from the
/// container's network bindings — the IPv4 one when Docker published the
/// port on IPv4 and IPv6 apart — if it has one yet.
pub fn host_port_of(bindings: &[Value], container_port: i64) -> Option<i32> {
    let ports: Vec<(bool, i64)> = bindings
        .iter()
        .filter(|b| {
            b["containerPort"].as_i64() == Some(container_port) && b["protocol"].as_str().unwrap_or("tcp") == "tcp"
        })
        .filter_map(|b| {
            Some((
                b["bindIP"].as_str().unwrap_or("0.0.0.0").contains(':'),
                b["hostPort"].as_i64()?,
            ))
        })
        .collect();
    ports
        .iter()
        .find(|(v6, _)| !v6)
        .or_else(|| ports.first())
        .and_then(|(_, p)| i32::try_from(*p).ok())
        .filter(|p| *p > 0)
}

/// The stop reason of a task whose target failed a target group's checks.
pub fn elb_health_stop_reason(tg_arn: &str) -> String {
    format!("Task failed ELB health checks in (target-group {tg_arn})")
}

/// Whether a stop reason is one of [`elb_health_stop_reason`].
pub fn is_elb_health_stop_reason(reason: &str) -> bool {
    reason.starts_with("Task failed ELB health checks in ")
}

/// The service events of the registrations, as ECS words them.
pub fn registered_event(service: &str, n: usize, tg_arn: &str) -> String {
    format!("(service {service}) registered {n} targets in (target-group {tg_arn})")
}

pub fn deregistered_event(service: &str, n: usize, tg_arn: &str) -> String {
    format!("(service {service}) deregistered {n} targets in (target-group {tg_arn})")
}

pub fn draining_event(service: &str, n: usize) -> String {
    format!("(service {service}) has begun draining connections on {n} tasks.")
}

/// The event of a target found unhealthy: `target` is an instance id, or
/// the address of an awsvpc task (which ECS does not name).
pub fn unhealthy_event(service: &str, deployment: &str, target: &str, port: i32, tg_arn: &str, reason: &str) -> String {
    let instance = if target.parse::<std::net::IpAddr>().is_ok() {
        String::new()
    } else {
        format!(" (instance {target})")
    };
    format!(
        "(service {service}, taskSet {deployment}){instance} (port {port}) is unhealthy in (target-group {tg_arn}) due to (reason {reason})."
    )
}
