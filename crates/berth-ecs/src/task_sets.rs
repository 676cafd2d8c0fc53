//! Task sets of services using the EXTERNAL deployment controller:
//! CreateTaskSet, DescribeTaskSets, UpdateTaskSet,
//! UpdateServicePrimaryTaskSet and DeleteTaskSet.
//!
//! A task set (`ecs-svc/<19 digits>`, ARN
//! `arn:aws:ecs:REGION:ACCOUNT:task-set/CLUSTER/SERVICE/ID`) is recorded in
//! its service's record; handlers only record intent (its revision, load
//! balancer, scale, status) and the service controller
//! (`service_task_sets.rs`) runs and registers its tasks. CreateTaskSet and
//! DescribeTaskSets are authorized on the service, the others on the task
//! set, each with `ecs:cluster` and `ecs:service`.

use crate::Ecs;
use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::services::{service_keys, service_task_definition_of};
use crate::tasks::{TaskDefinitionLookup, check_compatibility, launch_of};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::service::{
    LoadBalancerIn, Scale, ScaleIn, ServiceFacts, ServiceRecord, StabilityStatus, TaskSetInternal, TaskSetRecord,
    TaskSetStatus, check_network, deployment_id, task_set_id_of,
};
use berth_ecs_model::{CapacityProviderStrategyItem, Tag, validate_tags};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

/// The error ECS answers for a task set it does not know.
fn task_set_not_found(reference: &str) -> AwsError {
    AwsError::new(
        "TaskSetNotFoundException",
        400,
        format!("The specified task set {reference} does not exist in the service."),
    )
}

/// The error for task set operations on a service using another deployment
/// controller.
fn not_external() -> AwsError {
    AwsError::invalid_parameter(
        "Amazon ECS only supports task set management on services configured to use external deployment controllers.",
    )
}

/// The service ARN a request names, `*` when it cannot be built (pure).
fn service_arn_of(scope: &Scope, cluster: Option<&str>, service: &str) -> String {
    authz::arn_in_cluster(scope, cluster, Some(service), Scope::service_arn)
}

/// The task set ARN a request names (pure): as given, or built from the
/// cluster, the service's name and the id.
fn task_set_arn_of(scope: &Scope, cluster: Option<&str>, service: &str, task_set: &str) -> String {
    if task_set.starts_with("arn:") {
        return task_set.to_string();
    }
    let service_name = service.rsplit('/').next().unwrap_or(service);
    let cluster = match (service.starts_with("arn:"), cluster_name(cluster)) {
        // A service ARN names its cluster.
        (true, _) => service.split('/').rev().nth(1).map(str::to_string),
        (false, Ok(c)) => Some(c),
        (false, Err(_)) => None,
    };
    match cluster {
        Some(c) => scope.arn(
            "ecs",
            format!("task-set/{c}/{service_name}/{}", task_set_id_of(task_set)),
        ),
        None => "*".to_string(),
    }
}

/// A task set resource with `ecs:service` (and `ecs:cluster` from its ARN).
fn task_set_resource(scope: &Scope, cluster: Option<&str>, service: &str, task_set: &str) -> AuthzResource {
    let service_arn = service_arn_of(scope, cluster, service);
    authz::resource(
        scope,
        task_set_arn_of(scope, cluster, service, task_set),
        vec![("ecs:service".to_string(), service_arn)],
    )
}

impl Ecs {
    /// An EXTERNAL service's record, or the error ECS answers.
    async fn external_service(
        &self,
        cluster: Option<&str>,
        service: &str,
    ) -> Result<(String, ServiceRecord), AwsError> {
        let cluster = self.active_cluster(cluster).await?;
        let (svc, _) = self
            .get_service(&cluster.cluster_name, service)
            .await?
            .ok_or_else(|| AwsError::service_not_found("Service not found."))?;
        if !svc.is_external() {
            return Err(not_external());
        }
        Ok((cluster.cluster_name, svc))
    }

