//! `GET /agent/v1/security-groups` (§8): what an agent needs to filter its
//! awsvpc tasks' interfaces — the security groups of each of its tasks, the
//! rules of those groups, and the addresses of the members of every group
//! a rule names as its peer — and the other hosts' awsvpc task subnets with
//! the address each is routed through. The agent polls it and applies the
//! answer when it changes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The answer for one container instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupsView {
    /// The groups of each awsvpc task on the instance, by task ARN.
    #[serde(default)]
    pub tasks: BTreeMap<String, Vec<String>>,
    /// The rules of every group named in `tasks`.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupRules>,
    /// The private IPv4 addresses of the tasks in each group a rule names
    /// as its peer (region-wide, every host).
    #[serde(default)]
    pub members: BTreeMap<String, Vec<String>>,
    /// The other hosts of the region (their agents' registered
    /// `berth.task-subnet` and `berth.host-address`): the agent routes
    /// each task subnet through its host address.
    #[serde(default)]
    pub peers: Vec<HostPeer>,
}

/// Another host's task subnet and the address it is reached through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPeer {
    pub task_subnet: String,
    pub host_address: String,
}

/// A group's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRules {
    #[serde(default)]
    pub ingress: Vec<SecurityRule>,
    #[serde(default)]
    pub egress: Vec<SecurityRule>,
}

/// One rule: a protocol (`tcp`, `udp`, `icmp`, `-1`), a port range (TCP and
/// UDP; ICMP's type and code, -1 any), and one peer: a CIDR or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRule {
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}
