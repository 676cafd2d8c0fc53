//! The service controller's pass for services using the EXTERNAL
//! deployment controller: each task set runs `ceil(desiredCount × scale)`
//! tasks of its own revision (started by its id), registered in its target
//! group once RUNNING (the `service_targets.rs` machinery, each task set's
//! tasks in its own group only); tasks beyond its count are deregistered,
//! drained and stopped; tasks their group finds unhealthy are replaced; a DRAINING task set is gone once its tasks are.
//! Its counts and stability are written back with the service. Everything
//! is derived from the store and the target groups on each pass, so a
//! restarted server carries on.

use crate::Ecs;
use crate::service_controller::{HEALTH_CHECK_REASON, ServiceControllerConfig};
use crate::service_targets::Registrations;
use crate::services::{DeploymentInternal, DeploymentRecord, ServiceRecord};
use crate::tasks::TaskRecord;
use berth_core::time::now_epoch;
use berth_ecs_model::instance::InstanceRecord;
use berth_ecs_model::service::{
    DrainingTask, TaskSetRecord, TaskSetStatus, deregistered_event, draining_event, elb_health_stop_reason,
    registered_event, unhealthy_event,
};
use berth_ecs_model::{DeploymentStatus, HealthStatus, RolloutState, ServiceStatus, TaskStatus, TaskStopCode};
use berth_proto::AwsError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Which of a task set's tasks go when it runs more than it wants (pure):
/// the ones not running yet first, then the newest.
fn excess(tasks: &[&TaskRecord], want: usize) -> Vec<String> {
    let mut order: Vec<&TaskRecord> = tasks.to_vec();
    order.sort_by(|a, b| {
        let running = |t: &TaskRecord| t.last_status == TaskStatus::Running;
        running(a).cmp(&running(b)).then(b.created_at.total_cmp(&a.created_at))
    });
    order
        .iter()
        .take(tasks.len().saturating_sub(want))
        .map(|t| t.berth.id.clone())
        .collect()
}

/// Who an event about a target group speaks for (pure): the task set
/// whose group it is, as ECS names it (`SERVICE, taskSet ID`), else the
/// service.
fn speaker(service: &str, task_sets: &[TaskSetRecord], tg_arn: &str) -> String {
    match task_sets
        .iter()
        .find(|t| t.load_balancers.iter().any(|lb| lb.target_group_arn == tg_arn))
    {
        Some(t) => format!("{service}, taskSet {}", t.id),
        None => service.to_string(),
    }
}

/// The deployment a task set's tasks are started as (its id is their
/// `startedBy`).
fn as_deployment(t: &TaskSetRecord) -> DeploymentRecord {
    DeploymentRecord {
        id: t.id.clone(),
        status: DeploymentStatus::Primary.into(),
        task_definition: t.task_definition.clone(),
        desired_count: t.computed_desired_count,
        pending_count: t.pending_count,
        running_count: t.running_count,
        failed_tasks: 0,
        created_at: t.created_at,
        updated_at: t.updated_at,
        capacity_provider_strategy: t.capacity_provider_strategy.clone(),
        launch_type: t.launch_type.clone(),
        platform_version: t.platform_version.clone(),
        platform_family: None,
        network_configuration: t.network_configuration.clone(),
        rollout_state: RolloutState::InProgress.into(),
        rollout_state_reason: String::new(),
        berth: DeploymentInternal::default(),
    }
}

impl Ecs {
    /// The target groups of an EXTERNAL service's task sets, each task
    /// set's tasks in its own group only; None without any.
    async fn task_set_registrations(
        &self,
        svc: &ServiceRecord,
        instances: &[(Arc<InstanceRecord>, berth_store::Revision)],
    ) -> Result<Option<Registrations>, AwsError> {
        let Some(registry) = self.targets.clone() else {
            return Ok(None);
        };
        let mut groups = vec![];
        let mut only = BTreeMap::new();
        for t in &svc.task_sets {
            for lb in &t.load_balancers {
                groups.push((lb.clone(), registry.target_group(&lb.target_group_arn).await?));
                only.insert(t.id.clone(), lb.target_group_arn.clone());
            }
        }
        if groups.is_empty() {
            return Ok(None);
        }
        Ok(Some(Registrations {
            registry,
            groups,
            retired: vec![],
            instances: instances
                .iter()
                .map(|(i, _)| (i.container_instance_arn.clone(), i.ec2_instance_id.clone()))
                .collect(),
            only,
        }))
    }

