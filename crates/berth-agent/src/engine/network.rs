//! The awsvpc task's network: its interface set up before its containers
//! are created, torn down (namespace, veth, address) once they have all
//! stopped.

use super::state::Engine;
use crate::awsvpc::pause;
use crate::failure::ContainerFailure;
use crate::lifecycle::RunState;

/// An awsvpc task's interface being brought up (the pause container
/// started, the veth and address set) while its containers are created.
pub(super) struct BringingUp(tokio::task::JoinHandle<Result<crate::awsvpc::Attached, String>>);

impl Engine {
    pub(super) fn is_awsvpc(&self) -> bool {
        self.task.task_definition.effective_network_mode() == "awsvpc"
    }

    /// Begins giving an awsvpc task its interface (idempotent: a restarted
    /// agent finds the same one): its lease and pause container are made
    /// here (its containers name it as their network), the pause container
    /// is started and the interface set up on a task of its own while the
    /// containers are created ([`Self::finish_network`] waits for it). Err
    /// when it cannot: the containers that have not started will not, with
    /// ECS's ResourceInitializationError.
    pub(super) async fn begin_network(&mut self) -> Result<Option<BringingUp>, ()> {
        if !self.is_awsvpc() || self.interface.is_some() {
            return Ok(None);
        }
        let created = match self.ctx.network.clone() {
            Some(net) => {
                let owner = pause::Owner {
                    cluster: self.task.cluster_label(&self.ctx.cluster),
                    instance_arn: &self.ctx.instance_arn,
                    extra_labels: &self.ctx.extra_labels,
                };
                let created = net.create_pause(&self.task, &owner).await;
                // The pool (made ahead for the next awsvpc task) is
                // refilled in the background once this task's containers
                // have started ([`Self::refill_warm_pool`]).
                self.refill_warm = true;
                match created {
                    Ok(pause) => {
                        let task = self.task.clone();
                        Ok(tokio::spawn(async move {
                            net.bring_up(&task, pause).await.map_err(|e| e.to_string())
                        }))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            None => Err("this agent has no task network".to_string()),
        };
        match created {
            Ok(handle) => Ok(Some(BringingUp(handle))),
            Err(detail) => {
                self.network_failed(detail);
                Err(())
            }
        }
    }

    /// Waits for the interface [`Self::begin_network`] is bringing up;
    /// then the task's credentials and metadata endpoints are served in its
    /// namespace, before its containers start. False when it failed: no
    /// container of the task starts.
    pub(super) async fn finish_network(&mut self, bringing_up: Option<BringingUp>) -> bool {
        let Some(BringingUp(handle)) = bringing_up else {
            return true;
        };
        let attached = match handle.await {
            Ok(r) => r,
            Err(e) => Err(format!("the interface set-up ended: {e}")),
        };
        match attached {
            Ok(attached) => {
                self.interface = Some(attached.lease);
                if let Some(endpoint) = self.ctx.credentials.clone() {
                    self.endpoint_in_namespace = self
                        .serve_in_container(&endpoint, i64::from(attached.pid), endpoint.addr().port())
                        .await;
                }
                true
            }
            Err(detail) => {
                self.network_failed(detail);
                false
            }
        }
    }

    /// Refills the agent's warm pause containers if this task asked for it
    /// ([`Self::begin_network`]): called once its containers have been
    /// started (or it stopped before), never awaited.
    pub(super) fn refill_warm_pool(&mut self) {
        if std::mem::take(&mut self.refill_warm)
            && let Some(net) = &self.ctx.network
        {
            net.refill();
        }
    }

    /// The task's network cannot be made: no container of it starts (those
    /// created meanwhile stay created, and go with the task).
    fn network_failed(&mut self, detail: String) {
        let reason = ContainerFailure::TaskNetwork(detail).to_string();
        tracing::warn!(task = %self.arn(), %reason, "task network unavailable");
        for s in self.slots.iter_mut().filter(|s| s.state == RunState::Waiting) {
            s.state = RunState::NotRun { reason: reason.clone() };
            s.reason = Some(reason.clone());
        }
    }

    /// Removes the task's pause container and frees its address.
    pub(super) async fn detach_network(&mut self) {
        if !self.is_awsvpc() {
            return;
        }
        self.refill_warm_pool();
        let Some(net) = self.ctx.network.clone() else { return };
        if let Err(e) = net
            .detach(&self.task.task_arn, &pause::container_name(&self.task))
            .await
        {
            tracing::warn!(task = %self.arn(), error = %e, "cannot remove the task interface");
        }
    }
}
