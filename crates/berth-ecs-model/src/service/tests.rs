//! Unit tests of the service records and the pure service rules.

use super::config::*;
use super::rules::*;
use super::*;
use serde_json::json;

#[test]
fn names_and_references() {
    assert!(validate_service_name("web-1_a").is_ok());
    assert!(validate_service_name("").is_err());
    assert!(validate_service_name("bad name").is_err());
    assert!(validate_service_name(&"x".repeat(256)).is_err());
    assert_eq!(service_name_of("arn:aws:ecs:us-east-1:1:service/c/web"), "web");
    assert_eq!(service_name_of("web"), "web");
    let id = deployment_id();
    assert!(id.starts_with("ecs-svc/") && id.len() == 8 + 19, "{id}");
}

#[test]
fn deployment_configuration_defaults_and_limits() {
    let r = default_deployment_config(false);
    assert_eq!((r.minimum_healthy_percent, r.maximum_percent), (100, 200));
    let d = default_deployment_config(true);
    assert_eq!((d.minimum_healthy_percent, d.maximum_percent), (0, 100));
    let merged = merge_deployment_config(
        &r,
        &DeploymentConfigIn {
            minimum_healthy_percent: Some(50),
            deployment_circuit_breaker: Some(CircuitBreaker {
                enable: true,
                rollback: true,
            }),
            ..Default::default()
        },
        false,
    )
    .unwrap();
    assert_eq!((merged.minimum_healthy_percent, merged.maximum_percent), (50, 200));
    assert!(merged.deployment_circuit_breaker.rollback);
    let bad = |min: Option<i64>, max: Option<i64>, daemon: bool| {
        merge_deployment_config(
            &default_deployment_config(daemon),
            &DeploymentConfigIn {
                minimum_healthy_percent: min,
                maximum_percent: max,
                ..Default::default()
            },
            daemon,
        )
        .is_err()
    };
    assert!(bad(Some(101), None, false));
    assert!(bad(None, Some(99), false));
    assert!(bad(None, Some(200), true));
    assert!(!bad(Some(0), Some(100), false));
    let strategy = DeploymentConfigIn {
        strategy: Some("BLUE_GREEN".into()),
        ..Default::default()
    };
    assert!(merge_deployment_config(&r, &strategy, false).is_err());
}

#[test]
fn placement_and_network_checks() {
    assert!(
        validate_placement(
            &[json!({"type": "distinctInstance"})],
            &[json!({"type": "spread", "field": "instanceId"})]
        )
        .is_ok()
    );
    assert!(validate_placement(&[json!({"type": "memberOf"})], &[]).is_err());
    assert!(validate_placement(&[], &[json!({"type": "binpack", "field": "disk"})]).is_err());
    let vpc = json!({"networkMode": "awsvpc"});
    assert!(check_network(&vpc, None).is_err());
    assert!(
        check_network(
            &vpc,
            Some(&json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}))
        )
        .is_ok()
    );
    assert!(check_network(&vpc, Some(&json!({}))).is_err());
    assert!(check_network(&json!({"networkMode": "bridge"}), Some(&json!({}))).is_err());
    assert!(reject_unsupported(&json!({"serviceRegistries": [{"registryArn": "x"}]})).is_err());
    assert!(reject_unsupported(&json!({"deploymentController": {"type": "CODE_DEPLOY"}})).is_err());
    assert!(reject_unsupported(&json!({"loadBalancers": []})).is_ok());
}

#[test]
fn events_are_newest_first_and_capped() {
    let mut s: ServiceRecord = serde_json::from_value(json!({
        "serviceArn": "a", "serviceName": "s", "clusterArn": "c", "status": "ACTIVE",
        "desiredCount": 1, "runningCount": 0, "pendingCount": 0, "taskDefinition": "t",
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": false, "rollback": false},
                                    "maximumPercent": 200, "minimumHealthyPercent": 100},
        "deployments": [], "events": [], "createdAt": 0.0, "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"}, "createdBy": "x", "propagateTags": "NONE",
        "berth": {"cluster": "c", "name": "s"}
    }))
    .unwrap();
    for i in 0..150 {
        s.push_event(format!("e{i}"), f64::from(i));
    }
    assert_eq!(s.events.len(), MAX_EVENTS);
    assert_eq!(s.events[0].message, "e149");
    let v = s.render(false);
    assert!(v.get("berth").is_none() && v.get("tags").is_none());
    assert!(v.get("roleArn").is_none());
}

