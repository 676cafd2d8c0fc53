//! What the agent reports (docs/agent-protocol.md §4): the bodies of
//! `SubmitTaskStateChange` and `SubmitContainerStateChange` with ECS's member
//! names, plus Berth's extensions (`healthStatus`, `stopCode`).
//!
//! These are ECS API inputs: the server decodes any client's body with them
//! and validates the values itself (status names, stop codes, timestamps),
//! so every member ECS treats as optional is an `Option`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `NetworkBinding` as ECS reports it. Members Berth does not interpret
/// (`containerPortRange`, `hostPortRange`) are kept in `other`, so a
/// binding reads back as it was reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkBinding {
    #[serde(rename = "bindIP", skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl NetworkBinding {
    /// A binding with the four members the agent reports.
    pub fn new(bind_ip: impl Into<String>, container_port: i64, host_port: i64, protocol: impl Into<String>) -> Self {
        Self {
            bind_ip: Some(bind_ip.into()),
            container_port: Some(container_port),
            host_port: Some(host_port),
            protocol: Some(protocol.into()),
            other: Map::new(),
        }
    }

    /// An order for sorting bindings, as ECS lists them: by container port
    /// and protocol, the IPv4 binding before the IPv6 one (Docker may give a
    /// dynamic port a different host port on each), then by host port.
    #[allow(clippy::type_complexity)]
    pub fn sort_key(&self) -> (Option<i64>, Option<&str>, bool, Option<i64>, Option<&str>) {
        (
            self.container_port,
            self.protocol.as_deref(),
            self.bind_ip.as_deref().is_some_and(|ip| ip.contains(':')),
            self.host_port,
            self.bind_ip.as_deref(),
        )
    }
}

/// One entry of `SubmitTaskStateChange.containers` (`ContainerStateChange`).
/// `healthStatus` is a Berth extension (ECS agents report health over their
/// private channel).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Absent: unchanged; a list (even empty) replaces the bindings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_bindings: Option<Vec<NetworkBinding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
}

/// The body of `SubmitTaskStateChange`. `stopCode` and `healthStatus` are
/// Berth extensions (the server derives the task's health itself and
/// ignores the latter). Timestamps are awsJson's: epoch seconds (what the
/// agent sends) or RFC 3339 text; the server reads either.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The stop code the agent decided on (EssentialContainerExited,
    /// TaskFailedToStart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerStateChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<Value>,
    /// Berth extension: the awsvpc task's network interface on its host
    /// (sent once the interface is up; the server fills the task's ENI
    /// attachment from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface: Option<Box<TaskNetworkInterface>>,
}

/// The network interface an agent gave an awsvpc task: its own network
/// namespace on the host, with one address from the host's task subnet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNetworkInterface {
    /// `eni-` and 17 hex digits, as EC2 names interfaces.
    pub network_interface_id: String,
    #[serde(rename = "privateIPv4Address")]
    pub private_ipv4_address: String,
    pub mac_address: String,
}

/// The body of `SubmitContainerStateChange` (plus the `healthStatus`
/// extension).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SingleContainerStateChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_bindings: Option<Vec<NetworkBinding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
}

impl SingleContainerStateChange {
    /// The same report as an entry of a task state change.
    pub fn as_container_change(&self) -> ContainerStateChange {
        ContainerStateChange {
            container_name: self.container_name.clone(),
            image_digest: None,
            runtime_id: self.runtime_id.clone(),
            exit_code: self.exit_code,
            network_bindings: self.network_bindings.clone(),
            reason: self.reason.clone(),
            status: self.status.clone(),
            health_status: self.health_status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_change_bodies_use_ecs_field_names() {
        let ch = TaskStateChange {
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
        };
        let v = serde_json::to_value(&ch).unwrap();
        assert_eq!(v["containers"][0]["networkBindings"][0]["bindIP"], "0.0.0.0");
        assert_eq!(v["containers"][0]["networkBindings"][0]["hostPort"], 32768);
        assert_eq!(v["pullStartedAt"], 1.5);
        assert!(v.get("reason").is_none());
        assert!(v["containers"][0].get("exitCode").is_none());
        assert_eq!(serde_json::from_value::<TaskStateChange>(v).unwrap(), ch);
    }

    #[test]
    fn the_network_interface_extension_round_trips() {
        let ch = TaskStateChange {
            task: Some("t".into()),
            network_interface: Some(Box::new(TaskNetworkInterface {
                network_interface_id: "eni-0123456789abcdef0".into(),
                private_ipv4_address: "10.213.0.2".into(),
                mac_address: "02:42:0a:d5:00:02".into(),
            })),
            ..Default::default()
        };
        let v = serde_json::to_value(&ch).unwrap();
        assert_eq!(
            v["networkInterface"],
            json!({"networkInterfaceId": "eni-0123456789abcdef0", "privateIPv4Address": "10.213.0.2",
                   "macAddress": "02:42:0a:d5:00:02"})
        );
        assert_eq!(serde_json::from_value::<TaskStateChange>(v).unwrap(), ch);
        assert!(
            serde_json::to_value(TaskStateChange::default())
                .unwrap()
                .get("networkInterface")
                .is_none()
        );
    }

    #[test]
    fn a_binding_reads_back_as_reported() {
        let b = json!({"bindIP": "::", "containerPort": 80, "hostPort": 8080, "protocol": "udp",
                       "hostPortRange": "8080-8081"});
        let nb: NetworkBinding = serde_json::from_value(b.clone()).unwrap();
        assert_eq!(nb.host_port, Some(8080));
        assert_eq!(serde_json::to_value(&nb).unwrap(), b);
        let partial = json!({"containerPort": 80});
        let nb: NetworkBinding = serde_json::from_value(partial.clone()).unwrap();
        assert_eq!(serde_json::to_value(&nb).unwrap(), partial);
    }

    #[test]
    fn an_ecs_shaped_body_without_extensions_decodes() {
        let ch: TaskStateChange = serde_json::from_value(json!({
            "cluster": "default", "task": "arn:t", "status": "STOPPED",
            "pullStartedAt": "2026-01-01T00:00:00Z", "containers": [{"containerName": "web", "exitCode": 1}]
        }))
        .unwrap();
        assert_eq!(ch.stop_code, None);
        assert_eq!(ch.pull_started_at, Some(json!("2026-01-01T00:00:00Z")));
        assert_eq!(ch.containers[0].exit_code, Some(1));
        let single: SingleContainerStateChange =
            serde_json::from_value(json!({"task": "t", "containerName": "web", "status": "RUNNING"})).unwrap();
        assert_eq!(single.as_container_change().container_name.as_deref(), Some("web"));
    }
}
