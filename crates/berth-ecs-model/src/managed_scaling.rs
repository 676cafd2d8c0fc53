//! Managed scaling of a custom capacity provider, as ECS computes it: the
//! `CapacityProviderReservation` metric (M instances needed over N
//! instances in the group, × 100) and the host count the provider's hook
//! is asked for (target tracking on that metric, within the step sizes),
//! out and in, and the hosts a scale-in removes. Pure: the controller (`berth-ecs` `managed_scaling.rs`) gathers the
//! figures and runs the hook.

use crate::capacity_provider::ManagedScaling;

/// CPU units and MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub cpu: u32,
    pub memory: u32,
}

/// What one (cluster, capacity provider) pair holds and wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLoad {
    /// N: the group's registered instances in the cluster.
    pub instances: u32,
    /// The group's instances running at least one task.
    pub busy: u32,
    /// The demands of the tasks waiting (PROVISIONING) for capacity.
    pub waiting: Vec<Size>,
    /// The registered size of the group's largest instance (None: the
    /// group has no instance to size a new one by).
    pub instance_size: Option<Size>,
}

/// The instances the waiting tasks need beyond the busy ones: packed first
/// fit decreasing onto instances of the group's size, or one instance per
/// task when no instance gives the size (ECS then scales by the minimum
/// step; see [`desired_capacity`]).
pub fn instances_for_waiting(waiting: &[Size], size: Option<Size>) -> u32 {
    let Some(size) = size.filter(|s| s.cpu > 0 || s.memory > 0) else {
        return waiting.len() as u32;
    };
    let mut tasks: Vec<Size> = waiting.to_vec();
    tasks.sort_by_key(|t| std::cmp::Reverse((t.memory, t.cpu)));
    let mut bins: Vec<Size> = vec![];
    for t in tasks {
        match bins
            .iter_mut()
            .find(|b| b.cpu + t.cpu <= size.cpu && b.memory + t.memory <= size.memory)
        {
            Some(b) => {
                b.cpu += t.cpu;
                b.memory += t.memory;
            }
            // A task larger than an instance still needs one.
            None => bins.push(t),
        }
    }
    bins.len() as u32
}

/// M: instances running tasks plus those the waiting tasks need.
pub fn instances_needed(load: &GroupLoad) -> u32 {
    load.busy + instances_for_waiting(&load.waiting, load.instance_size)
}

/// `CapacityProviderReservation` = M / N × 100; with N = 0, 200 when
/// M > 0 and 100 when M = 0 (ECS's definition).
pub fn reservation(m: u32, n: u32) -> f64 {
    match (m, n) {
        (0, 0) => 100.0,
        (_, 0) => 200.0,
        (m, n) => f64::from(m) / f64::from(n) * 100.0,
    }
}

/// The host count to ask the hook for, when the group must grow: the
/// count that brings the reservation to `targetCapacity`
/// (⌈M × 100 / target⌉), the step from N at least
/// `minimumScalingStepSize` and at most `maximumScalingStepSize`. None
/// when the group is large enough (see [`scale_in_capacity`]).
pub fn desired_capacity(m: u32, n: u32, settings: &ManagedScaling) -> Option<u32> {
    let target = settings.target_capacity.clamp(1, 100) as u64;
    let wanted = (u64::from(m) * 100).div_ceil(target);
    if wanted <= u64::from(n) {
        return None;
    }
    let min = settings.minimum_scaling_step_size.max(1) as u64;
    let max = (settings.maximum_scaling_step_size.max(1) as u64).max(min);
    let step = (wanted - u64::from(n)).clamp(min, max);
    Some((u64::from(n) + step).min(u64::from(u32::MAX)) as u32)
}

/// How long the reservation must stay below `targetCapacity` before the
/// group scales in: the 15 one-minute datapoints of the target-tracking
/// policy's low alarm ECS creates on the Auto Scaling group.
pub const SCALE_IN_AFTER_SECS: u64 = 15 * 60;

/// The host count a scale-in brings the group to, when it is larger than
/// the reservation needs: ⌈M × 100 / target⌉, at most
/// `maximumScalingStepSize` hosts fewer than N. None when it is not.
pub fn scale_in_capacity(m: u32, n: u32, settings: &ManagedScaling) -> Option<u32> {
    let target = settings.target_capacity.clamp(1, 100) as u64;
    let wanted = (u64::from(m) * 100).div_ceil(target);
    if wanted >= u64::from(n) {
        return None;
    }
    let max = settings.maximum_scaling_step_size.max(1) as u64;
    Some(wanted.max(u64::from(n).saturating_sub(max)) as u32)
}

/// One host of the group, as a scale-in sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHost {
    pub container_instance_arn: String,
    /// Its tasks not stopped, daemon services' tasks left out (ECS
    /// ignores them: every host runs them).
    pub tasks: u32,
}

