//! Pure mapping from an ECS container definition (with the task's overrides
//! and volumes) to Docker's create-container body, and from what Docker
//! reports back to ECS shapes (`networkBindings`, health). No IO.
//!
//! Network modes: `bridge` (ECS's Linux default), `host` and `none` map to
//! the Docker modes of the same name. `awsvpc` gives each task its own
//! network namespace and address ([`crate::awsvpc`]): the task's pause
//! container holds it, and every container joins it with Docker's
//! `container:<pause>` mode, so they share `localhost` and nothing is
//! published on the host (the ports are reached at the task's address).

use crate::host::DOCKER_LOG_DRIVERS;
use crate::invalid::{ContainerProblem, InvalidTask, PortError};
use crate::labels::*;
use crate::lifecycle::Health;
use crate::model::{ContainerDefinition, NetworkBinding, Task};
use crate::runtime::VolumePlan;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, HealthConfig, HealthStatusEnum, HostConfig, HostConfigLogConfig, PortBinding,
    PortMap, ResourcesUlimits,
};
use std::collections::{BTreeMap, HashMap};

/// ECS's health check defaults (seconds).
const HEALTH_INTERVAL: i64 = 30;
const HEALTH_TIMEOUT: i64 = 5;
const HEALTH_RETRIES: i64 = 3;
/// ECS gives a container without `cpu` 2 CPU shares (the Linux minimum).
const MIN_CPU_SHARES: i64 = 2;
const MIB: i64 = 1024 * 1024;
const NANOS: i64 = 1_000_000_000;

/// Who runs the task: labels every container carries.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    /// The cluster as the agent was configured (name or ARN), or, for a
    /// task of another cluster on a shared Fargate host, that cluster's
    /// name (`Task::cluster_label`).
    pub cluster: &'a str,
    pub instance_arn: &'a str,
    /// More labels for every container (tests add `berth.test=1`).
    pub extra_labels: &'a BTreeMap<String, String>,
}

