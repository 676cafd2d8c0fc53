//! The documents of the task metadata endpoint v4 (pure): what the engine
//! knows of its task ([`TaskSnapshot`]) and what Docker says of each
//! container ([`Observed`]) rendered with the field names of AWS's
//! "Amazon ECS task metadata v4 JSON response".

use berth_ecs_model::{ContainerStatus, StatusName, TaskStatus};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// The task as its engine last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSnapshot {
    pub cluster: String,
    pub task_arn: String,
    /// The service that started the task (its group `service:NAME`).
    pub service_name: Option<String>,
    pub family: String,
    pub revision: i64,
    pub desired_status: TaskStatus,
    pub known_status: TaskStatus,
    /// Task-level cpu (CPU units, as the task definition says) and memory (MiB).
    pub cpu: Option<String>,
    pub memory: Option<String>,
    /// Epoch seconds.
    pub pull_started_at: Option<f64>,
    pub pull_stopped_at: Option<f64>,
    pub availability_zone: Option<String>,
    pub launch_type: Option<String>,
    pub network_mode: String,
    /// The awsvpc task's interface.
    pub interface: Option<Interface>,
    pub containers: Vec<ContainerSnapshot>,
}

impl TaskSnapshot {
    /// A task nothing is known of yet but its ARN.
    pub fn new(task_arn: impl Into<String>) -> Self {
        Self {
            cluster: String::new(),
            task_arn: task_arn.into(),
            service_name: None,
            family: String::new(),
            revision: 0,
            desired_status: TaskStatus::Running,
            known_status: TaskStatus::Provisioning,
            cpu: None,
            memory: None,
            pull_started_at: None,
            pull_stopped_at: None,
            availability_zone: None,
            launch_type: None,
            network_mode: String::new(),
            interface: None,
            containers: Vec::new(),
        }
    }
}

/// An awsvpc task's interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interface {
    pub ipv4: String,
    pub mac: String,
    pub subnet_cidr: String,
    pub gateway: String,
}

/// One container as its engine last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSnapshot {
    pub name: String,
    pub docker_name: String,
    pub docker_id: Option<String>,
    pub image: String,
    pub desired_status: ContainerStatus,
    pub known_status: ContainerStatus,
    pub exit_code: Option<i64>,
    /// CPU units (0 when the definition gives none).
    pub cpu: i64,
    /// MiB (the hard limit, else the reservation).
    pub memory: Option<i64>,
    pub container_arn: Option<String>,
    pub log_driver: Option<String>,
    pub log_options: BTreeMap<String, String>,
    /// The ports Docker published (bridge mode).
    pub ports: Vec<Port>,
}

/// A published port.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Port {
    pub container_port: i64,
    pub protocol: String,
    pub host_port: i64,
    pub host_ip: String,
}

/// What Docker says of a container (its inspect answer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `sha256:…` of the image.
    pub image_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The container's IPv4 addresses on Docker networks (bridge mode).
    pub ipv4_addresses: Vec<String>,
}

/// Docker's zero time, which it reports for what has not happened.
const DOCKER_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn set(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v);
    }
}

fn time(t: Option<&String>) -> Option<Value> {
    t.filter(|t| !t.is_empty() && t.as_str() != DOCKER_ZERO_TIME)
        .map(|t| Value::String(t.clone()))
}

/// The task-level `Limits`: CPU in vCPUs (units / 1024), Memory in MiB;
/// omitted when the task definition gives neither.
pub fn task_limits(cpu: Option<&str>, memory: Option<&str>) -> Option<Value> {
    let cpu = cpu.and_then(|c| c.trim().parse::<f64>().ok()).map(|u| u / 1024.0);
    let memory = memory.and_then(|m| m.trim().parse::<i64>().ok());
    let mut m = Map::new();
    set(&mut m, "CPU", cpu.map(|c| json!(c)));
    set(&mut m, "Memory", memory.map(|c| json!(c)));
    (!m.is_empty()).then_some(Value::Object(m))
}

fn networks(task: &TaskSnapshot, seen: Option<&Observed>) -> Value {
    match (&task.interface, task.network_mode.as_str()) {
        (Some(i), "awsvpc") => json!([{
            "NetworkMode": "awsvpc",
            "IPv4Addresses": [i.ipv4],
            "AttachmentIndex": 0,
            "MACAddress": i.mac,
            "IPv4SubnetCIDRBlock": i.subnet_cidr,
            "SubnetGatewayIpv4Address": i.gateway,
        }]),
        (_, mode) => {
            let ips = seen.map(|s| s.ipv4_addresses.clone()).unwrap_or_default();
            let mut n = Map::new();
            n.insert("NetworkMode".into(), json!(mode));
            if !ips.is_empty() {
                n.insert("IPv4Addresses".into(), json!(ips));
            }
            json!([n])
        }
    }
}

