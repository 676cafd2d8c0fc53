//! Launch type and capacity providers: of a RunTask (or a new service), of
//! a service deployment's new tasks, the capacity-provider split, and
//! whether a task definition can run with a launch type.

use crate::cluster::{CapacityProviderStrategyItem, ClusterRecord, validate_strategy};
use berth_proto::AwsError;
use serde_json::Value;

/// Spreads `count` tasks over a capacity provider strategy: the `base`
/// first, then by weight (smooth weighted round-robin, deterministic).
pub fn split_by_strategy(strategy: &[CapacityProviderStrategyItem], count: usize) -> Vec<String> {
    let mut out = vec![];
    if let Some(b) = strategy.iter().find(|i| i.base > 0) {
        for _ in 0..(b.base as usize).min(count) {
            out.push(b.capacity_provider.clone());
        }
    }
    let weighted: Vec<&CapacityProviderStrategyItem> = strategy.iter().filter(|i| i.weight > 0).collect();
    let total: i64 = weighted.iter().map(|i| i.weight).sum();
    let mut current = vec![0i64; weighted.len()];
    while out.len() < count && total > 0 {
        for (c, i) in current.iter_mut().zip(&weighted) {
            *c += i.weight;
        }
        let best = (0..weighted.len())
            .max_by_key(|&k| (current[k], -(k as i64)))
            .unwrap_or(0);
        current[best] -= total;
        out.push(weighted[best].capacity_provider.clone());
    }
    out
}

/// Spreads `count` more tasks over a strategy, given the capacity
/// providers of the tasks already running (`existing`): the split of all
/// `existing.len() + count` tasks is computed as [`split_by_strategy`]
/// would, and the new tasks fill what each provider lacks of it. A service
/// replacing an interrupted FARGATE_SPOT task thus starts it on
/// FARGATE_SPOT again, as ECS's service scheduler keeps the strategy's
/// split over the service's tasks.
pub fn split_with_existing(
    strategy: &[CapacityProviderStrategyItem],
    existing: &[String],
    count: usize,
) -> Vec<String> {
    let target = split_by_strategy(strategy, existing.len() + count);
    let mut want: Vec<(String, i64)> = vec![];
    for p in &target {
        match want.iter_mut().find(|(q, _)| q == p) {
            Some((_, n)) => *n += 1,
            None => want.push((p.clone(), 1)),
        }
    }
    for p in existing {
        if let Some((_, n)) = want.iter_mut().find(|(q, _)| q == p) {
            *n -= 1;
        }
    }
    let mut out = Vec::with_capacity(count);
    // The target order first (base, then weighted), each provider as many
    // times as it lacks; then, when existing tasks ran on providers the
    // strategy no longer names, the rest by the plain split.
    for p in &target {
        if out.len() == count {
            break;
        }
        if let Some((_, n)) = want.iter_mut().find(|(q, _)| q == p)
            && *n > 0
        {
            *n -= 1;
            out.push(p.clone());
        }
    }
    let rest = split_by_strategy(strategy, count - out.len());
    out.extend(rest);
    out
}

/// Whether a strategy names only custom capacity providers (host groups):
/// its tasks launch as EC2 tasks on the providers' instances. A strategy
/// is all built-in (FARGATE/FARGATE_SPOT) or all custom, as ECS requires
/// ([`check_strategy_kinds`]).
pub fn is_custom_strategy(strategy: &[CapacityProviderStrategyItem]) -> bool {
    !strategy.is_empty()
        && strategy
            .iter()
            .all(|i| !crate::BUILTIN_CAPACITY_PROVIDERS.contains(&i.capacity_provider.as_str()))
}

/// ECS refuses a strategy mixing the Fargate providers and Auto Scaling
/// group (here: host group) providers. Berth also takes at most one custom
/// provider per strategy (its tasks are placed on one host group).
pub fn check_strategy_kinds(strategy: &[CapacityProviderStrategyItem]) -> Result<(), AwsError> {
    let builtin = strategy
        .iter()
        .filter(|i| crate::BUILTIN_CAPACITY_PROVIDERS.contains(&i.capacity_provider.as_str()))
        .count();
    if builtin > 0 && builtin < strategy.len() {
        return Err(AwsError::invalid_parameter(
            "A capacity provider strategy can contain either Auto Scaling group capacity providers or Fargate capacity providers, not both.",
        ));
    }
    if builtin == 0 && strategy.len() > 1 {
        return Err(AwsError::invalid_parameter(
            "Berth places the tasks of a capacity provider strategy on one custom capacity provider's host group: name one custom capacity provider in the strategy.",
        ));
    }
    Ok(())
}

/// The launch type of a strategy's tasks: EC2 for custom providers, else
/// FARGATE.
fn strategy_launch_type(strategy: &[CapacityProviderStrategyItem]) -> String {
    if is_custom_strategy(strategy) { "EC2" } else { "FARGATE" }.to_string()
}

