//! The service controller: keeps every service's tasks as its deployments
//! want them.
//!
//! It is a reconciliation loop driven by store watches on the services,
//! tasks and container instances prefixes: a change marks the services it
//! touches (a task's `service:NAME` group; every service of the cluster for
//! an instance change) and only those are reconciled, plus a slow periodic
//! resync of everything for safety and timed wake-ups (throttling, health
//! check grace periods). A reconcile pass reads the service and its
//! cluster, computes one step with the pure rules of [`berth_ecs_model::deploy_math`],
//! starts tasks (`service_tasks.rs`) through the same placement transaction as RunTask, asks
//! tasks to stop as StopTask does, and writes the counts, rollout states and
//! events back with a compare-and-swap. All state is in the store, so the
//! loop is idempotent and a restarted server carries on mid-rollout.

use crate::services::ServiceRecord;
use crate::tasks::TaskRecord;
use crate::{Ecs, keys};
use berth_core::time::now_epoch;
use berth_ecs_model::deploy_math::{self, DaemonInstance, Limits, TaskHealth, TaskState};
use berth_ecs_model::service::{
    DrainingTask, deregistered_event, draining_event, elb_health_stop_reason, is_elb_health_stop_reason,
    registered_event, unhealthy_event,
};
use berth_ecs_model::{
    ContainerInstanceStatus, DeploymentStatus, HealthStatus, Recorded, RolloutState, ServiceStatus, TaskStatus,
    TaskStopCode,
};
use berth_proto::AwsError;
use berth_scheduler::PlacementConstraint;
use berth_store::{EventKind, StoreError, typed};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The stop reason of tasks a service asks to stop because their container
/// health check failed.
pub const HEALTH_CHECK_REASON: &str = "Task failed container health checks";

/// Settings of the service controller.
#[derive(Debug, Clone)]
pub struct ServiceControllerConfig {
    /// How often every service is reconciled even without changes.
    pub resync: Duration,
    /// Consecutive task failures before the service is throttled.
    pub throttle_after: u32,
    /// First throttling delay; it doubles with every further failure.
    pub throttle_base: Duration,
    /// Longest throttling delay.
    pub throttle_max: Duration,
    /// An identical "unable to place" event is not repeated within this.
    pub event_repeat: Duration,
    /// Failures stop counting as "in a row" once a task started after the
    /// last one has run this long.
    pub stable_after: Duration,
    /// A service that could not place a task looks again after this even
    /// when nothing changed; any task stopping or instance changing, in any
    /// cluster, makes it look at once (its capacity may be shared).
    pub capacity_retry: Duration,
}

impl Default for ServiceControllerConfig {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(30),
            throttle_after: 3,
            throttle_base: Duration::from_secs(10),
            throttle_max: Duration::from_secs(15 * 60),
            event_repeat: Duration::from_secs(5 * 60),
            stable_after: Duration::from_secs(60),
            capacity_retry: Duration::from_secs(10),
        }
    }
}

/// Starts the service controller on the current Tokio runtime. It stops when
/// the store closes or the handle is aborted.
pub fn spawn_service_controller(ecs: &Ecs, cfg: ServiceControllerConfig) -> tokio::task::JoinHandle<()> {
    let ecs = ecs.clone();
    tokio::spawn(async move { ecs.run_service_controller(cfg).await })
}

type ServiceKey = (String, String);

/// What a store key says about which services to look at.
#[derive(Debug, PartialEq)]
enum Touch {
    Service(ServiceKey),
    Cluster(String),
    None,
}

/// What one reconcile pass of a service leaves for the controller.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Pass {
    /// When it wants to look again without a change (epoch seconds).
    pub wake: Option<f64>,
    /// It could not place a task it wanted: capacity freed anywhere (a
    /// task stopping, an instance changing) is a reason to look again.
    pub awaits_capacity: bool,
}

impl Pass {
    fn wake(wake: Option<f64>) -> Self {
        Self {
            wake,
            awaits_capacity: false,
        }
    }
}

/// Which services a store change concerns, and whether it may have freed
/// or added capacity (a task stopped or went away, an instance changed).
fn touched(kind: &EventKind, key: &str, value: &[u8]) -> (Touch, bool) {
    if let Some(rest) = key.strip_prefix(keys::SERVICES) {
        if let Some((c, n)) = rest.split_once('/') {
            return (Touch::Service((c.to_string(), n.to_string())), false);
        }
    } else if let Some(rest) = key.strip_prefix(keys::TASKS) {
        if *kind == EventKind::Delete {
            return (Touch::None, true);
        }
        let Some((c, _)) = rest.split_once('/') else {
            return (Touch::None, false);
        };
        let task = serde_json::from_slice::<Value>(value).unwrap_or_default();
        let stopped = task["lastStatus"] == "STOPPED";
        if let Some(name) = task["group"].as_str().and_then(|g| g.strip_prefix("service:")) {
            return (Touch::Service((c.to_string(), name.to_string())), stopped);
        }
        return (Touch::None, stopped);
    } else if let Some(rest) = key.strip_prefix(keys::INSTANCES)
        && let Some((c, _)) = rest.split_once('/')
    {
        return (Touch::Cluster(c.to_string()), true);
    }
    (Touch::None, false)
}

