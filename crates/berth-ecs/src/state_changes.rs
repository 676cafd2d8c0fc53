//! What agents report: SubmitTaskStateChange, SubmitContainerStateChange
//! and Berth's BerthHeartbeat (docs/agent-protocol.md).
//!
//! Statuses only move forward; a report for a task that is STOPPED already
//! is acknowledged and changes nothing visible (it only records that the
//! agent knows the task, so retries are safe). Reaching STOPPED releases the
//! instance's reservation in the same transaction.
//!
//! What a report does to a task record is `berth-ecs-model`'s rule
//! (`task/state_change.rs`).

use crate::agent_identity::{self, Caller};
use crate::authz;
use crate::operation::Operation;
use crate::references::cluster_name;
use crate::tasks::{TaskRecord, task_id_of};
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_agent_protocol::{Acknowledgment, Heartbeat, SingleContainerStateChange, TaskStateChange};
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::task::apply_task_change;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde_json::{Value, json};

impl Ecs {
    /// Refuses a report about `task` unless `caller` is the agent of the
    /// instance the task is placed on (or root). A task not placed on any
    /// instance has no agent.
    pub(crate) async fn check_task_agent(
        &self,
        caller: &Caller,
        task: &TaskRecord,
        action: &str,
    ) -> Result<(), AwsError> {
        if caller.is_root {
            return Ok(());
        }
        let owner = match task.berth.instance_id.as_deref() {
            // Its own cluster's instance, or a shared Fargate host.
            Some(iid) => self
                .stored_instance(task.instance_cluster(), iid)
                .await?
                .and_then(|(rec, _)| rec.berth.owner),
            None => None,
        };
        let instance = task.container_instance_arn.as_deref().unwrap_or(&task.task_arn);
        agent_identity::check(owner.as_ref(), caller, action, instance)
    }

    async fn apply_change(
        &self,
        ctx: &RequestContext,
        action: &str,
        cluster: Option<&str>,
        task: Option<&str>,
        ch: TaskStateChange,
    ) -> Result<Value, AwsError> {
        let name = cluster_name(cluster)?;
        let reference = task.ok_or_else(|| AwsError::invalid_parameter("task is required."))?;
        let id = task_id_of(reference).to_string();
        let not_found = || AwsError::invalid_parameter("The referenced task was not found.");
        if id.is_empty() || id.contains('/') {
            return Err(not_found());
        }
        // The instance a task is placed on never changes: checking its
        // agent before the update holds for the update.
        let caller = self.caller(&ctx.principal);
        if !caller.is_root {
            let (current, _) = typed::get::<TaskRecord>(&*self.store, &keys::task(&name, &id))
                .await
                .map_err(AwsError::state_store)?
                .ok_or_else(not_found)?;
            self.check_task_agent(&caller, &current, action).await?;
        }
        let rec = self
            .modify_task(&name, &id, |t| apply_task_change(t, &ch, now_epoch()))
            .await?
            .ok_or_else(not_found)?;
        tracing::debug!(task = %rec.task_arn, status = %rec.last_status, "task state change");
        Ok(json!(Acknowledgment::ack()))
    }

    pub(crate) async fn submit_task_state_change(
        &self,
        ctx: &RequestContext,
        ch: TaskStateChange,
    ) -> Result<Value, AwsError> {
        let (cluster, task) = (ch.cluster.clone(), ch.task.clone());
        self.apply_change(
            ctx,
            "ecs:SubmitTaskStateChange",
            cluster.as_deref(),
            task.as_deref(),
            ch,
        )
        .await
    }

    pub(crate) async fn submit_container_state_change(
        &self,
        ctx: &RequestContext,
        i: SingleContainerStateChange,
    ) -> Result<Value, AwsError> {
        let ch = TaskStateChange {
            containers: vec![i.as_container_change()],
            ..Default::default()
        };
        self.apply_change(
            ctx,
            "ecs:SubmitContainerStateChange",
            i.cluster.as_deref(),
            i.task.as_deref(),
            ch,
        )
        .await
    }

    /// `BerthHeartbeat`: cheap, in memory (besides one read of the
    /// instance, to check the caller is its agent); the store is written
    /// only when `agentConnected` has to change.
    pub(crate) async fn berth_heartbeat(&self, ctx: &RequestContext, input: Heartbeat) -> Result<Value, AwsError> {
        let name = cluster_name(input.cluster.as_deref())?;
        let id = crate::tasks::instance_id_of(&input.container_instance).to_string();
        let caller = self.caller(&ctx.principal);
        if !caller.is_root {
            let not_found = || Self::instance_not_found(&input.container_instance, &name);
            let (rec, _) = self
                .get_instance(&name, &input.container_instance)
                .await?
                .ok_or_else(not_found)?;
            agent_identity::check(
                rec.berth.owner.as_ref(),
                &caller,
                authz::AGENT_SESSION_ACTION,
                &rec.container_instance_arn,
            )?;
        }
        if !self.agents.heartbeat(&name, &id) {
            // First heartbeat this process sees for the instance: check it.
            let (rec, _) = self
                .get_instance(&name, &input.container_instance)
                .await?
                .ok_or_else(|| Self::instance_not_found(&input.container_instance, &name))?;
            if !rec.is_registered() {
                return Err(AwsError::client(format!(
                    "The container instance {} was deregistered.",
                    rec.container_instance_arn
                )));
            }
            self.agents.first_heartbeat(&name, &id);
            self.sync_connection(&name, &id).await?;
        }
        Ok(json!(Acknowledgment::ack()))
    }
}

/// SubmitTaskStateChange: on its cluster.
pub(crate) struct SubmitTaskStateChange;

#[async_trait]
impl Operation<Ecs> for SubmitTaskStateChange {
    const NAME: &'static str = "SubmitTaskStateChange";
    type Input = TaskStateChange;

    fn resources(scope: &Scope, input: &TaskStateChange) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: TaskStateChange) -> Result<Value, AwsError> {
        ecs.submit_task_state_change(ctx, input).await
    }
}

/// SubmitContainerStateChange: on its cluster.
pub(crate) struct SubmitContainerStateChange;

#[async_trait]
impl Operation<Ecs> for SubmitContainerStateChange {
    const NAME: &'static str = "SubmitContainerStateChange";
    type Input = SingleContainerStateChange;

    fn resources(scope: &Scope, input: &SingleContainerStateChange) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: SingleContainerStateChange) -> Result<Value, AwsError> {
        ecs.submit_container_state_change(ctx, input).await
    }
}

/// BerthHeartbeat (Berth agents): on the agent's container instance.
pub(crate) struct BerthHeartbeat;

#[async_trait]
impl Operation<Ecs> for BerthHeartbeat {
    const NAME: &'static str = "BerthHeartbeat";
    type Input = Heartbeat;

    fn resources(scope: &Scope, input: &Heartbeat) -> Vec<AuthzResource> {
        vec![authz::agent_instance_resource(
            scope,
            input.cluster.as_deref(),
            &input.container_instance,
            authz::AGENT_SESSION_ACTION,
        )]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: Heartbeat) -> Result<Value, AwsError> {
        ecs.berth_heartbeat(ctx, input).await
    }
}
