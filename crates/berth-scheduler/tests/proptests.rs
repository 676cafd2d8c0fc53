//! Properties of placement over random clusters and requests:
//! (a) no instance is over-committed and no host port is used twice,
//! (b) every placement satisfies every constraint at the moment it is made,
//! (c) no task lands on a DRAINING/inactive or disconnected instance,
//! and (d) a request stops short only when no instance could take the task
//! (an instance outside the request's zones never can).
//! Plus: the expression parser never panics.

use std::collections::BTreeMap;

use berth_scheduler::{
    ConstraintType, InstanceStatus, InstanceView, PlacementConstraint, PlacementRequest, PlacementStrategy,
    RequiredAttribute, TaskDemand, TaskOnInstance, ZONE_ATTRIBUTE, check_fit, parse_expression, place, reserve,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const GROUPS: [&str; 3] = ["service:web", "service:db", "family:batch"];

const EXPRESSIONS: [&str; 10] = [
    "attribute:zone == a",
    "attribute:zone in [a, b]",
    "attribute:zone != c",
    "runningTasksCount < 3",
    "not(task:group == service:db)",
    "task:group != service:web",
    "attribute:type =~ t2.*",
    "attribute:stack exists",
    "attribute:type =~ t2.* or runningTasksCount <= 1",
    "agentConnected == true and not attribute:stack == dev",
];

fn arb_status() -> impl Strategy<Value = InstanceStatus> {
    prop_oneof![
        6 => Just(InstanceStatus::Active),
        2 => Just(InstanceStatus::Draining),
        1 => Just(InstanceStatus::Inactive),
        1 => Just(InstanceStatus::Registering),
    ]
}

fn arb_instance(n: usize) -> impl Strategy<Value = InstanceView> {
    (
        (0u32..=8, 0u32..=100, 0u32..=8, 0u32..=100),
        arb_status(),
        prop::bool::weighted(0.85),
        (
            prop::option::of(prop::sample::select(vec!["a", "b", "c"])),
            prop::sample::select(vec!["t2.small", "t2.micro", "m5.large"]),
            prop::option::of(prop::sample::select(vec!["prod", "dev"])),
        ),
        (prop::bool::ANY, prop::bool::ANY, prop::bool::ANY),
        prop::collection::vec(0usize..3, 0..4),
    )
        .prop_map(
            move |((cpu, cpu_used, mem, mem_used), status, connected, attrs, ports, tasks)| {
                let cpu = cpu * 512;
                let memory = mem * 512;
                let mut i = InstanceView::new(format!("arn:ci/{n}"), format!("i-{n}"), cpu, memory);
                i.remaining.cpu = cpu - cpu * cpu_used / 100;
                i.remaining.memory = memory - memory * mem_used / 100;
                i.status = status;
                i.agent_connected = connected;
                let (zone, ty, stack) = attrs;
                if let Some(z) = zone {
                    std::sync::Arc::make_mut(&mut i.attributes).insert("zone".into(), Some(z.into()));
                    std::sync::Arc::make_mut(&mut i.attributes)
                        .insert(ZONE_ATTRIBUTE.into(), Some(format!("us-east-1{z}")));
                }
                std::sync::Arc::make_mut(&mut i.attributes).insert("type".into(), Some(ty.into()));
                if let Some(s) = stack {
                    std::sync::Arc::make_mut(&mut i.attributes).insert("stack".into(), Some(s.into()));
                }
                if ports.0 {
                    i.remaining.ports.insert(80);
                }
                if ports.1 {
                    i.remaining.ports.insert(8080);
                }
                if ports.2 {
                    i.remaining.ports_udp.insert(53);
                }
                i.tasks = tasks
                    .into_iter()
                    .map(|g| TaskOnInstance {
                        group: GROUPS[g].into(),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>()
                    .into();
                i
            },
        )
}

fn arb_instances() -> impl Strategy<Value = Vec<InstanceView>> {
    (1usize..30).prop_flat_map(|n| (0..n).map(arb_instance).collect::<Vec<_>>())
}

fn arb_strategy() -> impl Strategy<Value = PlacementStrategy> {
    prop::sample::select(vec![
        PlacementStrategy::binpack("cpu"),
        PlacementStrategy::binpack("memory"),
        PlacementStrategy::spread("instanceId"),
        PlacementStrategy::spread("attribute:zone"),
        PlacementStrategy::spread("attribute:stack"),
        PlacementStrategy::random(),
    ])
}

fn arb_constraint() -> impl Strategy<Value = PlacementConstraint> {
    prop_oneof![
        1 => Just(PlacementConstraint::distinct_instance()),
        4 => prop::sample::select(EXPRESSIONS.to_vec()).prop_map(PlacementConstraint::member_of),
    ]
}

fn arb_request() -> impl Strategy<Value = PlacementRequest> {
    (
        (
            0u32..=1024,
            0u32..=1024,
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
        ),
        0usize..3,
        prop::option::of(prop::sample::select(vec!["zone", "stack"])),
        prop::collection::vec(arb_constraint(), 0..3),
        prop::collection::vec(arb_strategy(), 0..3),
        (
            1u32..15,
            prop::sample::subsequence(vec!["us-east-1a", "us-east-1b", "us-east-1c"], 0..=2),
        ),
    )
        .prop_map(
            |((cpu, memory, tcp, udp), group, required, constraints, strategies, (count, zones))| {
                let mut demand = TaskDemand {
                    cpu,
                    memory,
                    ..Default::default()
                };
                if tcp {
                    demand.ports.insert(80);
                }
                if udp {
                    demand.ports_udp.insert(53);
                }
                PlacementRequest {
                    demand,
                    group: GROUPS[group].into(),
                    family: "f".into(),
                    task_definition_arn: "arn:td/f:1".into(),
                    required_attributes: required
                        .map(|name| RequiredAttribute {
                            name: name.into(),
                            value: None,
                        })
                        .into_iter()
                        .collect(),
                    constraints,
                    strategies,
                    count,
                    zones: zones.into_iter().map(str::to_string).collect(),
                }
            },
        )
}

/// Everything `place` must check, evaluated from scratch on one instance.
fn admissible(inst: &InstanceView, req: &PlacementRequest) -> bool {
    inst.status == InstanceStatus::Active
        && inst.agent_connected
        && req
            .required_attributes
            .iter()
            .all(|a| inst.attributes.contains_key(&a.name))
        && (req.zones.is_empty()
            || inst
                .attributes
                .get(ZONE_ATTRIBUTE)
                .and_then(|z| z.as_deref())
                .is_some_and(|z| req.zones.iter().any(|w| w == z)))
        && check_fit(inst, &req.demand).is_ok()
        && req.constraints.iter().all(|c| match c.kind {
            ConstraintType::DistinctInstance => !inst.tasks.iter().any(|t| t.group == req.group),
            ConstraintType::MemberOf => parse_expression(c.expression.as_deref().unwrap())
                .unwrap()
                .matches(inst),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn placements_respect_resources_constraints_and_status(
        instances in arb_instances(),
        req in arb_request(),
        seed in any::<u64>(),
    ) {
        let original = instances.clone();
        let mut placed = instances;
        let Ok(result) = place(&mut placed, &req, &mut StdRng::seed_from_u64(seed)) else {
            // Only a cluster without ACTIVE instances is refused.
            prop_assert!(original.iter().all(|i| i.status != InstanceStatus::Active));
            return Ok(());
        };
        let index: BTreeMap<&str, usize> =
            original.iter().enumerate().map(|(n, i)| (i.id.as_str(), n)).collect();

        // Replay the placements in order on a copy, checking each against the
        // state at that moment.
        let mut replay = original.clone();
        for (k, (task, arn)) in result.placements.iter().enumerate() {
            prop_assert_eq!(*task, k, "tasks are placed in order, without gaps");
            let n = index[arn.as_str()];
            let inst = &replay[n];
            // (c) never DRAINING/inactive or disconnected
            prop_assert_eq!(inst.status, InstanceStatus::Active);
            prop_assert!(inst.agent_connected);
            // (a) resources and ports at that moment; (b) constraints
            prop_assert!(admissible(inst, &req), "task {} on {} violates its checks", k, arn);
            let inst = &mut replay[n];
            reserve(inst, &req.demand);
            std::sync::Arc::make_mut(&mut inst.tasks).push(TaskOnInstance {
                group: req.group.clone(),
                family: req.family.clone(),
                task_definition_arn: req.task_definition_arn.clone(),
            });
        }

        // (a) in total: sum of placed demand within what was free; fixed
        // ports at most once per instance and never a port already taken.
        let mut count: BTreeMap<usize, u64> = BTreeMap::new();
        for (_, arn) in &result.placements {
            *count.entry(index[arn.as_str()]).or_default() += 1;
        }
        for (&n, &k) in &count {
            let before = &original[n].remaining;
            prop_assert!(k * u64::from(req.demand.cpu) <= u64::from(before.cpu));
            prop_assert!(k * u64::from(req.demand.memory) <= u64::from(before.memory));
            if !req.demand.ports.is_empty() || !req.demand.ports_udp.is_empty() {
                prop_assert_eq!(k, 1, "a fixed host port can be used once per instance");
            }
            prop_assert!(req.demand.ports.iter().all(|p| !before.ports.contains(p)));
            prop_assert!(req.demand.ports_udp.iter().all(|p| !before.ports_udp.contains(p)));
            let after = &placed[n].remaining;
            prop_assert_eq!(u64::from(after.cpu), u64::from(before.cpu) - k * u64::from(req.demand.cpu));
            prop_assert_eq!(u64::from(after.memory), u64::from(before.memory) - k * u64::from(req.demand.memory));
        }

        // `place` left the instances exactly as the replay did.
        prop_assert_eq!(&placed, &replay);

        // (d) short only when nothing fits any more, with one failure per
        // ACTIVE instance; complete requests report no failures.
        if result.placements.len() < req.count as usize {
            prop_assert!(replay.iter().all(|i| !admissible(i, &req)));
            let active = replay.iter().filter(|i| i.status == InstanceStatus::Active).count();
            prop_assert_eq!(result.failures.len(), active);
        } else {
            prop_assert!(result.failures.is_empty());
        }
    }

    #[test]
    fn same_seed_same_placement(instances in arb_instances(), req in arb_request(), seed in any::<u64>()) {
        let a = place(&mut instances.clone(), &req, &mut StdRng::seed_from_u64(seed));
        let b = place(&mut instances.clone(), &req, &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn parser_never_panics(s in "[a-zA-Z0-9:._ \\-*=!<>~&|()\\[\\],'\"]{0,80}") {
        if let Ok(e) = parse_expression(&s) {
            // What parses prints to text that parses to the same thing.
            let shown = e.to_string();
            let again = parse_expression(&shown);
            prop_assert!(again.is_ok(), "{:?} -> {:?}", s, shown);
            prop_assert_eq!(again.unwrap().to_string(), shown);
        }
    }

    #[test]
    fn parser_never_panics_on_near_valid_input(
        parts in prop::collection::vec(prop::sample::select(vec![
            "attribute:zone", "task:group", "runningTasksCount", "registeredAt", "agentVersion",
            "ec2InstanceId", "agentConnected", "==", "!=", ">", ">=", "<", "<=", "=~", "!~", "!",
            "exists", "in", "not_in", "and", "or", "not", "(", ")", "[", "]", ",", "a", "1",
            "2018-06-18", "t2.*", "'x y'", "\"q\"", "true", "1.2.3", "*",
        ]), 0..12)
    ) {
        let s = parts.join(" ");
        if let Ok(e) = parse_expression(&s) {
            let _ = e.matches(&InstanceView::new("arn", "i", 1, 1));
            prop_assert!(parse_expression(&e.to_string()).is_ok());
        }
    }
}
