//! `BerthGetTaskCredentials` (Berth-specific, agents only; see
//! docs/agent-protocol.md §6): temporary credentials for a task's task role
//! (handed to its containers by the agent's credentials endpoint) or its
//! execution role (used by the agent itself for secrets and registry auth).
//!
//! ECS does this inside AWS: the agent gets the credentials over its private
//! channel (ACS payloads), and ECS assumes the role as the service principal
//! `ecs-tasks.amazonaws.com`. Berth checks the same things: the task exists,
//! runs on the calling agent's instance and is not STOPPED, the role is the
//! one its definition (or its overrides) names, and the role's trust policy
//! allows `ecs-tasks.amazonaws.com`.

use crate::agent_identity;
use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::tasks::{TaskRecord, instance_id_of, task_id_of};
use crate::{Ecs, keys};
use async_trait::async_trait;
/// Which of a task's roles (also read by authz/pass_role.rs).
pub(crate) use berth_agent_protocol::RoleKind;
use berth_agent_protocol::{TaskCredentials, TaskCredentialsAnswer, TaskCredentialsRequest};
use berth_core::arn::Scope;
use berth_ecs_model::TaskDefinitionRecord;
use berth_ecs_model::TaskStatus;
use berth_ecs_model::task::instance_cluster_of;
use berth_iam::ServiceRoleError;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde_json::{Value, json};

/// The service principal ECS assumes task and execution roles as.
pub const ECS_TASKS_PRINCIPAL: &str = "ecs-tasks.amazonaws.com";

/// How long issued credentials live (the agent refreshes them before).
pub const CREDENTIALS_LIFETIME_SECS: i64 = 3600;

/// Reads the `role` member (absent: `task`) with ECS's error for another name.
fn role_kind(role: Option<&str>) -> Result<RoleKind, AwsError> {
    RoleKind::from_member(role).ok_or_else(|| {
        AwsError::invalid_parameter(format!(
            "role '{}' is not valid: use \"task\" or \"execution\".",
            role.unwrap_or_default()
        ))
    })
}

/// The role ARN of `kind` for a task: its `overrides` win over the task
/// definition (pure).
pub(crate) fn role_arn_of(overrides: &Value, definition: Option<&Value>, kind: RoleKind) -> Option<String> {
    let field = kind.arn_member();
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    non_empty(overrides.get(field)).or_else(|| non_empty(definition.and_then(|d| d.get(field))))
}

