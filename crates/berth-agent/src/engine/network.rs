//! The awsvpc task's network: its interface set up before its containers
//! are created, torn down (namespace, veth, address) once they have all
//! stopped.

use super::state::Engine;
use crate::awsvpc::pause;
use crate::failure::ContainerFailure;

impl Engine {
    pub(super) fn is_awsvpc(&self) -> bool {
        self.task.task_definition.effective_network_mode() == "awsvpc"
    }

    /// Gives an awsvpc task its interface (idempotent: a restarted agent
    /// finds the same one). False when it cannot: the containers that have
    /// not started will not, with ECS's ResourceInitializationError.
    pub(super) async fn attach_network(&mut self) -> bool {
        if !self.is_awsvpc() || self.interface.is_some() {
            return true;
        }
        let attached = match &self.ctx.network {
            Some(net) => {
                let owner = pause::Owner {
                    cluster: self.task.cluster_label(&self.ctx.cluster),
                    instance_arn: &self.ctx.instance_arn,
                    extra_labels: &self.ctx.extra_labels,
                };
                net.attach(&self.task, &owner).await.map_err(|e| e.to_string())
            }
            None => Err("this agent has no task network".to_string()),
        };
        match attached {
            Ok(lease) => {
                self.interface = Some(lease);
                true
            }
            Err(detail) => {
                let reason = ContainerFailure::TaskNetwork(detail).to_string();
                tracing::warn!(task = %self.arn(), %reason, "task network unavailable");
                self.fail_unstarted(&reason);
                false
            }
        }
    }

    /// Removes the task's pause container and frees its address.
    pub(super) async fn detach_network(&mut self) {
        if !self.is_awsvpc() {
            return;
        }
        let Some(net) = self.ctx.network.clone() else { return };
        if let Err(e) = net
            .detach(&self.task.task_arn, &pause::container_name(&self.task))
            .await
        {
            tracing::warn!(task = %self.arn(), error = %e, "cannot remove the task interface");
        }
    }
}
