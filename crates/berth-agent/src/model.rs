//! The shapes the agent reads from the desired-state stream
//! (docs/agent-protocol.md §2) and the reports it queues (§4). The wire
//! envelope and the state-change bodies are berth-agent-protocol's, shared
//! with the server.
//!
//! Inputs are read leniently: every field has a default, so a newer server
//! never breaks an older agent. The task definition is berth-core's (the
//! server's own type): members the agent does not interpret are kept in its
//! `other` maps.

pub use berth_agent_protocol::{
    ContainerStateChange, NetworkBinding, SingleContainerStateChange, TaskNetworkInterface, TaskStateChange,
};
use berth_ecs_model::TaskStatus;
/// The task definition the server sends is read with the server's own
/// types: members the agent does not use are kept (in `other`), never lost.
pub use berth_ecs_model::{
    ContainerDefinition, ContainerDependency, Device, DockerVolumeConfiguration, EnvironmentFile, HealthCheck,
    HostEntry, HostVolumeProperties, KernelCapabilities, KeyValuePair, LinuxParameters, LogConfiguration, MountPoint,
    PortMapping, RepositoryCredentials, Secret, SystemControl, TaskDefinition, Tmpfs, Ulimit, Volume, VolumeFrom,
};
use serde::{Deserialize, Serialize};

/// One line of the session stream, with tasks read into [`Task`].
pub type SessionMessage = berth_agent_protocol::SessionMessage<Task>;
/// The `desired` message, with tasks read into [`Task`].
pub type DesiredState = berth_agent_protocol::DesiredState<Task>;

/// A task status read leniently: one a newer server may add reads as `None`
/// instead of failing the whole desired state.
fn lenient_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TaskStatus>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| s.parse().ok()))
}

/// A task as `DescribeTasks` returns it, plus the full task definition.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub task_arn: String,
    pub cluster_arn: String,
    pub container_instance_arn: String,
    /// `None`: absent, or a status this agent does not know.
    #[serde(deserialize_with = "lenient_status")]
    pub desired_status: Option<TaskStatus>,
    #[serde(deserialize_with = "lenient_status")]
    pub last_status: Option<TaskStatus>,
    pub overrides: Option<TaskOverride>,
    pub containers: Vec<TaskContainer>,
    pub task_definition_arn: String,
    pub task_definition: TaskDefinition,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Task-level cpu and memory (the task definition's, or the overrides').
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub launch_type: Option<String>,
    pub availability_zone: Option<String>,
    /// `service:NAME` for a service's task, `family:NAME` else.
    pub group: Option<String>,
    /// The seconds between SIGTERM and SIGKILL when the task is stopped
    /// (a FARGATE_SPOT interruption's notice), instead of each container's
    /// stopTimeout. Berth's own member of the desired state.
    pub berth_stop_notice_seconds: Option<u64>,
}

impl Task {
    /// The cluster to report and fetch credentials with: the agent's
    /// `configured` one (name or ARN, as given) for a task of that cluster
    /// (or one that names none), else the task's own `clusterArn` (a
    /// shared Fargate host runs tasks of clusters other than its own).
    pub fn cluster<'a>(&'a self, configured: &'a str) -> &'a str {
        if self.is_of(configured) {
            configured
        } else {
            &self.cluster_arn
        }
    }

    /// Whether the task is of the `configured` cluster (or names none).
    fn is_of(&self, configured: &str) -> bool {
        let name = self.cluster_arn.rsplit('/').next().unwrap_or_default();
        name.is_empty() || name == configured.rsplit('/').next().unwrap_or(configured)
    }

    /// The cluster its containers' `com.amazonaws.ecs.cluster` label
    /// names: the agent's `configured` one (name or ARN, as given) for a
    /// task of that cluster, else the task's cluster name (a task of
    /// another cluster on a shared Fargate host).
    pub fn cluster_label<'a>(&'a self, configured: &'a str) -> &'a str {
        if self.is_of(configured) {
            configured
        } else {
            self.cluster_arn.rsplit('/').next().unwrap_or_default()
        }
    }

