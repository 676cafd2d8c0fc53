//! Unit tests of the task records and the pure task rules.

use super::*;
use crate::{CapacityProviderStrategyItem, TaskStatus};
use serde_json::{Value, json};

#[test]
fn status_order() {
    let order = [
        "PROVISIONING",
        "PENDING",
        "ACTIVATING",
        "RUNNING",
        "DEACTIVATING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
    ];
    for w in order.windows(2) {
        assert!(TaskStatus::rank_of(w[0]) < TaskStatus::rank_of(w[1]));
    }
    assert_eq!(TaskStatus::rank_of("BOGUS"), None);
}

#[test]
fn references() {
    assert_eq!(task_id_of("arn:aws:ecs:us-east-1:1:task/c/abc"), "abc");
    assert_eq!(task_id_of("arn:aws:ecs:us-east-1:1:task/abc"), "abc");
    assert_eq!(task_id_of("abc"), "abc");
    assert_eq!(
        instance_id_of("arn:aws:ecs:us-east-1:1:container-instance/c/xyz"),
        "xyz"
    );
}

#[test]
fn cpu_and_memory_strings() {
    assert_eq!(task_cpu_units("256").unwrap(), 256);
    assert_eq!(task_cpu_units("1 vCPU").unwrap(), 1024);
    assert_eq!(task_cpu_units("0.25 vcpu").unwrap(), 256);
    assert_eq!(task_memory_mib("512").unwrap(), 512);
    assert_eq!(task_memory_mib("2 GB").unwrap(), 2048);
    assert_eq!(task_memory_mib("0.5GB").unwrap(), 512);
    assert!(task_cpu_units("lots").is_err());
    assert!(task_memory_mib("-1 GB").is_err());
    // AWS's range starts at 128 CPU units: 0 is refused, as at
    // registration.
    assert!(task_cpu_units("0").is_err());
    assert!(task_memory_mib("0").is_err());
}

fn td() -> Value {
    json!({
        "family": "web",
        "networkMode": "bridge",
        "containerDefinitions": [
            {"name": "app", "image": "app", "cpu": 128, "memory": 256,
             "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81},
                              {"containerPort": 53, "hostPort": 53, "protocol": "udp"}]},
            {"name": "side", "image": "side", "memoryReservation": 64, "essential": false}
        ]
    })
}

