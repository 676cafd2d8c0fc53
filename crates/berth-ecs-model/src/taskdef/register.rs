//! `RegisterTaskDefinition`'s rules: validation with ECS's error wording and
//! the defaults ECS fills in, per container and for the whole definition.

use super::attributes::requires_attributes;
use super::launch::{compatibilities, external_violation, fargate_violation};
use super::model::{
    Attribute, ContainerDefinition, HealthCheck, LOG_DRIVERS, MAX_CONTAINERS, MIN_CONTAINER_MEMORY_MIB, NETWORK_MODES,
    PlacementConstraint, PortMapping, RuntimePlatform, Secret, TASK_CPU_RANGE, TaskDefinition, Volume,
};
use super::size::{normalize_task_cpu, normalize_task_memory};
use berth_core::names::is_valid_ecs_name;
use berth_proto::AwsError;
use std::collections::{HashMap, HashSet};

pub(super) fn client(msg: impl Into<String>) -> AwsError {
    AwsError::client(msg)
}

/// Validates a `RegisterTaskDefinition` request (without `tags`) and returns
/// the definition as ECS stores it: defaults filled in, task cpu/memory
/// normalized to numeric strings, `compatibilities` and `requiresAttributes`
/// computed. The revision, ARN, status and registration metadata are added by
/// [`TaskDefinition::registered`].
pub fn prepare_registration(mut def: TaskDefinition) -> Result<TaskDefinition, AwsError> {
    // Fields only ECS sets: whatever the client sent is replaced.
    def.task_definition_arn = None;
    def.revision = None;
    def.status = None;
    def.requires_attributes = None;
    def.compatibilities = None;
    def.registered_at = None;
    def.registered_by = None;
    def.deregistered_at = None;
    def.delete_requested_at = None;

    validate_family(def.family.as_deref())?;
    validate_container_names(&def.container_definitions)?;

    if let Some(mode) = &def.network_mode
        && !NETWORK_MODES.contains(&mode.as_str())
    {
        return Err(client(format!(
            "Invalid networkMode '{mode}'. Valid values are bridge, host, awsvpc and none."
        )));
    }
    for c in &def.requires_compatibilities {
        match c.as_str() {
            "EC2" | "FARGATE" | "EXTERNAL" => {}
            "MANAGED_INSTANCES" => {
                return Err(client(
                    "The MANAGED_INSTANCES compatibility is not supported by this endpoint. Use EC2, FARGATE or EXTERNAL.",
                ));
            }
            other => {
                return Err(client(format!(
                    "Invalid requiresCompatibilities value '{other}'. Valid values are EC2, FARGATE and EXTERNAL."
                )));
            }
        }
    }
    if let Some(p) = &def.pid_mode
        && !matches!(p.as_str(), "host" | "task")
    {
        return Err(client(format!(
            "Invalid pidMode '{p}'. Valid values are host and task."
        )));
    }
    if let Some(i) = &def.ipc_mode
        && !matches!(i.as_str(), "host" | "task" | "none")
    {
        return Err(client(format!(
            "Invalid ipcMode '{i}'. Valid values are host, task and none."
        )));
    }
    if let Some(cpu) = def.cpu.take() {
        let units = normalize_task_cpu(&cpu)?;
        if !TASK_CPU_RANGE.contains(&units) && !def.requires("FARGATE") {
            return Err(client(format!(
                "Invalid 'cpu' setting for task. The task cpu must be between {} and {} CPU units.",
                TASK_CPU_RANGE.start(),
                TASK_CPU_RANGE.end()
            )));
        }
        def.cpu = Some(units.to_string());
    }
    if let Some(memory) = def.memory.take() {
        let mib = normalize_task_memory(&memory)?;
        if mib < MIN_CONTAINER_MEMORY_MIB as u64 {
            return Err(client(format!(
                "Invalid 'memory' setting for task. The task memory must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
            )));
        }
        def.memory = Some(mib.to_string());
    }
    if let Some(rp) = &def.runtime_platform {
        validate_runtime_platform(rp)?;
    }
    if let Some(es) = &def.ephemeral_storage
        && !(21..=200).contains(&es.size_in_gib)
    {
        return Err(client(
            "Invalid 'ephemeralStorage' setting. The ephemeral storage size must be between 21 and 200 GiB.",
        ));
    }
    validate_placement_constraints(&def.placement_constraints)?;
    validate_volumes(&def.volumes)?;

    let mode = def.effective_network_mode().to_string();
    let task_memory = def.task_memory_mib();
    let task_cpu = def.task_cpu_units();
    let names: Vec<String> = def
        .container_definitions
        .iter()
        .map(|c| c.name.clone().unwrap_or_default())
        .collect();
    let volume_names: HashSet<String> = def.volumes.iter().filter_map(|v| v.name.clone()).collect();
    for c in def.container_definitions.iter_mut() {
        normalize_container(c, &mode, task_memory, &names, &volume_names)?;
    }
    if !def.container_definitions.iter().any(|c| c.essential == Some(true)) {
        return Err(client("Task definition doesn't have any essential container."));
    }
    validate_dependencies(&def.container_definitions)?;
    if let Some(tm) = task_memory {
        let reserved: i64 = def
            .container_definitions
            .iter()
            .map(|c| c.memory_reservation.or(c.memory).unwrap_or(0))
            .sum();
        if reserved as u64 > tm {
            return Err(client(
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
            ));
        }
    }
    if let Some(tc) = task_cpu {
        let cpu: i64 = def.container_definitions.iter().map(|c| c.cpu.unwrap_or(0)).sum();
        if cpu as u64 > tc {
            return Err(client(
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
            ));
        }
    }

    if def.requires("FARGATE")
        && let Some(e) = fargate_violation(&def)
    {
        return Err(e);
    }
    if def.requires("EXTERNAL")
        && let Some(e) = external_violation(&def)
    {
        return Err(e);
    }
    def.compatibilities = Some(compatibilities(&def));
    def.requires_attributes = Some(requires_attributes(&def).into_iter().map(Attribute::named).collect());
    Ok(def)
}

