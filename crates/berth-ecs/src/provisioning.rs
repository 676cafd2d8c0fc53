//! The provisioning controller: tasks of a custom capacity provider that no
//! instance of its host group could take were recorded PROVISIONING on no
//! instance (`tasks/placement.rs`); that record is the intent. Every pass
//! places such tasks on an instance of the group that can now take them
//! (one registered, or resources freed), in one transaction guarded by the
//! task's and the instance's revisions, so a restart or a concurrent
//! placement changes nothing but the timing.

use crate::tasks::{TaskRecord, capacity_for};
use crate::{Ecs, keys};
use berth_ecs_model::TaskStatus;
use berth_proto::AwsError;
use berth_scheduler::PlacementRequest;
use berth_store::{Compare, Op, typed};

/// The placement request of one waiting task: its resources, group and
/// family (the launch's placement constraints are not kept with the task).
fn request_of(t: &TaskRecord) -> PlacementRequest {
    PlacementRequest {
        demand: t.berth.demand.clone(),
        group: t.group.clone(),
        family: t.berth.family.clone(),
        task_definition_arn: t.task_definition_arn.clone(),
        required_attributes: vec![],
        constraints: vec![],
        strategies: vec![],
        count: 1,
        // An awsvpc task: the zones of its launch's subnets.
        zones: berth_ecs_model::zones_of(&t.berth.subnet_zones),
    }
}

impl Ecs {
    /// One pass: places every waiting task that an instance of its group
    /// can take now. Returns how many were placed.
    pub(crate) async fn place_waiting_tasks(&self) -> Result<usize, AwsError> {
        let view = self.synced_view().await?;
        let mut placed = 0;
        for cluster in view.cluster_names() {
            let waiting: Vec<_> = view
                .tasks(&cluster)
                .into_iter()
                .filter(|t| t.awaits_capacity())
                .collect();
            for t in waiting {
                let Some(provider) = t.capacity_provider_name.clone() else {
                    continue;
                };
                let Ok(Some(group)) = self.host_group_for(std::slice::from_ref(&provider)).await else {
                    continue;
                };
                if self.place_waiting(&cluster, &t.berth.id, &group).await? {
                    placed += 1;
                }
            }
        }
        Ok(placed)
    }

    /// Places one waiting task on an instance of `group`, if one fits.
    async fn place_waiting(&self, cluster: &str, id: &str, group: &str) -> Result<bool, AwsError> {
        let lock = self.view.placement_lock(cluster);
        let _placing = lock.lock().await;
        let key = keys::task(cluster, id);
        let Some((mut task, task_rev)) = typed::get::<TaskRecord>(&*self.store, &key)
            .await
            .map_err(AwsError::state_store)?
        else {
            return Ok(false);
        };
        if !task.awaits_capacity() {
            return Ok(false);
        }
        let all = self.synced_view().await?.placement_snapshot(cluster);
        let candidates = capacity_for(&task.launch_type, Some(group), &all);
        if candidates.is_empty() {
            return Ok(false);
        }
        let (placement, updated) = {
            let mut rng = rand::thread_rng();
            berth_scheduler::place_shared(&candidates, &request_of(&task), &mut rng)
                .map_err(|e| AwsError::invalid_parameter(e.to_string()))?
        };
        let Some((index, remaining)) = updated.into_iter().next().filter(|_| !placement.placements.is_empty()) else {
            return Ok(false);
        };
        let entry = &candidates[index];
        let mut instance = (*entry.record).clone();
        instance.remaining_resources = remaining.remaining;
        instance.version += 1;
        task.container_instance_arn = Some(instance.container_instance_arn.clone());
        task.availability_zone = instance.attribute(berth_scheduler::ZONE_ATTRIBUTE).map(str::to_string);
        // Its interface in the launch subnet of the host's zone.
        if let Some(subnet) = task
            .availability_zone
            .as_deref()
            .and_then(|z| berth_ecs_model::subnet_in_zone(&task.berth.subnet_zones, z))
            .map(str::to_string)
        {
            task.set_eni_subnet(&subnet);
        }
        task.berth.instance_id = Some(instance.berth.id.clone());
        task.berth.reserved = true;
        // An awsvpc task stays PROVISIONING until its interface is made.
        if task.attachments.is_empty() {
            task.last_status = TaskStatus::Pending.into();
        }
        task.version += 1;
        let ikey = keys::instance(cluster, &instance.berth.id);
        let done = self
            .store
            .txn(
                vec![
                    Compare::ModRevision(key.clone(), task_rev),
                    Compare::ModRevision(ikey.clone(), entry.revision),
                ],
                vec![
                    Op::Put(key, typed::encode(&task).map_err(AwsError::state_store)?),
                    Op::Put(ikey, typed::encode(&instance).map_err(AwsError::state_store)?),
                ],
            )
            .await
            .map_err(AwsError::state_store)?
            .succeeded;
        if done {
            tracing::info!(task = %task.task_arn, instance = %instance.container_instance_arn, "waiting task placed");
        }
        Ok(done)
    }
}
