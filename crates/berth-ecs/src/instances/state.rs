//! A cluster's instances and tasks read at once, the task tallies derived
//! from them, and the scheduler's view of one instance.

use crate::Ecs;
use crate::tasks::TaskRecord;
use berth_ecs_model::TaskStatus;
use berth_ecs_model::instance::{Attribute, InstanceRecord};
use berth_proto::AwsError;
use berth_scheduler::{InstanceView, TaskOnInstance};
use berth_store::Revision;
use std::collections::HashMap;
use std::sync::Arc;

/// Per-instance task tallies, derived from the task records.
#[derive(Default, Clone, Copy)]
pub struct TaskCounts {
    pub running: usize,
    pub pending: usize,
}

/// Everything placement and rendering need about a cluster, read at once
/// (each accessor of the cluster view fills the parts its callers need).
#[derive(Default)]
pub struct ClusterState {
    pub instances: Vec<(Arc<InstanceRecord>, Revision)>,
    pub tasks: Vec<Arc<TaskRecord>>,
    /// Custom attributes (PutAttributes) by container instance ARN.
    pub custom: HashMap<String, Vec<Attribute>>,
    /// The scheduler's view of each instance, in `instances` order.
    pub views: Vec<InstanceView>,
}

impl ClusterState {
    pub fn counts(&self) -> HashMap<String, TaskCounts> {
        let mut out: HashMap<String, TaskCounts> = HashMap::new();
        for t in &self.tasks {
            let Some(arn) = &t.container_instance_arn else { continue };
            let c = out.entry(arn.clone()).or_default();
            if t.last_status == TaskStatus::Running {
                c.running += 1;
            } else if t.last_status.is_any(&TaskStatus::PENDING) {
                c.pending += 1;
            }
        }
        out
    }
}

/// The scheduler's view of one instance: its tasks whose desired status is
/// RUNNING and its custom attributes.
pub fn instance_view<'a>(
    rec: &InstanceRecord,
    tasks: impl Iterator<Item = &'a TaskRecord>,
    custom: &[Attribute],
) -> InstanceView {
    let on = tasks
        .filter(|t| t.desired_status == TaskStatus::Running)
        .map(|t| TaskOnInstance {
            group: t.group.clone(),
            family: t.berth.family.clone(),
            task_definition_arn: t.task_definition_arn.clone(),
        })
        .collect();
    rec.view(on, custom)
}

impl Ecs {
    /// A cluster's instances (with their revisions), tasks and custom
    /// attributes, from the cluster view once it holds every write
    /// acknowledged before this call. A placement based on it that raced
    /// another one fails its compare on the instances' revisions and runs
    /// again.
    pub(crate) async fn cluster_state(&self, cluster: &str) -> Result<ClusterState, AwsError> {
        Ok(self.synced_view().await?.state(cluster))
    }

    /// Every task of a cluster (from the synced cluster view).
    pub(crate) async fn cluster_tasks(&self, cluster: &str) -> Result<Vec<Arc<TaskRecord>>, AwsError> {
        Ok(self.synced_view().await?.tasks(cluster))
    }
}
