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
    assert!(reject_unsupported(&json!({"loadBalancers": [{"targetGroupArn": "x"}]})).is_err());
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
