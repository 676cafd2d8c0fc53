//! Placement: constraints, strategies, failure reasons, validation.

use std::collections::{BTreeMap, BTreeSet};

use berth_scheduler::{
    FailureReason, InstanceStatus, InstanceView, Placement, PlacementConstraint, PlacementError, PlacementRequest,
    PlacementStrategy, RequiredAttribute, StrategyType, TaskDemand, TaskOnInstance, place, service_default_strategies,
    validate,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn inst(n: usize, cpu: u32, memory: u32) -> InstanceView {
    InstanceView::new(format!("arn:ci/{n}"), format!("i-{n:04}"), cpu, memory)
}

fn in_az(n: usize, az: &str) -> InstanceView {
    inst(n, 4096, 8192).with_attribute("ecs.availability-zone", Some(az))
}

fn request(cpu: u32, memory: u32, count: u32) -> PlacementRequest {
    PlacementRequest {
        demand: TaskDemand {
            cpu,
            memory,
            ..Default::default()
        },
        group: "service:web".into(),
        family: "web".into(),
        task_definition_arn: "arn:td/web:1".into(),
        count,
        ..Default::default()
    }
}

fn run(instances: &mut [InstanceView], req: &PlacementRequest) -> Placement {
    place(instances, req, &mut StdRng::seed_from_u64(42)).expect("valid request")
}

/// Tasks placed per instance ARN.
fn per_instance(p: &Placement) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, arn) in &p.placements {
        *m.entry(arn.clone()).or_default() += 1;
    }
    m
}

/// Tasks placed per availability zone.
fn per_az(p: &Placement, instances: &[InstanceView]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, arn) in &p.placements {
        let i = instances.iter().find(|i| i.id == *arn).unwrap();
        let az = i.attributes["ecs.availability-zone"].clone().unwrap();
        *m.entry(az).or_default() += 1;
    }
    m
}

fn reasons(p: &Placement) -> BTreeMap<String, FailureReason> {
    p.failures.iter().map(|f| (f.arn.clone(), f.reason)).collect()
}

// ---------------------------------------------------------------- strategies

#[test]
fn binpack_memory_fills_one_instance_first() {
    let mut instances: Vec<_> = (0..4).map(|n| inst(n, 4096, 4096)).collect();
    let mut req = request(128, 1024, 4);
    req.strategies = vec![PlacementStrategy::binpack("memory")];
    let p = run(&mut instances, &req);
    assert_eq!(p.placements.len(), 4);
    assert_eq!(per_instance(&p).len(), 1, "{p:?}");
    assert!(p.failures.is_empty());
    // The fifth task goes elsewhere: the first instance is full.
    let mut req = request(128, 1024, 5);
    req.strategies = vec![PlacementStrategy::binpack("memory")];
    let mut instances: Vec<_> = (0..4).map(|n| inst(n, 4096, 4096)).collect();
    let counts: Vec<usize> = per_instance(&run(&mut instances, &req)).into_values().collect();
    assert_eq!(counts.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([1, 4]));
}

#[test]
fn binpack_cpu_prefers_least_remaining_cpu_that_fits() {
    let mut instances = vec![inst(0, 4096, 8192), inst(1, 1024, 8192), inst(2, 512, 8192)];
    let mut req = request(600, 100, 1);
    req.strategies = vec![PlacementStrategy::binpack("cpu")];
    let p = run(&mut instances, &req);
    assert_eq!(
        p.placements,
        vec![(0, "arn:ci/1".to_string())],
        "512 is too small, 1024 is the tightest fit"
    );
    assert_eq!(instances[1].remaining.cpu, 424);
}

#[test]
fn spread_instance_id_splits_ten_tasks_five_five() {
    for field in ["instanceId", "host"] {
        let mut instances = vec![inst(0, 8192, 16384), inst(1, 8192, 16384)];
        let mut req = request(256, 512, 10);
        req.strategies = vec![PlacementStrategy::spread(field)];
        let p = run(&mut instances, &req);
        assert_eq!(
            per_instance(&p).into_values().collect::<Vec<_>>(),
            vec![5, 5],
            "{field}"
        );
    }
}