    /// One reconcile pass of an EXTERNAL service (`rev`: its record's
    /// revision). Returns when it wants to look again.
    pub(crate) async fn reconcile_task_sets(
        &self,
        cluster: &str,
        name: &str,
        mut svc: ServiceRecord,
        rev: i64,
        cfg: &ServiceControllerConfig,
    ) -> Result<Option<f64>, AwsError> {
        let key = crate::keys::service(cluster, name);
        let before = serde_json::to_value(&svc).unwrap_or_default();
        let state = self
            .synced_view()
            .await?
            .service_state(cluster, &format!("service:{name}"));
        let now = now_epoch();
        let mut wake: Option<f64> = None;
        let mut wake_at = |t: f64| wake = Some(wake.map_or(t, |w: f64| w.min(t)));
        let tasks: Vec<&TaskRecord> = state.tasks.iter().map(|t| &**t).collect();
        let lbs = self.task_set_registrations(&svc, &state.instances).await?;
        let of = |t: &TaskRecord| t.started_by.clone().unwrap_or_default();
        let healthy = |t: &TaskRecord| {
            t.last_status == TaskStatus::Running
                && (t.berth.health_checked.is_empty() || t.health_status == HealthStatus::Healthy)
                && lbs.as_ref().is_none_or(|r| r.healthy(t))
        };
        let known: BTreeSet<String> = svc.task_sets.iter().map(|t| t.id.clone()).collect();

        // Tasks whose container health check failed are replaced after the
        // grace period; tasks draining stop when their delay has passed.
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
            } else {
                wake_at(since + grace);
            }
        }
        // Tasks whose target their group finds unhealthy: deregistered,
        // then stopped (the task set starts a replacement).
        if let Some(r) = &lbs {
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
                    svc.push_event(deregistered_event(&speaker(name, &svc.task_sets, &arn), n, &arn), now);
                }
                svc.push_event(
                    unhealthy_event(
                        &speaker(name, &svc.task_sets, &tg),
                        &of(t),
                        &target.id,
                        target.port,
                        &tg,
                        &why,
                    ),
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
        let (drained, still_draining) = svc.berth.take_drained(&tasks, now);
        if let Some(until) = still_draining {
            wake_at(until);
        }
        // Tasks said stopped in this pass, by task set: at once, or once
        // drained.
        let mut stopped_now: Vec<&TaskRecord> = vec![];
        for d in &drained {
            if let Some(t) = tasks.iter().find(|t| t.berth.id == d.task_id) {
                self.request_stop(cluster, t, TaskStopCode::ServiceSchedulerInitiated, &d.reason, false)
                    .await?;
                stopping.insert(t.berth.id.clone());
                stopped_now.push(t);
            }
        }
        let draining_ids: BTreeSet<String> = svc.berth.draining_tasks.iter().map(|d| d.task_id.clone()).collect();
        let active: Vec<&TaskRecord> = tasks
            .iter()
            .copied()
            .filter(|t| {
                t.desired_status == TaskStatus::Running
                    && !stopping.contains(&t.berth.id)
                    && !draining_ids.contains(&t.berth.id)
            })
            .collect();

        // Each task set's step: start what is missing, stop what is over.
        let desired = if svc.status == ServiceStatus::Active {
            svc.desired_count
        } else {
            0
        };
        let mut started: Vec<TaskRecord> = vec![];
        let mut stop_ids: Vec<String> = vec![];
        let mut placement_event = None;
        for ts in svc.task_sets.clone() {
            let want = ts.wanted(desired).max(0) as usize;
            let mine: Vec<&TaskRecord> = active.iter().copied().filter(|t| of(t) == ts.id).collect();
            if mine.len() < want && svc.status == ServiceStatus::Active {
                let n = (want - mine.len()) as u32;
                // Fargate places its tasks itself: the service's placement
                // strategy is for its EC2 task sets.
                let fargate = ts.launch_type.as_deref() == Some("FARGATE") || !ts.capacity_provider_strategy.is_empty();
                let placed_as = if fargate {
                    let mut s = svc.clone();
                    s.placement_strategy.clear();
                    s
                } else {
                    svc.clone()
                };
                let (mut t, ev) = self
                    .start_service_tasks(&placed_as, &as_deployment(&ts), n, None)
                    .await?;
                started.append(&mut t);
                if ev.is_some() {
                    placement_event = ev;
                }
            } else if mine.len() > want {
                stop_ids.extend(excess(&mine, want));
            }
        }
        // Tasks of no task set (it was removed) stop too.
        stop_ids.extend(
            active
                .iter()
                .filter(|t| !known.contains(&of(t)))
                .map(|t| t.berth.id.clone()),
        );

        let mut to_drain: Vec<&TaskRecord> = vec![];
        for id in &stop_ids {
            let Some(t) = active.iter().find(|t| &t.berth.id == id) else {
                continue;
            };
            let reason = format!("Scaling activity initiated by (deployment {})", of(t));
            if let Some(r) = &lbs
                && !r.registered(t).is_empty()
            {
                let groups: Vec<String> = r.registered(t).into_iter().map(|(g, _)| g).collect();
                let until = now + r.drain_delay(&groups);
                svc.berth.draining_tasks.push(DrainingTask {
                    task_id: t.berth.id.clone(),
                    until,
                    reason,
                });
                wake_at(until);
                to_drain.push(t);
                continue;
            }
            self.request_stop(cluster, t, TaskStopCode::ServiceSchedulerInitiated, &reason, false)
                .await?;
            stopped_now.push(t);
        }
        if let Some(r) = &lbs {
            if !to_drain.is_empty() {
                svc.push_event(draining_event(name, to_drain.len()), now);
                for (arn, n) in r.deregister(&to_drain).await? {
                    svc.push_event(deregistered_event(&speaker(name, &svc.task_sets, &arn), n, &arn), now);
                }
            }
            let leaving: Vec<&TaskRecord> = tasks
                .iter()
                .copied()
                .filter(|t| {
                    (t.desired_status != TaskStatus::Running || t.last_status == TaskStatus::Stopped)
                        && !draining_ids.contains(&t.berth.id)
                })
                .collect();
            for (arn, n) in r.deregister(&leaving).await? {
                svc.push_event(deregistered_event(&speaker(name, &svc.task_sets, &arn), n, &arn), now);
            }
            let serving: Vec<&TaskRecord> = active
                .iter()
                .copied()
                .filter(|t| !stop_ids.contains(&t.berth.id) && known.contains(&of(t)))
                .collect();
            for (arn, n) in r.register_missing(&serving).await? {
                svc.push_event(registered_event(&speaker(name, &svc.task_sets, &arn), n, &arn), now);
            }
            let settling = serving
                .iter()
                .any(|t| t.last_status == TaskStatus::Running && !r.healthy(t));
            wake_at(now + if settling { 1.0 } else { 3.0 });
        }
        // ECS names the task set in its events: `(service S, taskSet ID)`.
        let mut by_set: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &started {
            by_set.entry(of(t)).or_default().push(format!("(task {})", t.berth.id));
        }
        for (id, list) in by_set {
            svc.push_event(
                format!(
                    "(service {name}, taskSet {id}) has started {} tasks: {}.",
                    list.len(),
                    list.join(" ")
                ),
                now,
            );
        }
        let mut by_set: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &stopped_now {
            by_set.entry(of(t)).or_default().push(format!("(task {})", t.berth.id));
        }
        for (id, list) in by_set {
            svc.push_event(
                format!(
                    "(service {name}, taskSet {id}) has stopped {} running tasks: {}.",
                    list.len(),
                    list.join(" ")
                ),
                now,
            );
        }
        if let Some(msg) = placement_event {
            if !svc
                .events
                .iter()
                .any(|e| e.message == msg && now - e.created_at < cfg.event_repeat.as_secs_f64())
            {
                svc.push_event(msg, now);
            }
            wake_at(now + cfg.resync.as_secs_f64().min(10.0));
        }

        // Counts and stability; DRAINING task sets without tasks are gone.
        let mut all: Vec<&TaskRecord> = tasks.clone();
        all.extend(started.iter());
        let live = |id: &str| all.iter().any(|t| of(t) == id && t.last_status != TaskStatus::Stopped);
        for ts in &mut svc.task_sets {
            let id = ts.id.clone();
            // ECS counts tasks by their last status: those asked to stop
            // count until they have.
            let serving = |t: &&&TaskRecord| of(t) == id;
            let running = all
                .iter()
                .filter(serving)
                .filter(|t| t.last_status == TaskStatus::Running)
                .count();
            let pending = all
                .iter()
                .filter(serving)
                .filter(|t| t.last_status.is_any(&TaskStatus::PENDING))
                .count();
            let healthy_n = all.iter().filter(serving).filter(|t| healthy(t)).count();
            ts.observe(running as i64, pending as i64, healthy_n as i64, desired, now);
        }
        svc.task_sets
            .retain(|t| t.status != TaskSetStatus::Draining || live(&t.id));
        svc.running_count = all.iter().filter(|t| t.last_status == TaskStatus::Running).count() as i64;
        svc.pending_count = all
            .iter()
            .filter(|t| t.last_status.is_any(&TaskStatus::PENDING))
            .count() as i64;
        let acted = !stop_ids.is_empty() || !started.is_empty() || !stopping.is_empty();
        let steady = !acted
            && svc.status == ServiceStatus::Active
            && svc
                .task_sets
                .iter()
                .all(|t| t.stability_status == berth_ecs_model::service::StabilityStatus::SteadyState);
        if steady && !svc.berth.steady {
            svc.berth.steady = true;
            svc.push_event(format!("(service {name}) has reached a steady state."), now);
        } else if !steady {
            svc.berth.steady = false;
        }
        // A deleted service ends once its tasks are gone.
        if svc.status == ServiceStatus::Draining && !all.iter().any(|t| t.last_status != TaskStatus::Stopped) {
            svc.status = ServiceStatus::Inactive.into();
            svc.running_count = 0;
            svc.pending_count = 0;
            svc.task_sets.clear();
        }
        if serde_json::to_value(&svc).unwrap_or_default() != before && !self.put_at_revision(&key, rev, &svc).await? {
            // Changed meanwhile (a task set operation): what this pass did
            // is kept — its events and the tasks it began draining — and
            // the counts are derived again at once.
            self.keep_pass(&key, &before, &svc).await?;
            return Ok(Some(now));
        }
        Ok(wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, status: TaskStatus, created: f64) -> TaskRecord {
        let mut t: TaskRecord = serde_json::from_value(serde_json::json!({
            "taskArn": "arn:task/c/t1", "clusterArn": "c", "taskDefinitionArn": "td",
            "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
            "cpu": "0", "memory": "0", "createdAt": 0.0, "group": "service:web", "launchType": "EC2",
            "version": 1, "overrides": {}, "healthStatus": "UNKNOWN", "containers": [],
            "berth": {"id": "t1", "cluster": "c"}
        }))
        .expect("a task record");
        t.berth.id = id.into();
        t.last_status = status.into();
        t.created_at = created;
        t
    }

    #[test]
    fn pending_then_newest_tasks_go_first() {
        let a = task("a", TaskStatus::Running, 1.0);
        let b = task("b", TaskStatus::Running, 2.0);
        let c = task("c", TaskStatus::Pending, 0.5);
        assert_eq!(excess(&[&a, &b, &c], 1), vec!["c", "b"]);
        assert!(excess(&[&a], 1).is_empty());
        assert_eq!(excess(&[&a, &b], 0).len(), 2);
    }

    #[test]
    fn events_name_the_task_set_of_a_group() {
        let ts: TaskSetRecord = serde_json::from_value(serde_json::json!({
            "id": "ecs-svc/1", "taskSetArn": "a", "serviceArn": "s", "clusterArn": "c", "status": "ACTIVE",
            "taskDefinition": "td", "computedDesiredCount": 0, "pendingCount": 0, "runningCount": 0,
            "createdAt": 0.0, "updatedAt": 0.0, "scale": {"value": 100.0, "unit": "PERCENT"},
            "stabilityStatus": "STEADY_STATE", "stabilityStatusAt": 0.0,
            "loadBalancers": [{"targetGroupArn": "tg-1", "containerName": "web", "containerPort": 80}]
        }))
        .expect("a task set record");
        assert_eq!(
            speaker("web", std::slice::from_ref(&ts), "tg-1"),
            "web, taskSet ecs-svc/1"
        );
        assert_eq!(speaker("web", &[ts], "tg-2"), "web");
    }
}
