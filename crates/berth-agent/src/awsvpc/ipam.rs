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

/// The leases of one task subnet, by task ARN, and those of the warm
/// pause containers (made ahead of need, [`super::warm`]), by container
/// name: a warm container's host name is its address, so the address is
/// taken when it is made and passes to the task that claims it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leases {
    pub subnet: String,
    #[serde(default)]
    pub tasks: BTreeMap<String, Lease>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub warm: BTreeMap<String, Lease>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free address left in the task subnet {0}: stop tasks or give the agent a larger --task-subnet")]
pub struct Exhausted(pub String);

impl Leases {
    pub fn new(subnet: &TaskSubnet) -> Self {
        Self {
            subnet: subnet.to_string(),
            tasks: BTreeMap::new(),
            warm: BTreeMap::new(),
        }
    }

    /// Leases read back for `subnet`: those of another subnet (the agent was
    /// given a new `--task-subnet`) and addresses outside it are dropped.
    pub fn for_subnet(self, subnet: &TaskSubnet) -> Self {
        if self.subnet != subnet.to_string() {
            return Self::new(subnet);
        }
        let tasks = self.tasks.into_iter().filter(|(_, l)| subnet.contains(l.ip)).collect();
        let warm = self.warm.into_iter().filter(|(_, l)| subnet.contains(l.ip)).collect();
        Self { tasks, warm, ..self }
    }

    /// The task's lease: the one it holds, else the lowest free address
    /// (`eni_hex` names the new interface). Idempotent.
    pub fn acquire(&mut self, subnet: &TaskSubnet, task_arn: &str, eni_hex: &str) -> Result<Lease, Exhausted> {
        if let Some(l) = self.tasks.get(task_arn) {
            return Ok(l.clone());
        }
        let lease = self.free(subnet, eni_hex)?;
        self.tasks.insert(task_arn.to_string(), lease.clone());
        Ok(lease)
    }

    /// The lowest address neither a task nor a warm container holds.
    fn free(&self, subnet: &TaskSubnet, eni_hex: &str) -> Result<Lease, Exhausted> {
        let ip = subnet
            .task_addresses()
            .find(|ip| !self.tasks.values().chain(self.warm.values()).any(|l| l.ip == *ip))
            .ok_or_else(|| Exhausted(subnet.to_string()))?;
        Ok(Lease {
            ip,
            mac: mac_for(ip),
            eni_id: format!("eni-{eni_hex}"),
        })
    }

    /// The lease of the warm container `name`: the one it holds, else the
    /// lowest free address. Idempotent.
    pub fn acquire_warm(&mut self, subnet: &TaskSubnet, name: &str, eni_hex: &str) -> Result<Lease, Exhausted> {
        if let Some(l) = self.warm.get(name) {
            return Ok(l.clone());
        }
        let lease = self.free(subnet, eni_hex)?;
        self.warm.insert(name.to_string(), lease.clone());
        Ok(lease)
    }

    /// The warm container `name` is claimed by the task: its lease becomes
    /// the task's (None: it holds none, or the task holds one already).
    pub fn claim_warm(&mut self, name: &str, task_arn: &str) -> Option<Lease> {
        if self.tasks.contains_key(task_arn) {
            return None;
        }
        let lease = self.warm.remove(name)?;
        self.tasks.insert(task_arn.to_string(), lease.clone());
        Some(lease)
    }

    /// Frees the warm container's address; true when it held one.
    pub fn release_warm(&mut self, name: &str) -> bool {
        self.warm.remove(name).is_some()
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