#[test]
fn spread_instance_id_accounts_for_existing_tasks_of_the_group_only() {
    let mut instances = vec![inst(0, 8192, 16384), inst(1, 8192, 16384)];
    for _ in 0..3 {
        std::sync::Arc::make_mut(&mut instances[0].tasks).push(TaskOnInstance {
            group: "service:web".into(),
            ..Default::default()
        });
    }
    for _ in 0..5 {
        std::sync::Arc::make_mut(&mut instances[1].tasks).push(TaskOnInstance {
            group: "service:other".into(),
            ..Default::default()
        });
    }
    let mut req = request(256, 512, 5);
    req.strategies = vec![PlacementStrategy::spread("instanceId")];
    let p = run(&mut instances, &req);
    assert_eq!(per_instance(&p)["arn:ci/0"], 1);
    assert_eq!(per_instance(&p)["arn:ci/1"], 4, "3+1 == 0+4: web tasks balanced");
}

#[test]
fn spread_availability_zone_balances_three_zones() {
    // Unequal instance counts per zone: spreading is per zone, not per instance.
    let mut instances = vec![
        in_az(0, "us-east-1a"),
        in_az(1, "us-east-1a"),
        in_az(2, "us-east-1a"),
        in_az(3, "us-east-1a"),
        in_az(4, "us-east-1b"),
        in_az(5, "us-east-1c"),
        in_az(6, "us-east-1c"),
    ];
    let mut req = request(256, 512, 9);
    req.strategies = vec![PlacementStrategy::spread("attribute:ecs.availability-zone")];
    let p = run(&mut instances, &req);
    let by_az = per_az(&p, &instances);
    assert_eq!(by_az.into_values().collect::<Vec<_>>(), vec![3, 3, 3]);
}

#[test]
fn spread_availability_zone_counts_tasks_already_running() {
    let mut instances = vec![in_az(0, "a"), in_az(1, "b"), in_az(2, "c")];
    for _ in 0..2 {
        std::sync::Arc::make_mut(&mut instances[0].tasks).push(TaskOnInstance {
            group: "service:web".into(),
            ..Default::default()
        });
    }
    let mut req = request(256, 512, 4);
    req.strategies = vec![PlacementStrategy::spread("attribute:ecs.availability-zone")];
    let p = run(&mut instances, &req);
    let by_az = per_az(&p, &instances);
    assert_eq!(by_az.get("a"), None, "zone a already has 2");
    assert_eq!((by_az["b"], by_az["c"]), (2, 2));
}

#[test]
fn spread_zone_then_binpack_memory() {
    // Two zones, two instances each; in each zone one instance is fuller.
    let mut instances = vec![in_az(0, "a"), in_az(1, "a"), in_az(2, "b"), in_az(3, "b")];
    instances[1].remaining.memory = 4096;
    instances[2].remaining.memory = 2048;
    let mut req = request(128, 512, 6);
    req.strategies = vec![
        PlacementStrategy::spread("attribute:ecs.availability-zone"),
        PlacementStrategy::binpack("memory"),
    ];
    let p = run(&mut instances, &req);
    assert_eq!(per_az(&p, &instances).into_values().collect::<Vec<_>>(), vec![3, 3]);
    let by_instance = per_instance(&p);
    assert_eq!(by_instance.get("arn:ci/1"), Some(&3), "fuller instance of zone a");
    assert_eq!(by_instance.get("arn:ci/2"), Some(&3), "fuller instance of zone b");
    assert_eq!(by_instance.len(), 2);
}