/// `${ECS_CONTAINER_METADATA_URI_V4}`: one container's metadata.
pub fn container_doc(task: &TaskSnapshot, c: &ContainerSnapshot, seen: Option<&Observed>) -> Value {
    let mut m = Map::new();
    set(&mut m, "DockerId", c.docker_id.clone().map(Value::String));
    m.insert("Name".into(), json!(c.name));
    m.insert("DockerName".into(), json!(c.docker_name));
    m.insert("Image".into(), json!(c.image));
    set(
        &mut m,
        "ImageID",
        seen.and_then(|s| s.image_id.clone()).map(Value::String),
    );
    if let Some(s) = seen.filter(|s| !s.labels.is_empty()) {
        m.insert("Labels".into(), json!(s.labels));
    }
    m.insert("DesiredStatus".into(), json!(c.desired_status.as_str()));
    m.insert("KnownStatus".into(), json!(c.known_status.as_str()));
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| json!({"ContainerPort": p.container_port, "Protocol": p.protocol, "HostPort": p.host_port, "HostIp": p.host_ip}))
            .collect();
        m.insert("Ports".into(), Value::Array(ports));
    }
    set(&mut m, "ExitCode", c.exit_code.map(|e| json!(e)));
    let mut limits = Map::new();
    limits.insert("CPU".into(), json!(c.cpu));
    set(&mut limits, "Memory", c.memory.map(|x| json!(x)));
    m.insert("Limits".into(), Value::Object(limits));
    set(&mut m, "CreatedAt", time(seen.and_then(|s| s.created_at.as_ref())));
    set(&mut m, "StartedAt", time(seen.and_then(|s| s.started_at.as_ref())));
    set(&mut m, "FinishedAt", time(seen.and_then(|s| s.finished_at.as_ref())));
    m.insert("Type".into(), json!("NORMAL"));
    set(&mut m, "LogDriver", c.log_driver.clone().map(Value::String));
    if c.log_driver.is_some() {
        m.insert("LogOptions".into(), json!(c.log_options));
    }
    set(&mut m, "ContainerARN", c.container_arn.clone().map(Value::String));
    m.insert("Networks".into(), networks(task, seen));
    Value::Object(m)
}

/// `${ECS_CONTAINER_METADATA_URI_V4}/task`: the task and all its containers
/// (`seen` by Docker id).
pub fn task_doc(task: &TaskSnapshot, seen: &HashMap<String, Observed>) -> Value {
    let mut m = Map::new();
    m.insert("Cluster".into(), json!(task.cluster));
    set(&mut m, "ServiceName", task.service_name.clone().map(Value::String));
    m.insert("TaskARN".into(), json!(task.task_arn));
    m.insert("Family".into(), json!(task.family));
    m.insert("Revision".into(), json!(task.revision.to_string()));
    m.insert("DesiredStatus".into(), json!(task.desired_status.as_str()));
    m.insert("KnownStatus".into(), json!(task.known_status.as_str()));
    set(
        &mut m,
        "Limits",
        task_limits(task.cpu.as_deref(), task.memory.as_deref()),
    );
    set(
        &mut m,
        "PullStartedAt",
        task.pull_started_at.map(|t| json!(berth_core::time::iso8601_epoch(t))),
    );
    set(
        &mut m,
        "PullStoppedAt",
        task.pull_stopped_at.map(|t| json!(berth_core::time::iso8601_epoch(t))),
    );
    set(
        &mut m,
        "AvailabilityZone",
        task.availability_zone.clone().map(Value::String),
    );
    set(&mut m, "LaunchType", task.launch_type.clone().map(Value::String));
    let containers: Vec<Value> = task
        .containers
        .iter()
        .map(|c| container_doc(task, c, c.docker_id.as_ref().and_then(|id| seen.get(id))))
        .collect();
    m.insert("Containers".into(), Value::Array(containers));
    Value::Object(m)
}

