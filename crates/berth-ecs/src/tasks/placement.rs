//! Placing tasks and reserving their resources in one store transaction
//! (guarded by the instances' revisions, retried on conflict), with the
//! RunTask client token written in the same transaction.

use super::plan::TaskPlan;
use crate::cluster_view::PlacementEntry;
use crate::instances::InstanceRecord;
use crate::{Ecs, keys};
use berth_core::time::now_epoch;
use berth_ecs_model::task::TaskRecord;
use berth_ecs_model::task::TokenRecord;
use berth_ecs_model::task::instance_cluster_of;
use berth_proto::AwsError;
use berth_scheduler::PlacementRequest;
use berth_scheduler::Resources;
use berth_store::{Compare, Op, Revision, typed};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

/// Placement attempts before RunTask gives up under contention.
pub(super) const MAX_PLACEMENT_ATTEMPTS: u32 = 100;

/// What [`Ecs::place_tasks`] did.
pub(crate) enum Placed {
    /// The tasks placed (possibly none) and, when some could not be, why.
    Tasks {
        tasks: Vec<TaskRecord>,
        failures: Vec<berth_scheduler::Failure>,
    },
    /// The client token was used by another request meanwhile.
    Token(TokenRecord),
}

/// The instances a task of `launch_type` may be placed on: a task of a
/// custom capacity provider (`host_group`) only on the instances of its
/// host group (`berth agent --host-group`); a FARGATE task on the
/// cluster's Fargate hosts (`berth agent --fargate`) when it has any, else
/// on its container instances as before; any other task never on a
/// Fargate host.
pub(crate) fn capacity_for<'a>(
    launch_type: &str,
    host_group: Option<&str>,
    entries: &'a [PlacementEntry],
) -> Cow<'a, [PlacementEntry]> {
    if let Some(group) = host_group {
        return Cow::Owned(
            entries
                .iter()
                .filter(|e| !e.record.is_fargate_host() && e.record.host_group() == Some(group))
                .cloned()
                .collect(),
        );
    }
    if !entries.iter().any(|e| e.record.is_fargate_host()) {
        return Cow::Borrowed(entries);
    }
    let fargate = launch_type == "FARGATE";
    Cow::Owned(
        entries
            .iter()
            .filter(|e| e.record.is_fargate_host() == fargate)
            .cloned()
            .collect(),
    )
}

/// Whether a task of `launch_type` in a cluster of these instances is
/// placed on the Fargate hosts other clusters share
/// (`InstanceRecord::shares_fargate`): a FARGATE task (no custom capacity
/// provider) of a cluster with no registered instance of its own, neither
/// Fargate host nor container instance.
pub(crate) fn needs_shared_fargate(launch_type: &str, host_group: Option<&str>, entries: &[PlacementEntry]) -> bool {
    launch_type == "FARGATE" && host_group.is_none() && !entries.iter().any(|e| e.record.is_registered())
}

pub(super) fn failure_json(f: &berth_scheduler::Failure) -> Value {
    json!({"arn": f.arn, "reason": f.reason.code(), "detail": f.detail})
}

