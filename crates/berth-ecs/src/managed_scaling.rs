//! The managed-scaling controller of custom capacity providers. Every pass
//! (one a second), for each ACTIVE cluster and each custom provider with
//! managed scaling ENABLED it has, it counts the group's instances in the
//! cluster (N), those running tasks and the tasks waiting PROVISIONING for
//! the provider, computes M and `CapacityProviderReservation`
//! (`berth-ecs-model` `managed_scaling.rs`, pure), keeps the reservation
//! for the `AWS/ECS/ManagedScaling` publication (`usage/`), and, when the
//! group must grow, runs the group's capacity hook (`capacity_hook.rs`)
//! with the host count wanted. One call per wanted count until the hosts
//! arrive or the provider's `instanceWarmupPeriod` (scaled by
//! `--time-scale`) has passed, so a burst does not run the hook every
//! second. When the group is larger than the reservation needs for
//! 15 minutes (scaled), it scales in: the hosts to remove are chosen
//! (idle first; only idle ones under managed termination protection),
//! set DRAINING with managed draining, and handed to the hook once they
//! run no task (daemon tasks aside); the hook succeeding, they are
//! deregistered. The stored state is the tasks and instances themselves;
//! the last call and the start of a low reservation are only remembered
//! in memory (after a restart the hook may be asked for the same count
//! once more, and a scale-in waits its 15 minutes again).

use crate::capacity_hook::{CapacityHook, RemovedHost, run_hook};
use crate::instances::{DeregisterInput, UpdateStateInput};
use crate::tasks::capacity_for;
use crate::{Ecs, keys};
use berth_ecs_model::managed_scaling::{
    GroupHost, GroupLoad, SCALE_IN_AFTER_SECS, Size, desired_capacity, hosts_to_remove, instances_needed, reservation,
    scale_in_capacity,
};
use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::{
    CapacityProviderRecord, ClusterRecord, ClusterStatus, ContainerInstanceStatus, TaskStatus, Toggle,
};
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One `CapacityProviderReservation` figure.
#[derive(Debug, Clone, PartialEq)]
pub struct ReservationDatum {
    pub cluster: String,
    pub capacity_provider: String,
    pub value: f64,
}

/// The controller's memory: the latest reservations, the last hook call
/// of each (cluster, provider), since when each has had more hosts than
/// it needs, and which have a scale-in hook call running.
#[derive(Default)]
pub(crate) struct ScalingState {
    reservations: Mutex<BTreeMap<(String, String), f64>>,
    calls: Mutex<HashMap<(String, String), (Instant, u32)>>,
    low_since: Mutex<HashMap<(String, String), Instant>>,
    removing: Mutex<HashSet<(String, String)>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScalingState {
    /// The latest reservation of every (cluster, provider) with managed
    /// scaling on.
    pub(crate) fn reservations(&self) -> Vec<ReservationDatum> {
        locked(&self.reservations)
            .iter()
            .map(|((c, p), v)| ReservationDatum {
                cluster: c.clone(),
                capacity_provider: p.clone(),
                value: *v,
            })
            .collect()
    }
}

/// Whether a hook call for `desired` hosts is due, given the last call
/// (when, for how many), the hosts there are and the warm-up (pure).
fn call_due(last: Option<(Instant, u32)>, desired: u32, current: u32, now: Instant, warmup: Duration) -> bool {
    match last {
        None => true,
        // More wanted than last asked: ask at once.
        Some((_, asked)) if desired > asked => true,
        // The hosts asked for have not all arrived: wait for the warm-up.
        Some((at, asked)) => current >= asked || now.duration_since(at) >= warmup,
    }
}

impl Ecs {
    /// Configures the capacity hooks (`--capacity-hook`), one per group.
    pub fn with_capacity_hooks(mut self, hooks: Vec<CapacityHook>) -> Self {
        self.capacity_hooks = std::sync::Arc::new(hooks.into_iter().map(|h| (h.group.clone(), h)).collect());
        self
    }

    pub(crate) fn capacity_hook(&self, group: &str) -> Option<&CapacityHook> {
        self.capacity_hooks.get(group)
    }

