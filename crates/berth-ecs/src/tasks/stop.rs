//! Stopping tasks: read-modify-write of a task record, releasing its
//! reservation when it ends STOPPED, and StopTask.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::task::{TaskRecord, task_id_of};
use berth_ecs_model::{TaskStatus, TaskStopCode};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_scheduler::InstanceView;
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StopTaskInput {
    cluster: Option<String>,
    task: String,
    reason: Option<String>,
}

impl Ecs {
    /// Read-modify-write of one task. `f` changes the record and says
    /// whether it changed anything; it may run several times. When the
    /// task ends up STOPPED while holding a reservation, the reservation is
    /// given back to its instance in the same transaction.
    pub(crate) async fn modify_task<F>(&self, cluster: &str, id: &str, mut f: F) -> Result<Option<TaskRecord>, AwsError>
    where
        F: FnMut(&mut TaskRecord) -> Result<bool, AwsError>,
    {
        let key = keys::task(cluster, id);
        loop {
            let Some((mut rec, rev)) = typed::get::<TaskRecord>(&*self.store, &key)
                .await
                .map_err(AwsError::state_store)?
            else {
                return Ok(None);
            };
            if !f(&mut rec)? {
                return Ok(Some(rec));
            }
            let mut compares = vec![Compare::ModRevision(key.clone(), rev)];
            let mut ops = vec![];
            if rec.last_status == TaskStatus::Stopped && rec.berth.reserved {
                rec.berth.reserved = false;
                if let Some(iid) = rec.berth.instance_id.clone() {
                    // Its own cluster's instance, or a shared Fargate host.
                    let host_cluster = rec.instance_cluster().to_string();
                    let ikey = keys::instance(&host_cluster, &iid);
                    if let Some((mut inst, irev)) = self.stored_instance(&host_cluster, &iid).await? {
                        let mut view = InstanceView {
                            registered: inst.registered_resources.clone(),
                            remaining: inst.remaining_resources.clone(),
                            ..Default::default()
                        };
                        berth_scheduler::release(&mut view, &rec.berth.demand);
                        inst.remaining_resources = view.remaining;
                        inst.version += 1;
                        compares.push(Compare::ModRevision(ikey.clone(), irev));
                        ops.push(Op::Put(ikey, typed::encode(&inst).map_err(AwsError::state_store)?));
                    }
                }
            }
            rec.version += 1;
            ops.push(Op::Put(
                key.clone(),
                typed::encode(&rec).map_err(AwsError::state_store)?,
            ));
            if self
                .store
                .txn(compares, ops)
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                return Ok(Some(rec));
            }
        }
    }

    /// Marks a task STOPPED at once (no agent involved) and releases its
    /// resources. Returns the record, or None when there is no such task.
    pub(crate) async fn stop_task_now(
        &self,
        cluster: &str,
        id: &str,
        code: TaskStopCode,
        reason: &str,
    ) -> Result<Option<TaskRecord>, AwsError> {
        self.modify_task(cluster, id, |t| {
            if t.last_status == TaskStatus::Stopped {
                return Ok(false);
            }
            t.mark_stopped(now_epoch(), code, reason);
            Ok(true)
        })
        .await
    }

    /// Asks for a task to stop: desired STOPPED with `code` and `reason`;
    /// STOPPED at once when no agent can still stop it (its instance is
    /// gone or lost, or its agent never saw it). `clear_tags` drops its
    /// tags (StopTask does).
    pub(crate) async fn request_stop(
        &self,
        cluster: &str,
        task: &TaskRecord,
        code: TaskStopCode,
        reason: &str,
        clear_tags: bool,
    ) -> Result<Option<TaskRecord>, AwsError> {
        self.request_stop_with_notice(cluster, task, code, reason, clear_tags, None)
            .await
    }

    /// [`Ecs::request_stop`], with `notice`: the seconds the agent gives
    /// the containers between SIGTERM and SIGKILL instead of their
    /// stopTimeout (a FARGATE_SPOT interruption), recorded in the same
    /// write as the stop.
    pub(crate) async fn request_stop_with_notice(
        &self,
        cluster: &str,
        task: &TaskRecord,
        code: TaskStopCode,
        reason: &str,
        clear_tags: bool,
        notice: Option<u64>,
    ) -> Result<Option<TaskRecord>, AwsError> {
        let agent_gone = match &task.berth.instance_id {
            None => true,
            Some(iid) => match self.stored_instance(task.instance_cluster(), iid).await? {
                None => true,
                Some((inst, _)) => {
                    !inst.is_registered()
                        || (!inst.agent_connected
                            && inst
                                .berth
                                .disconnected_at
                                .is_some_and(|d| now_epoch() - d >= self.agents.grace_period().as_secs_f64()))
                }
            },
        };
        self.modify_task(cluster, &task.berth.id, |t| {
            let mut changed = false;
            let now = now_epoch();
            if t.desired_status != TaskStatus::Stopped {
                t.desired_status = TaskStatus::Stopped.into();
                t.stopping_at.get_or_insert(now);
                t.stop_code = Some(code.into());
                t.stopped_reason = Some(reason.into());
                t.berth.stop_notice_secs = notice;
                if clear_tags {
                    // "Any tags associated with the task will be deleted."
                    t.tags.clear();
                }
                changed = true;
            }
            if t.last_status != TaskStatus::Stopped && (agent_gone || !t.berth.agent_seen) {
                t.mark_stopped(now, code, reason);
                changed = true;
            }
            Ok(changed)
        })
        .await
    }

    pub(crate) async fn stop_task(&self, _ctx: &RequestContext, input: StopTaskInput) -> Result<Value, AwsError> {
        if input.reason.as_ref().is_some_and(|r| r.len() > 1024) {
            return Err(AwsError::invalid_parameter("reason must be at most 1024 characters."));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?;
        let name = cluster.cluster_name;
        let id = task_id_of(&input.task).to_string();
        let not_found = || AwsError::invalid_parameter("The referenced task was not found.");
        let (task, _) = typed::get::<TaskRecord>(&*self.store, &keys::task(&name, &id))
            .await
            .map_err(AwsError::state_store)?
            .ok_or_else(not_found)?;
        if input.task.starts_with("arn:") && task.task_arn != input.task && !input.task.ends_with(&format!("task/{id}"))
        {
            return Err(not_found());
        }
        let reason = input.reason.clone().unwrap_or_else(|| "Task stopped by user".into());
        let rec = self
            .request_stop(&name, &task, TaskStopCode::UserInitiated, &reason, true)
            .await?
            .ok_or_else(not_found)?;
        tracing::info!(task = %rec.task_arn, last = %rec.last_status, "task stop requested");
        Ok(json!({"task": rec.render(true)}))
    }
}

/// StopTask: on the task.
pub(crate) struct StopTask;

#[async_trait]
impl Operation<Ecs> for StopTask {
    const NAME: &'static str = "StopTask";
    type Input = StopTaskInput;

    fn resources(scope: &Scope, input: &StopTaskInput) -> Vec<AuthzResource> {
        authz::in_cluster(scope, input.cluster.as_deref(), [input.task.as_str()], Scope::task_arn)
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: StopTaskInput) -> Result<Value, AwsError> {
        ecs.stop_task(ctx, input).await
    }
}
