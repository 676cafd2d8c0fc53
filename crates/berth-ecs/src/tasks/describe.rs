//! DescribeTasks and ListTasks: reading task records back as ECS shows them.

use crate::arn_page::arn_page;
use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ecs_model::TaskStatus;
use berth_ecs_model::service::service_name_of;
use berth_ecs_model::task::{TaskRecord, instance_id_of, task_id_of};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeTasksInput {
    cluster: Option<String>,
    tasks: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListTasksInput {
    cluster: Option<String>,
    container_instance: Option<String>,
    family: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    started_by: Option<String>,
    service_name: Option<String>,
    desired_status: Option<String>,
    launch_type: Option<String>,
}

impl Ecs {
    pub(super) async fn tasks_by_arn(&self, cluster: &str, arns: &[String]) -> Result<Vec<Value>, AwsError> {
        let mut out = vec![];
        for arn in arns {
            if let Some((t, _)) = typed::get::<TaskRecord>(&*self.store, &keys::task(cluster, task_id_of(arn)))
                .await
                .map_err(AwsError::state_store)?
            {
                out.push(t.render(true));
            }
        }
        Ok(out)
    }

    pub(crate) async fn describe_tasks(
        &self,
        _ctx: &RequestContext,
        input: DescribeTasksInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if i != "TAGS" {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value: {i}. Valid values: TAGS."
                )));
            }
        }
        if input.tasks.is_empty() || input.tasks.len() > 100 {
            return Err(AwsError::invalid_parameter("tasks must list between 1 and 100 tasks."));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let include_tags = !input.include.is_empty();
        let mut tasks = vec![];
        let mut failures = vec![];
        for reference in &input.tasks {
            let id = task_id_of(reference);
            let found = if id.is_empty() {
                None
            } else {
                typed::get::<TaskRecord>(&*self.store, &keys::task(&name, id))
                    .await
                    .map_err(AwsError::state_store)?
                    .map(|(t, _)| t)
                    .filter(|t| {
                        !reference.starts_with("arn:")
                            || &t.task_arn == reference
                            || reference.ends_with(&format!("task/{id}"))
                    })
            };
            match found {
                Some(t) => tasks.push(t.render(include_tags)),
                None => failures.push(json!({
                    "arn": if reference.starts_with("arn:") { reference.clone() } else { self.scope.task_arn(&name, reference) },
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({"tasks": tasks, "failures": failures}))
    }

    pub(crate) async fn list_tasks(&self, _ctx: &RequestContext, input: ListTasksInput) -> Result<Value, AwsError> {
        let desired = match input.desired_status.as_deref() {
            None => TaskStatus::Running,
            Some(s) => match s.parse::<TaskStatus>() {
                Ok(d @ (TaskStatus::Running | TaskStatus::Pending | TaskStatus::Stopped)) => d,
                _ => {
                    return Err(AwsError::invalid_parameter(format!(
                        "Invalid desiredStatus '{s}'. Valid values: RUNNING, PENDING, STOPPED."
                    )));
                }
            },
        };
        if let Some(lt) = &input.launch_type
            && !matches!(lt.as_str(), "EC2" | "FARGATE" | "EXTERNAL" | "MANAGED_INSTANCES")
        {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid launchType '{lt}'. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."
            )));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let instance_id = input.container_instance.as_deref().map(instance_id_of);
        let service_group = input
            .service_name
            .as_deref()
            .map(|s| format!("service:{}", service_name_of(s)));
        let tasks = self.cluster_tasks(&name).await?;
        let keyed: Vec<(String, String)> = tasks
            .into_iter()
            .filter(|t| t.desired_status == desired)
            .filter(|t| instance_id.is_none_or(|i| t.berth.instance_id.as_deref() == Some(i)))
            .filter(|t| input.family.as_ref().is_none_or(|f| &t.berth.family == f))
            .filter(|t| {
                input
                    .started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
            })
            .filter(|t| service_group.as_ref().is_none_or(|g| &t.group == g))
            .filter(|t| input.launch_type.as_ref().is_none_or(|l| &t.launch_type == l))
            .map(|t| (t.berth.id.clone(), t.task_arn.clone()))
            .collect();
        arn_page("taskArns", keyed, input.next_token.as_deref(), input.max_results)
    }
}

/// DescribeTasks: on each task named.
pub(crate) struct DescribeTasks;

#[async_trait]
impl Operation<Ecs> for DescribeTasks {
    const NAME: &'static str = "DescribeTasks";
    type Input = DescribeTasksInput;

    fn resources(scope: &Scope, input: &DescribeTasksInput) -> Vec<AuthzResource> {
        authz::in_cluster(
            scope,
            input.cluster.as_deref(),
            input.tasks.iter().map(String::as_str),
            Scope::task_arn,
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeTasksInput) -> Result<Value, AwsError> {
        ecs.describe_tasks(ctx, input).await
    }
}

/// ListTasks: on its cluster.
pub(crate) struct ListTasks;

#[async_trait]
impl Operation<Ecs> for ListTasks {
    const NAME: &'static str = "ListTasks";
    type Input = ListTasksInput;

    fn resources(scope: &Scope, input: &ListTasksInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListTasksInput) -> Result<Value, AwsError> {
        ecs.list_tasks(ctx, input).await
    }
}
