//! The service controller's part for services with `loadBalancers`: which
//! target each task is in each target group (the container instance's
//! `ec2InstanceId` and the host port its container binds the container
//! port to, or an awsvpc task's own address and the container port),
//! whether its targets are healthy, and the registrations and
//! deregistrations a reconcile pass makes. Nothing is remembered in memory:
//! every pass reads the target groups (through the region's
//! [`TargetRegistry`]) and the task records, so a restarted server derives
//! the same registrations again.

use crate::Ecs;
use crate::target_registry::{TargetGroupState, TargetRef, TargetRegistry, TargetState};
use crate::tasks::TaskRecord;
use berth_ecs_model::TaskStatus;
use berth_ecs_model::instance::InstanceRecord;
use berth_ecs_model::service::{ServiceLoadBalancer, ServiceRecord, host_port_of};
use berth_proto::AwsError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A service's target groups as one reconcile pass sees them.
pub(crate) struct Registrations {
    pub registry: Arc<dyn TargetRegistry>,
    /// The service's load balancers with their groups (None: the group is
    /// gone).
    pub groups: Vec<(ServiceLoadBalancer, Option<TargetGroupState>)>,
    /// The load balancers the service gave up, with their groups.
    pub retired: Vec<(ServiceLoadBalancer, Option<TargetGroupState>)>,
    /// `ec2InstanceId` by container instance ARN.
    pub instances: BTreeMap<String, String>,
    /// BLUE_GREEN/LINEAR/CANARY: the one group each deployment's tasks are
    /// in (by deployment id); tasks of other deployments are in all.
    pub only: BTreeMap<String, String>,
}

/// One of a task's targets: its load balancer, the group, the target.
pub(crate) type TaskTarget<'a> = (&'a ServiceLoadBalancer, &'a Option<TargetGroupState>, TargetRef);

/// The target a task is for a load balancer (pure): an awsvpc task (its
/// container has a network interface) is its own address and the
/// container port, as in a target group of type `ip`; any other task is
/// its container instance's `ec2InstanceId` and the host port its
/// container binds the container port to, once it has one.
pub(crate) fn target_of(
    t: &TaskRecord,
    lb: &ServiceLoadBalancer,
    instances: &BTreeMap<String, String>,
) -> Option<TargetRef> {
    let container = t.containers.iter().find(|c| c.name == lb.container_name)?;
    if let Some(ni) = container.network_interfaces.first() {
        return Some(TargetRef {
            id: ni.private_ipv4_address.clone(),
            port: i32::try_from(lb.container_port).ok()?,
        })
        .filter(|r| !r.id.is_empty());
    }
    let instance = instances.get(t.container_instance_arn.as_deref()?)?;
    let port = host_port_of(&container.network_bindings, lb.container_port)?;
    Some(TargetRef {
        id: instance.clone(),
        port,
    })
}

/// A target's state in a group (None: the group does not know it).
pub(crate) fn state_in(group: &Option<TargetGroupState>, target: &TargetRef) -> Option<TargetState> {
    group
        .as_ref()?
        .targets
        .iter()
        .find(|h| &h.target == target)
        .map(|h| h.state)
}

impl Registrations {
    /// Whether the task belongs in the group of `lb`.
    fn belongs(&self, t: &TaskRecord, lb: &ServiceLoadBalancer) -> bool {
        t.started_by
            .as_ref()
            .and_then(|d| self.only.get(d))
            .is_none_or(|g| g == &lb.target_group_arn)
    }