    /// Changes one task set of an ACTIVE EXTERNAL service; returns it as
    /// changed.
    async fn modify_task_set<F>(
        &self,
        cluster: Option<&str>,
        service: &str,
        task_set: &str,
        mut f: F,
    ) -> Result<TaskSetRecord, AwsError>
    where
        F: FnMut(&mut ServiceRecord, usize, f64) -> Result<(), AwsError>,
    {
        let (cname, _) = self.external_service(cluster, service).await?;
        let id = task_set_id_of(task_set).to_string();
        let rec = self
            .modify_active_service(&cname, service, |s| {
                let i = s
                    .task_sets
                    .iter()
                    .position(|t| t.id == id)
                    .ok_or_else(|| task_set_not_found(task_set))?;
                f(s, i, now_epoch())
            })
            .await?;
        rec.task_sets
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| task_set_not_found(task_set))
    }
}

// ---- CreateTaskSet ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateTaskSetInput {
    service: String,
    cluster: Option<String>,
    external_id: Option<String>,
    task_definition: String,
    network_configuration: Option<Value>,
    #[serde(default)]
    load_balancers: Vec<LoadBalancerIn>,
    #[serde(default)]
    service_registries: Vec<Value>,
    launch_type: Option<String>,
    #[serde(default)]
    capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    platform_version: Option<String>,
    scale: Option<ScaleIn>,
    client_token: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    /// `taskDefinition`, looked up once ([`CreateTaskSet::load`]).
    #[serde(skip)]
    definition: Option<TaskDefinitionLookup>,
}

/// CreateTaskSet, authorized on the service with `ecs:cluster`,
/// `ecs:task-definition` (the revision it resolves to) and
/// `ecs:capacity-provider`.
pub(crate) struct CreateTaskSet;

#[async_trait]
impl Operation<Ecs> for CreateTaskSet {
    const NAME: &'static str = "CreateTaskSet";
    type Input = CreateTaskSetInput;

    async fn load(ecs: &Ecs, input: &mut CreateTaskSetInput) {
        input.definition = Some(ecs.lookup_task_definition(&input.task_definition).await);
    }

    fn resources(scope: &Scope, input: &CreateTaskSetInput) -> Vec<AuthzResource> {
        vec![authz::resource(
            scope,
            service_arn_of(scope, input.cluster.as_deref(), &input.service),
            service_keys(
                scope,
                Some(&input.task_definition),
                input.definition.as_ref(),
                None,
                &input.capacity_provider_strategy,
            ),
        )]
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: CreateTaskSetInput) -> Result<Value, AwsError> {
        ecs.create_task_set(input).await
    }
}

