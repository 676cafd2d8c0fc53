//! Which launch types a definition can run on: why not Fargate, why not
//! external instances, and the computed `compatibilities`.

use super::model::{FARGATE_LOG_DRIVERS, TaskDefinition, is_ecr_image};
use super::size::is_valid_fargate_size;
use berth_proto::AwsError;

/// Why this (validated) definition cannot run on Fargate, as the error ECS
/// returns when FARGATE is required; `None` when it is Fargate-compatible.
pub fn fargate_violation(def: &TaskDefinition) -> Option<AwsError> {
    let no = |what: &str| {
        Some(AwsError::client(format!(
            "Tasks using the Fargate launch type do not support {what}."
        )))
    };
    if def.network_mode.as_deref() != Some("awsvpc") {
        return Some(AwsError::client(
            "Fargate only supports network mode \u{2018}awsvpc\u{2019}.",
        ));
    }
    let Some(cpu) = def.task_cpu_units() else {
        return Some(AwsError::client(
            "Fargate requires that 'cpu' be defined at the task level.",
        ));
    };
    let Some(memory) = def.task_memory_mib() else {
        return Some(AwsError::client(
            "Fargate requires that 'memory' be defined at the task level.",
        ));
    };
    if !is_valid_fargate_size(cpu, memory) {
        return Some(AwsError::client(format!(
            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
        )));
    }
    if def.pid_mode.as_deref() == Some("host") {
        return no("pidMode 'host'");
    }
    if def.ipc_mode.is_some() {
        return no("ipcMode");
    }
    if !def.placement_constraints.is_empty() {
        return no("placementConstraints");
    }
    if def.inference_accelerators.as_ref().is_some_and(|i| !i.is_empty()) {
        return no("inferenceAccelerators");
    }
    for v in &def.volumes {
        if v.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            return no("host volumes with a sourcePath");
        }
        if v.docker_volume_configuration.is_some() {
            return no("dockerVolumeConfiguration");
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() && !is_windows(def) {
            return no("fsxWindowsFileServerVolumeConfiguration on Linux");
        }
    }
    for c in &def.container_definitions {
        let name = c.name.as_deref().unwrap_or_default();
        if c.privileged == Some(true) {
            return no("privileged containers");
        }
        if c.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return no("links");
        }
        if let Some(log) = &c.log_configuration {
            if !FARGATE_LOG_DRIVERS.contains(&log.log_driver.as_str()) {
                return Some(AwsError::client(format!(
                    "Log driver {} is not supported on Fargate (container '{name}'). Valid values are awslogs, splunk and awsfirelens.",
                    log.log_driver
                )));
            }
            if log.log_driver == "awslogs" && def.execution_role_arn.is_none() {
                return Some(AwsError::client(
                    "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                ));
            }
        }
        if c.image.as_deref().is_some_and(is_ecr_image) && def.execution_role_arn.is_none() {
            return Some(AwsError::client(
                "Fargate requires task definition to have execution role ARN to support ECR images.",
            ));
        }
        if c.stop_timeout.is_some_and(|t| t > 120) || c.start_timeout.is_some_and(|t| t > 120) {
            return Some(AwsError::client(format!(
                "Tasks using the Fargate launch type support container start and stop timeouts of at most 120 seconds (container '{name}')."
            )));
        }
        if c.resource_requirements
            .iter()
            .flatten()
            .any(|r| r.resource_type == "GPU")
        {
            return no("GPU resource requirements");
        }
    }
    None
}

fn is_windows(def: &TaskDefinition) -> bool {
    def.runtime_platform
        .as_ref()
        .and_then(|r| r.operating_system_family.as_deref())
        .is_some_and(|os| os.starts_with("WINDOWS"))
}

/// Why this definition cannot run on external (ECS Anywhere) instances;
/// `None` when it can.
pub fn external_violation(def: &TaskDefinition) -> Option<AwsError> {
    let no = |what: &str| {
        Some(AwsError::client(format!(
            "Tasks using the EXTERNAL launch type do not support {what}."
        )))
    };
    if def.network_mode.as_deref() == Some("awsvpc") {
        return no("network mode \u{2018}awsvpc\u{2019}");
    }
    if def.proxy_configuration.is_some() {
        return no("proxyConfiguration");
    }
    if def.inference_accelerators.as_ref().is_some_and(|i| !i.is_empty()) {
        return no("inferenceAccelerators");
    }
    if def.volumes.iter().any(|v| v.efs_volume_configuration.is_some()) {
        return no("efsVolumeConfiguration");
    }
    if def
        .volumes
        .iter()
        .any(|v| v.fsx_windows_file_server_volume_configuration.is_some())
    {
        return no("fsxWindowsFileServerVolumeConfiguration");
    }
    None
}

/// The launch types a definition is valid for, in ECS's order: EXTERNAL
/// (when compatible), EC2 (always), FARGATE (when compatible).
pub fn compatibilities(def: &TaskDefinition) -> Vec<String> {
    let mut out = vec![];
    if external_violation(def).is_none() {
        out.push("EXTERNAL".to_string());
    }
    out.push("EC2".to_string());
    if fargate_violation(def).is_none() {
        out.push("FARGATE".to_string());
    }
    out
}
