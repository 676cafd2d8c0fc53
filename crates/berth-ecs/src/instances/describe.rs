//! DescribeContainerInstances and ListContainerInstances, and the lookup
//! and rendering of one instance.

use super::state::TaskCounts;
use crate::Ecs;
use crate::arn_page::arn_page;
use crate::tasks::instance_id_of;
use berth_core::time::now_epoch;
use berth_ecs_model::instance::{Attribute, InstanceRecord, render_resources};
use berth_ecs_model::{ContainerInstanceStatus, StatusName};
use berth_proto::{AwsError, RequestContext};
use berth_scheduler::parse_expression;
use berth_store::Revision;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeInput {
    pub(crate) cluster: Option<String>,
    pub(crate) container_instances: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInput {
    pub(crate) cluster: Option<String>,
    filter: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    status: Option<String>,
}

impl Ecs {
    pub(crate) fn render_instance(
        &self,
        rec: &InstanceRecord,
        counts: TaskCounts,
        custom: &[Attribute],
        include_tags: bool,
        include_health: bool,
    ) -> Value {
        let mut attributes = rec.attributes.clone();
        for a in custom {
            match attributes.iter_mut().find(|x| x.name == a.name) {
                Some(x) => x.value = a.value.clone(),
                None => attributes.push(a.clone()),
            }
        }
        let mut v = json!({
            "containerInstanceArn": rec.container_instance_arn,
            "ec2InstanceId": rec.ec2_instance_id,
            "version": rec.version,
            "versionInfo": rec.version_info,
            "remainingResources": render_resources(&rec.remaining_resources, &rec.other_resources),
            "registeredResources": render_resources(&rec.registered_resources, &rec.other_resources),
            "status": rec.status,
            "agentConnected": rec.agent_connected,
            "runningTasksCount": counts.running,
            "pendingTasksCount": counts.pending,
            "attributes": attributes,
            "registeredAt": rec.registered_at,
            "attachments": [],
            "tags": if include_tags { json!(rec.tags) } else { json!([]) },
        });
        if let Some(r) = &rec.status_reason {
            v["statusReason"] = json!(r);
        }
        if include_health {
            let changed = if rec.berth.connection_changed_at > 0.0 {
                rec.berth.connection_changed_at
            } else {
                rec.registered_at
            };
            let state = if rec.agent_connected { "OK" } else { "INSUFFICIENT_DATA" };
            v["healthStatus"] = json!({
                "overallStatus": state,
                "details": [{
                    "type": "CONTAINER_RUNTIME",
                    "status": state,
                    "lastUpdated": now_epoch(),
                    "lastStatusChange": changed,
                }],
            });
        }
        v
    }

    /// The error for a container instance `reference` that `cluster` does
    /// not have.
    pub(crate) fn instance_not_found(reference: &str, cluster: &str) -> AwsError {
        AwsError::invalid_parameter(format!(
            "The referenced container instance {reference} was not found in cluster {cluster}."
        ))
    }

    /// Finds an instance of `cluster` by id or ARN.
    pub(crate) async fn get_instance(
        &self,
        cluster: &str,
        reference: &str,
    ) -> Result<Option<(InstanceRecord, Revision)>, AwsError> {
        let id = instance_id_of(reference);
        if id.is_empty() || id.contains('/') {
            return Ok(None);
        }
        let found = self.stored_instance(cluster, id).await?;
        Ok(found.filter(|(r, _)| {
            !reference.starts_with("arn:") || r.container_instance_arn == reference || arn_in_old_format(reference, id)
        }))
    }

    pub(crate) async fn describe_container_instances(
        &self,
        _ctx: &RequestContext,
        input: DescribeInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if !matches!(i.as_str(), "TAGS" | "CONTAINER_INSTANCE_HEALTH") {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value: {i}. Valid values: TAGS, CONTAINER_INSTANCE_HEALTH."
                )));
            }
        }
        if input.container_instances.is_empty() || input.container_instances.len() > 100 {
            return Err(AwsError::invalid_parameter(
                "containerInstances must list between 1 and 100 container instances.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let state = self.cluster_state(&name).await?;
        let counts = state.counts();
        let tags = input.include.iter().any(|i| i == "TAGS");
        let health = input.include.iter().any(|i| i == "CONTAINER_INSTANCE_HEALTH");
        let mut out = vec![];
        let mut failures = vec![];
        for reference in &input.container_instances {
            // A Fargate host is no container instance (as in AWS).
            match self
                .get_instance(&name, reference)
                .await?
                .filter(|(r, _)| !r.is_fargate_host())
            {
                Some((rec, _)) => {
                    let arn = &rec.container_instance_arn;
                    out.push(self.render_instance(
                        &rec,
                        counts.get(arn).copied().unwrap_or_default(),
                        state.custom.get(arn).map(Vec::as_slice).unwrap_or(&[]),
                        tags,
                        health,
                    ));
                }
                None => failures.push(json!({"arn": self.instance_arn_for(&name, reference), "reason": "MISSING"})),
            }
        }
        Ok(json!({"containerInstances": out, "failures": failures}))
    }

    /// The ARN a failure names for an instance reference.
    pub(crate) fn instance_arn_for(&self, cluster: &str, reference: &str) -> String {
        if reference.starts_with("arn:") {
            reference.to_string()
        } else {
            self.scope.container_instance_arn(cluster, reference)
        }
    }

    pub(crate) async fn list_container_instances(
        &self,
        _ctx: &RequestContext,
        input: ListInput,
    ) -> Result<Value, AwsError> {
        let status = match input.status.as_deref() {
            None => None,
            Some(s) => match ContainerInstanceStatus::parse(s) {
                Some(st) if st != ContainerInstanceStatus::Inactive => Some(st),
                _ => {
                    return Err(AwsError::invalid_parameter(format!(
                        "Invalid status '{s}'. Valid values: ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED."
                    )));
                }
            },
        };
        let filter = match input.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(
                parse_expression(f)
                    .map_err(|e| AwsError::invalid_parameter(format!("Invalid filter expression: {}", e.message)))?,
            ),
        };
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let state = self.synced_view().await?.placement_state(&cluster.cluster_name);
        let views = &state.views;
        let arns: Vec<(String, String)> = state
            .instances
            .iter()
            .zip(views)
            .filter(|((rec, _), _)| !rec.is_fargate_host())
            .filter(|((rec, _), _)| match status {
                Some(s) => rec.status == s,
                None => rec.status != ContainerInstanceStatus::Inactive,
            })
            .filter(|(_, view)| filter.as_ref().is_none_or(|f| f.matches(view)))
            .map(|((rec, _), _)| (rec.container_instance_arn.clone(), rec.container_instance_arn.clone()))
            .collect();
        arn_page(
            "containerInstanceArns",
            arns,
            input.next_token.as_deref(),
            input.max_results,
        )
    }
}

/// `arn:…:container-instance/ID` (the old ARN format without the cluster).
fn arn_in_old_format(arn: &str, id: &str) -> bool {
    arn.ends_with(&format!(":container-instance/{id}"))
}