mod load_balancers {
    use super::*;
    use serde_json::Value;

    fn lb(tg: &str, name: &str, port: i64) -> LoadBalancerIn {
        LoadBalancerIn {
            target_group_arn: Some(tg.into()),
            container_name: Some(name.into()),
            container_port: Some(port),
            ..Default::default()
        }
    }

    fn td(mode: &str) -> Value {
        json!({"networkMode": mode, "containerDefinitions": [
            {"name": "web", "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]},
            {"name": "side", "portMappings": [{"containerPort": 53, "protocol": "udp"}]}
        ]})
    }

    fn group(arn: &str, kind: TargetType, lb: bool) -> TargetGroupFacts {
        TargetGroupFacts {
            arn: arn.into(),
            target_type: kind,
            has_load_balancer: lb,
        }
    }

    const SVC: ServiceFacts<'static> = ServiceFacts {
        cluster_arn: "c1",
        scheduling_strategy: "REPLICA",
    };

    fn message(r: Result<Vec<ServiceLoadBalancer>, berth_proto::AwsError>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.code, "InvalidParameterException");
        e.message
    }

    #[test]
    fn a_valid_entry_is_stored_as_given() {
        let groups = [group("tg1", TargetType::Instance, true)];
        let out = check_load_balancers(&[lb("tg1", "web", 80)], &td("bridge"), &groups, &[], SVC).unwrap();
        assert_eq!(
            out,
            vec![ServiceLoadBalancer {
                target_group_arn: "tg1".into(),
                container_name: "web".into(),
                container_port: 80,
                advanced_configuration: None,
            }]
        );
        let shown = serde_json::to_value(&out[0]).unwrap();
        assert_eq!(
            shown,
            json!({"targetGroupArn": "tg1", "containerName": "web", "containerPort": 80})
        );
        // host mode too; a service of the same cluster and strategy may share it.
        let users = [TargetGroupUser {
            target_group_arn: "tg1".into(),
            service_arn: "s2".into(),
            cluster_arn: "c1".into(),
            scheduling_strategy: "REPLICA".into(),
        }];
        assert!(check_load_balancers(&[lb("tg1", "web", 80)], &td("host"), &groups, &users, SVC).is_ok());
    }

    #[test]
    fn entries_are_checked_before_any_lookup() {
        let six: Vec<LoadBalancerIn> = (0..6).map(|i| lb(&format!("tg{i}"), "web", 80)).collect();
        assert!(
            check_load_balancer_entries(&six)
                .unwrap_err()
                .message
                .contains("at most 5")
        );
        let five: Vec<LoadBalancerIn> = (0..5).map(|i| lb(&format!("tg{i}"), "web", 80)).collect();
        assert!(check_load_balancer_entries(&five).is_ok());
        let mut no_name = lb("tg", "web", 80);
        no_name.container_name = None;
        assert_eq!(
            check_load_balancer_entries(&[no_name]).unwrap_err().message,
            "Container Name can not be blank."
        );
        let mut no_port = lb("tg", "web", 80);
        no_port.container_port = None;
        assert!(check_load_balancer_entries(&[no_port]).is_err());
        let classic = LoadBalancerIn {
            load_balancer_name: Some("old".into()),
            ..lb("", "web", 80)
        };
        assert!(
            check_load_balancer_entries(std::slice::from_ref(&classic))
                .unwrap_err()
                .message
                .contains("cannot both")
        );
        let classic = LoadBalancerIn {
            target_group_arn: None,
            ..classic
        };
        assert!(
            check_load_balancer_entries(&[classic])
                .unwrap_err()
                .message
                .contains("Classic Load Balancers")
        );
        let blue_green = LoadBalancerIn {
            advanced_configuration: Some(json!({})),
            ..lb("tg", "web", 80)
        };
        assert!(check_load_balancer_entries(&[blue_green]).is_err());
        assert!(check_load_balancer_entries(&[lb("tg", "web", 80), lb("tg", "web", 80)]).is_err());
    }

    #[test]
    fn the_task_definition_and_the_group_must_fit() {
        let groups = [
            group("tg1", TargetType::Instance, true),
            group("ip", TargetType::Ip, true),
            group("alone", TargetType::Instance, false),
        ];
        let check = |l: LoadBalancerIn, mode: &str| check_load_balancers(&[l], &td(mode), &groups, &[], SVC);
        assert_eq!(
            message(check(lb("nope", "web", 80), "bridge")),
            "The target group with targetGroupArn nope does not exist in this region and account."
        );
        assert_eq!(
            message(check(lb("alone", "web", 80), "bridge")),
            "The target group with targetGroupArn alone does not have an associated load balancer."
        );
        assert_eq!(
            message(check(lb("ip", "web", 80), "bridge")),
            "The provided target group ip has target type ip, which is incompatible with the bridge network mode specified in the task definition."
        );
        assert_eq!(
            message(check(lb("tg1", "web", 80), "awsvpc")),
            "The provided target group tg1 has target type instance, which is incompatible with the awsvpc network mode specified in the task definition."
        );
        assert_eq!(
            message(check(lb("ip", "web", 80), "host")),
            "The provided target group ip has target type ip, which is incompatible with the host network mode specified in the task definition."
        );
        // awsvpc tasks are their own address: an ip group fits, an instance one fits bridge and host.
        assert!(check(lb("ip", "web", 80), "awsvpc").is_ok());
        assert!(check(lb("tg1", "web", 80), "host").is_ok());
        assert_eq!(
            message(check(lb("tg1", "db", 80), "bridge")),
            "The container db does not exist in the task definition."
        );
        assert_eq!(
            message(check(lb("tg1", "web", 8080), "bridge")),
            "The container web did not have a container port 8080 defined."
        );
        // A UDP mapping is not an HTTP/TCP target.
        assert!(check(lb("tg1", "side", 53), "bridge").is_err());
    }

    #[test]
    fn a_group_of_another_cluster_or_strategy_is_refused() {
        let groups = [group("tg1", TargetType::Instance, true)];
        let other = |cluster: &str, strategy: &str| TargetGroupUser {
            target_group_arn: "tg1".into(),
            service_arn: "arn:svc/other".into(),
            cluster_arn: cluster.into(),
            scheduling_strategy: strategy.into(),
        };
        for user in [other("c2", "REPLICA"), other("c1", "DAEMON")] {
            let m = message(check_load_balancers(
                &[lb("tg1", "web", 80)],
                &td("bridge"),
                &groups,
                &[user],
                SVC,
            ));
            assert!(m.contains("already associated with the service arn:svc/other"), "{m}");
        }
    }

    #[test]
    fn host_ports_come_from_the_bindings() {
        let b = vec![
            json!({"containerPort": 80, "hostPort": 32768, "protocol": "tcp", "bindIP": "0.0.0.0"}),
            json!({"containerPort": 53, "hostPort": 5353, "protocol": "udp"}),
        ];
        assert_eq!(host_port_of(&b, 80), Some(32768));
        let apart = vec![
            json!({"containerPort": 80, "hostPort": 49000, "protocol": "tcp", "bindIP": "::"}),
            json!({"containerPort": 80, "hostPort": 32769, "protocol": "tcp", "bindIP": "0.0.0.0"}),
        ];
        assert_eq!(host_port_of(&apart, 80), Some(32769));
        assert_eq!(host_port_of(&b, 53), None);
        assert_eq!(host_port_of(&[], 80), None);
        assert_eq!(host_port_of(&[json!({"containerPort": 80, "hostPort": 0})], 80), None);
    }

    #[test]
    fn wording_as_ecs_writes_it() {
        assert_eq!(
            registered_event("web", 1, "arn:tg"),
            "(service web) registered 1 targets in (target-group arn:tg)"
        );
        assert_eq!(
            deregistered_event("web", 2, "arn:tg"),
            "(service web) deregistered 2 targets in (target-group arn:tg)"
        );
        assert_eq!(
            draining_event("web", 1),
            "(service web) has begun draining connections on 1 tasks."
        );
        let r = elb_health_stop_reason("arn:tg");
        assert_eq!(r, "Task failed ELB health checks in (target-group arn:tg)");
        assert!(is_elb_health_stop_reason(&r));
        assert!(!is_elb_health_stop_reason("Task failed container health checks"));
        assert_eq!(
            unhealthy_event("web", "ecs-svc/1", "i-1", 32768, "arn:tg", "Health checks failed"),
            "(service web, taskSet ecs-svc/1) (instance i-1) (port 32768) is unhealthy in (target-group arn:tg) due to (reason Health checks failed)."
        );
        // An awsvpc task's target is its address: ECS names no instance.
        assert_eq!(
            unhealthy_event("web", "ecs-svc/1", "10.213.0.7", 80, "arn:tg", "Request timed out"),
            "(service web, taskSet ecs-svc/1) (port 80) is unhealthy in (target-group arn:tg) due to (reason Request timed out)."
        );
    }
}

