//! awsvpc tasks, subnets and security groups: the EC2 side ECS asks
//! ([`SecurityGroupDirectory`], implemented by the binary over `berth-ec2`)
//! whether the subnets and groups of an `awsvpcConfiguration` exist and
//! belong together, which zone each subnet is in (placement keeps the tasks
//! to those zones), and which group a task gets when none is named (its
//! VPC's `default`); the zones agents register in (EC2 gives each a
//! default subnet); and the interfaces
//! of the region's awsvpc tasks, for EC2's DescribeNetworkInterfaces and the
//! agents' filters, read from the task records (not copied).

use crate::Ecs;
use async_trait::async_trait;
use berth_ecs_model::SubnetZone;
use berth_ecs_model::task::TaskRecord;
use berth_proto::AwsError;
use serde_json::{Value, json};
use std::sync::Arc;

/// An awsvpc launch's network as EC2 resolved it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchNetwork {
    /// The task's security groups (none named: the VPC's default group).
    pub groups: Vec<String>,
    /// Each subnet named, with its availability zone.
    pub subnet_zones: Vec<SubnetZone>,
}

/// The EC2 records ECS checks a launch's subnets and security groups
/// against.
#[async_trait]
pub trait SecurityGroupDirectory: Send + Sync + 'static {
    /// The network of a task launched in `subnets` with `groups`: every
    /// subnet must exist, all in one VPC, every group exist and be of that
    /// VPC (ECS's `InvalidParameterException` wording otherwise); none
    /// named is the VPC's default group.
    async fn launch_network(&self, subnets: &[String], groups: &[String]) -> Result<LaunchNetwork, AwsError>;

    /// An agent registered in availability zone `zone`: EC2 gives the zone
    /// its default subnet if it has none.
    async fn zone_registered(&self, zone: &str) -> Result<(), AwsError>;
}

/// Why Berth refuses `securityGroups` when no EC2 API is wired (an ECS
/// without it: tests).
pub const SECURITY_GROUPS_UNSUPPORTED: &str =
    "securityGroups are not supported by this server (it serves no EC2 API); omit securityGroups.";

/// The instance attribute an agent registers its awsvpc task subnet with.
pub const TASK_SUBNET: &str = "berth.task-subnet";
/// The instance attribute an agent registers the address other hosts route
/// its task subnet through with (`--host-address`).
pub const HOST_ADDRESS: &str = "berth.host-address";

/// One host's awsvpc task network, as its agent registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNetwork {
    pub instance_arn: String,
    pub cluster: String,
    pub task_subnet: String,
    pub host_address: String,
}

/// The first and last address of an IPv4 CIDR block.
fn cidr_range(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let first = u32::from(addr) & mask;
    Some((first, first | !mask))
}

/// The host network that an agent registering task subnet `subnet` on the
/// host at `host` conflicts with: one on another host (same-host agents
/// share a namespace, where the agent itself refuses a taken subnet) whose
/// task subnet overlaps it, so that neither could be routed.
pub fn subnet_conflict<'a>(subnet: &str, host: &str, others: &'a [HostNetwork]) -> Option<&'a HostNetwork> {
    let (first, last) = cidr_range(subnet)?;
    others
        .iter()
        .find(|o| o.host_address != host && cidr_range(&o.task_subnet).is_some_and(|(f, l)| f <= last && first <= l))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

impl Ecs {
    /// ECS looks a launch's security groups up in `directory`.
    pub fn with_security_groups(mut self, directory: Arc<dyn SecurityGroupDirectory>) -> Self {
        self.security_groups = Some(directory);
        self
    }

    /// The `networkConfiguration` of an awsvpc launch with its subnets
    /// and security groups checked and its groups resolved (none given: the
    /// VPC's default group, written in, as DescribeServices then shows it).
    /// Without a directory, groups are refused and none are added.
    pub(crate) async fn resolve_security_groups(&self, network: Option<Value>) -> Result<Option<Value>, AwsError> {
        self.resolve_network(network).await.map(|(n, _)| n)
    }