/// The Docker name of a task's container: `ecs-<family>-<revision>-<container>-<task id>`.
/// Deterministic, so creating a container twice fails instead of running two.
pub fn docker_name(task: &Task, container: &str) -> String {
    let def = &task.task_definition;
    sanitize(&format!(
        "ecs-{}-{}-{}-{}",
        def.family_name(),
        def.revision_number(),
        container,
        task.id()
    ))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Rejects what this agent cannot run faithfully, with the reason to report.
pub fn validate(task: &Task) -> Result<(), InvalidTask> {
    let def = &task.task_definition;
    if def.container_definitions.is_empty() {
        return Err(InvalidTask::NoContainers);
    }
    match def.effective_network_mode() {
        "bridge" | "host" | "none" | "awsvpc" => {}
        other => return Err(InvalidTask::NetworkMode(other.to_string())),
    }
    for (what, mode) in [("pidMode", &def.pid_mode), ("ipcMode", &def.ipc_mode)] {
        if let Some(m) = mode.as_deref()
            && m == "task"
        {
            return Err(InvalidTask::TaskNamespace(what));
        }
    }
    for v in &def.volumes {
        let name = v.name.as_deref().unwrap_or("");
        if v.efs_volume_configuration.is_some() || v.fsx_windows_file_server_volume_configuration.is_some() {
            return Err(InvalidTask::RemoteVolume(name.to_string()));
        }
    }
    for c in &def.container_definitions {
        let overridden_files = task
            .container_override(c.name())
            .and_then(|o| o.environment_files.as_ref())
            .is_some_and(|f| !f.is_empty());
        if c.environment_files.as_ref().is_some_and(|f| !f.is_empty()) || overridden_files {
            return Err(InvalidTask::container(c.name(), ContainerProblem::EnvironmentFiles));
        }
        if let Some(Err(e)) = crate::awslogs::spec_for(task, c) {
            return Err(InvalidTask::container(c.name(), e));
        }
        if let Some(log) = &c.log_configuration
            && log.log_driver != "awslogs"
            && !DOCKER_LOG_DRIVERS.contains(&log.log_driver.as_str())
        {
            return Err(InvalidTask::container(
                c.name(),
                ContainerProblem::LogDriver(log.log_driver.clone()),
            ));
        }
        if let Some(hc) = &c.health_check
            && hc.command.is_empty()
        {
            return Err(InvalidTask::container(c.name(), ContainerProblem::EmptyHealthCheck));
        }
        for m in c.mount_points.iter().flatten() {
            let src = m.source_volume.as_deref().unwrap_or("");
            if !def.volumes.iter().any(|v| v.name.as_deref() == Some(src)) {
                return Err(InvalidTask::container(
                    c.name(),
                    ContainerProblem::UndeclaredVolume(src.to_string()),
                ));
            }
            if m.container_path.as_deref().unwrap_or("").is_empty() {
                return Err(InvalidTask::container(
                    c.name(),
                    ContainerProblem::NoContainerPath(src.to_string()),
                ));
            }
        }
        for p in c.port_mappings.iter().flatten() {
            expand_ports(p.container_port, p.container_port_range.as_deref())
                .map_err(|e| InvalidTask::container(c.name(), e))?;
        }
        if def.effective_network_mode() == "awsvpc" {
            for (what, set) in [
                ("dnsServers", c.dns_servers.as_ref().is_some_and(|v| !v.is_empty())),
                (
                    "dnsSearchDomains",
                    c.dns_search_domains.as_ref().is_some_and(|v| !v.is_empty()),
                ),
                ("extraHosts", c.extra_hosts.as_ref().is_some_and(|v| !v.is_empty())),
            ] {
                if set {
                    return Err(InvalidTask::container(c.name(), ContainerProblem::AwsvpcSetting(what)));
                }
            }
        }
    }
    Ok(())
}

/// Resolves the task definition's volumes.
pub fn volume_plan(task: &Task, placement: &Placement<'_>) -> BTreeMap<String, VolumePlan> {
    let def = &task.task_definition;
    let mut out = BTreeMap::new();
    for v in &def.volumes {
        let Some(name) = v.name.clone() else { continue };
        let plan = if let Some(path) = v.host.as_ref().and_then(|h| h.source_path.clone()) {
            VolumePlan::Bind { host_path: path }
        } else if let Some(dv) = &v.docker_volume_configuration {
            let shared = dv.scope.as_deref() == Some("shared");
            VolumePlan::Docker {
                name: if shared {
                    name.clone()
                } else {
                    task_volume_name(task, &name)
                },
                task_scoped: !shared,
                autoprovision: !shared || dv.autoprovision.unwrap_or(false),
                driver: dv.driver.clone(),
                driver_opts: dv.driver_opts.clone().unwrap_or_default(),
                labels: if shared {
                    dv.labels.clone().unwrap_or_default()
                } else {
                    task_volume_labels(task, placement, dv.labels.clone().unwrap_or_default())
                },
            }
        } else {
            // A host volume without a source path: Docker-managed, lives as
            // long as the task.
            VolumePlan::Docker {
                name: task_volume_name(task, &name),
                task_scoped: true,
                autoprovision: true,
                driver: None,
                driver_opts: BTreeMap::new(),
                labels: task_volume_labels(task, placement, BTreeMap::new()),
            }
        };
        out.insert(name, plan);
    }
    out
}

fn task_volume_name(task: &Task, volume: &str) -> String {
    docker_name(task, volume)
}

fn task_volume_labels(
    task: &Task,
    placement: &Placement<'_>,
    mut labels: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    labels.insert(LABEL_TASK_ARN.into(), task.task_arn.clone());
    labels.insert(LABEL_INSTANCE.into(), placement.instance_arn.to_string());
    for (k, v) in placement.extra_labels {
        labels.insert(k.clone(), v.clone());
    }
    labels
}

/// The labels of a task's container.
pub fn labels(task: &Task, container: &str, placement: &Placement<'_>) -> BTreeMap<String, String> {
    let def = &task.task_definition;
    let mut out = BTreeMap::new();
    out.insert(LABEL_CLUSTER.to_string(), placement.cluster.to_string());
    out.insert(LABEL_TASK_ARN.to_string(), task.task_arn.clone());
    out.insert(LABEL_CONTAINER_NAME.to_string(), container.to_string());
    out.insert(LABEL_FAMILY.to_string(), def.family_name().to_string());
    out.insert(LABEL_VERSION.to_string(), def.revision_number().to_string());
    out.insert(LABEL_INSTANCE.to_string(), placement.instance_arn.to_string());
    for (k, v) in placement.extra_labels {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// `containerPort` or `containerPortRange` ("8000-8010") as a list of ports.
pub fn expand_ports(port: Option<i64>, range: Option<&str>) -> Result<Vec<i64>, PortError> {
    let valid = |p: i64| (1..=65535).contains(&p);
    if let Some(r) = range {
        let (a, b) = r.split_once('-').ok_or_else(|| PortError::RangeForm(r.to_string()))?;
        let (a, b): (i64, i64) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) if valid(a) && valid(b) && a < b => (a, b),
            _ => {
                return Err(PortError::RangeBounds(r.to_string()));
            }
        };
        return Ok((a..=b).collect());
    }
    match port {
        Some(p) if valid(p) => Ok(vec![p]),
        Some(p) => Err(PortError::NotAPort(p)),
        None => Err(PortError::Missing),
    }
}

/// The Docker create body of one container of the task.
///
/// Links and volumesFrom name the other containers by their
/// [`docker_name`]; `volumes` is [`volume_plan`].
pub fn container_spec(
    task: &Task,
    def: &ContainerDefinition,
    placement: &Placement<'_>,
    volumes: &BTreeMap<String, VolumePlan>,
) -> Result<ContainerCreateBody, ContainerProblem> {
    let ov = task.container_override(def.name());
    let mode = task.task_definition.effective_network_mode();

    // Environment: the definition's, with overrides replacing same names.
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |name: Option<&String>, value: Option<&String>| {
        if let Some(n) = name {
            let v = value.cloned().unwrap_or_default();
            match env.iter_mut().find(|(k, _)| k == n) {
                Some(slot) => slot.1 = v,
                None => env.push((n.clone(), v)),
            }
        }
    };
    for kv in def.environment.iter().flatten() {
        set(kv.name.as_ref(), kv.value.as_ref());
    }
    for kv in ov.and_then(|o| o.environment.as_ref()).into_iter().flatten() {
        set(kv.name.as_ref(), kv.value.as_ref());
    }

    let cpu = ov.and_then(|o| o.cpu).or(def.cpu).unwrap_or(0);
    let memory = ov.and_then(|o| o.memory).or(def.memory);
    let memory_reservation = ov.and_then(|o| o.memory_reservation).or(def.memory_reservation);
    let command = ov.and_then(|o| o.command.clone()).or_else(|| def.command.clone());

    let mut host = HostConfig {
        cpu_shares: Some(cpu.max(MIN_CPU_SHARES)),
        memory: memory.map(|m| m * MIB),
        memory_reservation: memory_reservation.map(|m| m * MIB),
        network_mode: Some(match mode {
            "awsvpc" => format!("container:{}", crate::awsvpc::pause::container_name(task)),
            m => m.to_string(),
        }),
        privileged: def.privileged,
        readonly_rootfs: def.readonly_root_filesystem,
        dns: def.dns_servers.clone(),
        dns_search: def.dns_search_domains.clone(),
        security_opt: def.docker_security_options.clone(),
        ..Default::default()
    };
    if let Some(extra) = &def.extra_hosts {
        host.extra_hosts = Some(
            extra
                .iter()
                .map(|h| format!("{}:{}", h.hostname, h.ip_address))
                .collect(),
        );
    }
    if let Some(pid) = &task.task_definition.pid_mode {
        host.pid_mode = Some(pid.clone());
    }
    if let Some(ipc) = &task.task_definition.ipc_mode {
        host.ipc_mode = Some(ipc.clone());
    }
    if let Some(u) = &def.ulimits {
        host.ulimits = Some(
            u.iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft_limit),
                    hard: Some(u.hard_limit),
                })
                .collect(),
        );
    }
    if let Some(sc) = &def.system_controls {
        let map: HashMap<String, String> = sc
            .iter()
            .filter_map(|s| Some((s.namespace.clone()?, s.value.clone().unwrap_or_default())))
            .collect();
        if !map.is_empty() {
            host.sysctls = Some(map);
        }
    }
    if crate::awslogs::is_awslogs(def) {
        // The agent ships the output (crate::awslogs); json-file keeps it on
        // disk until it is stored.
        host.log_config = Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: None,
        });
    } else if let Some(log) = &def.log_configuration {
        host.log_config = Some(HostConfigLogConfig {
            typ: Some(log.log_driver.clone()),
            config: log.options.as_ref().map(|o| o.clone().into_iter().collect()),
        });
    }
    if let Some(lp) = &def.linux_parameters {
        if let Some(caps) = &lp.capabilities {
            host.cap_add = caps.add.clone().filter(|v| !v.is_empty());
            host.cap_drop = caps.drop.clone().filter(|v| !v.is_empty());
        }
        host.init = lp.init_process_enabled;
        host.shm_size = lp.shared_memory_size.map(|s| s * MIB);
        if let Some(t) = &lp.tmpfs {
            let map: HashMap<String, String> = t
                .iter()
                .map(|t| {
                    let mut opts = vec![format!("size={}m", t.size)];
                    opts.extend(t.mount_options.iter().flatten().cloned());
                    (t.container_path.clone(), opts.join(","))
                })
                .collect();
            host.tmpfs = Some(map);
        }
        if let Some(devs) = &lp.devices {
            host.devices = Some(
                devs.iter()
                    .map(|d| DeviceMapping {
                        path_on_host: Some(d.host_path.clone()),
                        path_in_container: Some(d.container_path.clone().unwrap_or_else(|| d.host_path.clone())),
                        cgroup_permissions: Some(device_permissions(d.permissions.as_deref())),
                    })
                    .collect(),
            );
        }
        if let (Some(swap), Some(mem)) = (lp.max_swap, memory) {
            // Docker's MemorySwap is memory + swap; maxSwap 0 turns swap off.
            host.memory_swap = Some((mem + swap.max(0)) * MIB);
        }
        host.memory_swappiness = lp.swappiness;
    }

    // Volumes.
    let mut binds = Vec::new();
    for m in def.mount_points.iter().flatten() {
        let src = m.source_volume.as_deref().unwrap_or("");
        let dst = m.container_path.as_deref().unwrap_or("");
        let source = match volumes.get(src) {
            Some(VolumePlan::Bind { host_path }) => host_path.clone(),
            Some(VolumePlan::Docker { name, .. }) => name.clone(),
            None => {
                return Err(ContainerProblem::UndeclaredVolume(src.to_string()));
            }
        };
        let ro = if m.read_only.unwrap_or(false) { ":ro" } else { "" };
        binds.push(format!("{source}:{dst}{ro}"));
    }
    if !binds.is_empty() {
        host.binds = Some(binds);
    }
    if let Some(vf) = &def.volumes_from {
        host.volumes_from = Some(
            vf.iter()
                .filter_map(|v| {
                    let src = v.source_container.as_deref()?;
                    let ro = if v.read_only.unwrap_or(false) { ":ro" } else { "" };
                    Some(format!("{}{ro}", docker_name(task, src)))
                })
                .collect(),
        );
    }
    if let Some(links) = &def.links {
        host.links = Some(
            links
                .iter()
                .map(|l| {
                    let (name, alias) = l.split_once(':').unwrap_or((l, l));
                    format!("{}:{alias}", docker_name(task, name))
                })
                .collect(),
        );
    }

    // Ports.
    // awsvpc: the ports are the task address's own; Docker refuses to
    // expose or publish ports of a container in another's namespace.
    let mut exposed = Vec::new();
    if mode != "none" && mode != "awsvpc" {
        let mut bindings: PortMap = HashMap::new();
        for p in def.port_mappings.iter().flatten() {
            let proto = p.protocol.clone().unwrap_or_else(|| "tcp".to_string()).to_lowercase();
            let ports = expand_ports(p.container_port, p.container_port_range.as_deref())?;
            if mode == "host"
                && let (Some(h), Some(c)) = (p.host_port, p.container_port)
                && h != 0
                && h != c
            {
                return Err(PortError::HostPortDiffers { container: c, host: h }.into());
            }
            for port in ports {
                let key = format!("{port}/{proto}");
                exposed.push(key.clone());
                if mode == "host" {
                    continue;
                }
                let host_port = match (mode, p.host_port) {
                    (_, Some(h)) if h > 0 && p.container_port_range.is_none() => h.to_string(),
                    // Dynamic: Docker picks a free port from the ephemeral range.
                    _ => String::new(),
                };
                bindings
                    .entry(key)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: Some(String::new()),
                        host_port: Some(host_port),
                    });
            }
        }
        if !bindings.is_empty() {
            host.port_bindings = Some(bindings);
        }
    }

    let hostname = match mode {
        "bridge" | "none" => def.hostname.clone(),
        _ => None,
    };
    let mut all_labels: BTreeMap<String, String> = def.docker_labels.clone().unwrap_or_default();
    all_labels.extend(labels(task, def.name(), placement));
    if let Some(ship) = crate::awslogs::spec_for(task, def) {
        let ship = ship?;
        all_labels.insert(
            crate::labels::LABEL_AWSLOGS.into(),
            // Strings only: serialising cannot fail.
            serde_json::to_string(&ship).unwrap_or_default(),
        );
    }

    Ok(ContainerCreateBody {
        image: Some(def.image().to_string()),
        hostname,
        user: def.user.clone(),
        working_dir: def.working_directory.clone(),
        env: if env.is_empty() {
            None
        } else {
            Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
        },
        cmd: command,
        entrypoint: def.entry_point.clone(),
        exposed_ports: if exposed.is_empty() { None } else { Some(exposed) },
        labels: Some(all_labels.into_iter().collect()),
        healthcheck: def.health_check.as_ref().map(|hc| HealthConfig {
            test: Some(health_test(&hc.command)),
            interval: Some(hc.interval.unwrap_or(HEALTH_INTERVAL) * NANOS),
            timeout: Some(hc.timeout.unwrap_or(HEALTH_TIMEOUT) * NANOS),
            retries: Some(hc.retries.unwrap_or(HEALTH_RETRIES)),
            start_period: hc.start_period.map(|s| s * NANOS),
            ..Default::default()
        }),
        network_disabled: def.disable_networking,
        open_stdin: def.interactive,
        tty: def.pseudo_terminal,
        stop_timeout: Some(stop_timeout_secs(def)),
        host_config: Some(host),
        ..Default::default()
    })
}