impl Ecs {
    async fn create_task_set(&self, mut input: CreateTaskSetInput) -> Result<Value, AwsError> {
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let (cname, svc) = self.external_service(input.cluster.as_deref(), &input.service).await?;
        if svc.status != berth_ecs_model::ServiceStatus::Active {
            return Err(AwsError::service_not_active("Service was not ACTIVE."));
        }
        if !input.service_registries.is_empty() {
            return Err(AwsError::invalid_parameter(
                "serviceRegistries needs AWS Cloud Map, which Berth does not provide.",
            ));
        }
        if let Some(t) = &input.client_token
            && (t.is_empty() || t.len() > 36)
        {
            return Err(AwsError::invalid_parameter("clientToken must be 1-36 characters."));
        }
        if input.external_id.as_ref().is_some_and(|e| e.len() > 255) {
            return Err(AwsError::invalid_parameter(
                "externalId must be at most 255 characters.",
            ));
        }
        if input.load_balancers.len() > 1 {
            return Err(AwsError::invalid_parameter(
                "A task set can have only one load balancer (target group).",
            ));
        }
        let scale = Scale::parse(input.scale.as_ref())?;
        validate_tags(&input.tags)?;
        // The same clientToken again answers the task set it created.
        if let Some(t) = svc
            .task_sets
            .iter()
            .find(|t| input.client_token.is_some() && t.berth.client_token == input.client_token)
        {
            return Ok(json!({"taskSet": t.render(false)}));
        }
        let lookup = match input.definition.take() {
            Some(l) => l,
            None => self.lookup_task_definition(&input.task_definition).await,
        };
        let td = service_task_definition_of(lookup, &input.task_definition)?;
        let (launch_type, split) = launch_of(
            &cluster,
            input.launch_type.as_deref(),
            &input.capacity_provider_strategy,
            1,
        )?;
        check_compatibility(&td.value, &launch_type)?;
        check_network(&td.value, input.network_configuration.as_ref())?;
        berth_ecs_model::check_public_ip(input.network_configuration.as_ref(), &launch_type)?;
        berth_ecs_model::task::check_fargate_launch(
            &launch_type,
            input.platform_version.as_deref(),
            false,
            !svc.placement_constraints.is_empty(),
        )?;
        input.network_configuration = self.resolve_security_groups(input.network_configuration.take()).await?;
        let load_balancers = self
            .service_load_balancers(
                &input.load_balancers,
                &td.value,
                &svc.service_arn,
                ServiceFacts {
                    cluster_arn: &cluster.cluster_arn,
                    scheduling_strategy: &svc.scheduling_strategy,
                },
            )
            .await?;
        // A strategy (given, or the cluster's default) resolved the launch:
        // FARGATE for the Fargate providers, EC2 for a custom one.
        let uses_providers = !split.is_empty();
        let providers = if !input.capacity_provider_strategy.is_empty() {
            input.capacity_provider_strategy.clone()
        } else if uses_providers {
            cluster.default_capacity_provider_strategy.clone()
        } else {
            vec![]
        };
        let now = now_epoch();
        let id = deployment_id();
        let new = TaskSetRecord {
            task_set_arn: self
                .scope
                .arn("ecs", format!("task-set/{cname}/{}/{id}", svc.service_name)),
            id,
            service_arn: svc.service_arn.clone(),
            cluster_arn: svc.cluster_arn.clone(),
            started_by: None,
            external_id: input.external_id.clone(),
            status: TaskSetStatus::Active,
            task_definition: td.arn.clone(),
            computed_desired_count: scale.tasks_of(svc.desired_count),
            pending_count: 0,
            running_count: 0,
            created_at: now,
            updated_at: now,
            launch_type: (!uses_providers).then(|| launch_type.clone()),
            capacity_provider_strategy: providers,
            platform_version: (launch_type == "FARGATE")
                .then(|| input.platform_version.clone().unwrap_or_else(|| "LATEST".into())),
            network_configuration: input.network_configuration.clone(),
            load_balancers,
            service_registries: vec![],
            scale,
            stability_status: StabilityStatus::Stabilizing,
            stability_status_at: now,
            tags: input.tags.clone(),
            berth: TaskSetInternal {
                client_token: input.client_token.clone(),
            },
        };
        let mut answer = new.clone();
        self.modify_active_service(&cname, &input.service, |s| {
            if !s.is_external() {
                return Err(not_external());
            }
            match s
                .task_sets
                .iter()
                .find(|t| new.berth.client_token.is_some() && t.berth.client_token == new.berth.client_token)
            {
                Some(t) => answer = t.clone(),
                None => {
                    answer = new.clone();
                    s.task_sets.push(new.clone());
                    s.berth.steady = false;
                }
            }
            Ok(())
        })
        .await?;
        tracing::info!(task_set = %answer.task_set_arn, "task set created");
        Ok(json!({"taskSet": answer.render(false)}))
    }
}

// ---- DescribeTaskSets ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeTaskSetsInput {
    cluster: Option<String>,
    service: String,
    task_sets: Option<Vec<String>>,
    #[serde(default)]
    include: Vec<String>,
}