#[test]
fn binpack_then_spread_orders_by_binpack_first() {
    let mut instances = vec![in_az(0, "a"), in_az(1, "b")];
    instances[0].remaining.memory = 1024;
    let mut req = request(128, 256, 3);
    req.strategies = vec![
        PlacementStrategy::binpack("memory"),
        PlacementStrategy::spread("attribute:ecs.availability-zone"),
    ];
    let p = run(&mut instances, &req);
    assert_eq!(
        per_instance(&p).into_iter().collect::<Vec<_>>(),
        vec![("arn:ci/0".into(), 3)]
    );
}

#[test]
fn random_is_reproducible_per_seed_and_uses_many_instances() {
    let make = || (0..20).map(|n| inst(n, 8192, 16384)).collect::<Vec<_>>();
    let mut req = request(128, 128, 10);
    req.strategies = vec![PlacementStrategy::random()];
    let a = place(&mut make(), &req, &mut StdRng::seed_from_u64(1)).unwrap();
    let b = place(&mut make(), &req, &mut StdRng::seed_from_u64(1)).unwrap();
    assert_eq!(a, b);
    assert!(per_instance(&a).len() >= 5, "{a:?}");
    let c = place(&mut make(), &req, &mut StdRng::seed_from_u64(2)).unwrap();
    assert_ne!(a, c);
}

#[test]
fn no_strategy_means_random() {
    let mut instances: Vec<_> = (0..20).map(|n| inst(n, 8192, 16384)).collect();
    let p = run(&mut instances, &request(128, 128, 10));
    assert!(per_instance(&p).len() >= 5, "{p:?}");
}

#[test]
fn random_first_ignores_later_strategies() {
    let mut req = request(128, 128, 10);
    req.strategies = vec![PlacementStrategy::random(), PlacementStrategy::binpack("memory")];
    let mut instances: Vec<_> = (0..20).map(|n| inst(n, 8192, 16384)).collect();
    let p = run(&mut instances, &req);
    assert!(per_instance(&p).len() >= 5, "binpack after random has no effect: {p:?}");
}

#[test]
fn service_default_strategies_spread_zones_then_instances() {
    let s = service_default_strategies();
    assert_eq!(s[0], PlacementStrategy::spread("attribute:ecs.availability-zone"));
    assert_eq!(s[1].kind, StrategyType::Spread);
    let mut instances = vec![in_az(0, "a"), in_az(1, "a"), in_az(2, "b"), in_az(3, "b")];
    let mut req = request(128, 128, 4);
    req.strategies = s;
    let p = run(&mut instances, &req);
    assert_eq!(per_instance(&p).into_values().collect::<Vec<_>>(), vec![1, 1, 1, 1]);
}

// --------------------------------------------------------------- constraints

#[test]
fn distinct_instance_three_instances_count_five_places_three_fails_two() {
    let mut instances: Vec<_> = (0..3).map(|n| inst(n, 8192, 16384)).collect();
    let mut req = request(128, 128, 5);
    req.constraints = vec![PlacementConstraint::distinct_instance()];
    req.strategies = vec![PlacementStrategy::binpack("memory")];
    let p = run(&mut instances, &req);
    assert_eq!(p.placements.len(), 3);
    assert_eq!(per_instance(&p).len(), 3, "each on its own instance");
    let placed: Vec<usize> = p.placements.iter().map(|(t, _)| *t).collect();
    assert_eq!(placed, vec![0, 1, 2], "tasks 3 and 4 fail");
    assert_eq!(p.failures.len(), 3, "one failure per instance, deduplicated");
    for f in &p.failures {
        assert_eq!(f.reason, FailureReason::DistinctInstance);
        assert_eq!(f.reason.code(), "ATTRIBUTE");
        assert!(
            f.detail
                .starts_with("DistinctInstance placement constraint unsatisfied")
        );
    }
}

