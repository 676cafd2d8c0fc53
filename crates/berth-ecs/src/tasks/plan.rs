//! A task plan: what the tasks of one RunTask/StartTask (or one service
//! deployment step) share, and the task records built from it.

use super::TASK_ENI_CAPABILITY;
use super::definitions::ResolvedTaskDefinition;
use super::options::TaskOptions;
use crate::Ecs;
use crate::instances::InstanceRecord;
use berth_ecs_model::task::{Attachment, ContainerRecord, TaskInternal, TaskRecord};
use berth_ecs_model::task::{ContainerSize, TaskOverrideIn, render_overrides, size_task, validate_started_by};
use berth_ecs_model::{ClusterRecord, SubnetZone, Tag, eni_subnet, validate_tags, zones_of};
use berth_ecs_model::{HealthStatus, TaskStatus};
use berth_proto::AwsError;
use berth_scheduler::{
    PlacementConstraint, PlacementRequest, PlacementStrategy, RequiredAttribute, TaskDemand, ZONE_ATTRIBUTE,
};
use serde_json::{Value, json};

/// Everything the tasks of one RunTask/StartTask (or one service
/// deployment step) share.
pub(crate) struct TaskPlan {
    pub(crate) cluster: ClusterRecord,
    pub(crate) td: ResolvedTaskDefinition,
    pub(crate) demand: TaskDemand,
    pub(crate) sizes: Vec<ContainerSize>,
    pub(crate) overrides: Value,
    pub(crate) group: String,
    pub(crate) started_by: Option<String>,
    pub(crate) launch_type: String,
    /// Capacity provider of each task index (empty: none).
    pub(crate) providers: Vec<String>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) enable_execute_command: bool,
    pub(crate) platform_version: Option<String>,
    pub(crate) required_attributes: Vec<RequiredAttribute>,
    /// The launch's `networkConfiguration` (awsvpc: the subnets the tasks'
    /// ENI attachments name).
    pub(crate) network_configuration: Option<Value>,
    /// awsvpc: the launch's subnets with their zones (EC2's); the tasks are
    /// placed only in those zones. Empty: any zone (no EC2 wired).
    pub(crate) subnet_zones: Vec<SubnetZone>,
    /// The host group of the custom capacity provider the tasks use: they
    /// are placed only on its instances, and wait PROVISIONING when none
    /// can take them.
    pub(crate) host_group: Option<String>,
}

impl TaskPlan {
    /// The placement request for `count` tasks of this plan.
    pub(crate) fn placement_request(
        &self,
        constraints: Vec<PlacementConstraint>,
        strategies: Vec<PlacementStrategy>,
        count: u32,
    ) -> PlacementRequest {
        PlacementRequest {
            demand: self.demand.clone(),
            group: self.group.clone(),
            family: self.td.family.clone(),
            task_definition_arn: self.td.arn.clone(),
            required_attributes: self.required_attributes.clone(),
            constraints,
            strategies,
            count,
            zones: zones_of(&self.subnet_zones),
        }
    }
}

