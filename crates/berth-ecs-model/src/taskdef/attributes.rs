//! The computed `requiresAttributes`: the agent capabilities a task of the
//! definition needs.

use super::model::{TaskDefinition, is_ecr_image};

const CAP: &str = "com.amazonaws.ecs.capability.";
const ATTR: &str = "ecs.capability.";

/// The container instance attributes (agent capabilities) a task of this
/// definition needs, named as the ECS agent advertises them.
pub fn requires_attributes(def: &TaskDefinition) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut add = |name: String| {
        if !out.contains(&name) {
            out.push(name);
        }
    };
    let docker = |v: &str| format!("{CAP}docker-remote-api.{v}");
    let has_exec_role = def.execution_role_arn.is_some();

    for c in &def.container_definitions {
        if c.image.as_deref().is_some_and(is_ecr_image) {
            add(format!("{CAP}ecr-auth"));
            if has_exec_role {
                add(format!("{ATTR}execution-role-ecr-pull"));
            }
        }
        if let Some(log) = &c.log_configuration {
            add(format!("{CAP}logging-driver.{}", log.log_driver));
            add(docker("1.18"));
            if log.log_driver == "awslogs" {
                add(docker("1.19"));
                if has_exec_role {
                    add(format!("{ATTR}execution-role-awslogs"));
                }
            }
            for s in log.secret_options.iter().flatten() {
                add(format!(
                    "{ATTR}secrets.{}.bootstrap.log-driver",
                    secret_store(&s.value_from)
                ));
            }
        }
        if let Some(f) = &c.firelens_configuration {
            add(format!("{ATTR}firelens.{}", f.firelens_type));
        }
        for s in c.secrets.iter().flatten() {
            add(format!(
                "{ATTR}secrets.{}.environment-variables",
                secret_store(&s.value_from)
            ));
        }
        if c.repository_credentials.is_some() {
            add(format!("{ATTR}private-registry-authentication.secretsmanager"));
        }
        if c.memory_reservation.is_some() {
            add(docker("1.21"));
        }
        if c.privileged == Some(true) {
            add(format!("{CAP}privileged-container"));
        }
        if c.docker_labels.is_some() || c.ulimits.is_some() {
            add(docker("1.18"));
        }
        if c.docker_security_options.as_ref().is_some_and(|o| !o.is_empty()) {
            add(docker("1.17"));
        }
        if let Some(hc) = &c.health_check {
            add(format!("{ATTR}container-health-check"));
            add(docker("1.24"));
            if hc.start_period.is_some() {
                add(docker("1.29"));
            }
        }
        if c.depends_on.as_ref().is_some_and(|d| !d.is_empty()) || c.start_timeout.is_some() || c.stop_timeout.is_some()
        {
            add(format!("{ATTR}container-ordering"));
        }
        if c.environment_files.as_ref().is_some_and(|e| !e.is_empty()) {
            add(format!("{ATTR}env-files.s3"));
        }
        if c.linux_parameters.as_ref().and_then(|l| l.init_process_enabled) == Some(true) {
            add(docker("1.25"));
        }
        if c.port_mappings
            .iter()
            .flatten()
            .any(|p| p.container_port_range.is_some())
        {
            add(format!("{ATTR}network.container-port-range"));
        }
        if c.restart_policy.as_ref().is_some_and(|r| r.enabled) {
            add(format!("{ATTR}container-restart-policy"));
        }
    }
    if def.task_role_arn.is_some() {
        add(format!("{CAP}task-iam-role"));
        if def.network_mode.as_deref() == Some("host") {
            add(format!("{CAP}task-iam-role-network-host"));
        }
    }
    if def.pid_mode.is_some() || def.ipc_mode.is_some() {
        add(format!("{ATTR}pid-ipc-namespace-sharing"));
    }
    for v in &def.volumes {
        if let Some(efs) = &v.efs_volume_configuration {
            add(format!("{ATTR}efs"));
            if efs.get("authorizationConfig").is_some() {
                add(format!("{ATTR}efsAuth"));
            }
        }
        if let Some(d) = &v.docker_volume_configuration {
            add(format!(
                "{ATTR}docker-plugin.{}",
                d.driver.as_deref().unwrap_or("local")
            ));
        }
        if v.fsx_windows_file_server_volume_configuration.is_some() {
            add(format!("{ATTR}fsxWindowsFileServer"));
        }
    }
    if def.inference_accelerators.as_ref().is_some_and(|i| !i.is_empty()) {
        add(format!("{ATTR}task-eia"));
    }
    if def.proxy_configuration.is_some() {
        add(format!("{ATTR}aws-appmesh"));
    }
    if def.enable_fault_injection == Some(true) {
        add(format!("{ATTR}fault-injection"));
    }
    if let Some(mode) = &def.network_mode {
        add(docker("1.18"));
        if mode == "awsvpc" {
            add(format!("{ATTR}task-eni"));
        }
    }
    out
}

/// `asm` for Secrets Manager ARNs, `ssm` for Parameter Store names and ARNs.
fn secret_store(value_from: &str) -> &'static str {
    if value_from.starts_with("arn:") && value_from.split(':').nth(2) == Some("secretsmanager") {
        "asm"
    } else {
        "ssm"
    }
}