    /// [`Self::resolve_security_groups`], and the zone of each subnet
    /// (none without a directory: placement then ignores zones).
    pub(crate) async fn resolve_network(
        &self,
        network: Option<Value>,
    ) -> Result<(Option<Value>, Vec<SubnetZone>), AwsError> {
        let Some(mut network) = network else {
            return Ok((None, vec![]));
        };
        let conf = &network["awsvpcConfiguration"];
        if conf.is_null() {
            return Ok((Some(network), vec![]));
        }
        let groups = strings(&conf["securityGroups"]);
        let Some(directory) = &self.security_groups else {
            if !groups.is_empty() {
                return Err(AwsError::invalid_parameter(SECURITY_GROUPS_UNSUPPORTED));
            }
            return Ok((Some(network), vec![]));
        };
        let resolved = directory.launch_network(&strings(&conf["subnets"]), &groups).await?;
        network["awsvpcConfiguration"]["securityGroups"] = json!(resolved.groups);
        Ok((Some(network), resolved.subnet_zones))
    }

    /// An agent registered in `zone`: EC2 gets its default subnet. A
    /// failure is logged, not the registration's (the zone is added at the
    /// agent's next registration).
    pub(crate) async fn zone_registered(&self, zone: &str) {
        if let Some(directory) = &self.security_groups
            && let Err(e) = directory.zone_registered(zone).await
        {
            tracing::warn!(zone, error = %e.message, "could not add the zone's default subnet");
        }
    }

    /// Tells EC2 the zone of every registered instance of the region (at
    /// start: a data dir from before default subnets per zone gets the
    /// missing ones without waiting for its agents to register again).
    pub async fn sync_registered_zones(&self) -> Result<(), AwsError> {
        if self.security_groups.is_none() {
            return Ok(());
        }
        let view = self.synced_view().await?;
        let mut zones: Vec<String> = view
            .registered_instances_having(berth_scheduler::ZONE_ATTRIBUTE)
            .iter()
            .filter_map(|r| r.attribute(berth_scheduler::ZONE_ATTRIBUTE).map(str::to_string))
            .collect();
        zones.sort();
        zones.dedup();
        for zone in zones {
            self.zone_registered(&zone).await;
        }
        Ok(())
    }

    /// The task networks of the region's registered instances (every
    /// cluster) whose agents told them.
    pub async fn host_networks(&self) -> Result<Vec<HostNetwork>, AwsError> {
        let view = self.synced_view().await?;
        Ok(view
            .registered_instances_having(TASK_SUBNET)
            .iter()
            .filter_map(|r| {
                Some(HostNetwork {
                    instance_arn: r.container_instance_arn.clone(),
                    cluster: r.berth.cluster.clone(),
                    task_subnet: r.attribute(TASK_SUBNET)?.to_string(),
                    host_address: r.attribute(HOST_ADDRESS)?.to_string(),
                })
            })
            .collect())
    }

    /// Every awsvpc task of the region that has not stopped (its interface
    /// PRECREATED or ATTACHED), in cluster and task order.
    pub async fn awsvpc_tasks(&self) -> Result<Vec<Arc<TaskRecord>>, AwsError> {
        let view = self.synced_view().await?;
        let mut out = Vec::new();
        for cluster in view.cluster_names() {
            for t in view.tasks(&cluster) {
                let live = t
                    .attachments
                    .iter()
                    .any(|a| a.is_eni() && a.status != berth_ecs_model::task::AttachmentStatus::Deleted);
                if live && t.stopped_at.is_none() {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(arn: &str, subnet: &str, address: &str) -> HostNetwork {
        HostNetwork {
            instance_arn: arn.into(),
            cluster: "c".into(),
            task_subnet: subnet.into(),
            host_address: address.into(),
        }
    }

    #[test]
    fn an_overlapping_task_subnet_on_another_host_conflicts() {
        let others = [
            host("a", "10.1.0.0/24", "192.0.2.1"),
            host("b", "10.2.0.0/24", "192.0.2.2"),
        ];
        assert_eq!(
            subnet_conflict("10.1.0.0/24", "192.0.2.9", &others).map(|h| h.instance_arn.as_str()),
            Some("a")
        );
        assert_eq!(
            subnet_conflict("10.2.0.128/25", "192.0.2.9", &others).map(|h| h.instance_arn.as_str()),
            Some("b")
        );
        assert_eq!(
            subnet_conflict("10.0.0.0/14", "192.0.2.9", &others).map(|h| h.instance_arn.as_str()),
            Some("a")
        );
        // Another subnet, or the same host (its agent checks that itself): no conflict.
        assert!(subnet_conflict("10.3.0.0/24", "192.0.2.9", &others).is_none());
        assert!(subnet_conflict("10.1.0.0/24", "192.0.2.1", &others).is_none());
        assert!(subnet_conflict("nonsense", "192.0.2.9", &others).is_none());
    }
}