    /// The task id: the last segment of the ARN.
    pub fn id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }

    pub fn wants_stop(&self) -> bool {
        self.desired_status == Some(TaskStatus::Stopped)
    }

    /// The server's view of one container.
    pub fn server_container(&self, name: &str) -> Option<&TaskContainer> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The task role: the overrides' or the task definition's.
    pub fn task_role_arn(&self) -> Option<&str> {
        let o = self.overrides.as_ref().and_then(|o| o.task_role_arn.as_deref());
        let non_empty = |s: &&str| !s.is_empty();
        o.filter(non_empty)
            .or(self.task_definition.task_role_arn.as_deref().filter(non_empty))
    }

    /// The execution role: the overrides' or the task definition's.
    pub fn execution_role_arn(&self) -> Option<&str> {
        let o = self.overrides.as_ref().and_then(|o| o.execution_role_arn.as_deref());
        let non_empty = |s: &&str| !s.is_empty();
        o.filter(non_empty)
            .or(self.task_definition.execution_role_arn.as_deref().filter(non_empty))
    }

    pub fn container_override(&self, name: &str) -> Option<&ContainerOverride> {
        self.overrides
            .as_ref()
            .and_then(|o| o.container_overrides.iter().find(|c| c.name.as_deref() == Some(name)))
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskContainer {
    pub name: String,
    pub last_status: Option<String>,
    pub runtime_id: Option<String>,
    pub exit_code: Option<i64>,
    pub health_status: Option<String>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    pub container_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskOverride {
    pub container_overrides: Vec<ContainerOverride>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerOverride {
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    pub environment: Option<Vec<KeyValuePair>>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub environment_files: Option<Vec<serde_json::Value>>,
}

/// A state change the engine wants the control plane to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "body")]
pub enum Report {
    SubmitTaskStateChange(TaskStateChange),
    SubmitContainerStateChange(SingleContainerStateChange),
}

impl Report {
    pub fn operation(&self) -> &'static str {
        match self {
            Report::SubmitTaskStateChange(_) => "SubmitTaskStateChange",
            Report::SubmitContainerStateChange(_) => "SubmitContainerStateChange",
        }
    }

    pub fn task_arn(&self) -> &str {
        match self {
            Report::SubmitTaskStateChange(t) => t.task.as_deref(),
            Report::SubmitContainerStateChange(c) => c.task.as_deref(),
        }
        .unwrap_or_default()
    }

    pub fn body(&self) -> serde_json::Value {
        match self {
            Report::SubmitTaskStateChange(t) => serde_json::to_value(t),
            Report::SubmitContainerStateChange(c) => serde_json::to_value(c),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_message_parses_with_unknown_fields() {
        let line = r#"{"type":"desired","revision":7,"containerInstanceArn":"arn:ci","tasks":[
            {"taskArn":"arn:aws:ecs:us-east-1:000000000000:task/default/abc","desiredStatus":"RUNNING",
             "lastStatus":"PROVISIONING","launchType":"EC2","containers":[{"name":"web","lastStatus":"PENDING"}],
             "taskDefinition":{"family":"web","revision":3,"containerDefinitions":[
                {"name":"web","image":"busybox","essential":true,"portMappings":[{"containerPort":80}],
                 "dependsOn":[{"containerName":"init","condition":"COMPLETE"}],"somethingNew":1}]}}]}"#;
        let SessionMessage::Desired(d) = serde_json::from_str(line).unwrap() else {
            panic!("not desired")
        };
        assert_eq!(d.revision, 7);
        let t = &d.tasks[0];
        assert_eq!(t.id(), "abc");
        assert!(!t.wants_stop());
        let c = &t.task_definition.container_definitions[0];
        assert_eq!(c.port_mappings.as_ref().unwrap()[0].container_port, Some(80));
        assert_eq!(c.depends_on.as_ref().unwrap()[0].condition, "COMPLETE");
        assert_eq!(t.task_definition.effective_network_mode(), "bridge");
        // Read with the server's types: a member the agent does not use is kept.
        assert_eq!(c.other["somethingNew"], 1);
        assert_eq!(
            t.server_container("web").unwrap().last_status.as_deref(),
            Some("PENDING")
        );
    }

    #[test]
    fn statuses_are_read_as_task_statuses_and_unknown_ones_do_not_fail() {
        let t: Task =
            serde_json::from_str(r#"{"taskArn":"t","desiredStatus":"STOPPED","lastStatus":"HIBERNATING"}"#).unwrap();
        assert!(t.wants_stop());
        assert_eq!(t.desired_status, Some(TaskStatus::Stopped));
        assert_eq!(t.last_status, None);
        let t: Task = serde_json::from_str(r#"{"taskArn":"t"}"#).unwrap();
        assert_eq!((t.desired_status, t.last_status), (None, None));
    }

    #[test]
    fn keepalive_and_unknown_messages_parse() {
        assert!(matches!(
            serde_json::from_str::<SessionMessage>(r#"{"type":"keepalive","revision":3}"#).unwrap(),
            SessionMessage::Keepalive { revision: Some(3) }
        ));
        assert!(matches!(
            serde_json::from_str::<SessionMessage>(r#"{"type":"future-thing","x":1}"#).unwrap(),
            SessionMessage::Unknown
        ));
    }

    #[test]
    fn state_change_bodies_use_ecs_field_names() {
        let r = Report::SubmitTaskStateChange(TaskStateChange {
            cluster: Some("c".into()),
            task: Some("t".into()),
            status: Some("RUNNING".into()),
            containers: vec![ContainerStateChange {
                container_name: Some("web".into()),
                runtime_id: Some("abc".into()),
                network_bindings: Some(vec![NetworkBinding::new("0.0.0.0", 80, 32768, "tcp")]),
                status: Some("RUNNING".into()),
                ..Default::default()
            }],
            pull_started_at: Some(1.5.into()),
            ..Default::default()
        });
        let v = r.body();
        assert_eq!(v["containers"][0]["networkBindings"][0]["bindIP"], "0.0.0.0");
        assert_eq!(v["containers"][0]["networkBindings"][0]["hostPort"], 32768);
        assert_eq!(v["pullStartedAt"], 1.5);
        assert!(v.get("reason").is_none());
        assert_eq!(r.operation(), "SubmitTaskStateChange");
        // The outbox round-trips reports.
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), r);
    }

    #[test]
    fn a_task_of_another_cluster_reports_and_labels_with_its_own() {
        let mut t = Task::default();
        assert_eq!(t.cluster("default"), "default", "no clusterArn: the configured one");
        assert_eq!(t.cluster_label("default"), "default");
        t.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default".into();
        assert_eq!(t.cluster("default"), "default", "its own cluster: as configured");
        assert_eq!(t.cluster_label("default"), "default");
        assert_eq!(t.cluster_label(&t.cluster_arn.clone()), t.cluster_arn);
        t.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/prod".into();
        assert_eq!(
            t.cluster("default"),
            t.cluster_arn,
            "a shared Fargate host's task of prod"
        );
        assert_eq!(t.cluster_label("default"), "prod");
    }
}