impl Ecs {
    pub(crate) fn plan(
        &self,
        cluster: ClusterRecord,
        td: ResolvedTaskDefinition,
        opts: &TaskOptions,
        launch_type: String,
        providers: Vec<String>,
        platform_version: Option<String>,
    ) -> Result<TaskPlan, AwsError> {
        let overrides_in: TaskOverrideIn = match &opts.overrides {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid overrides: {e}")))?,
            None => TaskOverrideIn::default(),
        };
        let (demand, sizes) = size_task(&td.value, &overrides_in)?;
        if let Some(g) = opts.group.as_deref()
            && (g.is_empty() || g.len() > 255)
        {
            return Err(AwsError::invalid_parameter("group must be 1-255 characters."));
        }
        if let Some(s) = opts.started_by.as_deref() {
            validate_started_by(s)?;
        }
        validate_tags(&opts.tags)?;
        let mut tags: Vec<Tag> = vec![];
        match opts.propagate_tags.as_deref() {
            None | Some("NONE") => {}
            Some("TASK_DEFINITION") => tags = td.tags.clone(),
            Some("SERVICE") => {
                return Err(AwsError::invalid_parameter(
                    "The propagateTags value SERVICE is only valid for tasks started by a service.",
                ));
            }
            Some(other) => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid propagateTags value '{other}'. Valid values: TASK_DEFINITION, SERVICE, NONE."
                )));
            }
        }
        berth_ecs_model::merge_tags(&mut tags, &opts.tags);
        if opts.enable_ecs_managed_tags.unwrap_or(false) {
            berth_ecs_model::merge_tags(
                &mut tags,
                &[Tag {
                    key: "aws:ecs:clusterName".into(),
                    value: cluster.cluster_name.clone(),
                }],
            );
        }
        if tags.len() > 50 {
            return Err(AwsError::invalid_parameter(
                "The number of tags exceeds the limit of 50.",
            ));
        }
        let required_attributes = td.value["requiresAttributes"]
            .as_array()
            .into_iter()
            .flatten()
            // Not enforced (see TASK_ENI_CAPABILITY).
            .filter(|a| a["name"].as_str() != Some(TASK_ENI_CAPABILITY))
            .filter_map(|a| {
                Some(RequiredAttribute {
                    name: a["name"].as_str()?.to_string(),
                    value: a["value"].as_str().map(str::to_string),
                })
            })
            .collect();
        Ok(TaskPlan {
            overrides: render_overrides(&td.value, opts.overrides.as_ref()),
            group: opts.group.clone().unwrap_or_else(|| format!("family:{}", td.family)),
            started_by: opts.started_by.clone(),
            cluster,
            td,
            demand,
            sizes,
            launch_type,
            providers,
            tags,
            enable_execute_command: opts.enable_execute_command.unwrap_or(false),
            platform_version,
            required_attributes,
            network_configuration: None,
            subnet_zones: vec![],
            host_group: None,
        })
    }

    /// A new task of `plan` on `instance`; on none, a task waiting
    /// PROVISIONING for its capacity provider's host group to grow.
    pub(super) fn new_task(
        &self,
        plan: &TaskPlan,
        instance: Option<&InstanceRecord>,
        index: usize,
        now: f64,
    ) -> TaskRecord {
        let name = &plan.cluster.cluster_name;
        let id = berth_core::ids::hex_id();
        let task_arn = self.scope.task_arn(name, &id);
        let td = &plan.td.value;
        let defs = td["containerDefinitions"].as_array().cloned().unwrap_or_default();
        let mut essential = vec![];
        let mut health_checked = vec![];
        let containers = defs
            .iter()
            .zip(&plan.sizes)
            .map(|(d, size)| {
                if d["essential"].as_bool().unwrap_or(true) {
                    essential.push(size.name.clone());
                }
                let has_health = d["healthCheck"].is_object();
                if has_health {
                    health_checked.push(size.name.clone());
                }
                ContainerRecord::pending(
                    self.scope
                        .arn("ecs", format!("container/{name}/{id}/{}", berth_core::ids::uuid())),
                    task_arn.clone(),
                    d["image"].as_str().unwrap_or_default().to_string(),
                    size,
                )
            })
            .collect();
        let fargate = plan.launch_type == "FARGATE";
        let awsvpc = td["networkMode"].as_str() == Some("awsvpc");
        TaskRecord {
            task_arn: task_arn.clone(),
            cluster_arn: plan.cluster.cluster_arn.clone(),
            task_definition_arn: plan.td.arn.clone(),
            container_instance_arn: instance.map(|i| i.container_instance_arn.clone()),
            availability_zone: instance.and_then(|i| i.attribute(ZONE_ATTRIBUTE).map(str::to_string)),
            capacity_provider_name: plan.providers.get(index).cloned(),
            last_status: if fargate || awsvpc || instance.is_none() {
                TaskStatus::Provisioning
            } else {
                TaskStatus::Pending
            }
            .into(),
            desired_status: TaskStatus::Running.into(),
            cpu: plan.demand.cpu.to_string(),
            memory: plan.demand.memory.to_string(),
            containers,
            created_at: now,
            group: plan.group.clone(),
            started_by: plan.started_by.clone(),
            launch_type: plan.launch_type.clone(),
            platform_version: fargate.then(|| plan.platform_version.clone().unwrap_or_else(|| "1.4.0".into())),
            platform_family: fargate.then(|| "Linux".to_string()),
            version: 1,
            tags: plan.tags.clone(),
            overrides: plan.overrides.clone(),
            attachments: if awsvpc {
                let subnets = plan
                    .network_configuration
                    .as_ref()
                    .map(|n| &n["awsvpcConfiguration"]["subnets"]);
                let subnets: Vec<&str> = subnets
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let zone = instance.and_then(|i| i.attribute(ZONE_ATTRIBUTE));
                let subnet = eni_subnet(&plan.subnet_zones, &subnets, zone, index);
                vec![Attachment::precreated_eni(berth_core::ids::uuid(), subnet)]
            } else {
                vec![]
            },
            connectivity: Some("CONNECTED".into()),
            connectivity_at: Some(now),
            health_status: HealthStatus::Unknown.into(),
            enable_execute_command: plan.enable_execute_command,
            ephemeral_storage: fargate.then(|| {
                plan.overrides
                    .get("ephemeralStorage")
                    .cloned()
                    .or_else(|| td.get("ephemeralStorage").cloned())
                    .unwrap_or_else(|| json!({"sizeInGiB": 20}))
            }),
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            stopping_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            berth: TaskInternal {
                cluster: name.clone(),
                id,
                family: plan.td.family.clone(),
                revision: plan.td.revision,
                instance_id: instance.map(|i| i.berth.id.clone()),
                demand: plan.demand.clone(),
                reserved: instance.is_some(),
                agent_seen: false,
                agent_stopped: false,
                essential,
                health_checked,
                protected_until: None,
                // A Fargate host, its cluster's or one another cluster
                // shares: shown without containerInstanceArn.
                on_fargate_host: instance.is_some_and(|i| i.is_fargate_host() || i.berth.cluster != *name),
                stop_notice_secs: None,
                security_groups: plan
                    .network_configuration
                    .as_ref()
                    .and_then(|n| n["awsvpcConfiguration"]["securityGroups"].as_array())
                    .filter(|_| awsvpc)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                subnet_zones: if awsvpc { plan.subnet_zones.clone() } else { vec![] },
            },
        }
    }
}
