//! Starting a service's tasks: the task definition revision its deployment
//! runs, the task options and placement of its tasks (through the same
//! placement transaction as RunTask), and the event ECS writes when no
//! instance can take one.

use crate::Ecs;
use crate::services::{DeploymentRecord, ServiceRecord};
use crate::tasks::{
    Placed, ResolvedTaskDefinition, TaskOptions, TaskRecord, deployment_launch, placement_constraints,
    placement_strategies,
};
use berth_ecs_model::Tag;
use berth_proto::AwsError;
use berth_proto::json::encode;
use berth_scheduler::{FailureReason, PlacementConstraint, PlacementStrategy};

fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The event ECS writes when no instance can take a task.
fn unable_to_place_message(service: &str, failures: &[berth_scheduler::Failure], error: Option<&str>) -> String {
    let prefix = format!(
        "(service {service}) was unable to place a task because no container instance met all of its requirements."
    );
    let tail = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";
    if let Some(e) = error {
        return format!("{prefix} Reason: {e} {tail}");
    }
    match failures.first() {
        Some(f) => {
            let what = match f.reason {
                FailureReason::ResourceMemory => "has insufficient memory available",
                FailureReason::ResourceCpu => "has insufficient CPU units available",
                FailureReason::ResourcePorts => "is already using a port required by your task",
                FailureReason::Agent => "has an agent that is disconnected",
                FailureReason::Attribute => "is missing an attribute required by your task",
                FailureReason::DistinctInstance | FailureReason::MemberOf => {
                    "does not satisfy the placement constraints of your task"
                }
                FailureReason::AvailabilityZone => "is not in the Availability Zone of any of your task's subnets",
            };
            format!(
                "{prefix} The closest matching (container-instance {}) {what}. {tail}",
                short_id(&f.arn)
            )
        }
        None => format!("{prefix} {tail}"),
    }
}

impl Ecs {
    /// A task definition revision by ARN, ACTIVE or not (a service keeps
    /// running a revision deregistered after it was deployed).
    async fn deployment_task_definition(&self, arn: &str) -> Result<Option<ResolvedTaskDefinition>, AwsError> {
        let Some((rec, _, _)) = self.find_task_definition(arn).await? else {
            return Ok(None);
        };
        let td = &rec.task_definition;
        Ok(Some(ResolvedTaskDefinition {
            value: encode(td)?,
            family: td.family_name().to_string(),
            revision: td.revision_number(),
            arn: arn.to_string(),
            tags: rec.tags,
        }))
    }