#[test]
fn distinct_instance_avoids_instances_already_running_the_group() {
    let mut instances: Vec<_> = (0..3).map(|n| inst(n, 8192, 16384)).collect();
    std::sync::Arc::make_mut(&mut instances[1].tasks).push(TaskOnInstance {
        group: "service:web".into(),
        ..Default::default()
    });
    std::sync::Arc::make_mut(&mut instances[2].tasks).push(TaskOnInstance {
        group: "service:other".into(),
        ..Default::default()
    });
    let mut req = request(128, 128, 2);
    req.constraints = vec![PlacementConstraint::distinct_instance()];
    let p = run(&mut instances, &req);
    assert_eq!(
        per_instance(&p).into_keys().collect::<Vec<_>>(),
        vec!["arn:ci/0", "arn:ci/2"]
    );
}

#[test]
fn member_of_restricts_candidates_and_reports_attribute() {
    let mut instances = vec![
        inst(0, 4096, 4096).with_attribute("ecs.instance-type", Some("t2.small")),
        inst(1, 4096, 4096).with_attribute("ecs.instance-type", Some("m5.large")),
        inst(2, 4096, 4096).with_attribute("ecs.instance-type", Some("t2.micro")),
    ];
    let mut req = request(1024, 1024, 10);
    req.constraints = vec![PlacementConstraint::member_of("attribute:ecs.instance-type =~ t2.*")];
    let p = run(&mut instances, &req);
    assert_eq!(p.placements.len(), 8, "4 per t2 instance");
    assert!(!per_instance(&p).contains_key("arn:ci/1"));
    let r = reasons(&p);
    assert_eq!(r["arn:ci/1"], FailureReason::MemberOf);
    assert_eq!(r["arn:ci/0"], FailureReason::ResourceCpu);
    assert_eq!(r["arn:ci/2"], FailureReason::ResourceCpu);
    let f = p.failures.iter().find(|f| f.arn == "arn:ci/1").unwrap();
    assert_eq!(f.reason.code(), "ATTRIBUTE");
    assert_eq!(
        f.detail,
        "MemberOf placement constraint unsatisfied: attribute:ecs.instance-type =~ t2.*"
    );
}

#[test]
fn member_of_sees_tasks_placed_earlier_in_the_request() {
    // At most two tasks per instance, counting all tasks.
    let mut instances = vec![inst(0, 8192, 8192), inst(1, 8192, 8192)];
    std::sync::Arc::make_mut(&mut instances[1].tasks).push(TaskOnInstance {
        group: "family:batch".into(),
        ..Default::default()
    });
    let mut req = request(128, 128, 5);
    req.constraints = vec![PlacementConstraint::member_of("runningTasksCount < 2")];
    req.strategies = vec![PlacementStrategy::binpack("cpu")];
    let p = run(&mut instances, &req);
    assert_eq!(p.placements.len(), 3);
    assert_eq!(per_instance(&p)["arn:ci/0"], 2);
    assert_eq!(per_instance(&p)["arn:ci/1"], 1);
    assert!(p.failures.iter().all(|f| f.reason == FailureReason::MemberOf));
    assert_eq!(instances[0].tasks.len(), 2);
    assert_eq!(instances[1].tasks.len(), 2);
}

#[test]
fn member_of_task_group_affinity_and_anti_affinity() {
    let mut instances: Vec<_> = (0..3).map(|n| inst(n, 8192, 8192)).collect();
    std::sync::Arc::make_mut(&mut instances[2].tasks).push(TaskOnInstance {
        group: "service:db".into(),
        ..Default::default()
    });
    let mut req = request(128, 128, 3);
    req.constraints = vec![PlacementConstraint::member_of("task:group == service:db")];
    let p = run(&mut instances.clone(), &req);
    assert_eq!(
        per_instance(&p).into_iter().collect::<Vec<_>>(),
        vec![("arn:ci/2".into(), 3)]
    );

    req.constraints = vec![PlacementConstraint::member_of("not(task:group == service:db)")];
    let p = run(&mut instances, &req);
    assert!(!per_instance(&p).contains_key("arn:ci/2"));
    assert_eq!(p.placements.len(), 3);
}

