//! What the agent tells the control plane about its host at registration
//! (docs/agent-protocol.md §1): resources, attributes, capabilities. Pure.

use serde_json::{Value, json};

/// Log drivers Docker has built in; ECS passes them through.
pub const DOCKER_LOG_DRIVERS: &[&str] = &["json-file", "none", "syslog", "journald", "gelf", "fluentd", "local"];

/// Ports ECS reserves on every container instance (ssh, Docker, the ECS
/// agent's introspection and credentials ports).
pub const RESERVED_PORTS: &[&str] = &["22", "2375", "2376", "51678", "51679"];

/// Oldest Docker remote API version ECS advertises.
const MIN_REMOTE_API: u32 = 17;
/// Newest Docker remote API version the agent advertises.
const MAX_REMOTE_API: u32 = 44;

/// Memory kept back for the host, Docker and the agent: 5 % of the host's
/// memory, at least 256 MiB, at most half of it.
pub fn registrable_memory_mib(total_bytes: i64) -> i64 {
    let total = total_bytes.max(0) / (1024 * 1024);
    let reserve = (total / 20).max(256).min(total / 2);
    total - reserve
}

/// CPU units: 1024 per core.
pub fn cpu_units(cores: i64) -> i64 {
    cores.max(1) * 1024
}

/// ECS's name for the CPU architecture Docker reports.
pub fn ecs_architecture(docker_arch: &str) -> &'static str {
    match docker_arch {
        "aarch64" | "arm64" => "arm64",
        _ => "x86_64",
    }
}

/// `com.amazonaws.ecs.capability.docker-remote-api.1.17` … up to the
/// daemon's API version (and no further than 1.44).
pub fn remote_api_capabilities(api_version: &str) -> Vec<String> {
    let minor = api_version
        .strip_prefix("1.")
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(MIN_REMOTE_API)
        .min(MAX_REMOTE_API);
    (MIN_REMOTE_API..=minor)
        .map(|m| format!("com.amazonaws.ecs.capability.docker-remote-api.1.{m}"))
        .collect()
}

/// Everything the agent can do, as ECS capability attributes. Not
/// advertised: awsfirelens, EFS.
pub fn capabilities(api_version: &str) -> Vec<String> {
    let mut out = remote_api_capabilities(api_version);
    for d in DOCKER_LOG_DRIVERS {
        out.push(format!("com.amazonaws.ecs.capability.logging-driver.{d}"));
    }
    // awslogs: the agent ships the output itself (crate::awslogs), with its
    // own credentials also when the task has an execution role.
    out.push("com.amazonaws.ecs.capability.logging-driver.awslogs".into());
    out.push("ecs.capability.execution-role-awslogs".into());
    out.extend(
        [
            "ecs.capability.container-health-check",
            "ecs.capability.container-ordering",
            "ecs.capability.docker-plugin.local",
            // Container `secrets` from SSM and Secrets Manager (crate::secrets).
            "ecs.capability.secrets.ssm.environment-variables",
            "ecs.capability.secrets.asm.environment-variables",
            "ecs.capability.secrets.ssm.bootstrap.log-driver",
            "ecs.capability.secrets.asm.bootstrap.log-driver",
            // `repositoryCredentials` (crate::secrets::registry_credentials).
            "ecs.capability.private-registry-authentication.secretsmanager",
            // Task roles (crate::credentials) and execution roles for
            // secrets and registry pulls.
            "com.amazonaws.ecs.capability.task-iam-role",
            "com.amazonaws.ecs.capability.task-iam-role-network-host",
            "ecs.capability.execution-role-ecr-pull",
            // awsvpc: a namespace and an address per task (crate::awsvpc).
            "ecs.capability.task-eni",
        ]
        .into_iter()
        .map(String::from),
    );
    out
}

/// Host facts the registration needs.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub cores: i64,
    pub memory_bytes: i64,
    pub docker_arch: String,
    pub docker_version: String,
    pub api_version: String,
    /// The Docker daemon's ID: identifies the host to the server, which
    /// counts its resources once across agents (`None` for hollow).
    pub host_id: Option<String>,
    /// The Docker daemon's runtimes (`runc`, and `runsc` when gVisor is
    /// registered).
    pub runtimes: Vec<String>,
    /// Docker's cgroup driver (`cgroupfs`, `systemd`) and version (`1`, `2`).
    pub cgroup_driver: Option<String>,
    pub cgroup_version: Option<String>,
}