impl Ecs {
    /// One transaction: the new tasks, the instances they reserve resources
    /// on (each with what remains of it, guarded by the revision it was
    /// read at) and the client token.
    pub(super) async fn commit_placement(
        &self,
        cluster: &str,
        reservations: &[(&InstanceRecord, Revision, &Resources)],
        tasks: &[TaskRecord],
        token: Option<(String, Revision, TokenRecord)>,
    ) -> Result<bool, AwsError> {
        let mut compares = vec![];
        let mut ops = vec![];
        for (rec, rev, remaining) in reservations {
            let mut rec = InstanceRecord::clone(rec);
            rec.remaining_resources = Resources::clone(remaining);
            rec.version += 1;
            // A shared Fargate host is another cluster's instance.
            let host_cluster = instance_cluster_of(&rec.container_instance_arn).unwrap_or(cluster);
            let key = keys::instance(host_cluster, &rec.berth.id);
            compares.push(Compare::ModRevision(key.clone(), *rev));
            ops.push(Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?));
        }
        for t in tasks {
            let key = keys::task(cluster, &t.berth.id);
            compares.push(Compare::Absent(key.clone()));
            ops.push(Op::Put(key, typed::encode(t).map_err(AwsError::state_store)?));
        }
        if let Some((key, rev, rec)) = token {
            compares.push(Compare::ModRevision(key.clone(), rev));
            ops.push(Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?));
        }
        Ok(self
            .store
            .txn(compares, ops)
            .await
            .map_err(AwsError::state_store)?
            .succeeded)
    }

    pub(super) async fn backoff(attempt: u32) {
        if attempt >= 3 {
            let ms = rand::random::<u64>() % (u64::from(attempt.min(20)) * 2 + 1);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    /// Reads a client token: `(revision, live record)`; expired tokens count
    /// as absent.
    pub(super) async fn read_token(&self, key: &str) -> Result<(Revision, Option<TokenRecord>), AwsError> {
        match typed::get::<TokenRecord>(&*self.store, key)
            .await
            .map_err(AwsError::state_store)?
        {
            Some((rec, rev)) if rec.live_at(now_epoch()) => Ok((rev, Some(rec))),
            Some((_, rev)) => Ok((rev, None)),
            None => Ok((0, None)),
        }
    }

    /// Places `request.count` tasks of `plan` and reserves their resources
    /// in one transaction per attempt (read everything, place, commit
    /// guarded by the instances' revisions; on a conflict, again). With
    /// `only_instance` (a container instance id) only that instance is a
    /// candidate. With `token_key` the client token is written in the same
    /// transaction, and a token written meanwhile by another request wins.
    pub(crate) async fn place_tasks(
        &self,
        plan: &TaskPlan,
        request: &PlacementRequest,
        only_instance: Option<&str>,
        token_key: Option<&str>,
        fingerprint: &str,
    ) -> Result<Placed, AwsError> {
        let _timer = crate::placement_timing::PlacementTimer::start();
        let name = plan.cluster.cluster_name.clone();
        for attempt in 0..MAX_PLACEMENT_ATTEMPTS {
            let token = match token_key {
                Some(key) => match self.read_token(key).await? {
                    (_, Some(tok)) => return Ok(Placed::Token(tok)),
                    (rev, None) => Some((key.to_string(), rev)),
                },
                None => None,
            };
            let lock = self.view.placement_lock(&name);
            let placing = lock.lock().await;
            // The instances as shared by the cluster view: the scheduler
            // copies only the ones it places tasks on.
            let view = self.synced_view().await?;
            let all = view.placement_snapshot(&name);
            let snapshot = if needs_shared_fargate(&plan.launch_type, plan.host_group.as_deref(), &all) {
                Cow::Owned(view.shared_fargate_hosts(&name))
            } else {
                capacity_for(&plan.launch_type, plan.host_group.as_deref(), &all)
            };
            let candidates: &[PlacementEntry] = match only_instance {
                None => &snapshot,
                Some(id) => match snapshot.iter().position(|e| e.record.berth.id == id) {
                    Some(i) => &snapshot[i..=i],
                    None => {
                        return Ok(Placed::Tasks {
                            tasks: vec![],
                            failures: vec![],
                        });
                    }
                },
            };
            // A custom provider's tasks that no instance of its group takes
            // wait PROVISIONING (none of the group's instances: all of them).
            let waits = plan.host_group.is_some();
            let (placement, updated) = if waits && candidates.is_empty() {
                (berth_scheduler::Placement::default(), vec![])
            } else {
                let mut rng = rand::thread_rng();
                berth_scheduler::place_shared(candidates, request, &mut rng)
                    .map_err(|e| AwsError::invalid_parameter(e.to_string()))?
            };
            if placement.placements.is_empty() && !waits {
                return Ok(Placed::Tasks {
                    tasks: vec![],
                    failures: placement.failures,
                });
            }
            let now = now_epoch();
            let by_arn: HashMap<&str, &PlacementEntry> = updated
                .iter()
                .map(|(i, _)| (candidates[*i].record.container_instance_arn.as_str(), &candidates[*i]))
                .collect();
            let mut tasks: Vec<TaskRecord> = placement
                .placements
                .iter()
                .filter_map(|(index, arn)| {
                    Some(self.new_task(plan, Some(&by_arn.get(arn.as_str())?.record), *index, now))
                })
                .collect();
            let failures = if waits {
                let placed: std::collections::HashSet<usize> = placement.placements.iter().map(|(i, _)| *i).collect();
                for index in (0..request.count as usize).filter(|i| !placed.contains(i)) {
                    tasks.push(self.new_task(plan, None, index, now));
                }
                vec![]
            } else {
                placement.failures
            };
            let reservations: Vec<(&InstanceRecord, Revision, &Resources)> = updated
                .iter()
                .map(|(i, view)| (&*candidates[*i].record, candidates[*i].revision, &view.remaining))
                .collect();
            let token = token.map(|(key, rev)| {
                (
                    key,
                    rev,
                    TokenRecord::new(fingerprint, tasks.iter().map(|t| t.task_arn.clone()).collect(), now),
                )
            });
            if self.commit_placement(&name, &reservations, &tasks, token).await? {
                for t in &tasks {
                    tracing::info!(task = %t.task_arn, instance = ?t.container_instance_arn, "task placed");
                }
                return Ok(Placed::Tasks { tasks, failures });
            }
            drop(placing);
            Self::backoff(attempt).await;
        }
        Err(AwsError::server(
            "Too many concurrent changes to the cluster's container instances; retry the request.",
        ))
    }

    pub(super) async fn token_answer(
        &self,
        cluster: &str,
        tok: &TokenRecord,
        fingerprint: &str,
    ) -> Result<Value, AwsError> {
        let arns = tok.answer_for(fingerprint)?;
        Ok(json!({"tasks": self.tasks_by_arn(cluster, arns).await?, "failures": []}))
    }
}