#[test]
fn several_constraints_must_all_hold() {
    let mut instances = vec![
        in_az(0, "us-east-1a").with_attribute("stack", Some("prod")),
        in_az(1, "us-east-1b").with_attribute("stack", Some("prod")),
        in_az(2, "us-east-1a").with_attribute("stack", Some("dev")),
    ];
    let mut req = request(128, 128, 3);
    req.constraints = vec![
        PlacementConstraint::member_of("attribute:stack == prod"),
        PlacementConstraint::member_of("attribute:ecs.availability-zone in [us-east-1a, us-east-1c]"),
        PlacementConstraint::distinct_instance(),
    ];
    let p = run(&mut instances, &req);
    assert_eq!(p.placements, vec![(0, "arn:ci/0".to_string())]);
    let r = reasons(&p);
    assert_eq!(r["arn:ci/0"], FailureReason::DistinctInstance);
    assert_eq!(r["arn:ci/1"], FailureReason::MemberOf);
    assert_eq!(r["arn:ci/2"], FailureReason::MemberOf);
}

// ----------------------------------------------------------- failure reasons

#[test]
fn failure_reasons_for_each_cause() {
    let mut instances = vec![
        inst(0, 4096, 4096),
        inst(1, 100, 4096),
        inst(2, 4096, 100),
        inst(3, 4096, 4096),
        inst(4, 4096, 4096),
        inst(5, 4096, 4096),
        inst(6, 4096, 4096),
    ];
    instances[0].agent_connected = false;
    instances[3].remaining.ports.insert(80);
    instances[4].remaining.ports_udp.insert(53);
    std::sync::Arc::make_mut(&mut instances[5].attributes).remove("ecs.capability.x");
    instances[6].status = InstanceStatus::Draining;
    for i in [0, 1, 2, 3, 4, 6] {
        std::sync::Arc::make_mut(&mut instances[i].attributes).insert("ecs.capability.x".into(), None);
    }
    let mut req = request(512, 512, 1);
    req.demand.ports.insert(80);
    req.demand.ports_udp.insert(53);
    req.required_attributes = vec![RequiredAttribute {
        name: "ecs.capability.x".into(),
        value: None,
    }];
    let p = run(&mut instances, &req);
    assert!(p.placements.is_empty());
    let codes: Vec<(&str, &str)> = p.failures.iter().map(|f| (f.arn.as_str(), f.reason.code())).collect();
    assert_eq!(
        codes,
        vec![
            ("arn:ci/0", "AGENT"),
            ("arn:ci/1", "RESOURCE:CPU"),
            ("arn:ci/2", "RESOURCE:MEMORY"),
            ("arn:ci/3", "RESOURCE:PORTS"),
            ("arn:ci/4", "RESOURCE:PORTS"),
            ("arn:ci/5", "ATTRIBUTE"),
        ],
        "the DRAINING instance is neither a candidate nor reported"
    );
    assert_eq!(p.failures[5].detail, "missing required attribute ecs.capability.x");
    assert_eq!(p.failures[4].detail, "host port 53/udp already in use on the instance");
    assert_eq!(
        p.failures[1].detail,
        "task needs 512 CPU units, 100 remain on the instance"
    );
}

#[test]
fn required_attribute_with_value_must_match() {
    let mut instances = vec![
        inst(0, 4096, 4096).with_attribute("ecs.os-type", Some("windows")),
        inst(1, 4096, 4096).with_attribute("ecs.os-type", Some("linux")),
    ];
    let mut req = request(128, 128, 2);
    req.required_attributes = vec![RequiredAttribute {
        name: "ecs.os-type".into(),
        value: Some("linux".into()),
    }];
    let p = run(&mut instances, &req);
    assert_eq!(per_instance(&p).into_keys().collect::<Vec<_>>(), vec!["arn:ci/1"]);
}