    /// The task's targets in the service's groups.
    pub fn targets_of<'a>(&'a self, t: &TaskRecord) -> Vec<TaskTarget<'a>> {
        self.groups
            .iter()
            .filter(|(lb, _)| self.belongs(t, lb))
            .filter_map(|(lb, g)| target_of(t, lb, &self.instances).map(|r| (lb, g, r)))
            .collect()
    }

    /// Whether the task counts as healthy for its load balancers: a target
    /// in every group, each `healthy`.
    pub fn healthy(&self, t: &TaskRecord) -> bool {
        self.groups.iter().filter(|(lb, _)| self.belongs(t, lb)).all(|(lb, g)| {
            target_of(t, lb, &self.instances).is_some_and(|r| state_in(g, &r) == Some(TargetState::Healthy))
        })
    }

    /// The first of the task's targets a group found unhealthy, with why.
    pub fn unhealthy(&self, t: &TaskRecord) -> Option<(String, TargetRef, String)> {
        self.targets_of(t).into_iter().find_map(|(lb, g, r)| {
            let h = g.as_ref()?.targets.iter().find(|h| h.target == r)?;
            (h.state == TargetState::Unhealthy).then(|| {
                (
                    lb.target_group_arn.clone(),
                    r.clone(),
                    h.description.clone().unwrap_or_else(|| "Health checks failed".into()),
                )
            })
        })
    }

    /// The task's targets still registered, in the service's groups and in
    /// those it gave up, by group ARN.
    pub fn registered(&self, t: &TaskRecord) -> Vec<(String, TargetRef)> {
        self.groups
            .iter()
            .chain(&self.retired)
            .filter_map(|(lb, g)| {
                let r = target_of(t, lb, &self.instances)?;
                state_in(g, &r)
                    .is_some_and(TargetState::registered)
                    .then(|| (lb.target_group_arn.clone(), r))
            })
            .collect()
    }

    /// The longest deregistration delay of the service's groups (seconds).
    pub fn drain_delay(&self, in_groups: &[String]) -> f64 {
        self.groups
            .iter()
            .chain(&self.retired)
            .filter(|(lb, _)| in_groups.contains(&lb.target_group_arn))
            .filter_map(|(_, g)| g.as_ref())
            .filter(|g| g.facts.has_load_balancer)
            .map(|g| g.deregistration_delay_secs.max(0) as f64)
            .fold(0.0, f64::max)
    }

    /// Registers the targets of `tasks` not registered yet; returns how
    /// many per group ARN.
    pub async fn register_missing(&self, tasks: &[&TaskRecord]) -> Result<Vec<(String, usize)>, AwsError> {
        let mut out = vec![];
        for (lb, g) in &self.groups {
            if g.is_none() {
                continue;
            }
            let mut missing: Vec<TargetRef> = tasks
                .iter()
                .filter(|t| t.last_status == TaskStatus::Running && self.belongs(t, lb))
                .filter_map(|t| target_of(t, lb, &self.instances))
                .filter(|r| !state_in(g, r).is_some_and(TargetState::registered))
                .collect();
            missing.sort();
            missing.dedup();
            if !missing.is_empty() {
                self.registry.register(&lb.target_group_arn, &missing).await?;
                out.push((lb.target_group_arn.clone(), missing.len()));
            }
        }
        Ok(out)
    }

    /// Deregisters the tasks' registered targets; returns how many per
    /// group ARN.
    pub async fn deregister(&self, tasks: &[&TaskRecord]) -> Result<Vec<(String, usize)>, AwsError> {
        let mut by_group: BTreeMap<String, Vec<TargetRef>> = BTreeMap::new();
        for t in tasks {
            for (arn, r) in self.registered(t) {
                by_group.entry(arn).or_default().push(r);
            }
        }
        let mut out = vec![];
        for (arn, mut targets) in by_group {
            targets.sort();
            targets.dedup();
            self.registry.deregister(&arn, &targets).await?;
            out.push((arn, targets.len()));
        }
        Ok(out)
    }

    /// The load balancers the service gave up alone (to deregister its
    /// tasks from them).
    pub fn retired_only(&self) -> Registrations {
        Registrations {
            registry: self.registry.clone(),
            groups: vec![],
            retired: self.retired.clone(),
            instances: self.instances.clone(),
            only: BTreeMap::new(),
        }
    }
}