/// Launch type and capacity providers of a RunTask (or a new service):
/// the launch type asked for, else FARGATE (EC2 for custom providers) over
/// the strategy asked for or the cluster's default one, else EC2.
pub fn launch_of(
    cluster: &ClusterRecord,
    launch_type: Option<&str>,
    strategy: &[CapacityProviderStrategyItem],
    count: usize,
) -> Result<(String, Vec<String>), AwsError> {
    match (launch_type, strategy.is_empty()) {
        (Some(_), false) => Err(AwsError::invalid_parameter(
            "Specifying both a launch type and capacity provider strategy is not supported.",
        )),
        (Some(lt @ ("EC2" | "FARGATE" | "EXTERNAL")), true) => Ok((lt.to_string(), vec![])),
        (Some(other), true) => Err(AwsError::invalid_parameter(format!(
            "Launch type {other} is not supported by Berth. Valid values: EC2, FARGATE, EXTERNAL."
        ))),
        (None, false) => {
            validate_strategy(strategy, &cluster.capacity_providers)?;
            check_strategy_kinds(strategy)?;
            Ok((strategy_launch_type(strategy), split_by_strategy(strategy, count)))
        }
        (None, true) if !cluster.default_capacity_provider_strategy.is_empty() => {
            let strategy = &cluster.default_capacity_provider_strategy;
            check_strategy_kinds(strategy)?;
            Ok((strategy_launch_type(strategy), split_by_strategy(strategy, count)))
        }
        (None, true) => Ok(("EC2".into(), vec![])),
    }
}

/// Launch type and capacity provider of each of `count` new tasks of a
/// service deployment (resolved when the deployment was made): its launch
/// type, else FARGATE over its strategy (counting the capacity providers of
/// the deployment's tasks still wanted, `existing`), else EC2.
pub fn deployment_launch(
    launch_type: Option<&str>,
    strategy: &[CapacityProviderStrategyItem],
    existing: &[String],
    count: usize,
) -> (String, Vec<String>) {
    match launch_type {
        Some(lt) => (lt.to_string(), vec![]),
        None if !strategy.is_empty() => (
            strategy_launch_type(strategy),
            split_with_existing(strategy, existing, count),
        ),
        None => ("EC2".to_string(), vec![]),
    }
}

/// The platform versions Berth runs FARGATE tasks as (LATEST is 1.4.0).
pub const FARGATE_PLATFORM_VERSIONS: [&str; 2] = ["LATEST", "1.4.0"];

/// What Fargate refuses of a launch (RunTask, CreateService): placement
/// strategies and constraints (Fargate places tasks itself), a platform
/// version other than LATEST/1.4.0, and a platform version with another
/// launch type.
pub fn check_fargate_launch(
    launch_type: &str,
    platform_version: Option<&str>,
    has_strategies: bool,
    has_constraints: bool,
) -> Result<(), AwsError> {
    if launch_type != "FARGATE" {
        return match platform_version {
            Some(_) => Err(AwsError::invalid_parameter(
                "The platformVersion parameter is only valid for the FARGATE launch type.",
            )),
            None => Ok(()),
        };
    }
    if has_strategies {
        return Err(AwsError::invalid_parameter(
            "Placement strategies are not supported with FARGATE launch type.",
        ));
    }
    if has_constraints {
        return Err(AwsError::invalid_parameter(
            "Placement constraints are not supported with FARGATE launch type.",
        ));
    }
    if let Some(v) = platform_version
        && !FARGATE_PLATFORM_VERSIONS.contains(&v)
    {
        return Err(AwsError::invalid_parameter(format!(
            "The platform version {v} is not supported by Berth. Valid values: LATEST, 1.4.0."
        )));
    }
    Ok(())
}

/// Checks a launch's `overrides` against what the task will get: an
/// `ephemeralStorage` of 21 to 200 GiB, and for FARGATE a task cpu/memory
/// pair (the overrides' or the definition's) that Fargate offers.
pub fn check_launch_overrides(launch_type: &str, td: &Value, overrides: Option<&Value>) -> Result<(), AwsError> {
    let o = overrides.unwrap_or(&Value::Null);
    if let Some(es) = o.get("ephemeralStorage").filter(|v| !v.is_null()) {
        let size = es.get("sizeInGiB").and_then(Value::as_i64);
        if !size.is_some_and(|s| (21..=200).contains(&s)) {
            return Err(AwsError::invalid_parameter(
                "Invalid 'ephemeralStorage' setting. The ephemeral storage size must be between 21 and 200 GiB.",
            ));
        }
    }
    if launch_type != "FARGATE" || (o.get("cpu").is_none() && o.get("memory").is_none()) {
        return Ok(());
    }
    let field = |k: &str| o.get(k).and_then(Value::as_str).or_else(|| td[k].as_str());
    let as_invalid = |e: AwsError| AwsError::invalid_parameter(e.message);
    let cpu = field("cpu")
        .map(crate::taskdef::normalize_task_cpu)
        .transpose()
        .map_err(as_invalid)?;
    let memory = field("memory")
        .map(crate::taskdef::normalize_task_memory)
        .transpose()
        .map_err(as_invalid)?;
    match (cpu, memory) {
        (Some(cpu), Some(memory)) if crate::taskdef::is_valid_fargate_size(cpu, memory) => Ok(()),
        (Some(cpu), Some(memory)) => Err(AwsError::invalid_parameter(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
        ))),
        _ => Err(AwsError::invalid_parameter(
            "Fargate requires that 'cpu' and 'memory' be defined at the task level.",
        )),
    }
}

/// Checks that the task definition (`td`, as stored) can run with the
/// launch type. Berth runs FARGATE tasks on its own container instances:
/// they must use the awsvpc network mode, as on Fargate.
pub fn check_compatibility(td: &Value, launch_type: &str) -> Result<(), AwsError> {
    let unsupported =
        || AwsError::invalid_parameter(format!("Task definition does not support launch_type {launch_type}."));
    if let Some(compat) = td["compatibilities"].as_array()
        && !compat.is_empty()
        && !compat.iter().any(|c| c.as_str() == Some(launch_type))
    {
        return Err(unsupported());
    }
    if launch_type == "FARGATE" && td["networkMode"].as_str() != Some("awsvpc") {
        return Err(unsupported());
    }
    Ok(())
}