#[test]
fn fixed_host_ports_allow_one_task_per_instance() {
    let mut instances: Vec<_> = (0..3).map(|n| inst(n, 8192, 8192)).collect();
    let mut req = request(128, 128, 4);
    req.demand.ports.insert(80);
    req.strategies = vec![PlacementStrategy::binpack("memory")];
    let p = run(&mut instances, &req);
    assert_eq!(p.placements.len(), 3);
    assert_eq!(per_instance(&p).len(), 3);
    assert!(p.failures.iter().all(|f| f.reason == FailureReason::ResourcePorts));
    assert!(instances.iter().all(|i| i.remaining.ports.contains(&80)));
}

#[test]
fn draining_and_disconnected_instances_never_get_tasks() {
    let mut instances: Vec<_> = (0..4).map(|n| inst(n, 8192, 8192)).collect();
    instances[0].status = InstanceStatus::Draining;
    instances[1].agent_connected = false;
    instances[2].status = InstanceStatus::Inactive;
    let p = run(&mut instances, &request(128, 128, 10));
    assert_eq!(per_instance(&p).into_keys().collect::<Vec<_>>(), vec!["arn:ci/3"]);
}

#[test]
fn no_active_instances_is_an_error() {
    let req = request(128, 128, 1);
    let err = place(&mut [], &req, &mut StdRng::seed_from_u64(0)).unwrap_err();
    assert_eq!(err, PlacementError::NoContainerInstances);
    assert_eq!(err.to_string(), "No Container Instances were found in your cluster.");
    let mut draining = vec![inst(0, 1024, 1024)];
    draining[0].status = InstanceStatus::Draining;
    assert_eq!(
        place(&mut draining, &req, &mut StdRng::seed_from_u64(0)).unwrap_err(),
        PlacementError::NoContainerInstances
    );
}

#[test]
fn failures_are_deduplicated_by_instance() {
    let mut instances = vec![inst(0, 100, 100), inst(0, 100, 100), inst(1, 100, 100)];
    let p = run(&mut instances, &request(512, 512, 3));
    let arns: Vec<&str> = p.failures.iter().map(|f| f.arn.as_str()).collect();
    assert_eq!(arns, vec!["arn:ci/0", "arn:ci/1"]);
}

#[test]
fn placing_updates_the_instances() {
    let mut instances = vec![inst(0, 1024, 2048)];
    let mut req = request(256, 512, 2);
    req.demand.ports.insert(8080);
    req.demand.ports.insert(0);
    req.count = 1;
    let p = run(&mut instances, &req);
    assert_eq!(p.placements, vec![(0, "arn:ci/0".to_string())]);
    let i = &instances[0];
    assert_eq!((i.remaining.cpu, i.remaining.memory), (768, 1536));
    assert_eq!(i.remaining.ports, BTreeSet::from([8080]));
    assert_eq!(
        *i.tasks,
        vec![TaskOnInstance {
            group: "service:web".into(),
            family: "web".into(),
            task_definition_arn: "arn:td/web:1".into(),
        }]
    );
    assert_eq!(i.registered.cpu, 1024, "registered resources are untouched");
}

#[test]
fn zero_count_places_nothing() {
    let mut instances = vec![inst(0, 1024, 1024)];
    let p = run(&mut instances, &request(1, 1, 0));
    assert_eq!(p, Placement::default());
}

#[test]
fn ten_thousand_instances() {
    let mut instances: Vec<_> = (0..10_000).map(|n| in_az(n, ["a", "b", "c"][n % 3])).collect();
    let mut req = request(256, 512, 10);
    req.strategies = vec![
        PlacementStrategy::spread("attribute:ecs.availability-zone"),
        PlacementStrategy::binpack("memory"),
    ];
    let start = std::time::Instant::now();
    let p = run(&mut instances, &req);
    let took = start.elapsed();
    assert_eq!(p.placements.len(), 10);
    let by_az: Vec<usize> = per_az(&p, &instances).into_values().collect();
    assert!(by_az.iter().all(|n| (3..=4).contains(n)), "{by_az:?}");
    eprintln!("10,000 instances, 10 tasks: {took:?} (unoptimised build)");
}