/// The seconds between SIGTERM and SIGKILL for a container of a task
/// being stopped: the control plane's notice when it asked for the stop
/// with one (`wants_stop`; a FARGATE_SPOT interruption's two minutes,
/// scaled), else the container's stopTimeout.
pub fn stop_grace_secs(def: &ContainerDefinition, wants_stop: bool, notice: Option<u64>) -> i64 {
    match notice {
        Some(n) if wants_stop => i64::try_from(n).unwrap_or(i64::MAX),
        _ => stop_timeout_secs(def),
    }
}

/// ECS's default `stopTimeout` when the definition has none.
pub const DEFAULT_STOP_TIMEOUT: i64 = 30;

pub fn stop_timeout_secs(def: &ContainerDefinition) -> i64 {
    def.stop_timeout.filter(|t| *t >= 0).unwrap_or(DEFAULT_STOP_TIMEOUT)
}

fn device_permissions(p: Option<&[String]>) -> String {
    match p {
        None => "rwm".to_string(),
        Some(list) => {
            let mut s = String::new();
            for (word, ch) in [("read", 'r'), ("write", 'w'), ("mknod", 'm')] {
                if list.iter().any(|x| x == word) {
                    s.push(ch);
                }
            }
            s
        }
    }
}

/// ECS health check commands start with CMD or CMD-SHELL (or NONE), as
/// Docker's; a bare command is run as CMD.
fn health_test(cmd: &[String]) -> Vec<String> {
    match cmd.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL" | "NONE") => cmd.to_vec(),
        _ => std::iter::once("CMD".to_string()).chain(cmd.iter().cloned()).collect(),
    }
}

