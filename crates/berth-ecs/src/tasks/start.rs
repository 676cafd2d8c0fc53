//! StartTask: run tasks on the container instances the caller names.

use super::definitions::TaskDefinitionLookup;
use super::options::{TaskOptions, placement_constraints};
use super::placement::{MAX_PLACEMENT_ATTEMPTS, failure_json};
use super::run::task_definition_resources;
use crate::Ecs;
use crate::authz::{cluster_key, exec_key, instance_keys};
use crate::instances::InstanceRecord;
use crate::operation::Operation;
use crate::references::cluster_name;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::ContainerInstanceStatus;
use berth_ecs_model::task::check_compatibility;
use berth_ecs_model::task::instance_id_of;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_scheduler::PlacementConstraint;
use berth_scheduler::Resources;
use berth_store::Revision;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartTaskInput {
    cluster: Option<String>,
    /// Required; its absence is reported with the count (1 to 10).
    #[serde(default)]
    container_instances: Vec<String>,
    network_configuration: Option<Value>,
    task_definition: String,
    /// overrides, group, startedBy, tags, propagateTags,
    /// enableECSManagedTags, enableExecuteCommand.
    #[serde(flatten)]
    options: TaskOptions,
    /// `taskDefinition`, looked up once ([`StartTask::load`]).
    #[serde(skip)]
    definition: TaskDefinitionLookup,
}

/// StartTask, authorized as RunTask is, with `ecs:container-instances`
/// naming the instances the tasks start on.
pub(crate) struct StartTask;

#[async_trait]
impl Operation<Ecs> for StartTask {
    const NAME: &'static str = "StartTask";
    type Input = StartTaskInput;

    async fn load(ecs: &Ecs, input: &mut StartTaskInput) {
        input.definition = ecs.lookup_task_definition(&input.task_definition).await;
    }

    fn resources(scope: &Scope, input: &StartTaskInput) -> Vec<AuthzResource> {
        let mut keys: Vec<(String, String)> = vec![];
        if let Ok(c) = cluster_name(input.cluster.as_deref()) {
            keys.push(cluster_key(scope, &c));
            keys.extend(instance_keys(
                scope,
                &c,
                input.container_instances.iter().map(String::as_str),
            ));
        }
        keys.extend(exec_key(input.options.enable_execute_command));
        task_definition_resources(
            scope,
            &input.task_definition,
            &input.definition,
            keys,
            input.options.overrides.as_ref(),
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: StartTaskInput) -> Result<Value, AwsError> {
        ecs.start_task(ctx, input).await
    }
}

impl Ecs {
    pub(crate) async fn start_task(&self, _ctx: &RequestContext, input: StartTaskInput) -> Result<Value, AwsError> {
        berth_ecs_model::check_execute_command(input.options.enable_execute_command)?;
        if input.container_instances.is_empty() || input.container_instances.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "containerInstances must list between 1 and 10 container instances.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name.clone();
        let td = input.definition.into_active()?;
        check_compatibility(&td.value, "EC2")?;
        berth_ecs_model::task::check_launch_overrides("EC2", &td.value, input.options.overrides.as_ref())?;
        berth_ecs_model::check_network_configuration(
            td.value["networkMode"].as_str(),
            input.network_configuration.as_ref(),
        )?;
        berth_ecs_model::check_public_ip(input.network_configuration.as_ref(), "EC2")?;
        let constraints: Vec<PlacementConstraint> =
            placement_constraints(&td.value, &[]).filter_map(Result::ok).collect();
        let mut plan = self.plan(cluster, td, &input.options, "EC2".into(), vec![], None)?;
        (plan.network_configuration, plan.subnet_zones) =
            self.resolve_network(input.network_configuration.clone()).await?;
        let request = plan.placement_request(constraints, vec![], 1);
        for attempt in 0..MAX_PLACEMENT_ATTEMPTS {
            let lock = self.view.placement_lock(&name);
            let placing = lock.lock().await;
            let state = self.synced_view().await?.placement_state(&name);
            let mut views = state.views.clone();
            let mut failures = vec![];
            let mut tasks = vec![];
            let mut touched: BTreeSet<usize> = BTreeSet::new();
            let now = now_epoch();
            for (n, reference) in input.container_instances.iter().enumerate() {
                let id = instance_id_of(reference);
                let found = state.instances.iter().position(|(r, _)| {
                    r.berth.id == id && (!reference.starts_with("arn:") || &r.container_instance_arn == reference)
                });
                let Some(i) = found else {
                    failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"}));
                    continue;
                };
                let rec = &state.instances[i].0;
                if rec.status != ContainerInstanceStatus::Active {
                    failures.push(json!({
                        "arn": rec.container_instance_arn,
                        "reason": if rec.status == ContainerInstanceStatus::Inactive { "MISSING" } else { rec.status.as_str() },
                        "detail": format!("The container instance is {}; only ACTIVE instances start tasks.", rec.status),
                    }));
                    continue;
                }
                let placement = {
                    let mut rng = rand::thread_rng();
                    berth_scheduler::place(std::slice::from_mut(&mut views[i]), &request, &mut rng)
                }
                .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
                if placement.placements.is_empty() {
                    failures.extend(placement.failures.iter().map(failure_json));
                } else {
                    tasks.push(self.new_task(&plan, Some(rec), n, now));
                    touched.insert(i);
                }
            }
            if tasks.is_empty() {
                return Ok(json!({"tasks": [], "failures": failures}));
            }
            let reservations: Vec<(&InstanceRecord, Revision, &Resources)> = touched
                .iter()
                .map(|&i| (&*state.instances[i].0, state.instances[i].1, &views[i].remaining))
                .collect();
            if self.commit_placement(&name, &reservations, &tasks, None).await? {
                let rendered: Vec<Value> = tasks.iter().map(|t| t.render(true)).collect();
                return Ok(json!({"tasks": rendered, "failures": failures}));
            }
            drop(placing);
            Self::backoff(attempt).await;
        }
        Err(AwsError::server(
            "Too many concurrent changes to the cluster's container instances; retry the request.",
        ))
    }
}