fn validate_family(family: Option<&str>) -> Result<(), AwsError> {
    let family = family.unwrap_or_default();
    if family.is_empty() {
        return Err(client("Family can not be blank."));
    }
    if family.len() > 255 {
        return Err(client("Family must be at most 255 characters long."));
    }
    if !is_valid_ecs_name(family) {
        return Err(client("Family contains invalid characters."));
    }
    Ok(())
}

fn validate_container_names(containers: &[ContainerDefinition]) -> Result<(), AwsError> {
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    if containers.len() > MAX_CONTAINERS {
        return Err(client("Too many containers."));
    }
    let mut seen = HashSet::new();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(client("Container.name should not be null or empty."));
        }
        if !is_valid_ecs_name(name) {
            return Err(client("Container.name contains invalid characters."));
        }
        if !seen.insert(name) {
            return Err(client("Container names must be unique within a Task Definition."));
        }
    }
    Ok(())
}

fn validate_runtime_platform(rp: &RuntimePlatform) -> Result<(), AwsError> {
    if let Some(a) = &rp.cpu_architecture
        && !matches!(a.as_str(), "X86_64" | "ARM64")
    {
        return Err(client(format!(
            "Invalid runtimePlatform cpuArchitecture '{a}'. Valid values are X86_64 and ARM64."
        )));
    }
    if let Some(os) = &rp.operating_system_family
        && os != "LINUX"
        && !os.starts_with("WINDOWS_SERVER_")
    {
        return Err(client(format!("Invalid runtimePlatform operatingSystemFamily '{os}'.")));
    }
    Ok(())
}

fn validate_placement_constraints(constraints: &[PlacementConstraint]) -> Result<(), AwsError> {
    if constraints.len() > 10 {
        return Err(client("A task definition can have at most 10 placement constraints."));
    }
    for pc in constraints {
        if pc.constraint_type.as_deref() != Some("memberOf") {
            return Err(client(format!(
                "Invalid placement constraint type '{}'. Task definitions support only memberOf constraints.",
                pc.constraint_type.as_deref().unwrap_or_default()
            )));
        }
        if pc.expression.as_deref().unwrap_or_default().trim().is_empty() {
            return Err(client("A memberOf placement constraint requires an expression."));
        }
    }
    Ok(())
}