#[test]
fn drained_tasks_are_taken_out_and_the_rest_wait_or_are_forgotten() {
    let task = |id: &str, desired: &str| -> crate::task::TaskRecord {
        serde_json::from_value(json!({
            "taskArn": id, "clusterArn": "c", "taskDefinitionArn": "td", "lastStatus": "RUNNING",
            "desiredStatus": desired, "cpu": "0", "memory": "0", "containers": [], "createdAt": 1.0,
            "group": "service:s", "launchType": "EC2", "version": 1, "healthStatus": "UNKNOWN",
            "berth": {"cluster": "c", "id": id}
        }))
        .unwrap()
    };
    let draining = |id: &str, until: f64| DrainingTask {
        task_id: id.into(),
        until,
        reason: "scale-in".into(),
    };
    let mut internal: ServiceInternal = serde_json::from_value(json!({"cluster": "c", "name": "s"})).unwrap();
    internal.draining_tasks = vec![
        draining("done", 10.0),
        draining("later", 30.0),
        draining("soon", 20.0),
        draining("gone", 5.0),
    ];
    let (done, later, soon, gone) = (
        task("done", "RUNNING"),
        task("later", "RUNNING"),
        task("soon", "RUNNING"),
        task("gone", "STOPPED"),
    );
    let (drained, next) = internal.take_drained(&[&done, &later, &soon, &gone], 15.0);
    assert_eq!(drained.iter().map(|d| d.task_id.as_str()).collect::<Vec<_>>(), ["done"]);
    assert_eq!(next, Some(20.0));
    let left: Vec<&str> = internal.draining_tasks.iter().map(|d| d.task_id.as_str()).collect();
    assert_eq!(left, ["later", "soon"]);
}