    /// One pass of the controller.
    pub(crate) async fn managed_scaling_pass(&self) -> Result<(), AwsError> {
        let providers: HashMap<String, CapacityProviderRecord> =
            typed::list::<serde_json::Value>(&*self.store, keys::CAPACITY_PROVIDERS)
                .await
                .map_err(AwsError::state_store)?
                .into_iter()
                .filter_map(|v| serde_json::from_value::<CapacityProviderRecord>(v).ok())
                .filter(|p| p.is_active() && p.auto_scaling_group_provider.managed_scaling.status == Toggle::Enabled)
                .map(|p| (p.name.clone(), p))
                .collect();
        let clusters: Vec<ClusterRecord> = typed::list::<ClusterRecord>(&*self.store, keys::CLUSTERS)
            .await
            .map_err(AwsError::state_store)?
            .into_iter()
            .filter(|c| c.status == ClusterStatus::Active)
            .collect();
        let view = self.synced_view().await?;
        let mut figures = BTreeMap::new();
        for cluster in &clusters {
            let name = &cluster.cluster_name;
            let snapshot = view.placement_snapshot(name);
            let tasks = view.tasks(name);
            for provider in cluster.capacity_providers.iter().filter_map(|p| providers.get(p)) {
                let group = provider.auto_scaling_group_provider.host_group();
                let instances = capacity_for("EC2", Some(group), &snapshot);
                let registered: Vec<_> = instances.iter().filter(|e| e.record.is_registered()).collect();
                let arns: HashSet<&str> = registered
                    .iter()
                    .map(|e| e.record.container_instance_arn.as_str())
                    .collect();
                let busy: HashSet<&str> = tasks
                    .iter()
                    .filter(|t| t.last_status != TaskStatus::Stopped)
                    .filter_map(|t| t.container_instance_arn.as_deref())
                    .filter(|a| arns.contains(a))
                    .collect();
                let load = GroupLoad {
                    instances: registered.len() as u32,
                    busy: busy.len() as u32,
                    waiting: tasks
                        .iter()
                        .filter(|t| t.awaits_capacity() && t.capacity_provider_name.as_deref() == Some(&provider.name))
                        .map(|t| Size {
                            cpu: t.berth.demand.cpu,
                            memory: t.berth.demand.memory,
                        })
                        .collect(),
                    instance_size: registered
                        .iter()
                        .map(|e| Size {
                            cpu: e.record.registered_resources.cpu,
                            memory: e.record.registered_resources.memory,
                        })
                        .max_by_key(|s| (s.memory, s.cpu)),
                };
                let m = instances_needed(&load);
                let n = load.instances;
                figures.insert((name.clone(), provider.name.clone()), reservation(m, n));
                let settings = &provider.auto_scaling_group_provider.managed_scaling;
                let Some(hook) = self.capacity_hook(group) else {
                    continue;
                };
                let key = (name.clone(), provider.name.clone());
                let now = Instant::now();
                let Some(desired) = desired_capacity(m, n, settings) else {
                    // Not short: maybe too large.
                    let Some(target) = scale_in_capacity(m, n, settings) else {
                        locked(&self.scaling.low_since).remove(&key);
                        continue;
                    };
                    let since = *locked(&self.scaling.low_since).entry(key.clone()).or_insert(now);
                    if now.duration_since(since) < self.time_scale.scale_secs(SCALE_IN_AFTER_SECS)
                        || locked(&self.scaling.removing).contains(&key)
                    {
                        continue;
                    }
                    let daemons = self.daemon_groups(name).await?;
                    let hosts: Vec<GroupHost> = registered
                        .iter()
                        .map(|e| GroupHost {
                            container_instance_arn: e.record.container_instance_arn.clone(),
                            tasks: tasks
                                .iter()
                                .filter(|t| t.last_status != TaskStatus::Stopped && !daemons.contains(&t.group))
                                .filter(|t| {
                                    t.container_instance_arn.as_deref()
                                        == Some(e.record.container_instance_arn.as_str())
                                })
                                .count() as u32,
                        })
                        .collect();
                    let asg = &provider.auto_scaling_group_provider;
                    let chosen = hosts_to_remove(
                        &hosts,
                        n - target,
                        asg.managed_termination_protection == Toggle::Enabled,
                    );
                    let ctx = RequestContext::root(&self.scope.account, &self.scope.region);
                    if asg.managed_draining == Toggle::Enabled {
                        // ECS drains a host before the group terminates it:
                        // its service tasks move elsewhere first.
                        let to_drain: Vec<String> = chosen
                            .iter()
                            .filter(|h| {
                                registered.iter().any(|e| {
                                    e.record.container_instance_arn == h.container_instance_arn
                                        && e.record.status != ContainerInstanceStatus::Draining
                                })
                            })
                            .map(|h| h.container_instance_arn.clone())
                            .collect();
                        for batch in to_drain.chunks(10) {
                            self.update_container_instances_state(
                                &ctx,
                                UpdateStateInput::draining(name, batch.to_vec()),
                            )
                            .await?;
                        }
                    }
                    // A host goes once no task runs on it (daemon tasks
                    // aside): Berth never takes one away under running
                    // tasks; without managed draining a busy host chosen
                    // stays until its tasks end.
                    let remove: Vec<RemovedHost> = chosen
                        .iter()
                        .filter(|h| h.tasks == 0)
                        .filter_map(|h| {
                            registered
                                .iter()
                                .find(|e| e.record.container_instance_arn == h.container_instance_arn)
                        })
                        .map(|e| RemovedHost {
                            ec2_instance_id: e.record.ec2_instance_id.clone(),
                            container_instance_arn: e.record.container_instance_arn.clone(),
                        })
                        .collect();
                    if remove.is_empty() {
                        continue;
                    }
                    locked(&self.scaling.removing).insert(key.clone());
                    let desired = n - remove.len() as u32;
                    let (ecs, hook, cluster) = (self.clone(), hook.clone(), name.clone());
                    tokio::spawn(async move {
                        if run_hook(&hook, &cluster, desired, n, &remove).await {
                            for h in &remove {
                                let input = DeregisterInput::forced(&cluster, &h.container_instance_arn);
                                match ecs.deregister_container_instance(&ctx, input).await {
                                    Ok(_) => {
                                        tracing::info!(instance = %h.container_instance_arn, "host removed by managed scaling")
                                    }
                                    Err(e) => {
                                        tracing::warn!(instance = %h.container_instance_arn, error = %e, "cannot deregister a host the capacity hook removed")
                                    }
                                }
                            }
                        }
                        locked(&ecs.scaling.low_since).remove(&key);
                        locked(&ecs.scaling.removing).remove(&key);
                    });
                    continue;
                };
                locked(&self.scaling.low_since).remove(&key);
                let warmup = self
                    .time_scale
                    .scale_secs(settings.instance_warmup_period.max(0) as u64);
                {
                    let mut calls = locked(&self.scaling.calls);
                    if !call_due(calls.get(&key).copied(), desired, n, now, warmup) {
                        continue;
                    }
                    calls.insert(key, (now, desired));
                }
                let (hook, cluster) = (hook.clone(), name.clone());
                tokio::spawn(async move { run_hook(&hook, &cluster, desired, n, &[]).await });
            }
        }
        *locked(&self.scaling.reservations) = figures;
        Ok(())
    }