fn validate_volumes(volumes: &[Volume]) -> Result<(), AwsError> {
    let mut seen = HashSet::new();
    for v in volumes {
        let name = v.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(client("Volume.name should not be null or empty."));
        }
        if !is_valid_ecs_name(name) {
            return Err(client("Volume.name contains invalid characters."));
        }
        if !seen.insert(name) {
            return Err(client("Volume names must be unique within a Task Definition."));
        }
        if let Some(d) = &v.docker_volume_configuration {
            if let Some(scope) = &d.scope
                && !matches!(scope.as_str(), "task" | "shared")
            {
                return Err(client(format!(
                    "Invalid dockerVolumeConfiguration scope '{scope}' for volume '{name}'. Valid values are task and shared."
                )));
            }
            if d.autoprovision == Some(true) && d.scope.as_deref() != Some("shared") {
                return Err(client(format!(
                    "Invalid dockerVolumeConfiguration for volume '{name}': autoprovision is only valid when scope is shared."
                )));
            }
        }
        let configs = [
            v.host.is_some(),
            v.docker_volume_configuration.is_some(),
            v.efs_volume_configuration.is_some(),
            v.fsx_windows_file_server_volume_configuration.is_some(),
        ];
        if configs.iter().filter(|c| **c).count() > 1 {
            return Err(client(format!(
                "Volume '{name}' can specify only one of host, dockerVolumeConfiguration, efsVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration."
            )));
        }
    }
    Ok(())
}

fn normalize_container(
    c: &mut ContainerDefinition,
    mode: &str,
    task_memory: Option<u64>,
    containers: &[String],
    volumes: &HashSet<String>,
) -> Result<(), AwsError> {
    let name = c.name.clone().unwrap_or_default();
    if c.image.as_deref().unwrap_or_default().trim().is_empty() {
        return Err(client("Container.image should not be null or empty."));
    }

    // cpu and memory.
    let cpu = c.cpu.unwrap_or(0);
    if cpu < 0 {
        return Err(client(format!(
            "Invalid 'cpu' setting for container '{name}'. The value must not be negative."
        )));
    }
    c.cpu = Some(cpu);
    for (field, value) in [("memory", c.memory), ("memoryReservation", c.memory_reservation)] {
        if let Some(v) = value
            && v < MIN_CONTAINER_MEMORY_MIB
        {
            return Err(client(format!(
                "Invalid '{field}' setting for container '{name}'. The value must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
            )));
        }
    }
    if task_memory.is_none() && c.memory.is_none() && c.memory_reservation.is_none() {
        return Err(client(format!(
            "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
        )));
    }
    if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
        && r > m
    {
        return Err(client(format!(
            "Invalid setting for container '{name}'. 'memory' must be greater than or equal to 'memoryReservation'."
        )));
    }
    if let (Some(tm), Some(m)) = (task_memory, c.memory)
        && m as u64 > tm
    {
        return Err(client(format!(
            "The 'memory' setting for container '{name}' is greater than for the task."
        )));
    }

    c.essential = Some(c.essential.unwrap_or(true));

    // Ports.
    let mut mappings = c.port_mappings.take().unwrap_or_default();
    if mode == "none" && !mappings.is_empty() {
        return Err(client("Port mappings are not supported when networkMode=none."));
    }
    for pm in mappings.iter_mut() {
        normalize_port_mapping(pm, mode, &name)?;
    }
    c.port_mappings = Some(mappings);

    // Links and hostname depend on the network mode.
    if let Some(links) = &c.links {
        if !links.is_empty() && mode != "bridge" {
            return Err(client(format!("Links are not supported when networkMode={mode}.")));
        }
        for link in links {
            let target = link.split(':').next().unwrap_or_default();
            if target == name || !containers.iter().any(|n| n == target) {
                return Err(client(format!(
                    "Invalid link '{link}' in container '{name}': '{target}' is not another container of this task definition."
                )));
            }
        }
    }
    if c.hostname.is_some() && matches!(mode, "awsvpc" | "host") {
        return Err(client(format!(
            "hostname is not supported on container when networkMode={mode}."
        )));
    }

    // Volumes.
    let mounts = c.mount_points.get_or_insert_with(Vec::new);
    for mp in mounts.iter() {
        let source = mp.source_volume.as_deref().unwrap_or_default();
        if source.is_empty() {
            return Err(client(format!(
                "Invalid mount point in container '{name}': sourceVolume should not be null or empty."
            )));
        }
        if !volumes.contains(source) {
            return Err(client(format!(
                "Invalid mount point in container '{name}': unknown volume '{source}'. Declare it in the task definition's volumes."
            )));
        }
        if mp.container_path.as_deref().unwrap_or_default().is_empty() {
            return Err(client(format!(
                "Invalid mount point in container '{name}': containerPath should not be null or empty."
            )));
        }
    }
    let volumes_from = c.volumes_from.get_or_insert_with(Vec::new);
    for vf in volumes_from.iter() {
        let source = vf.source_container.as_deref().unwrap_or_default();
        if source == name || !containers.iter().any(|n| n == source) {
            return Err(client(format!(
                "Invalid volumesFrom in container '{name}': '{source}' is not another container of this task definition."
            )));
        }
    }
    c.environment.get_or_insert_with(Vec::new);
    c.system_controls.get_or_insert_with(Vec::new);

    if let Some(hc) = c.health_check.as_mut() {
        normalize_health_check(hc, &name)?;
    }
    if let Some(log) = &c.log_configuration {
        if !LOG_DRIVERS.contains(&log.log_driver.as_str()) {
            return Err(client(format!(
                "Invalid log driver '{}' for container '{name}'. Valid values are {}.",
                log.log_driver,
                LOG_DRIVERS.join(", ")
            )));
        }
        for s in log.secret_options.iter().flatten() {
            validate_secret(s, &name)?;
        }
    }
    for s in c.secrets.iter().flatten() {
        validate_secret(s, &name)?;
    }
    for (field, value) in [("startTimeout", c.start_timeout), ("stopTimeout", c.stop_timeout)] {
        if let Some(v) = value
            && v < 2
        {
            return Err(client(format!(
                "Invalid '{field}' setting for container '{name}'. The value must be at least 2 seconds."
            )));
        }
    }
    for rr in c.resource_requirements.iter().flatten() {
        match rr.resource_type.as_str() {
            "GPU" => {
                if rr.value.parse::<u32>().ok().filter(|n| *n > 0).is_none() {
                    return Err(client(format!(
                        "Invalid GPU resource requirement '{}' for container '{name}'. Specify a positive number of GPUs.",
                        rr.value
                    )));
                }
            }
            "InferenceAccelerator" => {}
            other => {
                return Err(client(format!(
                    "Invalid resource requirement type '{other}' for container '{name}'. Valid values are GPU and InferenceAccelerator."
                )));
            }
        }
    }
    if let Some(rp) = &c.restart_policy {
        if rp.ignored_exit_codes.as_ref().is_some_and(|c| c.len() > 50) {
            return Err(client(format!(
                "Invalid restartPolicy for container '{name}': at most 50 ignoredExitCodes can be specified."
            )));
        }
        if let Some(p) = rp.restart_attempt_period
            && !(60..=1800).contains(&p)
        {
            return Err(client(format!(
                "Invalid restartPolicy for container '{name}': restartAttemptPeriod must be between 60 and 1800 seconds."
            )));
        }
    }
    for ef in c.environment_files.iter().flatten() {
        if ef.file_type != "s3" {
            return Err(client(format!(
                "Invalid environmentFiles type '{}' for container '{name}'. The only valid value is s3.",
                ef.file_type
            )));
        }
    }
    if let Some(f) = &c.firelens_configuration
        && !matches!(f.firelens_type.as_str(), "fluentd" | "fluentbit")
    {
        return Err(client(format!(
            "Invalid firelensConfiguration type '{}' for container '{name}'. Valid values are fluentd and fluentbit.",
            f.firelens_type
        )));
    }
    Ok(())
}