#[test]
fn lifecycle_hooks_need_a_traffic_shifting_strategy() {
    let r = default_deployment_config(false);
    let pause = json!({"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]});
    let with = |strategy: &str, hooks: Vec<serde_json::Value>| DeploymentConfigIn {
        strategy: Some(strategy.into()),
        bake_time_in_minutes: (strategy == "BLUE_GREEN").then_some(1),
        lifecycle_hooks: Some(hooks),
        ..Default::default()
    };
    let bg = merge_deployment_config(&r, &with("BLUE_GREEN", vec![pause.clone()]), false).unwrap();
    assert_eq!(bg.lifecycle_hooks.len(), 1);
    assert_eq!(
        serde_json::to_value(&bg).unwrap()["lifecycleHooks"],
        json!([{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}])
    );
    // An update without lifecycleHooks keeps them; an empty list clears them.
    let kept = merge_deployment_config(&bg, &DeploymentConfigIn::default(), false).unwrap();
    assert_eq!(kept.lifecycle_hooks.len(), 1);
    let cleared = merge_deployment_config(
        &bg,
        &DeploymentConfigIn {
            lifecycle_hooks: Some(vec![]),
            ..Default::default()
        },
        false,
    )
    .unwrap();
    assert!(cleared.lifecycle_hooks.is_empty());
    // Back to ROLLING: the hooks go with the other settings.
    let rolling = DeploymentConfigIn {
        strategy: Some("ROLLING".into()),
        ..Default::default()
    };
    assert!(
        merge_deployment_config(&bg, &rolling, false)
            .unwrap()
            .lifecycle_hooks
            .is_empty()
    );
    let e = merge_deployment_config(&r, &with("ROLLING", vec![pause.clone()]), false).unwrap_err();
    assert!(e.message.contains("ROLLING"), "{}", e.message);
    let lambda = json!({"targetType": "AWS_LAMBDA", "hookTargetArn": "arn:aws:lambda:us-east-1:1:function:f",
                        "roleArn": "r", "lifecycleStages": ["POST_SCALE_UP"]});
    let e = merge_deployment_config(&r, &with("CANARY", vec![pause, lambda]), false).unwrap_err();
    assert!(e.message.contains("no Lambda"), "{}", e.message);
}