impl Ecs {
    pub(crate) async fn berth_get_task_credentials(
        &self,
        ctx: &RequestContext,
        input: TaskCredentialsRequest,
    ) -> Result<Value, AwsError> {
        let kind = role_kind(input.role.as_deref())?;
        let cluster = cluster_name(input.cluster.as_deref())?;
        // Only the instance's own agent (or root) gets its tasks' credentials.
        let caller = self.caller(&ctx.principal);
        if !caller.is_root {
            // A shared Fargate host (an instance of another cluster) names
            // itself by its ARN.
            let host_cluster = instance_cluster_of(&input.container_instance).unwrap_or(&cluster);
            let (instance, _) = self
                .get_instance(host_cluster, &input.container_instance)
                .await?
                .ok_or_else(|| Self::instance_not_found(&input.container_instance, host_cluster))?;
            agent_identity::check(
                instance.berth.owner.as_ref(),
                &caller,
                authz::AGENT_SESSION_ACTION,
                &instance.container_instance_arn,
            )?;
        }
        let task_id = task_id_of(&input.task);
        let not_found = || {
            AwsError::invalid_parameter(format!(
                "The referenced task {} was not found in cluster {cluster}.",
                input.task
            ))
        };
        if task_id.is_empty() || task_id.contains('/') {
            return Err(not_found());
        }
        let (task, _) = typed::get::<TaskRecord>(&*self.store, &keys::task(&cluster, task_id))
            .await
            .map_err(AwsError::state_store)?
            .filter(|(t, _)| !input.task.starts_with("arn:") || t.task_arn == input.task)
            .ok_or_else(not_found)?;
        let instance_id = instance_id_of(&input.container_instance);
        let on_instance = task.berth.instance_id.as_deref() == Some(instance_id)
            && (!input.container_instance.starts_with("arn:")
                || task.container_instance_arn.as_deref() == Some(input.container_instance.as_str()));
        if !on_instance {
            return Err(AwsError::access_denied(format!(
                "Task {} is not placed on container instance {}: an agent gets credentials only for its own tasks.",
                task.task_arn, input.container_instance
            )));
        }
        if task.last_status == TaskStatus::Stopped {
            return Err(AwsError::client(format!(
                "Task {} is STOPPED: its role credentials are no longer issued.",
                task.task_arn
            )));
        }
        let definition = typed::get::<TaskDefinitionRecord>(
            &*self.store,
            &keys::task_definition(&task.berth.family, task.berth.revision),
        )
        .await
        .map_err(AwsError::state_store)?
        .map(|(rec, _)| serde_json::to_value(&rec.task_definition))
        .transpose()
        .map_err(|e| AwsError::internal(e.to_string()))?;
        let role_arn = role_arn_of(&task.overrides, definition.as_ref(), kind).ok_or_else(|| {
            AwsError::client(format!(
                "Task {} has no {}: neither its task definition nor its overrides name one.",
                task.task_arn,
                kind.arn_member()
            ))
        })?;
        let iam = self
            .iam
            .as_ref()
            .ok_or_else(|| AwsError::server("This server issues no role credentials (IAM is not wired in)."))?;
        let creds = iam
            .assume_role_for_service(&role_arn, ECS_TASKS_PRINCIPAL, task_id, CREDENTIALS_LIFETIME_SECS)
            .await
            .map_err(|e| match e {
                ServiceRoleError::NoSuchRole(arn) => AwsError::client(format!(
                    "Role {arn} ({} of task {}) does not exist.",
                    kind.arn_member(),
                    task.task_arn
                )),
                ServiceRoleError::NotTrusted { role_arn, service } => AwsError::access_denied(format!(
                    "Role {role_arn} trust policy does not allow {service} to assume it: add a statement \
                     allowing {{\"Service\": \"{service}\"}} the action sts:AssumeRole."
                )),
                ServiceRoleError::InvalidSessionName(s) => {
                    AwsError::invalid_parameter(format!("Task id {s} cannot name a role session."))
                }
                ServiceRoleError::Internal(e) => e,
            })?;
        tracing::info!(task = %task.task_arn, role = %creds.role_arn, kind = kind.arn_member(), "issued task role credentials");
        Ok(json!(TaskCredentialsAnswer {
            role_arn: creds.role_arn,
            assumed_role_arn: creds.assumed_role_arn,
            credentials: TaskCredentials {
                access_key_id: creds.access_key_id,
                secret_access_key: creds.secret_access_key,
                session_token: creds.session_token,
                expiration: creds.expiration as f64,
            },
        }))
    }
}

/// BerthGetTaskCredentials (Berth agents): on the agent's container instance.
pub(crate) struct BerthGetTaskCredentials;

#[async_trait]
impl Operation<Ecs> for BerthGetTaskCredentials {
    const NAME: &'static str = "BerthGetTaskCredentials";
    type Input = TaskCredentialsRequest;

    fn resources(scope: &Scope, input: &TaskCredentialsRequest) -> Vec<AuthzResource> {
        vec![authz::agent_instance_resource(
            scope,
            input.cluster.as_deref(),
            &input.container_instance,
            authz::AGENT_SESSION_ACTION,
        )]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: TaskCredentialsRequest) -> Result<Value, AwsError> {
        ecs.berth_get_task_credentials(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_the_definition() {
        let td = json!({"taskRoleArn": "arn:aws:iam::1:role/t", "executionRoleArn": "arn:aws:iam::1:role/e"});
        assert_eq!(
            role_arn_of(&json!({}), Some(&td), RoleKind::Task).as_deref(),
            Some("arn:aws:iam::1:role/t")
        );
        assert_eq!(
            role_arn_of(&Value::Null, Some(&td), RoleKind::Execution).as_deref(),
            Some("arn:aws:iam::1:role/e")
        );
        let o = json!({"taskRoleArn": "arn:aws:iam::1:role/o", "executionRoleArn": ""});
        assert_eq!(
            role_arn_of(&o, Some(&td), RoleKind::Task).as_deref(),
            Some("arn:aws:iam::1:role/o")
        );
        assert_eq!(
            role_arn_of(&o, Some(&td), RoleKind::Execution).as_deref(),
            Some("arn:aws:iam::1:role/e")
        );
        assert_eq!(role_arn_of(&json!({}), None, RoleKind::Task), None);
        assert_eq!(role_arn_of(&json!({}), Some(&json!({})), RoleKind::Execution), None);
    }

    #[test]
    fn role_kinds() {
        assert_eq!(role_kind(None).unwrap(), RoleKind::Task);
        assert_eq!(role_kind(Some("execution")).unwrap(), RoleKind::Execution);
        assert_eq!(role_kind(Some("admin")).unwrap_err().code, "InvalidParameterException");
    }
}