fn validate_secret(s: &Secret, container: &str) -> Result<(), AwsError> {
    if s.name.is_empty() || s.value_from.is_empty() {
        return Err(client(format!(
            "Invalid secret in container '{container}': name and valueFrom are required."
        )));
    }
    Ok(())
}

fn parse_port_range(range: &str) -> Option<(i64, i64)> {
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?);
    ((1..=65535).contains(&a) && (1..=65535).contains(&b) && a < b).then_some((a, b))
}

fn normalize_port_mapping(pm: &mut PortMapping, mode: &str, container: &str) -> Result<(), AwsError> {
    let protocol = pm.protocol.get_or_insert_with(|| "tcp".into());
    if !matches!(protocol.as_str(), "tcp" | "udp") {
        return Err(client(format!(
            "Invalid protocol '{protocol}' in port mappings of container '{container}'. Valid values are tcp and udp."
        )));
    }
    if let Some(ap) = &pm.app_protocol
        && !matches!(ap.as_str(), "http" | "http2" | "grpc")
    {
        return Err(client(format!(
            "Invalid appProtocol '{ap}' in port mappings of container '{container}'. Valid values are http, http2 and grpc."
        )));
    }
    if let Some(range) = &pm.container_port_range {
        if pm.container_port.is_some() || pm.host_port.is_some() {
            return Err(client(format!(
                "Invalid port mapping in container '{container}': specify either containerPort or containerPortRange, and no hostPort with a range."
            )));
        }
        if !matches!(mode, "awsvpc" | "bridge") {
            return Err(client(format!(
                "Container port ranges are not supported when networkMode={mode}."
            )));
        }
        if parse_port_range(range).is_none() {
            return Err(client(format!(
                "Invalid containerPortRange '{range}' in container '{container}'. Use START-END with ports between 1 and 65535."
            )));
        }
        return Ok(());
    }
    let cp = pm.container_port.ok_or_else(|| {
        client(format!(
            "Invalid port mapping in container '{container}': containerPort is required."
        ))
    })?;
    if !(1..=65535).contains(&cp) {
        return Err(client(format!(
            "Invalid containerPort {cp} in container '{container}'. Ports must be between 1 and 65535."
        )));
    }
    if let Some(hp) = pm.host_port
        && !(0..=65535).contains(&hp)
    {
        return Err(client(format!(
            "Invalid hostPort {hp} in container '{container}'. Ports must be between 0 and 65535."
        )));
    }
    match mode {
        "awsvpc" | "host" => match pm.host_port {
            None => pm.host_port = Some(cp),
            Some(hp) if hp != cp => {
                return Err(client(format!(
                    "When networkMode={mode}, the host ports and container ports in port mappings must match."
                )));
            }
            Some(_) => {}
        },
        _ => {
            pm.host_port.get_or_insert(0);
        }
    }
    Ok(())
}