#[test]
fn sizing_sums_containers_and_fixed_ports() {
    let (d, sizes) = size_task(&td(), &TaskOverrideIn::default()).unwrap();
    assert_eq!((d.cpu, d.memory), (128, 320));
    assert_eq!(d.ports, [8080].into_iter().collect());
    assert_eq!(d.ports_udp, [53].into_iter().collect());
    assert_eq!(sizes[1].memory_reservation, Some(64));
    // Overrides change the sums; task-level values win.
    let o = TaskOverrideIn {
        container_overrides: vec![ContainerOverrideIn {
            name: Some("app".into()),
            memory: Some(1024),
            ..Default::default()
        }],
        cpu: Some("1 vCPU".into()),
        memory: None,
    };
    let (d, _) = size_task(&td(), &o).unwrap();
    assert_eq!((d.cpu, d.memory), (1024, 1088));
    // Unknown container, duplicated override, reservation above limit.
    let bad = |name: &str, mem: Option<i64>, res: Option<i64>| TaskOverrideIn {
        container_overrides: vec![ContainerOverrideIn {
            name: Some(name.into()),
            memory: mem,
            memory_reservation: res,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(size_task(&td(), &bad("nope", None, None)).is_err());
    assert!(size_task(&td(), &bad("app", Some(100), Some(200))).is_err());
    let mut dup = bad("app", None, None);
    dup.container_overrides.push(dup.container_overrides[0].clone());
    assert!(size_task(&td(), &dup).is_err());
    // host mode reserves the container port; awsvpc (the task's own
    // address) reserves no host port.
    let mut host = td();
    host["networkMode"] = json!("host");
    let (d, _) = size_task(&host, &TaskOverrideIn::default()).unwrap();
    assert_eq!(d.ports, [8080, 81].into_iter().collect());
    let mut vpc = td();
    vpc["networkMode"] = json!("awsvpc");
    let (d, _) = size_task(&vpc, &TaskOverrideIn::default()).unwrap();
    assert!(d.ports.is_empty() && d.ports_udp.is_empty());
}

#[test]
fn a_container_with_both_limits_reserves_its_soft_limit() {
    // ECS: "If you specify memoryReservation, then that value is subtracted
    // from the available memory resources for the container instance".
    let mut both = td();
    both["containerDefinitions"][0]["memoryReservation"] = json!(128);
    let (d, sizes) = size_task(&both, &TaskOverrideIn::default()).unwrap();
    assert_eq!(d.memory, 128 + 64);
    assert_eq!((sizes[0].memory, sizes[0].memory_reservation), (Some(256), Some(128)));
}

#[test]
fn overrides_render_every_container() {
    let o = render_overrides(
        &td(),
        Some(&json!({"containerOverrides": [{"name": "side", "command": ["x"]}], "taskRoleArn": "r"})),
    );
    assert_eq!(
        o["containerOverrides"],
        json!([{"name": "app"}, {"name": "side", "command": ["x"]}])
    );
    assert_eq!(o["taskRoleArn"], "r");
    assert_eq!(o["inferenceAcceleratorOverrides"], json!([]));
}

#[test]
fn strategy_split() {
    let item = |p: &str, w: i64, b: i64| CapacityProviderStrategyItem {
        capacity_provider: p.into(),
        weight: w,
        base: b,
    };
    let s = split_by_strategy(&[item("FARGATE", 1, 2), item("FARGATE_SPOT", 3, 0)], 6);
    assert_eq!(&s[..2], &["FARGATE", "FARGATE"]);
    assert_eq!(s.iter().filter(|p| *p == "FARGATE_SPOT").count(), 3);
    assert_eq!(s.len(), 6);
}

#[test]
fn strategy_split_as_ecs_documents() {
    // FARGATE base 1 weight 1, FARGATE_SPOT weight 3, 9 tasks: the base
    // first, the other 8 by 1:3 -> FARGATE 1 + 2, FARGATE_SPOT 6.
    let item = |p: &str, w: i64, b: i64| CapacityProviderStrategyItem {
        capacity_provider: p.into(),
        weight: w,
        base: b,
    };
    let strategy = [item("FARGATE", 1, 1), item("FARGATE_SPOT", 3, 0)];
    let s = split_by_strategy(&strategy, 9);
    let count = |s: &[String], p: &str| s.iter().filter(|q| *q == p).count();
    assert_eq!((count(&s, "FARGATE"), count(&s, "FARGATE_SPOT")), (3, 6));
    // Started one by one, the same split.
    let mut running: Vec<String> = vec![];
    for _ in 0..9 {
        let next = split_with_existing(&strategy, &running, 1);
        running.extend(next);
    }
    assert_eq!((count(&running, "FARGATE"), count(&running, "FARGATE_SPOT")), (3, 6));
    // A FARGATE_SPOT task interrupted: its replacement is FARGATE_SPOT.
    let pos = running.iter().position(|p| p == "FARGATE_SPOT").unwrap();
    running.remove(pos);
    assert_eq!(
        split_with_existing(&strategy, &running, 1),
        vec!["FARGATE_SPOT".to_string()]
    );
    // The base task lost: replaced on the base's provider.
    let pos = running.iter().position(|p| p == "FARGATE").unwrap();
    running.remove(pos);
    assert_eq!(split_with_existing(&strategy, &running, 1), vec!["FARGATE".to_string()]);
    // Tasks on a provider the strategy no longer names count for nothing.
    let odd = vec!["OTHER".to_string(); 3];
    assert_eq!(split_with_existing(&strategy, &odd, 2).len(), 2);
    assert_eq!(split_with_existing(&strategy, &odd, 2)[0], "FARGATE");
}

#[test]
fn custom_providers_launch_as_ec2_and_are_not_mixed_with_fargate() {
    let cluster = cluster_with(&["FARGATE", "pool"], &[]);
    let item = |p: &str| CapacityProviderStrategyItem {
        capacity_provider: p.into(),
        weight: 1,
        base: 0,
    };
    let (lt, providers) = launch_of(&cluster, None, &[item("pool")], 2).unwrap();
    assert_eq!(
        (lt.as_str(), providers),
        ("EC2", vec!["pool".to_string(), "pool".to_string()])
    );
    assert_eq!(launch_of(&cluster, None, &[item("FARGATE")], 1).unwrap().0, "FARGATE");
    let e = launch_of(&cluster, None, &[item("FARGATE"), item("pool")], 1).unwrap_err();
    assert!(e.message.contains("not both"), "{}", e.message);
    assert!(check_strategy_kinds(&[item("FARGATE_SPOT"), item("FARGATE")]).is_ok());
    assert!(is_custom_strategy(&[item("pool")]) && !is_custom_strategy(&[]));
    assert!(check_strategy_kinds(&[item("pool"), item("other")]).is_err());
    assert_eq!(deployment_launch(None, &[item("pool")], &[], 1).0, "EC2");
}

#[test]
fn canonical_json_ignores_key_order() {
    let a = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
    let b = json!({"a": {"x": null, "y": [1, 2]}, "b": 1});
    assert_eq!(canonical_json(&a), canonical_json(&b));
    assert_ne!(canonical_json(&a), canonical_json(&json!({"b": 2})));
}

#[test]
fn tokens_and_started_by() {
    assert!(validate_client_token("abc-123").is_ok());
    assert!(validate_client_token("has space").is_err());
    assert!(validate_client_token(&"x".repeat(65)).is_err());
    assert!(validate_started_by("ecs-svc/123_a").is_ok());
    assert!(validate_started_by("bad!").is_err());
}

fn cluster_with(providers: &[&str], default: &[(&str, i64, i64)]) -> crate::ClusterRecord {
    serde_json::from_value(json!({
        "clusterName": "c", "clusterArn": "arn:aws:ecs:r:1:cluster/c", "status": "ACTIVE",
        "capacityProviders": providers,
        "defaultCapacityProviderStrategy": default.iter()
            .map(|(p, w, b)| json!({"capacityProvider": p, "weight": w, "base": b}))
            .collect::<Vec<_>>(),
    }))
    .unwrap()
}

#[test]
fn launch_type_resolution() {
    let plain = cluster_with(&[], &[]);
    assert_eq!(launch_of(&plain, None, &[], 2).unwrap(), ("EC2".to_string(), vec![]));
    assert_eq!(launch_of(&plain, Some("FARGATE"), &[], 1).unwrap().0, "FARGATE");
    assert!(launch_of(&plain, Some("MANAGED_INSTANCES"), &[], 1).is_err());
    let item = CapacityProviderStrategyItem {
        capacity_provider: "FARGATE".into(),
        weight: 1,
        base: 0,
    };
    assert!(launch_of(&plain, Some("EC2"), std::slice::from_ref(&item), 1).is_err());
    let with_default = cluster_with(&["FARGATE"], &[("FARGATE", 1, 0)]);
    let (lt, providers) = launch_of(&with_default, None, &[], 3).unwrap();
    assert_eq!((lt.as_str(), providers.len()), ("FARGATE", 3));
    let (lt, providers) = launch_of(&with_default, None, std::slice::from_ref(&item), 2).unwrap();
    assert_eq!((lt.as_str(), providers), ("FARGATE", vec!["FARGATE".to_string(); 2]));
    // A deployment keeps what was resolved when it was made.
    assert_eq!(
        deployment_launch(Some("EXTERNAL"), &[], &[], 1),
        ("EXTERNAL".to_string(), vec![])
    );
    assert_eq!(deployment_launch(None, &[], &[], 1), ("EC2".to_string(), vec![]));
    assert_eq!(
        deployment_launch(None, std::slice::from_ref(&item), &[], 2),
        ("FARGATE".to_string(), vec!["FARGATE".to_string(); 2])
    );
}

#[test]
fn launch_type_compatibility() {
    let ec2_only = json!({"compatibilities": ["EC2"], "networkMode": "bridge"});
    assert!(check_compatibility(&ec2_only, "EC2").is_ok());
    let e = check_compatibility(&ec2_only, "FARGATE").unwrap_err();
    assert_eq!(e.message, "Task definition does not support launch_type FARGATE.");
    // FARGATE needs awsvpc even when the definition lists it.
    assert!(
        check_compatibility(
            &json!({"compatibilities": ["EC2", "FARGATE"], "networkMode": "bridge"}),
            "FARGATE"
        )
        .is_err()
    );
    assert!(
        check_compatibility(
            &json!({"compatibilities": ["FARGATE"], "networkMode": "awsvpc"}),
            "FARGATE"
        )
        .is_ok()
    );
    // No compatibilities recorded: any launch type the network mode allows.
    assert!(check_compatibility(&json!({}), "EXTERNAL").is_ok());
}

#[test]
fn client_token_reuse() {
    let tok = TokenRecord::new("{\"a\":1}", vec!["arn:t1".into(), "arn:t2".into()], 100.0);
    assert!(tok.live_at(100.0));
    assert!(tok.live_at(100.0 + CLIENT_TOKEN_TTL_SECS - 1.0));
    assert!(!tok.live_at(100.0 + CLIENT_TOKEN_TTL_SECS));
    assert_eq!(tok.answer_for("{\"a\":1}").unwrap(), ["arn:t1", "arn:t2"]);
    let e = tok.answer_for("{\"a\":2}").unwrap_err();
    assert_eq!(e.code, "ConflictException");
    assert!(e.message.ends_with("Existing tasks: arn:t1, arn:t2"));
}

#[test]
fn stored_tasks_read_back_unchanged_whatever_their_status() {
    for (last, desired) in [("RUNNING", "RUNNING"), ("FROM_A_LATER_VERSION", "ALSO_UNKNOWN")] {
        let stored = json!({
            "taskArn": "t", "clusterArn": "c", "taskDefinitionArn": "td", "lastStatus": last,
            "desiredStatus": desired, "cpu": "0", "memory": "0", "containers": [], "createdAt": 1.0,
            "group": "family:x", "launchType": "EC2", "version": 1, "tags": [], "overrides": null,
            "attachments": [], "healthStatus": "UNKNOWN", "enableExecuteCommand": false,
            "berth": {"cluster": "c", "id": "t", "family": "", "revision": 0,
                      "demand": serde_json::to_value(berth_scheduler::TaskDemand::default()).unwrap(),
                      "reserved": false, "agentSeen": false, "agentStopped": false,
                      "essential": [], "healthChecked": []}
        });
        let t: TaskRecord = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(t.last_status.as_str(), last);
        assert_eq!(serde_json::to_value(&t).unwrap(), stored);
    }
}

#[test]
fn fargate_refuses_placement_and_other_platform_versions() {
    assert!(check_fargate_launch("FARGATE", None, false, false).is_ok());
    assert!(check_fargate_launch("FARGATE", Some("LATEST"), false, false).is_ok());
    assert!(check_fargate_launch("FARGATE", Some("1.4.0"), false, false).is_ok());
    let e = check_fargate_launch("FARGATE", Some("1.3.0"), false, false).unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    assert!(
        e.message.contains("1.3.0") && e.message.contains("LATEST, 1.4.0"),
        "{}",
        e.message
    );
    let e = check_fargate_launch("FARGATE", None, true, false).unwrap_err();
    assert_eq!(
        e.message,
        "Placement strategies are not supported with FARGATE launch type."
    );
    let e = check_fargate_launch("FARGATE", None, false, true).unwrap_err();
    assert_eq!(
        e.message,
        "Placement constraints are not supported with FARGATE launch type."
    );
    assert!(check_fargate_launch("EC2", None, true, true).is_ok());
    let e = check_fargate_launch("EC2", Some("LATEST"), false, false).unwrap_err();
    assert!(e.message.contains("only valid for the FARGATE launch type"));
}

#[test]
fn launch_overrides_keep_ephemeral_storage_and_fargate_sizes_valid() {
    let td = json!({"cpu": "256", "memory": "512"});
    assert!(check_launch_overrides("FARGATE", &td, None).is_ok());
    assert!(check_launch_overrides("FARGATE", &td, Some(&json!({"ephemeralStorage": {"sizeInGiB": 21}}))).is_ok());
    for bad in [
        json!({"sizeInGiB": 20}),
        json!({"sizeInGiB": 201}),
        json!({"sizeInGiB": "30"}),
        json!({}),
    ] {
        let e = check_launch_overrides("EC2", &td, Some(&json!({"ephemeralStorage": bad}))).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert!(e.message.contains("between 21 and 200 GiB"), "{}", e.message);
    }
    assert!(check_launch_overrides("FARGATE", &td, Some(&json!({"cpu": "512", "memory": "1 GB"}))).is_ok());
    let e = check_launch_overrides("FARGATE", &td, Some(&json!({"memory": "4096"}))).unwrap_err();
    assert!(
        e.message
            .starts_with("No Fargate configuration exists for given values: 256 CPU, 4096 memory."),
        "{}",
        e.message
    );
    assert!(check_launch_overrides("EC2", &td, Some(&json!({"memory": "4096"}))).is_ok());
    let e = check_launch_overrides("FARGATE", &td, Some(&json!({"cpu": "lots"}))).unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
}

#[test]
fn the_instance_cluster_comes_from_the_instance_arn() {
    let arn = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/abc";
    assert_eq!(instance_cluster_of(arn), Some("default"));
    assert_eq!(
        instance_cluster_of("arn:aws:ecs:us-east-1:1:container-instance/abc"),
        None
    );
    assert_eq!(instance_cluster_of("abc"), None);
    assert_eq!(instance_cluster_of("arn:aws:ecs:us-east-1:1:task/default/abc"), None);
    let mut t: TaskRecord = serde_json::from_value(json!({
        "taskArn": "t", "clusterArn": "c", "taskDefinitionArn": "td", "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING", "cpu": "0", "memory": "0", "containers": [], "createdAt": 1.0,
        "group": "family:x", "launchType": "FARGATE", "version": 1, "tags": [], "overrides": null,
        "attachments": [], "healthStatus": "UNKNOWN", "enableExecuteCommand": false,
        "berth": {"cluster": "prod", "id": "t"}
    }))
    .unwrap();
    assert_eq!(t.instance_cluster(), "prod", "no instance: its own cluster");
    t.container_instance_arn = Some(arn.into());
    assert_eq!(t.instance_cluster(), "default", "a shared host of another cluster");
    t.container_instance_arn = Some("arn:aws:ecs:us-east-1:000000000000:container-instance/prod/x".into());
    assert_eq!(t.instance_cluster(), "prod");
}
