//! EC2 and ECS, joined here so that neither service crate depends on the
//! other: ECS checks a launch's subnets and security groups in EC2's
//! records and tells it the zones agents register in ([`Ec2Directory`]),
//! and EC2 reads the task interfaces from ECS's task
//! records ([`EcsInterfaces`]).

use async_trait::async_trait;
use berth_ec2::{Ec2, TaskInterface, TaskInterfaces};
use berth_ecs::Ecs;
use berth_ecs::security_groups::{LaunchNetwork, SecurityGroupDirectory};
use berth_ecs_model::SubnetZone;
use berth_ecs_model::task::AttachmentStatus;
use berth_proto::AwsError;

/// ECS's subnet and security-group lookups, answered by EC2.
pub struct Ec2Directory(pub Ec2);

#[async_trait]
impl SecurityGroupDirectory for Ec2Directory {
    async fn launch_network(&self, subnets: &[String], groups: &[String]) -> Result<LaunchNetwork, AwsError> {
        let n = self.0.launch_network(subnets, groups).await?;
        Ok(LaunchNetwork {
            groups: n.groups,
            subnet_zones: n
                .subnet_zones
                .into_iter()
                .map(|(subnet, zone)| SubnetZone { subnet, zone })
                .collect(),
        })
    }

    async fn zone_registered(&self, zone: &str) -> Result<(), AwsError> {
        self.0.ensure_zone(zone).await
    }
}

/// EC2's task interfaces, read from ECS's awsvpc tasks.
pub struct EcsInterfaces(pub Ecs);

#[async_trait]
impl TaskInterfaces for EcsInterfaces {
    async fn interfaces(&self) -> Result<Vec<TaskInterface>, AwsError> {
        let tasks = self.0.awsvpc_tasks().await?;
        Ok(tasks
            .iter()
            .filter_map(|t| {
                let eni = t
                    .attachments
                    .iter()
                    .find(|a| a.is_eni() && a.status == AttachmentStatus::Attached)?;
                let detail = |name: &str| eni.detail(name).unwrap_or_default().to_string();
                Some(TaskInterface {
                    id: detail("networkInterfaceId"),
                    subnet_id: detail("subnetId"),
                    availability_zone: t.availability_zone.clone().unwrap_or_default(),
                    private_ip: detail("privateIPv4Address"),
                    mac_address: detail("macAddress"),
                    private_dns_name: detail("privateDnsName"),
                    groups: t.berth.security_groups.clone(),
                    task_arn: t.task_arn.clone(),
                })
            })
            .collect())
    }
}