/// Docker's health status in ECS terms.
pub fn health(status: Option<&HealthStatusEnum>) -> Health {
    match status {
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        _ => Health::Unknown,
    }
}

/// `networkBindings` for a started container: in bridge mode the ports Docker
/// really bound (so dynamic host ports are reported as chosen), in host mode
/// the container's own ports, in awsvpc none (as ECS: the task's
/// `networkInterfaces` say where its ports are).
pub fn network_bindings(mode: &str, def: &ContainerDefinition, ports: Option<&PortMap>) -> Vec<NetworkBinding> {
    let mut out = Vec::new();
    match mode {
        "host" => {
            for p in def.port_mappings.iter().flatten() {
                let proto = p.protocol.clone().unwrap_or_else(|| "tcp".into()).to_lowercase();
                for port in expand_ports(p.container_port, p.container_port_range.as_deref()).unwrap_or_default() {
                    out.push(NetworkBinding::new("0.0.0.0", port, port, proto.clone()));
                }
            }
        }
        "none" | "awsvpc" => {}
        _ => {
            for (key, bindings) in ports.into_iter().flatten() {
                let Some((port, proto)) = key.split_once('/') else {
                    continue;
                };
                let Ok(container_port) = port.parse::<i64>() else {
                    continue;
                };
                for b in bindings.iter().flatten() {
                    let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse::<i64>().ok()) else {
                        continue;
                    };
                    let bind_ip = b.host_ip.clone().filter(|s| !s.is_empty());
                    out.push(NetworkBinding::new(
                        bind_ip.unwrap_or_else(|| "0.0.0.0".into()),
                        container_port,
                        host_port,
                        proto,
                    ));
                }
            }
        }
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.dedup();
    out
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