/// DescribeTaskSets, authorized on the service (`ecs:cluster`).
pub(crate) struct DescribeTaskSets;

#[async_trait]
impl Operation<Ecs> for DescribeTaskSets {
    const NAME: &'static str = "DescribeTaskSets";
    type Input = DescribeTaskSetsInput;

    fn resources(scope: &Scope, input: &DescribeTaskSetsInput) -> Vec<AuthzResource> {
        vec![authz::resource(
            scope,
            service_arn_of(scope, input.cluster.as_deref(), &input.service),
            vec![],
        )]
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: DescribeTaskSetsInput) -> Result<Value, AwsError> {
        if let Some(i) = input.include.iter().find(|i| *i != "TAGS") {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid include value {i}. Valid values: TAGS."
            )));
        }
        let tags = !input.include.is_empty();
        let (_, svc) = ecs.external_service(input.cluster.as_deref(), &input.service).await?;
        let Some(wanted) = input.task_sets else {
            let all: Vec<Value> = svc.task_sets.iter().map(|t| t.render(tags)).collect();
            return Ok(json!({"taskSets": all, "failures": []}));
        };
        let mut found = vec![];
        let mut failures = vec![];
        for r in &wanted {
            match svc.task_sets.iter().find(|t| t.id == task_set_id_of(r)) {
                Some(t) => found.push(t.render(tags)),
                None => failures.push(json!({"arn": r, "reason": "MISSING"})),
            }
        }
        Ok(json!({"taskSets": found, "failures": failures}))
    }
}

// ---- UpdateTaskSet ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateTaskSetInput {
    cluster: Option<String>,
    service: String,
    task_set: String,
    scale: ScaleIn,
}

/// UpdateTaskSet, authorized on the task set (`ecs:cluster`, `ecs:service`).
pub(crate) struct UpdateTaskSet;

#[async_trait]
impl Operation<Ecs> for UpdateTaskSet {
    const NAME: &'static str = "UpdateTaskSet";
    type Input = UpdateTaskSetInput;

    fn resources(scope: &Scope, input: &UpdateTaskSetInput) -> Vec<AuthzResource> {
        vec![task_set_resource(
            scope,
            input.cluster.as_deref(),
            &input.service,
            &input.task_set,
        )]
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: UpdateTaskSetInput) -> Result<Value, AwsError> {
        let scale = Scale::parse(Some(&input.scale))?;
        let t = ecs
            .modify_task_set(
                input.cluster.as_deref(),
                &input.service,
                &input.task_set,
                |s, i, now| {
                    let desired = s.desired_count;
                    let t = &mut s.task_sets[i];
                    if t.status == TaskSetStatus::Draining {
                        return Err(AwsError::invalid_parameter(
                            "The task set is being deleted (DRAINING): its scale cannot change.",
                        ));
                    }
                    t.scale = scale;
                    t.computed_desired_count = t.wanted(desired);
                    t.updated_at = now;
                    s.berth.steady = false;
                    Ok(())
                },
            )
            .await?;
        Ok(json!({"taskSet": t.render(false)}))
    }
}

// ---- UpdateServicePrimaryTaskSet ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdatePrimaryInput {
    cluster: Option<String>,
    service: String,
    primary_task_set: String,
}

/// UpdateServicePrimaryTaskSet, authorized on the task set made PRIMARY
/// (`ecs:cluster`, `ecs:service`).
pub(crate) struct UpdateServicePrimaryTaskSet;

#[async_trait]
impl Operation<Ecs> for UpdateServicePrimaryTaskSet {
    const NAME: &'static str = "UpdateServicePrimaryTaskSet";
    type Input = UpdatePrimaryInput;