/// How a task counts for its service.
fn health_of(t: &TaskRecord) -> TaskHealth {
    match t.last_status.known() {
        Some(TaskStatus::Running) if t.berth.health_checked.is_empty() || t.health_status == HealthStatus::Healthy => {
            TaskHealth::Healthy
        }
        Some(TaskStatus::Running) => TaskHealth::Running,
        _ => TaskHealth::Pending,
    }
}

/// Whether a stopped task counts as a failure of its deployment.
fn failed(t: &TaskRecord) -> bool {
    t.last_status == TaskStatus::Stopped
        && (matches!(
            t.stop_code.as_ref().and_then(Recorded::known),
            Some(TaskStopCode::TaskFailedToStart | TaskStopCode::EssentialContainerExited)
        ) || t.stopped_reason.as_deref() == Some(HEALTH_CHECK_REASON)
            || t.stopped_reason.as_deref().is_some_and(is_elb_health_stop_reason))
}

impl Ecs {
    pub(crate) async fn run_service_controller(&self, cfg: ServiceControllerConfig) {
        loop {
            match self.service_controller_session(&cfg).await {
                Ok(()) => return,
                Err(StoreError::Closed) => {
                    tracing::debug!("store closed: service controller stops");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "service controller watch failed; re-listing");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Every service key in the store, by cluster.
    async fn all_services(&self) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for kv in self.store.range(keys::SERVICES, None, None).await? {
            if let Some((c, n)) = kv.key[keys::SERVICES.len()..].split_once('/') {
                out.entry(c.to_string()).or_default().insert(n.to_string());
            }
        }
        Ok(out)
    }

    /// One watch session: list and reconcile everything, then follow the
    /// watches. Returns an error when the watch breaks (the caller starts
    /// over).
    async fn service_controller_session(&self, cfg: &ServiceControllerConfig) -> Result<(), StoreError> {
        let rev = self.store.current_revision().await?;
        let mut streams = vec![];
        for prefix in [keys::SERVICES, keys::TASKS, keys::INSTANCES] {
            streams.push(self.store.watch(prefix, rev + 1).await?);
        }
        let mut events = futures::stream::select_all(streams);
        let mut known = self.all_services().await?;
        let mut dirty: BTreeSet<ServiceKey> = known
            .iter()
            .flat_map(|(c, ns)| ns.iter().map(move |n| (c.clone(), n.clone())))
            .collect();
        let mut wakes: BTreeMap<ServiceKey, f64> = BTreeMap::new();
        // Services that could not place a task, on any cluster's capacity.
        let mut awaiting: BTreeSet<ServiceKey> = BTreeSet::new();
        let mut next_resync = tokio::time::Instant::now() + cfg.resync;
        loop {
            // Reconcile what is dirty or due.
            let now = now_epoch();
            let due: Vec<ServiceKey> = wakes
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                wakes.remove(&k);
                dirty.insert(k);
            }
            while let Some(k) = dirty.pop_first() {
                match self.reconcile_service(&k.0, &k.1, cfg).await {
                    Ok(pass) => {
                        if pass.awaits_capacity {
                            awaiting.insert(k.clone());
                        } else {
                            awaiting.remove(&k);
                        }
                        match pass.wake {
                            Some(at) => wakes.insert(k, at),
                            None => wakes.remove(&k),
                        };
                    }
                    Err(e) => {
                        self.store.current_revision().await?;
                        tracing::warn!(cluster = %k.0, service = %k.1, error = %e, cause = ?e.cause, "service reconcile failed");
                        wakes.insert(k, now_epoch() + 1.0);
                    }
                }
            }
            // Wait for a change, a wake-up or the resync.
            let next_wake = wakes.values().cloned().fold(f64::INFINITY, f64::min);
            let mut deadline = next_resync;
            if next_wake.is_finite() {
                let secs = (next_wake - now_epoch()).max(0.0);
                deadline = deadline.min(tokio::time::Instant::now() + Duration::from_secs_f64(secs));
            }
            let first = tokio::select! {
                ev = events.next() => Some(ev),
                _ = tokio::time::sleep_until(deadline) => None,
            };
            let mut batch = vec![];
            match first {
                Some(None) => return Ok(()),
                Some(Some(ev)) => batch.push(ev?),
                None => {}
            }
            // Take whatever else is already there.
            while let Some(Some(ev)) = events.next().now_or_never() {
                batch.push(ev?);
            }
            for ev in batch {
                let (touch, frees) = touched(&ev.kind, &ev.key, &ev.value);
                if frees {
                    dirty.extend(std::mem::take(&mut awaiting));
                }
                match touch {
                    Touch::Service(k) => {
                        known.entry(k.0.clone()).or_default().insert(k.1.clone());
                        dirty.insert(k);
                    }
                    Touch::Cluster(c) => {
                        for n in known.get(&c).into_iter().flatten() {
                            dirty.insert((c.clone(), n.clone()));
                        }
                    }
                    Touch::None => {}
                }
            }
            if tokio::time::Instant::now() >= next_resync {
                known = self.all_services().await?;
                for (c, ns) in &known {
                    for n in ns {
                        dirty.insert((c.clone(), n.clone()));
                    }
                }
                next_resync = tokio::time::Instant::now() + cfg.resync;
            }
        }
    }

    /// Reconciles every service of every cluster once, as the periodic
    /// resync does; returns how many were reconciled. For tools and
    /// benchmarks: the controller started by [`spawn_service_controller`]
    /// does this on its own.
    pub async fn resync_services(&self, cfg: &ServiceControllerConfig) -> Result<usize, AwsError> {
        let mut n = 0;
        for (cluster, names) in self.all_services().await.map_err(AwsError::state_store)? {
            for name in names {
                self.reconcile_service(&cluster, &name, cfg).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// One reconcile pass of a service: when it wants to look again
    /// without a change, and whether it waits for capacity.
    pub(crate) async fn reconcile_service(
        &self,
        cluster: &str,
        name: &str,
        cfg: &ServiceControllerConfig,
    ) -> Result<Pass, AwsError> {
        let key = keys::service(cluster, name);
        let Some((mut svc, rev)) = typed::get::<ServiceRecord>(&*self.store, &key)
            .await
            .map_err(AwsError::state_store)?
        else {
            return Ok(Pass::default());
        };
        if svc.status == ServiceStatus::Inactive {
            return Ok(Pass::default());
        }
        if svc.is_external() {
            return self
                .reconcile_task_sets(cluster, name, svc, rev, cfg)
                .await
                .map(Pass::wake);
        }
        let before = serde_json::to_value(&svc).unwrap_or_default();
        let group = format!("service:{name}");
        let state = self.synced_view().await?.service_state(cluster, &group);
        let now = now_epoch();
        let mut wake: Option<f64> = None;
        let mut wake_at = |t: f64| wake = Some(wake.map_or(t, |w: f64| w.min(t)));

        let tasks: Vec<&TaskRecord> = state.tasks.iter().map(|t| &**t).collect();
        // The target groups of a service with load balancers: a task counts
        // as healthy only when its targets are.
        // BLUE_GREEN/LINEAR/CANARY: the PRIMARY's group, before registering.
        self.start_shift(&mut svc, name, now).await?;
        let lbs = self.registrations(&svc, &state.instances).await?;
        let health_of = |t: &TaskRecord| match health_of(t) {
            TaskHealth::Healthy if lbs.as_ref().is_some_and(|r| !r.healthy(t)) => TaskHealth::Running,
            h => h,
        };
        let deployment_ids: BTreeSet<String> = svc.deployments.iter().map(|d| d.id.clone()).collect();
        let of = |t: &TaskRecord| t.started_by.clone().unwrap_or_default();

        // 1. Failures: per deployment (circuit breaker) and in a row
        //    (throttling).
        let mut new_failures = 0u32;
        let mut last_failure = 0.0f64;
        let forgotten_before = svc.berth.failures_forgotten_before.unwrap_or(f64::MIN);
        let fresh = |t: &&&TaskRecord| t.stopped_at.is_none_or(|s| s > forgotten_before);
        for t in tasks
            .iter()
            .filter(|t| failed(t) && deployment_ids.contains(&of(t)))
            .filter(fresh)
        {
            let id = &t.berth.id;
            if let Some(d) = svc.deployments.iter_mut().find(|d| d.id == of(t))
                && !d.berth.failed_task_ids.contains(id)
            {
                d.berth.failed_task_ids.push(id.clone());
                // Only the recent ids are needed to count each task once
                // (stopped tasks are forgotten after their retention).
                let overflow = d.berth.failed_task_ids.len().saturating_sub(1000);
                d.berth.failed_task_ids.drain(..overflow);
                d.failed_tasks += 1;
                d.updated_at = now;
            }
            if !svc.berth.counted_failures.iter().any(|(c, _)| c == id) {
                let at = t.stopped_at.unwrap_or(now);
                svc.berth.counted_failures.push((id.clone(), at));
                new_failures += 1;
                last_failure = last_failure.max(at);
            }
        }
        // Remember the recent ones; older failures are told apart by time.
        let overflow = svc.berth.counted_failures.len().saturating_sub(400);
        for (_, at) in svc.berth.counted_failures.drain(..overflow) {
            let w = svc.berth.failures_forgotten_before.get_or_insert(at);
            *w = w.max(at);
        }
        let stable_since = svc.berth.last_failure_at.unwrap_or(0.0);
        if new_failures == 0
            && svc.berth.consecutive_failures > 0
            && tasks.iter().any(|t| {
                t.last_status == TaskStatus::Running
                    && t.started_at
                        .is_some_and(|s| s > stable_since && now - s >= cfg.stable_after.as_secs_f64())
            })
        {
            svc.berth.consecutive_failures = 0;
            svc.berth.throttled_until = None;
        }
        if new_failures > 0 {
            svc.berth.last_failure_at = Some(last_failure);
            svc.berth.consecutive_failures += new_failures;
            svc.berth.steady = false;
            let n = svc.berth.consecutive_failures;
            if n >= cfg.throttle_after {
                let factor = 2f64.powi((n - cfg.throttle_after).min(20) as i32);
                let delay = (cfg.throttle_base.as_secs_f64() * factor).min(cfg.throttle_max.as_secs_f64());
                let was_throttled = svc.berth.throttled_until.is_some_and(|u| u > now);
                svc.berth.throttled_until = Some(last_failure.max(now - 1.0) + delay);
                if !was_throttled {
                    svc.push_event(
                        format!(
                            "(service {name}) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
                        ),
                        now,
                    );
                }
            }
        }

        // 2. Circuit breaker on the PRIMARY deployment.
        let cb = svc.deployment_configuration.deployment_circuit_breaker.clone();
        if cb.enable
            && let Some(p) = svc.primary().cloned()
            && p.rollout_state == RolloutState::InProgress
        {
            let desired = if svc.is_daemon() {
                state
                    .instances
                    .iter()
                    .filter(|(i, _)| i.status == ContainerInstanceStatus::Active)
                    .count() as u32
            } else {
                svc.desired_count.max(0) as u32
            };
            if p.failed_tasks as u32 >= deploy_math::failure_threshold(desired) {
                let reason = "ECS deployment circuit breaker: tasks failed to start.".to_string();
                svc.push_event(
                    format!(
                        "(service {name}) (deployment {}) deployment failed: tasks failed to start.",
                        p.id
                    ),
                    now,
                );
                tracing::warn!(service = %svc.service_arn, deployment = %p.id, "deployment failed (circuit breaker)");
                if cb.rollback
                    && let Some(good_id) = svc.start_rollback(&reason, now)
                {
                    svc.push_event(format!("(service {name}) rolling back to deployment {good_id}."), now);
                } else if let Some(d) = svc.primary_mut() {
                    d.rollout_state = RolloutState::Failed.into();
                    d.rollout_state_reason = reason;
                    d.updated_at = now;
                    d.berth.finished_at = Some(now);
                }
            }
        }

        // 2b. Deployment alarms on the PRIMARY deployment.
        let alarm_watch = self.watch_deployment_alarms(&mut svc, name, now).await?;
        if let Some(w) = alarm_watch.wake {
            wake_at(w);
        }
        // A rollback started above turns the traffic back to blue before any
        // of green's tasks is stopped.
        self.start_shift(&mut svc, name, now).await?;
        // The stages before SCALE_UP (their lifecycle hooks) are passed
        // before green is scaled.
        if let Some(w) = self.advance_traffic_shift(&mut svc, name, false, now).await? {
            wake_at(w);
        }

        // 3. Tasks whose container health check failed are replaced once
        //    the grace period is over.
        let grace = svc.health_check_grace_period_seconds.unwrap_or(0) as f64;
        let mut stopping: BTreeSet<String> = BTreeSet::new();
        for t in tasks
            .iter()
            .filter(|t| t.desired_status == TaskStatus::Running && t.health_status == HealthStatus::Unhealthy)
        {
            let since = t.started_at.unwrap_or(t.created_at);
            if now - since >= grace {
                self.request_stop(
                    cluster,
                    t,
                    TaskStopCode::ServiceSchedulerInitiated,
                    HEALTH_CHECK_REASON,
                    false,
                )
                .await?;
                stopping.insert(t.berth.id.clone());
                svc.push_event(
                    format!("(service {name}) (task {}) failed container health checks.", t.berth.id),
                    now,
                );
            } else {
                wake_at(since + grace);
            }
        }
        // ... and so are tasks whose target a target group found unhealthy:
        // deregistered, then stopped.
        if let Some(r) = &lbs {
            let primary_id = svc.primary().map(|p| p.id.clone()).unwrap_or_default();
            let serving: Vec<&TaskRecord> = tasks
                .iter()
                .copied()
                .filter(|t| {
                    t.desired_status == TaskStatus::Running
                        && t.last_status == TaskStatus::Running
                        && !stopping.contains(&t.berth.id)
                })
                .collect();
            for t in serving {
                let Some((tg, target, why)) = r.unhealthy(t) else {
                    continue;
                };
                let since = t.started_at.unwrap_or(t.created_at);
                if now - since < grace {
                    wake_at(since + grace);
                    continue;
                }
                for (arn, n) in r.deregister(&[t]).await? {
                    svc.push_event(deregistered_event(name, n, &arn), now);
                }
                let deployment = of(t);
                let deployment = if deployment.is_empty() {
                    primary_id.clone()
                } else {
                    deployment
                };
                svc.push_event(
                    unhealthy_event(name, &deployment, &target.id, target.port, &tg, &why),
                    now,
                );
                self.request_stop(
                    cluster,
                    t,
                    TaskStopCode::ServiceSchedulerInitiated,
                    &elb_health_stop_reason(&tg),
                    false,
                )
                .await?;
                stopping.insert(t.berth.id.clone());
            }
        }
        // Tasks draining are stopped when their delay has passed.
        let (drained, still_draining) = svc.berth.take_drained(&tasks, now);
        if let Some(until) = still_draining {
            wake_at(until);
        }
        for d in &drained {
            if let Some(t) = tasks.iter().find(|t| t.berth.id == d.task_id) {
                self.request_stop(cluster, t, TaskStopCode::ServiceSchedulerInitiated, &d.reason, false)
                    .await?;
                stopping.insert(t.berth.id.clone());
            }
        }
        let draining_ids: BTreeSet<String> = svc.berth.draining_tasks.iter().map(|d| d.task_id.clone()).collect();

        // 4. The step.
        let primary = svc.primary().cloned();
        let primary_id = primary.as_ref().map(|p| p.id.clone()).unwrap_or_default();
        let instance_ok: BTreeMap<&str, bool> = state
            .instances
            .iter()
            .map(|(i, _)| {
                (
                    i.container_instance_arn.as_str(),
                    i.status == ContainerInstanceStatus::Active,
                )
            })
            .collect();
        let active: Vec<&TaskRecord> = tasks
            .iter()
            .copied()
            .filter(|t| {
                t.desired_status == TaskStatus::Running
                    && !stopping.contains(&t.berth.id)
                    && !draining_ids.contains(&t.berth.id)
            })
            .collect();
        // Tasks of a FAILED deployment never count as healthy: they go
        // first, and the minimum is kept with the others.
        let failed_deployments: BTreeSet<String> = svc
            .deployments
            .iter()
            .filter(|d| d.rollout_state == RolloutState::Failed)
            .map(|d| d.id.clone())
            .collect();
        let view = |t: &TaskRecord| TaskState {
            id: t.berth.id.clone(),
            primary: of(t) == primary_id,
            health: if failed_deployments.contains(&of(t)) {
                health_of(t).min(TaskHealth::Running)
            } else {
                health_of(t)
            },
            // A task waiting for its capacity provider's hosts is on no
            // instance yet, and not draining from one.
            draining: !t.awaits_capacity()
                && !t
                    .container_instance_arn
                    .as_deref()
                    .is_some_and(|a| instance_ok.get(a).copied().unwrap_or(false)),
            protected: t.berth.protected_at(now),
        };
        // The service looks again when a protection ends.
        for u in active
            .iter()
            .filter_map(|t| t.berth.protected_until)
            .filter(|u| *u > now)
        {
            wake_at(u);
        }
        let throttled = svc.berth.throttled_until.is_some_and(|u| u > now);
        if let Some(u) = svc.berth.throttled_until.filter(|u| *u > now) {
            wake_at(u);
        }
        let can_start = svc.status == ServiceStatus::Active
            && !throttled
            && primary
                .as_ref()
                .is_some_and(|p| p.rollout_state != RolloutState::Failed);
        let config = svc.deployment_configuration.clone();
        let mut started: Vec<TaskRecord> = vec![];
        let mut placement_event: Option<String> = None;
        let stop_ids: Vec<String>;
        let mut daemon_complete = true;
        let mut daemon_desired = 0i64;
        if svc.is_daemon() && svc.status == ServiceStatus::Active {
            // The instances and their scheduler views as one snapshot.
            let placement = self.view.placement_state(cluster);
            let views = &placement.views;
            let constraints: Vec<berth_scheduler::Expr> = primary
                .as_ref()
                .map(|_| {
                    svc.placement_constraints
                        .iter()
                        .filter_map(|c| serde_json::from_value::<PlacementConstraint>(c.clone()).ok())
                        .filter_map(|c| c.expression)
                        .filter_map(|e| berth_scheduler::parse_expression(&e).ok())
                        .collect()
                })
                .unwrap_or_default();
            let instances: Vec<DaemonInstance> = placement
                .instances
                .iter()
                .zip(views)
                .map(|((i, _), v)| DaemonInstance {
                    id: i.berth.id.clone(),
                    eligible: i.status == ContainerInstanceStatus::Active && constraints.iter().all(|e| e.matches(v)),
                    tasks: active
                        .iter()
                        .filter(|t| t.container_instance_arn.as_deref() == Some(&i.container_instance_arn))
                        .map(|t| view(t))
                        .collect(),
                })
                .collect();
            daemon_desired = instances.iter().filter(|i| i.eligible).count() as i64;
            for i in instances.iter().filter(|i| i.eligible) {
                if !i.tasks.iter().any(|t| t.primary && t.health == TaskHealth::Healthy)
                    || i.tasks.iter().any(|t| !t.primary)
                {
                    daemon_complete = false;
                }
            }
            // Tasks on instances that are gone entirely.
            let known: BTreeSet<&str> = state
                .instances
                .iter()
                .map(|(i, _)| i.container_instance_arn.as_str())
                .collect();
            let step = deploy_math::daemon_step(
                &instances,
                config.minimum_healthy_percent as u32,
                config.maximum_percent as u32,
                can_start,
            );
            let mut stops = step.stop;
            stops.extend(
                active
                    .iter()
                    .filter(|t| !t.container_instance_arn.as_deref().is_some_and(|a| known.contains(a)))
                    .map(|t| t.berth.id.clone()),
            );
            // Protected tasks stay until their protection ends.
            stops.retain(|id| !active.iter().any(|t| &t.berth.id == id && t.berth.protected_at(now)));
            stop_ids = stops;
            if let Some(p) = &primary {
                for inst in &step.start_on {
                    let (mut t, ev) = self.start_service_tasks(&svc, p, 1, Some(inst)).await?;
                    started.append(&mut t);
                    if ev.is_some() {
                        placement_event = ev;
                    }
                }
            }
        } else {
            // A traffic-shifting deployment paused before SCALE_UP (a
            // lifecycle hook) starts no task yet.
            let desired = if svc.status == ServiceStatus::Active && !crate::service_shift::holding_green(&svc) {
                svc.desired_count.max(0) as u32
            } else {
                0
            };
            // While traffic shifts, green scales up to the desired count
            // beside blue, and blue keeps its tasks until the clean-up.
            let shifting = crate::service_shift::shifting(&svc);
            let limits = Limits {
                desired,
                minimum_healthy_percent: if shifting {
                    100
                } else {
                    config.minimum_healthy_percent as u32
                },
                maximum_percent: if shifting { 200 } else { config.maximum_percent as u32 },
            };
            let views: Vec<TaskState> = active.iter().map(|t| view(t)).collect();
            let step = deploy_math::rolling_step(limits, &views, can_start);
            stop_ids = if shifting {
                step.stop
                    .into_iter()
                    .filter(|id| views.iter().any(|v| &v.id == id && v.primary))
                    .collect()
            } else {
                step.stop
            };
            if step.start > 0
                && let Some(p) = &primary
            {
                let (t, ev) = self.start_service_tasks(&svc, p, step.start, None).await?;
                started = t;
                placement_event = ev;
            }
        }
        let mut to_drain: Vec<&TaskRecord> = vec![];
        for id in &stop_ids {
            if let Some(t) = active.iter().find(|t| &t.berth.id == id) {
                let reason = format!("Scaling activity initiated by (deployment {primary_id})");
                // A task registered in a target group is deregistered first
                // and stopped once its connections have drained.
                if let Some(r) = &lbs
                    && !r.registered(t).is_empty()
                {
                    let groups: Vec<String> = r.registered(t).into_iter().map(|(g, _)| g).collect();
                    svc.berth.draining_tasks.push(DrainingTask {
                        task_id: t.berth.id.clone(),
                        until: now + r.drain_delay(&groups),
                        reason,
                    });
                    wake_at(now + r.drain_delay(&groups));
                    to_drain.push(t);
                    continue;
                }
                self.request_stop(cluster, t, TaskStopCode::ServiceSchedulerInitiated, &reason, false)
                    .await?;
            }
        }
        if let Some(r) = &lbs {
            if !to_drain.is_empty() {
                svc.push_event(draining_event(name, to_drain.len()), now);
                for (arn, n) in r.deregister(&to_drain).await? {
                    svc.push_event(deregistered_event(name, n, &arn), now);
                }
            }
            // Tasks no longer meant to run (stopped on their own, stopped by
            // StopTask) leave the groups; so do all from groups given up.
            let leaving: Vec<&TaskRecord> = tasks
                .iter()
                .copied()
                .filter(|t| {
                    (t.desired_status != TaskStatus::Running || t.last_status == TaskStatus::Stopped)
                        && !draining_ids.contains(&t.berth.id)
                })
                .collect();
            for (arn, n) in r.deregister(&leaving).await? {
                svc.push_event(deregistered_event(name, n, &arn), now);
            }
            if !r.retired.is_empty() {
                let given_up = r.retired_only();
                for (arn, n) in given_up.deregister(&tasks).await? {
                    svc.push_event(deregistered_event(name, n, &arn), now);
                }
                svc.berth.retired_load_balancers.clear();
            }
            // Running tasks meant to run are registered.
            let serving: Vec<&TaskRecord> = active
                .iter()
                .copied()
                .filter(|t| !stop_ids.contains(&t.berth.id))
                .collect();
            for (arn, n) in r.register_missing(&serving).await? {
                svc.push_event(registered_event(name, n, &arn), now);
            }
            // Target health is not in the store: look again soon while a
            // task is not healthy yet, and now and then for failing ones.
            let settling = serving
                .iter()
                .any(|t| t.last_status == TaskStatus::Running && !r.healthy(t));
            wake_at(now + if settling { 1.0 } else { 3.0 });
        }
        // Tasks are said stopped when they are asked to stop: at once, or
        // once drained.
        let stopped_now: Vec<&String> = stop_ids
            .iter()
            .filter(|i| !to_drain.iter().any(|t| &t.berth.id == *i))
            .chain(drained.iter().map(|d| &d.task_id))
            .collect();
        if !stopped_now.is_empty() {
            svc.push_event(
                format!(
                    "(service {name}) has stopped {} running tasks: {}.",
                    stopped_now.len(),
                    stopped_now
                        .iter()
                        .map(|i| format!("(task {i})"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                now,
            );
        }
        if !started.is_empty() {
            svc.push_event(
                format!(
                    "(service {name}) has started {} tasks: {}.",
                    started.len(),
                    started
                        .iter()
                        .map(|t| format!("(task {})", t.berth.id))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                now,
            );
        }
        let awaits_capacity = placement_event.is_some();
        if let Some(msg) = placement_event {
            let repeat = cfg.event_repeat.as_secs_f64();
            if !svc
                .events
                .iter()
                .any(|e| e.message == msg && now - e.created_at < repeat)
            {
                svc.push_event(msg, now);
            }
            wake_at(now + cfg.resync.min(cfg.capacity_retry).as_secs_f64());
        }
        let acted = !stop_ids.is_empty() || !started.is_empty() || !stopping.is_empty() || !draining_ids.is_empty();

        // 4b. The traffic shift of a BLUE_GREEN/LINEAR/CANARY deployment.
        let green_ready = !svc.is_daemon()
            && active
                .iter()
                .filter(|t| {
                    of(t) == primary_id && !stop_ids.contains(&t.berth.id) && health_of(t) == TaskHealth::Healthy
                })
                .count() as i64
                >= svc.desired_count;
        if let Some(w) = self.advance_traffic_shift(&mut svc, name, green_ready, now).await? {
            wake_at(w);
        }

        // 5. Counts (ECS counts tasks by their last status).
        let mut all: Vec<&TaskRecord> = tasks.clone();
        all.extend(started.iter());
        let count = |pred: &dyn Fn(&TaskRecord) -> bool, status: &[TaskStatus]| {
            all.iter().filter(|t| pred(t) && t.last_status.is_any(status)).count() as i64
        };
        svc.running_count = count(&|_| true, &[TaskStatus::Running]);
        svc.pending_count = count(&|_| true, &TaskStatus::PENDING);
        if svc.is_daemon() && svc.status == ServiceStatus::Active {
            svc.desired_count = daemon_desired;
        }
        let service_desired = svc.desired_count;
        for d in &mut svc.deployments {
            let id = d.id.clone();
            let running = count(&|t| of(t) == id, &[TaskStatus::Running]);
            let pending = count(&|t| of(t) == id, &TaskStatus::PENDING);
            if (running, pending) != (d.running_count, d.pending_count) {
                d.running_count = running;
                d.pending_count = pending;
                d.updated_at = now;
            }
            if d.status == DeploymentStatus::Primary && d.desired_count != service_desired {
                d.desired_count = service_desired;
                d.updated_at = now;
            }
        }

        // 6. Old deployments whose tasks are all stopped end.
        let live_of = |id: &str| all.iter().any(|t| of(t) == id && t.last_status != TaskStatus::Stopped);
        let ended: Vec<String> = svc
            .deployments
            .iter()
            .filter(|d| d.status != DeploymentStatus::Primary && !live_of(&d.id))
            .map(|d| d.id.clone())
            .collect();
        for id in ended {
            svc.retire(&id, now);
        }

        // 7. Rollout complete, steady state.
        let healthy_primary = active
            .iter()
            .filter(|t| of(t) == primary_id && health_of(t) == TaskHealth::Healthy)
            .count() as i64;
        let only_primary_left = svc.deployments.len() == 1;
        let settled = !acted
            && only_primary_left
            && svc.status == ServiceStatus::Active
            && if svc.is_daemon() {
                daemon_complete && healthy_primary == daemon_desired
            } else {
                healthy_primary == svc.desired_count && svc.running_count == svc.desired_count
            };
        if settled {
            let mut completed = None;
            // With deployment alarms the steady deployment is watched for
            // its bake before it completes.
            let baking = match (alarm_watch.bake_secs, svc.primary_mut()) {
                (Some(bake), Some(p)) if p.rollout_state == RolloutState::InProgress => {
                    let until = *p.berth.alarm_bake_until.get_or_insert(now + bake);
                    (now < until).then_some(until)
                }
                _ => None,
            };
            if let Some(until) = baking {
                wake_at(until);
            } else if let Some(p) = svc.primary_mut()
                && p.rollout_state == RolloutState::InProgress
            {
                p.rollout_state = RolloutState::Completed.into();
                p.rollout_state_reason = format!("ECS deployment {} completed.", p.id);
                p.updated_at = now;
                p.berth.finished_at = Some(now);
                completed = Some((p.id.clone(), p.task_definition.clone()));
            }
            if let Some((id, td)) = completed {
                svc.push_event(format!("(service {name}) (deployment {id}) deployment completed."), now);
                if let Some(from) = svc.primary().and_then(|p| p.berth.rollback_from.clone()) {
                    svc.push_event(
                        format!("(service {name}) (deployment {from}) rolled back to deployment {id}."),
                        now,
                    );
                }
                svc.berth.last_completed = Some((id, td));
                tracing::info!(service = %svc.service_arn, "deployment completed");
            }
            if !svc.berth.steady
                && svc
                    .primary()
                    .is_some_and(|p| p.rollout_state == RolloutState::Completed)
            {
                svc.berth.steady = true;
                svc.push_event(format!("(service {name}) has reached a steady state."), now);
            }
        } else if acted {
            svc.berth.steady = false;
        }

        // 8. A deleted service ends once its tasks are gone.
        if svc.status == ServiceStatus::Draining && !all.iter().any(|t| t.last_status != TaskStatus::Stopped) {
            svc.status = ServiceStatus::Inactive.into();
            svc.running_count = 0;
            svc.pending_count = 0;
            tracing::info!(service = %svc.service_arn, "service is INACTIVE");
        }

        // 9. Write back when anything changed.
        if serde_json::to_value(&svc).unwrap_or_default() != before && !self.put_at_revision(&key, rev, &svc).await? {
            // Changed meanwhile (UpdateService): what this pass did — its
            // events, the tasks it began draining — is kept, and the rest
            // is derived again at once.
            self.keep_pass(&key, &before, &svc).await?;
            return Ok(Pass {
                wake: Some(now),
                awaits_capacity,
            });
        }
        Ok(Pass { wake, awaits_capacity })
    }

    /// After a lost compare-and-swap: adds the events and draining tasks
    /// the pass recorded to the service as it is now.
    pub(crate) async fn keep_pass(
        &self,
        key: &str,
        before: &serde_json::Value,
        pass: &ServiceRecord,
    ) -> Result<(), AwsError> {
        let seen: BTreeSet<&str> = before["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["id"].as_str())
            .collect();
        let events: Vec<_> = pass.events.iter().filter(|e| !seen.contains(e.id.as_str())).collect();
        let draining: Vec<&DrainingTask> = pass
            .berth
            .draining_tasks
            .iter()
            .filter(|d| {
                !before["berth"]["drainingTasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|b| b["taskId"] == d.task_id.as_str())
            })
            .collect();
        if events.is_empty() && draining.is_empty() {
            return Ok(());
        }
        for _ in 0..3 {
            let Some((mut now, rev)) = berth_store::typed::get::<ServiceRecord>(&*self.store, key)
                .await
                .map_err(AwsError::state_store)?
            else {
                return Ok(());
            };
            for e in events.iter().rev() {
                now.events.insert(0, (*e).clone());
            }
            now.events.truncate(berth_ecs_model::service::MAX_EVENTS);
            for d in &draining {
                if !now.berth.draining_tasks.iter().any(|x| x.task_id == d.task_id) {
                    now.berth.draining_tasks.push((*d).clone());
                }
            }
            if self.put_at_revision(key, rev, &now).await? {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_say_which_services_to_look_at_and_whether_capacity_may_have_freed() {
        let t = |k: &str, v: &str| touched(&EventKind::Put, k, v.as_bytes());
        let svc = |c: &str, n: &str| Touch::Service((c.into(), n.into()));
        assert_eq!(t("ecs/services/c/web", "{}"), (svc("c", "web"), false));
        assert_eq!(
            t(
                "ecs/tasks/c/abc",
                r#"{"group": "service:web", "lastStatus": "RUNNING"}"#
            ),
            (svc("c", "web"), false)
        );
        // A task stopping frees capacity other clusters' services may wait for.
        assert_eq!(
            t(
                "ecs/tasks/c/abc",
                r#"{"group": "service:web", "lastStatus": "STOPPED"}"#
            ),
            (svc("c", "web"), true)
        );
        assert_eq!(
            t("ecs/tasks/c/abc", r#"{"group": "family:web", "lastStatus": "STOPPED"}"#),
            (Touch::None, true)
        );
        assert_eq!(t("ecs/tasks/c/abc", r#"{"group": "family:web"}"#), (Touch::None, false));
        assert_eq!(t("ecs/instances/c/i", "{}"), (Touch::Cluster("c".into()), true));
        assert_eq!(t("ecs/clusters/c", "{}"), (Touch::None, false));
        assert_eq!(touched(&EventKind::Delete, "ecs/tasks/c/abc", b""), (Touch::None, true));
    }
}
