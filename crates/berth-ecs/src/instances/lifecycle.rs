//! DeregisterContainerInstance and UpdateContainerInstancesState.

use super::state::TaskCounts;
use crate::tasks::TaskRecord;
use crate::{Ecs, keys};
use berth_ecs_model::instance::InstanceRecord;
use berth_ecs_model::{ContainerInstanceStatus, StatusName, TaskStatus, TaskStopCode};
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeregisterInput {
    pub(crate) cluster: Option<String>,
    container_instance: String,
    force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateStateInput {
    pub(crate) cluster: Option<String>,
    pub(crate) container_instances: Vec<String>,
    status: String,
}

impl DeregisterInput {
    /// A forced deregistration of `arn` in `cluster` (a host the managed
    /// scaling removed).
    pub(crate) fn forced(cluster: &str, arn: &str) -> Self {
        Self {
            cluster: Some(cluster.to_string()),
            container_instance: arn.to_string(),
            force: Some(true),
        }
    }
}

impl UpdateStateInput {
    /// `arns` of `cluster` set to DRAINING (hosts a scale-in removes).
    pub(crate) fn draining(cluster: &str, arns: Vec<String>) -> Self {
        Self {
            cluster: Some(cluster.to_string()),
            container_instances: arns,
            status: ContainerInstanceStatus::Draining.as_str().to_string(),
        }
    }
}

impl Ecs {
    pub(crate) async fn deregister_container_instance(
        &self,
        _ctx: &RequestContext,
        input: DeregisterInput,
    ) -> Result<Value, AwsError> {
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let force = input.force.unwrap_or(false);
        let not_found = || Self::instance_not_found(&input.container_instance, &name);
        let (rec, _) = self
            .get_instance(&name, &input.container_instance)
            .await?
            .ok_or_else(not_found)?;
        if rec.status == ContainerInstanceStatus::Inactive {
            return Err(not_found());
        }
        let arn = rec.container_instance_arn.clone();
        let key = keys::instance(&name, &rec.berth.id);
        loop {
            let (mut rec, rev) = self
                .stored_instance(&name, &rec.berth.id)
                .await?
                .ok_or_else(not_found)?;
            // A shared Fargate host runs tasks of other clusters too.
            let active: Vec<Arc<TaskRecord>> = self
                .synced_view()
                .await?
                .tasks_on_host(&name, &arn)
                .into_iter()
                .filter(|t| t.last_status != TaskStatus::Stopped)
                .collect();
            if !active.is_empty() {
                if !force {
                    return Err(AwsError::invalid_parameter("Found running tasks on the instance."));
                }
                for t in &active {
                    self.stop_task_now(
                        &t.berth.cluster,
                        &t.berth.id,
                        TaskStopCode::TerminationNotice,
                        "Container instance deregistered with force.",
                    )
                    .await?;
                }
                // Stopping released resources on the instance: read it again.
                continue;
            }
            rec.status = ContainerInstanceStatus::Inactive.into();
            rec.agent_connected = false;
            rec.version += 1;
            if self.put_at_revision(&key, rev, &rec).await? {
                self.agents.forget(&name, &rec.berth.id);
                tracing::info!(instance = %arn, force, "container instance deregistered");
                return Ok(json!({
                    "containerInstance": self.render_instance(&rec, TaskCounts::default(), &[], true, false)
                }));
            }
        }
    }

    pub(crate) async fn update_container_instances_state(
        &self,
        _ctx: &RequestContext,
        input: UpdateStateInput,
    ) -> Result<Value, AwsError> {
        let Some(status) = ContainerInstanceStatus::parse(&input.status)
            .filter(|s| matches!(s, ContainerInstanceStatus::Active | ContainerInstanceStatus::Draining))
        else {
            return Err(AwsError::invalid_parameter(format!(
                "Container instances can only be set to ACTIVE or DRAINING, not {}.",
                input.status
            )));
        };
        if input.container_instances.is_empty() || input.container_instances.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "containerInstances must list between 1 and 10 container instances.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let mut updated = vec![];
        let mut failures = vec![];
        for reference in &input.container_instances {
            let Some((rec, _)) = self.get_instance(&name, reference).await? else {
                failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"}));
                continue;
            };
            let result = typed::update_with::<InstanceRecord, AwsError, _>(
                AwsError::state_store,
                &*self.store,
                &keys::instance(&name, &rec.berth.id),
                |cur| match cur {
                    Some(mut r) if r.is_registered() => {
                        if r.status != status {
                            r.status = status.into();
                            r.version += 1;
                        }
                        Ok(Some(r))
                    }
                    other => Ok(other),
                },
            )
            .await?;
            match result {
                Some(r) if r.is_registered() => updated.push(r),
                Some(r) => failures.push(json!({
                    "arn": r.container_instance_arn,
                    "reason": r.status,
                    "detail": "Only ACTIVE or DRAINING container instances can change state.",
                })),
                None => failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"})),
            }
        }
        let state = self.cluster_state(&name).await?;
        let counts = state.counts();
        let out: Vec<Value> = updated
            .iter()
            .map(|r| {
                let arn = &r.container_instance_arn;
                self.render_instance(
                    r,
                    counts.get(arn).copied().unwrap_or_default(),
                    state.custom.get(arn).map(Vec::as_slice).unwrap_or(&[]),
                    false,
                    false,
                )
            })
            .collect();
        Ok(json!({"containerInstances": out, "failures": failures}))
    }
}