    fn resources(scope: &Scope, input: &UpdatePrimaryInput) -> Vec<AuthzResource> {
        vec![task_set_resource(
            scope,
            input.cluster.as_deref(),
            &input.service,
            &input.primary_task_set,
        )]
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: UpdatePrimaryInput) -> Result<Value, AwsError> {
        let t = ecs
            .modify_task_set(
                input.cluster.as_deref(),
                &input.service,
                &input.primary_task_set,
                |s, i, now| {
                    if s.task_sets[i].status == TaskSetStatus::Draining {
                        return Err(AwsError::invalid_parameter(
                            "A task set being deleted (DRAINING) cannot become the primary task set.",
                        ));
                    }
                    for (j, t) in s.task_sets.iter_mut().enumerate() {
                        if j == i && t.status != TaskSetStatus::Primary {
                            t.status = TaskSetStatus::Primary;
                            t.updated_at = now;
                        } else if j != i && t.status == TaskSetStatus::Primary {
                            t.status = TaskSetStatus::Active;
                            t.updated_at = now;
                        }
                    }
                    // The service shows its primary task set's revision.
                    s.task_definition = s.task_sets[i].task_definition.clone();
                    Ok(())
                },
            )
            .await?;
        Ok(json!({"taskSet": t.render(false)}))
    }
}

// ---- DeleteTaskSet ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteTaskSetInput {
    cluster: Option<String>,
    service: String,
    task_set: String,
    force: Option<bool>,
}

/// DeleteTaskSet, authorized on the task set (`ecs:cluster`, `ecs:service`).
pub(crate) struct DeleteTaskSet;

#[async_trait]
impl Operation<Ecs> for DeleteTaskSet {
    const NAME: &'static str = "DeleteTaskSet";
    type Input = DeleteTaskSetInput;

    fn resources(scope: &Scope, input: &DeleteTaskSetInput) -> Vec<AuthzResource> {
        vec![task_set_resource(
            scope,
            input.cluster.as_deref(),
            &input.service,
            &input.task_set,
        )]
    }

    async fn run(ecs: &Ecs, _ctx: &RequestContext, input: DeleteTaskSetInput) -> Result<Value, AwsError> {
        let force = input.force.unwrap_or(false);
        let t = ecs
            .modify_task_set(input.cluster.as_deref(), &input.service, &input.task_set, |s, i, now| {
                let t = &mut s.task_sets[i];
                match t.status {
                    TaskSetStatus::Draining => return Ok(()),
                    TaskSetStatus::Primary if !force => {
                        return Err(AwsError::invalid_parameter(
                            "The task set is the primary task set of its service: make another task set primary (UpdateServicePrimaryTaskSet) or delete it with force.",
                        ));
                    }
                    _ => {}
                }
                // Its tasks stop (the controller drains them); then it is gone.
                t.status = TaskSetStatus::Draining;
                t.computed_desired_count = 0;
                t.updated_at = now;
                s.berth.steady = false;
                Ok(())
            })
            .await?;
        Ok(json!({"taskSet": t.render(false)}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_set_arns_are_built_from_the_request() {
        let scope = Scope::new("us-east-1", "123456789012");
        assert_eq!(
            task_set_arn_of(&scope, Some("c"), "web", "ecs-svc/123"),
            "arn:aws:ecs:us-east-1:123456789012:task-set/c/web/ecs-svc/123"
        );
        assert_eq!(
            task_set_arn_of(
                &scope,
                None,
                "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
                "ecs-svc/9"
            ),
            "arn:aws:ecs:us-east-1:123456789012:task-set/prod/web/ecs-svc/9"
        );
        let r = task_set_resource(&scope, Some("c"), "web", "ecs-svc/123");
        assert!(
            r.condition_keys
                .iter()
                .any(|(k, v)| k == "ecs:cluster" && v.ends_with("cluster/c"))
        );
        assert!(
            r.condition_keys
                .iter()
                .any(|(k, v)| k == "ecs:service" && v.ends_with("service/c/web"))
        );
    }
}