/// What one agent registers of its host (`--cpu`, `--memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// CPU units.
    pub cpu: i64,
    /// MiB.
    pub memory_mib: i64,
}

/// A share the host cannot give.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShareError {
    #[error("--cpu {asked}: this host has {total} CPU units (1024 per core); give at most {total}")]
    Cpu { asked: i64, total: i64 },
    #[error(
        "--memory {asked}: this host has {total} MiB to register (its memory less what is kept for the host); give at most {total}"
    )]
    Memory { asked: i64, total: i64 },
    #[error("--{flag} must be positive, got {asked}")]
    NotPositive { flag: &'static str, asked: i64 },
}

/// The whole host: every core and the registrable memory.
pub fn whole_host(facts: &HostFacts) -> Share {
    Share {
        cpu: cpu_units(facts.cores),
        memory_mib: registrable_memory_mib(facts.memory_bytes),
    }
}

/// The share an agent registers: what it was given, checked against the
/// host, else the whole host.
pub fn share(facts: &HostFacts, cpu: Option<i64>, memory_mib: Option<i64>) -> Result<Share, ShareError> {
    let whole = whole_host(facts);
    let cpu = cpu.unwrap_or(whole.cpu);
    let memory_mib = memory_mib.unwrap_or(whole.memory_mib);
    if cpu <= 0 {
        return Err(ShareError::NotPositive {
            flag: "cpu",
            asked: cpu,
        });
    }
    if memory_mib <= 0 {
        return Err(ShareError::NotPositive {
            flag: "memory",
            asked: memory_mib,
        });
    }
    if cpu > whole.cpu {
        return Err(ShareError::Cpu {
            asked: cpu,
            total: whole.cpu,
        });
    }
    if memory_mib > whole.memory_mib {
        return Err(ShareError::Memory {
            asked: memory_mib,
            total: whole.memory_mib,
        });
    }
    Ok(Share { cpu, memory_mib })
}

/// Configured identity of the instance.
#[derive(Debug, Clone)]
pub struct InstanceIdentity {
    pub instance_id: String,
    pub availability_zone: String,
    pub instance_type: String,
}

/// The body of `RegisterContainerInstance`.
pub fn registration_request(
    cluster: &str,
    facts: &HostFacts,
    share: &Share,
    identity: &InstanceIdentity,
    extra_attributes: &[(String, String)],
    container_instance_arn: Option<&str>,
) -> Value {
    let mut attributes: Vec<(String, Option<String>)> = vec![
        ("ecs.os-type".into(), Some("linux".into())),
        (
            "ecs.cpu-architecture".into(),
            Some(ecs_architecture(&facts.docker_arch).into()),
        ),
        ("ecs.availability-zone".into(), Some(identity.availability_zone.clone())),
        ("ecs.instance-type".into(), Some(identity.instance_type.clone())),
        ("ecs.os-family".into(), Some("LINUX".into())),
    ];
    // The host, so the server counts it once across agents (and clusters).
    if let Some(id) = &facts.host_id {
        let whole = whole_host(facts);
        attributes.push(("berth.host-id".into(), Some(id.clone())));
        attributes.push(("berth.host-cpu".into(), Some(whole.cpu.to_string())));
        attributes.push(("berth.host-memory".into(), Some(whole.memory_mib.to_string())));
    }
    attributes.push((
        crate::isolation::ATTRIBUTE.into(),
        Some(
            crate::isolation::Isolation::from_runtimes(&facts.runtimes)
                .as_str()
                .into(),
        ),
    ));
    for cap in capabilities(&facts.api_version) {
        attributes.push((cap, None));
    }
    for (k, v) in extra_attributes {
        match attributes.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = Some(v.clone()),
            None => attributes.push((k.clone(), Some(v.clone()))),
        }
    }
    let attributes: Vec<Value> = attributes
        .into_iter()
        .map(|(name, value)| match value {
            Some(v) => json!({"name": name, "value": v}),
            None => json!({"name": name}),
        })
        .collect();
    let document = json!({
        "instanceId": identity.instance_id,
        "availabilityZone": identity.availability_zone,
        "instanceType": identity.instance_type,
        "architecture": ecs_architecture(&facts.docker_arch),
    });
    let mut body = json!({
        "cluster": cluster,
        "instanceIdentityDocument": document.to_string(),
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": share.cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": share.memory_mib},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": RESERVED_PORTS},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        ],
        "versionInfo": {
            "agentVersion": env!("CARGO_PKG_VERSION"),
            "agentHash": option_env!("BERTH_GIT_HASH").unwrap_or("unknown"),
            "dockerVersion": format!("DockerVersion: {}", facts.docker_version),
        },
        "attributes": attributes,
    });
    if let Some(arn) = container_instance_arn {
        body["containerInstanceArn"] = json!(arn);
    }
    body
}

