//! Resource accounting on a container instance: CPU units, memory and fixed
//! host ports. Dynamic host ports are the agent's business and are not
//! accounted here.

use crate::types::{Failure, FailureReason, InstanceView, TaskDemand};

/// Takes the task's resources from the instance's remaining resources.
///
/// CPU and memory never go below zero; the task's fixed host ports are
/// marked as taken (port 0, a dynamic port, is ignored).
pub fn reserve(instance: &mut InstanceView, demand: &TaskDemand) {
    let rem = &mut instance.remaining;
    rem.cpu = rem.cpu.saturating_sub(demand.cpu);
    rem.memory = rem.memory.saturating_sub(demand.memory);
    rem.ports.extend(demand.ports.iter().copied().filter(|&p| p != 0));
    rem.ports_udp
        .extend(demand.ports_udp.iter().copied().filter(|&p| p != 0));
}

/// Gives the task's resources back to the instance.
///
/// CPU and memory never overflow and never rise above the registered
/// amount (unless they already were above it); ports are freed unless they
/// were reserved at registration (22, 2375, 51678, … stay taken).
pub fn release(instance: &mut InstanceView, demand: &TaskDemand) {
    let reg = &instance.registered;
    let rem = &mut instance.remaining;
    rem.cpu = give_back(rem.cpu, demand.cpu, reg.cpu);
    rem.memory = give_back(rem.memory, demand.memory, reg.memory);
    for p in &demand.ports {
        if !reg.ports.contains(p) {
            rem.ports.remove(p);
        }
    }
    for p in &demand.ports_udp {
        if !reg.ports_udp.contains(p) {
            rem.ports_udp.remove(p);
        }
    }
}

fn give_back(remaining: u32, amount: u32, registered: u32) -> u32 {
    remaining.saturating_add(amount).min(registered.max(remaining))
}

/// Whether the instance has the CPU, memory and free fixed host ports the
/// task needs; on failure, the ECS reason (`RESOURCE:CPU`, then
/// `RESOURCE:MEMORY`, then `RESOURCE:PORTS`) and a sentence saying what is
/// short. Status, agent and constraints are not looked at.
pub fn check_fit(instance: &InstanceView, demand: &TaskDemand) -> Result<(), Failure> {
    match shortfall(instance, demand) {
        None => Ok(()),
        Some(reason) => Err(Failure {
            arn: instance.id.clone(),
            reason,
            detail: shortfall_detail(instance, demand, reason),
        }),
    }
}

/// Allocation-free core of [`check_fit`].
pub(crate) fn shortfall(instance: &InstanceView, demand: &TaskDemand) -> Option<FailureReason> {
    let rem = &instance.remaining;
    if rem.cpu < demand.cpu {
        Some(FailureReason::ResourceCpu)
    } else if rem.memory < demand.memory {
        Some(FailureReason::ResourceMemory)
    } else if demand.ports.iter().any(|p| *p != 0 && rem.ports.contains(p))
        || demand.ports_udp.iter().any(|p| *p != 0 && rem.ports_udp.contains(p))
    {
        Some(FailureReason::ResourcePorts)
    } else {
        None
    }
}

pub(crate) fn shortfall_detail(instance: &InstanceView, demand: &TaskDemand, reason: FailureReason) -> String {
    let rem = &instance.remaining;
    match reason {
        FailureReason::ResourceCpu => format!(
            "task needs {} CPU units, {} remain on the instance",
            demand.cpu, rem.cpu
        ),
        FailureReason::ResourceMemory => format!(
            "task needs {} MiB of memory, {} MiB remain on the instance",
            demand.memory, rem.memory
        ),
        _ => {
            let taken: Vec<String> = demand
                .ports
                .iter()
                .filter(|p| **p != 0 && rem.ports.contains(p))
                .map(|p| format!("{p}/tcp"))
                .chain(
                    demand
                        .ports_udp
                        .iter()
                        .filter(|p| **p != 0 && rem.ports_udp.contains(p))
                        .map(|p| format!("{p}/udp")),
                )
                .collect();
            format!("host port {} already in use on the instance", taken.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(cpu: u32, memory: u32, ports: &[u16], udp: &[u16]) -> TaskDemand {
        TaskDemand {
            cpu,
            memory,
            ports: ports.iter().copied().collect(),
            ports_udp: udp.iter().copied().collect(),
        }
    }

    #[test]
    fn reserve_then_release_restores_remaining() {
        let mut i = InstanceView::new("arn:ci/1", "i-1", 1024, 2048);
        i.registered.ports.insert(22);
        i.remaining.ports.insert(22);
        let before = i.remaining.clone();
        let d = demand(256, 512, &[80, 22, 0], &[53]);
        reserve(&mut i, &d);
        assert_eq!(i.remaining.cpu, 768);
        assert_eq!(i.remaining.memory, 1536);
        assert!(i.remaining.ports.contains(&80));
        assert!(!i.remaining.ports.contains(&0), "dynamic port 0 is not accounted");
        assert!(i.remaining.ports_udp.contains(&53));
        release(&mut i, &d);
        assert_eq!(i.remaining, before, "port 22 reserved at registration stays taken");
    }

    #[test]
    fn reserve_never_underflows_and_release_never_exceeds_registered() {
        let mut i = InstanceView::new("arn:ci/1", "i-1", 100, 100);
        reserve(&mut i, &demand(500, 500, &[], &[]));
        assert_eq!((i.remaining.cpu, i.remaining.memory), (0, 0));
        release(&mut i, &demand(500, 500, &[], &[]));
        assert_eq!((i.remaining.cpu, i.remaining.memory), (100, 100));
        release(&mut i, &demand(u32::MAX, u32::MAX, &[], &[]));
        assert_eq!((i.remaining.cpu, i.remaining.memory), (100, 100));
    }

    #[test]
    fn check_fit_reports_cpu_then_memory_then_ports() {
        let mut i = InstanceView::new("arn:ci/1", "i-1", 100, 100);
        i.remaining.ports.insert(80);
        i.remaining.ports_udp.insert(53);
        let f = check_fit(&i, &demand(200, 200, &[80], &[])).unwrap_err();
        assert_eq!((f.reason.code(), f.arn.as_str()), ("RESOURCE:CPU", "arn:ci/1"));
        let f = check_fit(&i, &demand(50, 200, &[80], &[])).unwrap_err();
        assert_eq!(f.reason.code(), "RESOURCE:MEMORY");
        assert!(f.detail.contains("200 MiB"), "{}", f.detail);
        let f = check_fit(&i, &demand(50, 50, &[80], &[])).unwrap_err();
        assert_eq!(f.reason.code(), "RESOURCE:PORTS");
        assert!(f.detail.contains("80/tcp"), "{}", f.detail);
        let f = check_fit(&i, &demand(50, 50, &[], &[53])).unwrap_err();
        assert_eq!(f.reason, FailureReason::ResourcePorts);
        assert!(f.detail.contains("53/udp"), "{}", f.detail);
        assert!(
            check_fit(&i, &demand(100, 100, &[81], &[80])).is_ok(),
            "tcp and udp are separate"
        );
    }
}