// ---------------------------------------------------------------- validation

#[test]
fn invalid_requests_are_rejected() {
    let mut instances = vec![inst(0, 1024, 1024)];
    let check = |req: &PlacementRequest, instances: &mut Vec<InstanceView>| {
        place(instances, req, &mut StdRng::seed_from_u64(0))
            .unwrap_err()
            .to_string()
    };

    let mut req = request(1, 1, 1);
    req.constraints = vec![PlacementConstraint::distinct_instance(); 11];
    assert!(check(&req, &mut instances).contains("Too many placement constraints: 11"));

    let mut req = request(1, 1, 1);
    req.strategies = vec![PlacementStrategy::random(); 6];
    assert!(check(&req, &mut instances).contains("Too many placement strategies: 6"));

    let mut req = request(1, 1, 1);
    req.constraints = vec![PlacementConstraint {
        kind: berth_scheduler::ConstraintType::DistinctInstance,
        expression: Some("attribute:a exists".into()),
    }];
    assert!(check(&req, &mut instances).contains("can't be specified for the distinctInstance"));

    let mut req = request(1, 1, 1);
    req.constraints = vec![PlacementConstraint {
        kind: berth_scheduler::ConstraintType::MemberOf,
        expression: None,
    }];
    assert!(check(&req, &mut instances).contains("memberOf constraint type requires an expression"));

    let mut req = request(1, 1, 1);
    req.constraints = vec![PlacementConstraint::member_of("attribute:a = b")];
    let msg = check(&req, &mut instances);
    assert!(
        msg.starts_with("Invalid placement constraint expression: unexpected '='"),
        "{msg}"
    );

    for (s, want) in [
        (
            PlacementStrategy::binpack("disk"),
            "binpack strategy needs field cpu or memory, not 'disk'",
        ),
        (
            PlacementStrategy {
                kind: StrategyType::Binpack,
                field: None,
            },
            "not nothing",
        ),
        (
            PlacementStrategy::spread("zone"),
            "spread strategy needs field instanceId, host or attribute:NAME, not 'zone'",
        ),
        (PlacementStrategy::spread("attribute:"), "not 'attribute:'"),
    ] {
        let mut req = request(1, 1, 1);
        req.strategies = vec![s];
        let msg = check(&req, &mut instances);
        assert!(msg.starts_with("Invalid placement strategy: "), "{msg}");
        assert!(msg.contains(want), "{msg}");
    }

    // The same checks without instances.
    assert!(
        validate(
            &[PlacementConstraint::member_of("attribute:a exists")],
            &service_default_strategies()
        )
        .is_ok()
    );
    assert!(matches!(
        validate(&[PlacementConstraint::member_of("bogus")], &[]),
        Err(PlacementError::InvalidExpression(_))
    ));
    assert!(matches!(
        validate(
            &[],
            &[PlacementStrategy::binpack("CPU"), PlacementStrategy::spread("HOST")]
        ),
        Ok(())
    ));
    // Strategies after random are still validated.
    assert!(validate(&[], &[PlacementStrategy::random(), PlacementStrategy::binpack("x")]).is_err());
}

