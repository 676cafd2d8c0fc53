//! The network interfaces of tasks, as DescribeNetworkInterfaces and the
//! security groups' dependency check see them. They are not EC2's records:
//! ECS owns them (each awsvpc task's ENI attachment); the binary gives this
//! crate a [`TaskInterfaces`] that reads them there, so nothing is copied.

use async_trait::async_trait;
use berth_proto::AwsError;

/// One task's interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInterface {
    /// `eni-…`
    pub id: String,
    pub subnet_id: String,
    pub availability_zone: String,
    pub private_ip: String,
    pub mac_address: String,
    pub private_dns_name: String,
    /// The security groups the task was launched with (resolved: the VPC's
    /// default group when none was named).
    pub groups: Vec<String>,
    /// The task's ARN, the interface's description (`arn:aws:ecs:…`, as
    /// ECS-managed ENIs are described by AWS as their attachment).
    pub task_arn: String,
}

/// Where the task interfaces come from.
#[async_trait]
pub trait TaskInterfaces: Send + Sync + 'static {
    /// Every interface attached to a running task of the region.
    async fn interfaces(&self) -> Result<Vec<TaskInterface>, AwsError>;
}

/// No interfaces (an EC2 API without ECS: tests).
pub struct NoInterfaces;

#[async_trait]
impl TaskInterfaces for NoInterfaces {
    async fn interfaces(&self) -> Result<Vec<TaskInterface>, AwsError> {
        Ok(Vec::new())
    }
}