/// `${ECS_CONTAINER_METADATA_URI_V4}/task/stats`: each container's Docker
/// stats by Docker id (null for a container without a reading).
pub fn task_stats_doc(task: &TaskSnapshot, stats: &HashMap<String, Value>) -> Value {
    let m: Map<String, Value> = task
        .containers
        .iter()
        .filter_map(|c| c.docker_id.clone())
        .map(|id| {
            let v = stats.get(&id).cloned().unwrap_or(Value::Null);
            (id, v)
        })
        .collect();
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(mode: &str) -> TaskSnapshot {
        TaskSnapshot {
            cluster: "arn:aws:ecs:us-east-1:000000000000:cluster/default".into(),
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/abc".into(),
            service_name: Some("web".into()),
            family: "web".into(),
            revision: 3,
            desired_status: TaskStatus::Running,
            known_status: TaskStatus::Running,
            cpu: Some("256".into()),
            memory: Some("512".into()),
            pull_started_at: Some(1_800_000_000.0),
            pull_stopped_at: Some(1_800_000_001.0),
            availability_zone: Some("us-east-1a".into()),
            launch_type: Some("FARGATE".into()),
            network_mode: mode.into(),
            interface: (mode == "awsvpc").then(|| Interface {
                ipv4: "10.0.0.5".into(),
                mac: "02:42:0a:00:00:05".into(),
                subnet_cidr: "10.0.0.0/24".into(),
                gateway: "10.0.0.1".into(),
            }),
            containers: vec![ContainerSnapshot {
                name: "app".into(),
                docker_name: "ecs-web-3-app-abc".into(),
                docker_id: Some("d0c".into()),
                image: "busybox".into(),
                desired_status: ContainerStatus::Running,
                known_status: ContainerStatus::Running,
                exit_code: None,
                cpu: 128,
                memory: Some(256),
                container_arn: Some("arn:aws:ecs:us-east-1:000000000000:container/default/abc/1".into()),
                log_driver: Some("awslogs".into()),
                log_options: BTreeMap::from([("awslogs-group".into(), "/ecs/web".into())]),
                ports: vec![],
            }],
        }
    }

    fn observed() -> Observed {
        Observed {
            created_at: Some("2027-01-15T08:00:00.1Z".into()),
            started_at: Some("2027-01-15T08:00:01.2Z".into()),
            finished_at: Some(DOCKER_ZERO_TIME.into()),
            image_id: Some("sha256:feed".into()),
            labels: BTreeMap::from([("com.amazonaws.ecs.container-name".into(), "app".into())]),
            ipv4_addresses: vec!["172.17.0.3".into()],
        }
    }

    #[test]
    fn the_task_document_has_aws_field_names() {
        let t = snapshot("awsvpc");
        let seen = HashMap::from([("d0c".to_string(), observed())]);
        let doc = task_doc(&t, &seen);
        assert_eq!(doc["TaskARN"], t.task_arn);
        assert_eq!(doc["Cluster"], t.cluster);
        assert_eq!(doc["Family"], "web");
        assert_eq!(doc["Revision"], "3");
        assert_eq!(doc["Limits"], json!({"CPU": 0.25, "Memory": 512}));
        assert_eq!(doc["PullStartedAt"], "2027-01-15T08:00:00Z");
        assert_eq!(doc["LaunchType"], "FARGATE");
        assert_eq!(doc["ServiceName"], "web");
        assert!(doc["Containers"][0].get("Ports").is_none(), "awsvpc: nothing published");
        assert_eq!(doc["AvailabilityZone"], "us-east-1a");
        let c = &doc["Containers"][0];
        assert_eq!(c["DockerId"], "d0c");
        assert_eq!(c["Name"], "app");
        assert_eq!(c["ImageID"], "sha256:feed");
        assert_eq!(c["Limits"], json!({"CPU": 128, "Memory": 256}));
        assert_eq!(c["Type"], "NORMAL");
        assert_eq!(c["CreatedAt"], "2027-01-15T08:00:00.1Z");
        assert!(c.get("FinishedAt").is_none(), "Docker's zero time is not a time");
        assert_eq!(c["LogDriver"], "awslogs");
        assert_eq!(c["LogOptions"]["awslogs-group"], "/ecs/web");
        assert_eq!(c["Networks"][0]["NetworkMode"], "awsvpc");
        assert_eq!(c["Networks"][0]["IPv4Addresses"], json!(["10.0.0.5"]));
        assert_eq!(c["Networks"][0]["IPv4SubnetCIDRBlock"], "10.0.0.0/24");
    }

    #[test]
    fn bridge_containers_show_their_docker_addresses_and_unknowns_are_omitted() {
        let mut t = snapshot("bridge");
        t.cpu = None;
        t.memory = None;
        t.pull_started_at = None;
        t.containers[0].log_driver = None;
        t.service_name = None;
        t.containers[0].ports = vec![Port {
            container_port: 80,
            protocol: "tcp".into(),
            host_port: 32768,
            host_ip: "0.0.0.0".into(),
        }];
        let c = container_doc(&t, &t.containers[0], Some(&observed()));
        assert_eq!(
            c["Ports"],
            json!([{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 32768, "HostIp": "0.0.0.0"}])
        );
        assert_eq!(
            c["Networks"],
            json!([{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.3"]}])
        );
        assert!(c.get("LogOptions").is_none());
        let doc = task_doc(&t, &HashMap::new());
        assert!(doc.get("Limits").is_none());
        assert!(doc.get("ServiceName").is_none(), "not a service's task");
        assert!(doc.get("PullStartedAt").is_none());
        assert!(doc["Containers"][0].get("ImageID").is_none(), "not inspected");
    }

    #[test]
    fn task_limits_are_in_vcpus_and_mib() {
        assert_eq!(
            task_limits(Some("1024"), Some("2048")),
            Some(json!({"CPU": 1.0, "Memory": 2048}))
        );
        assert_eq!(task_limits(None, Some("512")), Some(json!({"Memory": 512})));
        assert_eq!(task_limits(None, None), None);
    }

    #[test]
    fn task_stats_are_keyed_by_docker_id() {
        let t = snapshot("bridge");
        let stats = HashMap::from([("d0c".to_string(), json!({"read": "now"}))]);
        assert_eq!(task_stats_doc(&t, &stats), json!({"d0c": {"read": "now"}}));
        assert_eq!(task_stats_doc(&t, &HashMap::new()), json!({"d0c": null}));
    }
}