fn normalize_health_check(hc: &mut HealthCheck, container: &str) -> Result<(), AwsError> {
    let bad = |what: &str| client(format!("Invalid health check for container '{container}': {what}"));
    match hc.command.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL") if hc.command.len() >= 2 => {}
        Some("NONE") if hc.command.len() == 1 => {}
        _ => {
            return Err(bad(
                "the command must start with CMD (arguments run directly) or CMD-SHELL (run with the container's shell), followed by the command.",
            ));
        }
    }
    let interval = *hc.interval.get_or_insert(30);
    let timeout = *hc.timeout.get_or_insert(5);
    let retries = *hc.retries.get_or_insert(3);
    if !(5..=300).contains(&interval) {
        return Err(bad("interval must be between 5 and 300 seconds."));
    }
    if !(2..=120).contains(&timeout) {
        return Err(bad("timeout must be between 2 and 120 seconds."));
    }
    if !(1..=10).contains(&retries) {
        return Err(bad("retries must be between 1 and 10."));
    }
    if let Some(sp) = hc.start_period
        && !(0..=300).contains(&sp)
    {
        return Err(bad("startPeriod must be between 0 and 300 seconds."));
    }
    Ok(())
}

fn validate_dependencies(containers: &[ContainerDefinition]) -> Result<(), AwsError> {
    let index: HashMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_deref().unwrap_or_default(), i))
        .collect();
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        for d in c.depends_on.iter().flatten() {
            let Some(&target) = index.get(d.container_name.as_str()) else {
                return Err(client(format!(
                    "Container '{name}' depends on container '{}', which is not defined in the task definition.",
                    d.container_name
                )));
            };
            let target = &containers[target];
            match d.condition.as_str() {
                "START" => {}
                "COMPLETE" | "SUCCESS" => {
                    if target.essential == Some(true) {
                        return Err(client(
                            "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                        ));
                    }
                }
                "HEALTHY" => {
                    if target.health_check.is_none() {
                        return Err(client(format!(
                            "Container '{name}' depends on container '{}' being HEALTHY, but that container has no healthCheck.",
                            d.container_name
                        )));
                    }
                }
                other => {
                    return Err(client(format!(
                        "Invalid dependsOn condition '{other}' in container '{name}'. Valid values are START, COMPLETE, SUCCESS and HEALTHY."
                    )));
                }
            }
        }
    }
    // No cycles: depth-first search with white/grey/black marks.
    fn visit(i: usize, containers: &[ContainerDefinition], index: &HashMap<&str, usize>, marks: &mut [u8]) -> bool {
        match marks[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        marks[i] = 1;
        for d in containers[i].depends_on.iter().flatten() {
            if let Some(&j) = index.get(d.container_name.as_str())
                && visit(j, containers, index, marks)
            {
                return true;
            }
        }
        marks[i] = 2;
        false
    }
    let mut marks = vec![0u8; containers.len()];
    for i in 0..containers.len() {
        if visit(i, containers, &index, &mut marks) {
            return Err(client(format!(
                "The dependsOn of container '{}' forms a cycle. Container dependencies must not be circular.",
                containers[i].name.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}
