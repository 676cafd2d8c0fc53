//! awsvpc tasks and security groups: the EC2 side ECS asks
//! ([`SecurityGroupDirectory`], implemented by the binary over `berth-ec2`)
//! whether the groups of an `awsvpcConfiguration` exist, and which group a
//! task gets when none is named (its VPC's `default`); and the interfaces
//! of the region's awsvpc tasks, for EC2's DescribeNetworkInterfaces and the
//! agents' filters, read from the task records (not copied).

use crate::Ecs;
use async_trait::async_trait;
use berth_ecs_model::task::TaskRecord;
use berth_proto::AwsError;
use serde_json::{Value, json};
use std::sync::Arc;

/// The EC2 records ECS checks a launch's security groups against.
#[async_trait]
pub trait SecurityGroupDirectory: Send + Sync + 'static {
    /// The groups a task launched in `subnets` with `groups` gets: each
    /// must exist (ECS's `InvalidParameterException` wording otherwise);
    /// none named is the VPC's default group.
    async fn task_groups(&self, subnets: &[String], groups: &[String]) -> Result<Vec<String>, AwsError>;
}

/// Why Berth refuses `securityGroups` when no EC2 API is wired (an ECS
/// without it: tests).
pub const SECURITY_GROUPS_UNSUPPORTED: &str =
    "securityGroups are not supported by this server (it serves no EC2 API); omit securityGroups.";

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

    /// The `networkConfiguration` of an awsvpc launch with its security
    /// groups checked and resolved (none given: the VPC's default group,
    /// written in, as DescribeServices then shows it). Without a directory,
    /// groups are refused and none are added.
    pub(crate) async fn resolve_security_groups(&self, network: Option<Value>) -> Result<Option<Value>, AwsError> {
        let Some(mut network) = network else {
            return Ok(None);
        };
        let conf = &network["awsvpcConfiguration"];
        if conf.is_null() {
            return Ok(Some(network));
        }
        let groups = strings(&conf["securityGroups"]);
        let Some(directory) = &self.security_groups else {
            if !groups.is_empty() {
                return Err(AwsError::invalid_parameter(SECURITY_GROUPS_UNSUPPORTED));
            }
            return Ok(Some(network));
        };
        let resolved = directory.task_groups(&strings(&conf["subnets"]), &groups).await?;
        network["awsvpcConfiguration"]["securityGroups"] = json!(resolved);
        Ok(Some(network))
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