    /// The task groups (`service:NAME`) of the cluster's DAEMON services.
    async fn daemon_groups(&self, cluster: &str) -> Result<HashSet<String>, AwsError> {
        Ok(typed::list::<ServiceRecord>(&*self.store, &keys::services_of(cluster))
            .await
            .map_err(AwsError::state_store)?
            .into_iter()
            .filter(ServiceRecord::is_daemon)
            .map(|s| format!("service:{}", s.service_name))
            .collect())
    }
}

/// Runs the provisioning and managed-scaling controllers, one pass a
/// second each.
pub fn spawn_capacity_controllers(ecs: &Ecs) -> tokio::task::JoinHandle<()> {
    let ecs = ecs.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = ecs.place_waiting_tasks().await {
                tracing::warn!(error = %e, "placing the tasks waiting for capacity failed");
            }
            if let Err(e) = ecs.managed_scaling_pass().await {
                tracing::warn!(error = %e, "the managed scaling pass failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_per_count_until_the_hosts_arrive_or_the_warmup_passes() {
        let t0 = Instant::now();
        let warmup = Duration::from_secs(300);
        assert!(call_due(None, 1, 0, t0, warmup));
        // Asked for 1, none arrived yet, within the warm-up: not again.
        assert!(!call_due(Some((t0, 1)), 1, 0, t0 + Duration::from_secs(10), warmup));
        // More wanted: at once.
        assert!(call_due(Some((t0, 1)), 2, 0, t0 + Duration::from_secs(10), warmup));
        // The warm-up passed without the host: ask again.
        assert!(call_due(Some((t0, 1)), 1, 0, t0 + warmup, warmup));
        // The host arrived and more are still wanted: ask.
        assert!(call_due(Some((t0, 1)), 1, 1, t0 + Duration::from_secs(1), warmup));
    }
}