/// A command-line value the agent's flags refuse (`--attribute`,
/// `--container-retention`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("attribute '{0}': expected NAME=VALUE with a name of 1 to 128 characters")]
    AttributeNameLength(String),
    #[error("attribute '{0}': the name may hold letters, digits, '_', '-', '.', '/' and '@'")]
    AttributeNameCharacters(String),
    #[error("duration '{0}': expected a number with s, m, h or d (e.g. 1h)")]
    DurationNumber(String),
    #[error("duration '{0}': unit must be s, m, h or d")]
    DurationUnit(String),
}

/// Parses `k=v` (the `--attribute` flag). A bare `k` is an attribute
/// without a value.
pub fn parse_attribute(s: &str) -> Result<(String, String), FlagError> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    let k = k.trim();
    if k.is_empty() || k.len() > 128 {
        return Err(FlagError::AttributeNameLength(s.to_string()));
    }
    if !k
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@'))
    {
        return Err(FlagError::AttributeNameCharacters(s.to_string()));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Parses a duration like `90s`, `30m`, `1h`, `2d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, FlagError> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| FlagError::DurationNumber(s.to_string()))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(FlagError::DurationUnit(s.to_string())),
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reservation_rule() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(registrable_memory_mib(24 * gib), 24 * 1024 - (24 * 1024 / 20));
        assert_eq!(registrable_memory_mib(2 * gib), 2048 - 256);
        assert_eq!(registrable_memory_mib(256 * 1024 * 1024), 128);
        assert_eq!(registrable_memory_mib(0), 0);
    }

    #[test]
    fn capabilities_stop_at_the_daemon_version() {
        let caps = remote_api_capabilities("1.41");
        assert_eq!(
            caps.first().unwrap(),
            "com.amazonaws.ecs.capability.docker-remote-api.1.17"
        );
        assert_eq!(
            caps.last().unwrap(),
            "com.amazonaws.ecs.capability.docker-remote-api.1.41"
        );
        assert_eq!(caps.len(), 25);
        assert_eq!(
            remote_api_capabilities("1.47").last().unwrap(),
            "com.amazonaws.ecs.capability.docker-remote-api.1.44"
        );
        let all = capabilities("1.41");
        assert!(all.contains(&"ecs.capability.container-health-check".to_string()));
        assert!(all.contains(&"com.amazonaws.ecs.capability.logging-driver.json-file".to_string()));
        assert!(all.contains(&"com.amazonaws.ecs.capability.logging-driver.none".to_string()));
        assert!(all.contains(&"com.amazonaws.ecs.capability.logging-driver.awslogs".to_string()));
        assert!(all.contains(&"ecs.capability.task-eni".to_string()));
        assert!(!all.iter().any(|c| c.contains("awsfirelens")));
    }

    #[test]
    fn registration_body_has_resources_attributes_and_identity() {
        let facts = HostFacts {
            cores: 2,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            docker_arch: "aarch64".into(),
            docker_version: "20.10.24".into(),
            api_version: "1.41".into(),
            host_id: None,
            runtimes: vec!["runc".into()],
            cgroup_driver: None,
            cgroup_version: None,
        };
        let whole = whole_host(&facts);
        let id = InstanceIdentity {
            instance_id: "i-0123456789abcdef0".into(),
            availability_zone: "us-east-1a".into(),
            instance_type: "berth.local".into(),
        };
        let extra = vec![
            ("stack".to_string(), "blue".to_string()),
            ("ecs.instance-type".to_string(), "big".to_string()),
        ];
        let b = registration_request("default", &facts, &whole, &id, &extra, Some("arn:ci"));
        assert_eq!(b["cluster"], "default");
        assert_eq!(b["containerInstanceArn"], "arn:ci");
        assert_eq!(b["totalResources"][0]["integerValue"], 2048);
        assert_eq!(b["totalResources"][1]["integerValue"], 4096 - 256);
        assert_eq!(b["totalResources"][2]["stringSetValue"][1], "2375");
        let attr = |n: &str| {
            b["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == n)
                .cloned()
        };
        assert_eq!(attr("ecs.cpu-architecture").unwrap()["value"], "arm64");
        assert_eq!(attr("ecs.os-type").unwrap()["value"], "linux");
        assert_eq!(attr("ecs.instance-type").unwrap()["value"], "big");
        assert_eq!(attr("stack").unwrap()["value"], "blue");
        assert_eq!(
            attr("ecs.isolation").unwrap()["value"],
            "runc",
            "no runsc runtime: FARGATE tasks are not isolated"
        );
        assert!(
            attr("ecs.capability.container-ordering")
                .unwrap()
                .get("value")
                .is_none()
        );
        let doc: Value = serde_json::from_str(b["instanceIdentityDocument"].as_str().unwrap()).unwrap();
        assert_eq!(doc["instanceId"], "i-0123456789abcdef0");
        assert_eq!(doc["availabilityZone"], "us-east-1a");
        assert!(
            registration_request("c", &facts, &whole, &id, &[], None)
                .get("containerInstanceArn")
                .is_none()
        );
    }

    #[test]
    fn a_share_fits_in_the_host_and_the_host_is_named() {
        let facts = HostFacts {
            cores: 2,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            docker_arch: "x86_64".into(),
            docker_version: "27.0.0".into(),
            api_version: "1.41".into(),
            host_id: Some("ABCD:EF01".into()),
            runtimes: vec!["runc".into(), "runsc".into()],
            cgroup_driver: None,
            cgroup_version: None,
        };
        let whole = Share {
            cpu: 2048,
            memory_mib: 4096 - 256,
        };
        assert_eq!(share(&facts, None, None).unwrap(), whole);
        assert_eq!(
            share(&facts, Some(512), None).unwrap(),
            Share {
                cpu: 512,
                memory_mib: 3840
            }
        );
        assert_eq!(share(&facts, Some(2048), Some(3840)).unwrap(), whole);
        assert_eq!(
            share(&facts, Some(2049), None).unwrap_err(),
            ShareError::Cpu {
                asked: 2049,
                total: 2048
            }
        );
        let e = share(&facts, None, Some(3841)).unwrap_err();
        assert!(e.to_string().contains("at most 3840"), "{e}");
        assert!(matches!(
            share(&facts, Some(0), None),
            Err(ShareError::NotPositive { flag: "cpu", .. })
        ));
        let id = InstanceIdentity {
            instance_id: "i-0123456789abcdef0".into(),
            availability_zone: "us-east-1a".into(),
            instance_type: "berth.local".into(),
        };
        let half = share(&facts, Some(1024), Some(1000)).unwrap();
        let b = registration_request("default", &facts, &half, &id, &[], None);
        assert_eq!(b["totalResources"][0]["integerValue"], 1024);
        assert_eq!(b["totalResources"][1]["integerValue"], 1000);
        let attr = |n: &str| {
            b["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == n)
                .map(|a| a["value"].clone())
        };
        assert_eq!(attr("berth.host-id").unwrap(), "ABCD:EF01");
        assert_eq!(attr("berth.host-cpu").unwrap(), "2048");
        assert_eq!(attr("berth.host-memory").unwrap(), "3840");
        // Without a host id (hollow) no host attributes.
        let hollow = HostFacts { host_id: None, ..facts };
        let b = registration_request("default", &hollow, &half, &id, &[], None);
        assert!(
            !b["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["name"] == "berth.host-id")
        );
    }

    #[test]
    fn attribute_and_duration_flags() {
        assert_eq!(parse_attribute("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_attribute("flag").unwrap(), ("flag".into(), "".into()));
        assert!(parse_attribute("=x").is_err());
        assert!(parse_attribute("sp ace=1").is_err());
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