impl Ecs {
    /// The service's target groups now, or None when it has no load
    /// balancers (or the server has no ELBv2).
    pub(crate) async fn registrations(
        &self,
        svc: &ServiceRecord,
        instances: &[(Arc<InstanceRecord>, berth_store::Revision)],
    ) -> Result<Option<Registrations>, AwsError> {
        let Some(registry) = self.targets.clone() else {
            return Ok(None);
        };
        if svc.load_balancers.is_empty() && svc.berth.retired_load_balancers.is_empty() {
            return Ok(None);
        }
        let mut groups = vec![];
        for lb in &svc.load_balancers {
            groups.push((lb.clone(), registry.target_group(&lb.target_group_arn).await?));
            // A blue/green load balancer's alternate group holds the other
            // revision's tasks.
            if let Some(a) = &lb.advanced_configuration {
                let alt = ServiceLoadBalancer {
                    target_group_arn: a.alternate_target_group_arn.clone(),
                    ..lb.clone()
                };
                let g = registry.target_group(&alt.target_group_arn).await?;
                groups.push((alt, g));
            }
        }
        let mut retired = vec![];
        for lb in &svc.berth.retired_load_balancers {
            retired.push((lb.clone(), registry.target_group(&lb.target_group_arn).await?));
        }
        let instances = instances
            .iter()
            .map(|(i, _)| (i.container_instance_arn.clone(), i.ec2_instance_id.clone()))
            .collect();
        Ok(Some(Registrations {
            registry,
            groups,
            retired,
            instances,
            only: crate::service_shift::shift_groups(svc),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_registry::TargetHealth;
    use berth_ecs_model::service::{TargetGroupFacts, TargetType};
    use serde_json::json;

    fn task(instance: &str, port: i64) -> TaskRecord {
        serde_json::from_value(json!({
            "taskArn": "arn:task/c/t1", "clusterArn": "c", "taskDefinitionArn": "td",
            "containerInstanceArn": instance, "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
            "cpu": "0", "memory": "0", "createdAt": 0.0, "group": "service:web", "launchType": "EC2",
            "version": 1, "overrides": {}, "healthStatus": "UNKNOWN",
            "containers": [{"containerArn": "ca", "taskArn": "arn:task/c/t1", "name": "web", "image": "i",
                "lastStatus": "RUNNING", "cpu": "0",
                "networkBindings": [{"containerPort": 80, "hostPort": port, "protocol": "tcp"}]}],
            "berth": {"id": "t1", "cluster": "c"}
        }))
        .expect("a task record")
    }

    fn lb() -> ServiceLoadBalancer {
        ServiceLoadBalancer {
            target_group_arn: "tg".into(),
            container_name: "web".into(),
            container_port: 80,
            advanced_configuration: None,
        }
    }

    fn group(state: TargetState) -> Option<TargetGroupState> {
        Some(TargetGroupState {
            facts: TargetGroupFacts {
                arn: "tg".into(),
                target_type: TargetType::Instance,
                has_load_balancer: true,
            },
            deregistration_delay_secs: 3,
            targets: vec![TargetHealth {
                target: TargetRef {
                    id: "i-1".into(),
                    port: 32768,
                },
                state,
                description: Some("Health checks failed with these codes: [500]".into()),
            }],
        })
    }

    #[test]
    fn a_task_is_its_instance_and_host_port() {
        let instances = BTreeMap::from([("ci-1".to_string(), "i-1".to_string())]);
        let t = task("ci-1", 32768);
        assert_eq!(
            target_of(&t, &lb(), &instances),
            Some(TargetRef {
                id: "i-1".into(),
                port: 32768
            })
        );
        // No host port yet, another container, an unknown instance.
        assert_eq!(target_of(&task("ci-1", 0), &lb(), &instances), None);
        let other = ServiceLoadBalancer {
            container_name: "db".into(),
            ..lb()
        };
        assert_eq!(target_of(&t, &other, &instances), None);
        assert_eq!(target_of(&task("ci-2", 32768), &lb(), &instances), None);
    }

    #[test]
    fn an_awsvpc_task_is_its_address_and_container_port() {
        let mut t = task("ci-1", 0);
        t.containers[0].network_bindings.clear();
        t.containers[0].network_interfaces = vec![berth_ecs_model::task::NetworkInterface {
            attachment_id: "a-1".into(),
            private_ipv4_address: "10.213.0.7".into(),
        }];
        // The instance does not matter: the task is reached at its own address.
        assert_eq!(
            target_of(&t, &lb(), &BTreeMap::new()),
            Some(TargetRef {
                id: "10.213.0.7".into(),
                port: 80
            })
        );
        let other = ServiceLoadBalancer {
            container_name: "db".into(),
            ..lb()
        };
        assert_eq!(target_of(&t, &other, &BTreeMap::new()), None);
    }

    /// A registry that is never called: these tests read the groups given.
    struct Unused;

    #[async_trait::async_trait]
    impl TargetRegistry for Unused {
        async fn target_group(&self, _: &str) -> Result<Option<TargetGroupState>, AwsError> {
            Ok(None)
        }
        async fn register(&self, _: &str, _: &[TargetRef]) -> Result<(), AwsError> {
            Ok(())
        }
        async fn deregister(&self, _: &str, _: &[TargetRef]) -> Result<(), AwsError> {
            Ok(())
        }
        async fn rule_weights(&self, _: &str) -> Result<Option<Option<Vec<(String, u32)>>>, AwsError> {
            Ok(None)
        }
        async fn set_rule_weights(&self, _: &str, _: &[(String, u32)]) -> Result<(), AwsError> {
            Ok(())
        }
    }

    fn registrations(state: TargetState, retired: bool) -> Registrations {
        let entry = (lb(), group(state));
        Registrations {
            registry: Arc::new(Unused),
            groups: if retired { vec![] } else { vec![entry.clone()] },
            retired: if retired { vec![entry] } else { vec![] },
            instances: BTreeMap::from([("ci-1".to_string(), "i-1".to_string())]),
            only: BTreeMap::new(),
        }
    }

    #[test]
    fn a_task_counts_healthy_only_with_healthy_targets() {
        let t = task("ci-1", 32768);
        assert!(registrations(TargetState::Healthy, false).healthy(&t));
        for s in [TargetState::Initial, TargetState::Unhealthy, TargetState::Draining] {
            assert!(!registrations(s, false).healthy(&t), "{s:?}");
        }
        // Not known to the group (not registered yet), or no host port yet.
        assert!(!registrations(TargetState::Healthy, false).healthy(&task("ci-1", 40000)));
        assert!(!registrations(TargetState::Healthy, false).healthy(&task("ci-1", 0)));
        let (tg, target, why) = registrations(TargetState::Unhealthy, false)
            .unhealthy(&t)
            .expect("unhealthy");
        assert_eq!((tg.as_str(), target.port), ("tg", 32768));
        assert_eq!(why, "Health checks failed with these codes: [500]");
        assert!(registrations(TargetState::Initial, false).unhealthy(&t).is_none());
    }

    #[test]
    fn registered_targets_include_groups_given_up_and_drain_for_the_delay() {
        let t = task("ci-1", 32768);
        let r = registrations(TargetState::Healthy, false);
        assert_eq!(r.registered(&t).len(), 1);
        assert_eq!(r.drain_delay(&["tg".to_string()]), 3.0);
        assert_eq!(r.drain_delay(&[]), 0.0);
        assert!(registrations(TargetState::Draining, false).registered(&t).is_empty());
        let given_up = registrations(TargetState::Initial, true);
        assert_eq!(given_up.registered(&t).len(), 1);
        // Groups given up do not count for health: only the container health does.
        assert!(given_up.healthy(&t));
        assert!(given_up.retired_only().groups.is_empty());
    }

    #[test]
    fn health_and_registration_follow_the_group() {
        let t = task("ci-1", 32768);
        let instances = BTreeMap::from([("ci-1".to_string(), "i-1".to_string())]);
        let target = TargetRef {
            id: "i-1".into(),
            port: 32768,
        };
        assert_eq!(
            state_in(&group(TargetState::Healthy), &target),
            Some(TargetState::Healthy)
        );
        assert_eq!(state_in(&None, &target), None);
        let unused = TargetRef {
            id: "i-1".into(),
            port: 1,
        };
        assert_eq!(state_in(&group(TargetState::Healthy), &unused), None);
        assert!(TargetState::Initial.registered() && TargetState::Unhealthy.registered());
        assert!(!TargetState::Draining.registered() && !TargetState::Unused.registered());
        assert!(target_of(&t, &lb(), &instances).is_some());
    }
}