#[test]
fn ecs_wire_shapes_deserialize() {
    let req: PlacementRequest = serde_json::from_value(serde_json::json!({
        "demand": {"cpu": 256, "memory": 512, "ports": [80]},
        "group": "service:web",
        "constraints": [
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"},
            {"type": "distinctInstance"}
        ],
        "strategies": [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "binpack", "field": "memory"},
            {"type": "random"}
        ],
        "count": 2
    }))
    .unwrap();
    assert_eq!(req.constraints[1], PlacementConstraint::distinct_instance());
    assert_eq!(req.strategies[1], PlacementStrategy::binpack("memory"));
    let inst: InstanceView = serde_json::from_value(serde_json::json!({
        "id": "arn:ci/1", "ec2InstanceId": "i-1", "status": "DRAINING", "agentConnected": true,
        "attributes": {"ecs.os-type": "linux", "ecs.capability.privileged-container": null},
        "registered": {"cpu": 1024, "memory": 2048, "ports": [22]},
        "remaining": {"cpu": 1024, "memory": 2048, "ports": [22]}
    }))
    .unwrap();
    assert_eq!(inst.status, InstanceStatus::Draining);
    assert_eq!(inst.attributes["ecs.capability.privileged-container"], None);
    let p = Placement {
        placements: vec![(0, "arn:ci/1".into())],
        failures: vec![],
    };
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"placements":[[0,"arn:ci/1"]],"failures":[]}"#
    );
}

#[test]
fn shared_placement_matches_in_place_placement_and_copies_only_the_chosen_instances() {
    let base: Vec<InstanceView> = (0..20).map(|n| in_az(n, ["a", "b", "c"][n % 3])).collect();
    let mut req = request(512, 1024, 7);
    req.strategies = vec![PlacementStrategy::binpack("memory")];
    let shared: Vec<std::sync::Arc<InstanceView>> = base.iter().cloned().map(std::sync::Arc::new).collect();
    let (p_shared, updated) =
        berth_scheduler::place_shared(&shared, &req, &mut StdRng::seed_from_u64(7)).expect("valid request");
    let mut in_place = base.clone();
    let p_in_place = place(&mut in_place, &req, &mut StdRng::seed_from_u64(7)).expect("valid request");
    assert_eq!(p_shared, p_in_place);
    // Binpack fills one instance (8 GiB / 1 GiB tasks): one copy, with every task.
    assert_eq!(updated.len(), 1);
    let (i, view) = &updated[0];
    assert_eq!(view, &in_place[*i]);
    assert_eq!(view.tasks.len(), 7);
    assert_eq!(view.remaining.memory, 8192 - 7 * 1024);
    // The shared instances are untouched.
    assert!(shared.iter().zip(&base).all(|(s, b)| **s == *b));
}

// ---------------------------------------------------------------- zones

#[test]
fn zones_keep_tasks_to_instances_in_them_and_spread_within_them() {
    let mut instances = vec![
        in_az(0, "us-east-1a"),
        in_az(1, "us-east-1b"),
        in_az(2, "us-east-1b"),
        in_az(3, "us-east-1c"),
    ];
    let mut req = request(128, 128, 6);
    req.zones = vec!["us-east-1b".into(), "us-east-1c".into()];
    req.strategies = service_default_strategies();
    let p = run(&mut instances.clone(), &req);
    assert_eq!(p.placements.len(), 6);
    assert_eq!(
        per_az(&p, &instances),
        BTreeMap::from([("us-east-1b".to_string(), 3), ("us-east-1c".to_string(), 3)])
    );
    // No instance in the zones: nothing placed, every instance says why.
    req.zones = vec!["us-east-1d".into()];
    let p = run(&mut instances, &req);
    assert!(p.placements.is_empty());
    assert_eq!(p.failures.len(), 4);
    assert!(p.failures.iter().all(|f| f.reason == FailureReason::AvailabilityZone));
    assert_eq!(FailureReason::AvailabilityZone.code(), "ATTRIBUTE");
    assert!(p.failures[0].detail.contains("us-east-1d"), "{:?}", p.failures[0]);
    // No zones: any instance, including one without the attribute.
    let mut bare = vec![inst(9, 1024, 1024)];
    assert_eq!(run(&mut bare, &request(128, 128, 1)).placements.len(), 1);
    let mut req = request(128, 128, 1);
    req.zones = vec!["us-east-1a".into()];
    assert_eq!(
        reasons(&run(&mut bare, &req))["arn:ci/9"],
        FailureReason::AvailabilityZone
    );
}