/// The hosts a scale-in of `count` removes: those without tasks first;
/// with managed termination protection only those, without it then the
/// ones with the fewest tasks (the Auto Scaling group would terminate
/// them whatever runs there). In ARN order among equals, so a pass and
/// the next choose alike.
pub fn hosts_to_remove(hosts: &[GroupHost], count: u32, termination_protection: bool) -> Vec<&GroupHost> {
    let mut candidates: Vec<&GroupHost> = hosts
        .iter()
        .filter(|h| !termination_protection || h.tasks == 0)
        .collect();
    candidates.sort_by(|a, b| {
        a.tasks
            .cmp(&b.tasks)
            .then_with(|| a.container_instance_arn.cmp(&b.container_instance_arn))
    });
    candidates.truncate(count as usize);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(target: i64, min: i64, max: i64) -> ManagedScaling {
        ManagedScaling {
            target_capacity: target,
            minimum_scaling_step_size: min,
            maximum_scaling_step_size: max,
            ..ManagedScaling::default()
        }
    }

    #[test]
    fn reservation_as_the_docs_define_it() {
        // The docs' examples: all instances busy, none wanted more: 100 %.
        assert_eq!(reservation(10, 10), 100.0);
        // N = 0 and M > 0: 200; nothing at all: 100.
        assert_eq!(reservation(2, 0), 200.0);
        assert_eq!(reservation(0, 0), 100.0);
        // Two of four instances needed: 50 %; six needed of four: 150 %.
        assert_eq!(reservation(2, 4), 50.0);
        assert_eq!(reservation(6, 4), 150.0);
    }

    #[test]
    fn waiting_tasks_are_packed_onto_instances_of_the_group_size() {
        let t = Size { cpu: 512, memory: 512 };
        let size = Some(Size {
            cpu: 1024,
            memory: 2048,
        });
        assert_eq!(instances_for_waiting(&[t; 5], size), 3);
        assert_eq!(instances_for_waiting(&[], size), 0);
        // No instance to size by: one per task.
        assert_eq!(instances_for_waiting(&[t; 3], None), 3);
        // A task larger than the instance still needs one.
        assert_eq!(instances_for_waiting(&[Size { cpu: 4096, memory: 1 }], size), 1);
        let load = GroupLoad {
            instances: 2,
            busy: 2,
            waiting: vec![t; 2],
            instance_size: size,
        };
        assert_eq!(instances_needed(&load), 3);
    }

    #[test]
    fn desired_capacity_tracks_the_target_within_the_steps() {
        // Empty group, one task waiting, target 100: one host.
        assert_eq!(desired_capacity(1, 0, &settings(100, 1, 10_000)), Some(1));
        // Target 50: twice the hosts needed.
        assert_eq!(desired_capacity(2, 2, &settings(50, 1, 10_000)), Some(4));
        // Large enough: nothing (no scale-in).
        assert_eq!(desired_capacity(2, 2, &settings(100, 1, 10_000)), None);
        assert_eq!(desired_capacity(0, 3, &settings(100, 1, 10_000)), None);
        // The minimum step, then the maximum one.
        assert_eq!(desired_capacity(1, 0, &settings(100, 3, 10)), Some(3));
        assert_eq!(desired_capacity(50, 0, &settings(100, 1, 10)), Some(10));
    }

    #[test]
    fn scale_in_follows_the_target_at_most_the_maximum_step_at_a_time() {
        // One host of two needed, target 100: down to one.
        assert_eq!(scale_in_capacity(1, 2, &settings(100, 1, 10_000)), Some(1));
        // Nothing runs: down to zero.
        assert_eq!(scale_in_capacity(0, 3, &settings(100, 1, 10_000)), Some(0));
        // Target 50: two hosts for one needed, so three become two.
        assert_eq!(scale_in_capacity(1, 3, &settings(50, 1, 10_000)), Some(2));
        // Large enough or short: no scale-in.
        assert_eq!(scale_in_capacity(2, 2, &settings(100, 1, 10_000)), None);
        assert_eq!(scale_in_capacity(3, 2, &settings(100, 1, 10_000)), None);
        assert_eq!(scale_in_capacity(0, 0, &settings(100, 1, 10_000)), None);
        // At most the maximum step at a time.
        assert_eq!(scale_in_capacity(0, 10, &settings(100, 1, 3)), Some(7));
    }

    #[test]
    fn a_scale_in_removes_idle_hosts_first_and_only_them_when_protected() {
        let host = |arn: &str, tasks| GroupHost {
            container_instance_arn: arn.to_string(),
            tasks,
        };
        let hosts = [host("c", 2), host("b", 0), host("a", 1), host("d", 0)];
        let arns = |v: Vec<&GroupHost>| v.iter().map(|h| h.container_instance_arn.clone()).collect::<Vec<_>>();
        assert_eq!(arns(hosts_to_remove(&hosts, 1, true)), ["b"]);
        // Protected: never a host with tasks, however many are wanted.
        assert_eq!(arns(hosts_to_remove(&hosts, 3, true)), ["b", "d"]);
        // Unprotected: idle first, then the fewest tasks.
        assert_eq!(arns(hosts_to_remove(&hosts, 3, false)), ["b", "d", "a"]);
        assert!(hosts_to_remove(&hosts, 0, false).is_empty());
    }
}