    /// Starts `count` tasks of `deployment` (on `only_instance` when
    /// given). Returns the tasks started and, when some could not be
    /// placed, the event to write.
    pub(crate) async fn start_service_tasks(
        &self,
        svc: &ServiceRecord,
        deployment: &DeploymentRecord,
        count: u32,
        only_instance: Option<&str>,
    ) -> Result<(Vec<TaskRecord>, Option<String>), AwsError> {
        let name = &svc.service_name;
        let Some(td) = self.deployment_task_definition(&deployment.task_definition).await? else {
            return Ok((
                vec![],
                Some(format!(
                    "(service {name}) failed to launch a task: task definition {} does not exist.",
                    deployment.task_definition
                )),
            ));
        };
        let cluster = self.active_cluster(Some(&svc.berth.cluster)).await?;
        // The capacity providers of the deployment's tasks still wanted: the
        // new ones complete the strategy's split over all of them.
        let existing: Vec<String> = if deployment.capacity_provider_strategy.is_empty() {
            vec![]
        } else {
            self.view
                .tasks(&cluster.cluster_name)
                .iter()
                .filter(|t| {
                    t.started_by.as_deref() == Some(deployment.id.as_str())
                        && t.desired_status != berth_ecs_model::TaskStatus::Stopped
                })
                .filter_map(|t| t.capacity_provider_name.clone())
                .collect()
        };
        let (launch_type, providers) = deployment_launch(
            deployment.launch_type.as_deref(),
            &deployment.capacity_provider_strategy,
            &existing,
            count as usize,
        );
        let service_tags: Vec<Tag> = if svc.propagate_tags == "SERVICE" {
            svc.tags.clone()
        } else {
            vec![]
        };
        let opts = TaskOptions {
            overrides: None,
            group: Some(format!("service:{name}")),
            started_by: Some(deployment.id.clone()),
            tags: service_tags,
            propagate_tags: (svc.propagate_tags == "TASK_DEFINITION").then(|| "TASK_DEFINITION".to_string()),
            enable_ecs_managed_tags: Some(svc.enable_ecs_managed_tags),
            enable_execute_command: Some(svc.enable_execute_command),
        };
        let platform_version = deployment.platform_version.clone().filter(|p| p != "LATEST");
        let host_group = match self.host_group_for(&providers).await {
            Ok(g) => g,
            Err(e) if e.is_client_fault() => {
                return Ok((vec![], Some(unable_to_place_message(name, &[], Some(&e.message)))));
            }
            Err(e) => return Err(e),
        };
        // The subnets' zones as EC2 has them now (a subnet deleted since
        // the deployment: the tasks are not placed, the event says why).
        let subnet_zones = match self.resolve_network(deployment.network_configuration.clone()).await {
            Ok((_, zones)) => zones,
            Err(e) if e.is_client_fault() => {
                return Ok((vec![], Some(unable_to_place_message(name, &[], Some(&e.message)))));
            }
            Err(e) => return Err(e),
        };
        let mut plan = self.plan(cluster, td, &opts, launch_type, providers, platform_version)?;
        plan.network_configuration = deployment.network_configuration.clone();
        plan.subnet_zones = subnet_zones;
        plan.host_group = host_group;
        if svc.enable_ecs_managed_tags {
            berth_ecs_model::merge_tags(
                &mut plan.tags,
                &[Tag {
                    key: "aws:ecs:serviceName".into(),
                    value: name.clone(),
                }],
            );
        }
        let constraints: Vec<PlacementConstraint> = placement_constraints(&plan.td.value, &svc.placement_constraints)
            .filter_map(Result::ok)
            .collect();
        let strategies: Vec<PlacementStrategy> = placement_strategies(&svc.placement_strategy)
            .filter_map(Result::ok)
            .collect();
        let request = plan.placement_request(constraints, strategies, count);
        match self.place_tasks(&plan, &request, only_instance, None, "").await {
            Ok(Placed::Tasks { tasks, failures }) => {
                let event = (tasks.len() < count as usize).then(|| unable_to_place_message(name, &failures, None));
                Ok((tasks, event))
            }
            Ok(Placed::Token(_)) => Ok((vec![], None)),
            Err(e) if e.is_client_fault() => Ok((vec![], Some(unable_to_place_message(name, &[], Some(&e.message))))),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_event_names_the_closest_instance() {
        let f = berth_scheduler::Failure {
            arn: "arn:aws:ecs:us-east-1:1:container-instance/c/abc".into(),
            reason: FailureReason::ResourceMemory,
            detail: String::new(),
        };
        let m = unable_to_place_message("web", &[f], None);
        assert!(m.starts_with(
            "(service web) was unable to place a task because no container instance met all of its requirements."
        ));
        assert!(m.contains("(container-instance abc) has insufficient memory available"));
        let f = berth_scheduler::Failure {
            arn: "arn:aws:ecs:us-east-1:1:container-instance/c/abc".into(),
            reason: FailureReason::AvailabilityZone,
            detail: String::new(),
        };
        let m = unable_to_place_message("web", &[f], None);
        assert!(m.contains("(container-instance abc) is not in the Availability Zone of any of your task's subnets"));
        let m = unable_to_place_message("web", &[], Some("No Container Instances were found in your cluster."));
        assert!(m.contains("Reason: No Container Instances were found in your cluster."));
    }
}
