//! The agent's IPAM: which task holds which address of the task subnet.
//! Pure; [`super::host_net`] keeps it in the agent's data dir so a
//! restarted agent gives a running task the address it has.

use super::subnet::{TaskSubnet, mac_for};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// One task's interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub mac: String,
    /// `eni-` and 17 hex digits.
    pub eni_id: String,
}

/// The leases of one task subnet, by task ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leases {
    pub subnet: String,
    #[serde(default)]
    pub tasks: BTreeMap<String, Lease>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free address left in the task subnet {0}: stop tasks or give the agent a larger --task-subnet")]
pub struct Exhausted(pub String);

impl Leases {
    pub fn new(subnet: &TaskSubnet) -> Self {
        Self {
            subnet: subnet.to_string(),
            tasks: BTreeMap::new(),
        }
    }

    /// Leases read back for `subnet`: those of another subnet (the agent was
    /// given a new `--task-subnet`) and addresses outside it are dropped.
    pub fn for_subnet(self, subnet: &TaskSubnet) -> Self {
        if self.subnet != subnet.to_string() {
            return Self::new(subnet);
        }
        let tasks = self.tasks.into_iter().filter(|(_, l)| subnet.contains(l.ip)).collect();
        Self { tasks, ..self }
    }

    /// The task's lease: the one it holds, else the lowest free address
    /// (`eni_hex` names the new interface). Idempotent.
    pub fn acquire(&mut self, subnet: &TaskSubnet, task_arn: &str, eni_hex: &str) -> Result<Lease, Exhausted> {
        if let Some(l) = self.tasks.get(task_arn) {
            return Ok(l.clone());
        }
        let ip = subnet
            .task_addresses()
            .find(|ip| !self.tasks.values().any(|l| l.ip == *ip))
            .ok_or_else(|| Exhausted(subnet.to_string()))?;
        let lease = Lease {
            ip,
            mac: mac_for(ip),
            eni_id: format!("eni-{eni_hex}"),
        };
        self.tasks.insert(task_arn.to_string(), lease.clone());
        Ok(lease)
    }

    /// Frees the task's address; true when it held one.
    pub fn release(&mut self, task_arn: &str) -> bool {
        self.tasks.remove(task_arn).is_some()
    }

    /// The tasks holding an address that `keep` rejects.
    pub fn stale(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.tasks.keys().filter(|t| !keep(t)).cloned().collect()
    }
}
