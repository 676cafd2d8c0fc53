//! The service API through `Ecs::call`: create, describe, list, update and
//! delete with their validation, execute command and network configuration.

#[path = "support/services_env.rs"]
mod support;

use berth_testkit::eventually;
use serde_json::json;
use std::sync::atomic::Ordering;
use support::*;

#[tokio::test]
async fn create_describe_list_update_delete_and_validation() {
    let env = Env::new().await;
    env.agent_on.store(false, Ordering::SeqCst);
    let td = env.task_definition("web").await;

    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "nope:1", "desiredCount": 1}),
        )
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "d", "taskDefinition": td, "desiredCount": 1, "schedulingStrategy": "DAEMON"}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "bad name", "taskDefinition": td}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "deploymentConfiguration": {"minimumHealthyPercent": 150}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "loadBalancers": [{"targetGroupArn": "x", "containerName": "app", "containerPort": 80}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "placementConstraints": [{"type": "memberOf"}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");

    let create = json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 0, "clientToken": "tok-1",
                        "tags": [{"key": "team", "value": "a"}], "propagateTags": "SERVICE"});
    let s = env.ok("CreateService", create.clone()).await["service"].clone();
    assert_eq!(
        s["serviceArn"],
        "arn:aws:ecs:us-east-1:000000000000:service/default/web"
    );
    assert_eq!(s["clusterArn"], "arn:aws:ecs:us-east-1:000000000000:cluster/default");
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["taskDefinition"], td);
    assert_eq!(s["launchType"], "EC2");
    assert_eq!(s["schedulingStrategy"], "REPLICA");
    assert_eq!(s["deploymentConfiguration"]["minimumHealthyPercent"], 100);
    assert_eq!(s["deploymentConfiguration"]["maximumPercent"], 200);
    assert_eq!(
        s["deploymentConfiguration"]["deploymentCircuitBreaker"],
        json!({"enable": false, "rollback": false})
    );
    assert_eq!(
        s["placementStrategy"],
        json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "spread", "field": "instanceId"}])
    );
    assert_eq!(s["deploymentController"], json!({"type": "ECS"}));
    assert!(s.get("roleArn").is_none());
    assert!(s.get("berth").is_none());
    let d = &s["deployments"][0];
    assert_eq!(d["status"], "PRIMARY");
    assert_eq!(d["rolloutState"], "IN_PROGRESS");
    assert!(d["id"].as_str().unwrap().starts_with("ecs-svc/"));
    let digits = d["id"].as_str().unwrap().trim_start_matches("ecs-svc/");
    assert_eq!(
        s["currentServiceDeployment"],
        format!("arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/{digits}")
    );
    assert_eq!(s["currentServiceRevisions"][0]["requestedTaskCount"], 0);
    // Idempotent with the same token; a different request conflicts.
    let again = env.ok("CreateService", create.clone()).await["service"].clone();
    assert_eq!(again["deployments"][0]["id"], d["id"]);
    let mut other = create.clone();
    other["desiredCount"] = json!(2);
    let e = env.err("CreateService", other).await;
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(e.message, "Creation of service was not idempotent.");

    env.ok(
        "CreateService",
        json!({"serviceName": "daemon", "taskDefinition": td, "schedulingStrategy": "DAEMON"}),
    )
    .await;
    let v = env
        .ok(
            "DescribeServices",
            json!({"services": ["web", "ghost"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(v["services"][0]["tags"], json!([{"key": "team", "value": "a"}]));
    assert_eq!(
        v["failures"],
        json!([{"arn": "arn:aws:ecs:us-east-1:000000000000:service/default/ghost", "reason": "MISSING"}])
    );
    let arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
    env.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "env", "value": "prod"}]}),
    )
    .await;
    let tags = env.ok("ListTagsForResource", json!({"resourceArn": arn})).await;
    assert_eq!(tags["tags"].as_array().unwrap().len(), 2, "{tags}");
    let d = env.service("daemon").await;
    assert_eq!(d["deploymentConfiguration"]["minimumHealthyPercent"], 0);
    assert_eq!(d["deploymentConfiguration"]["maximumPercent"], 100);

    let all = env.ok("ListServices", json!({})).await;
    assert_eq!(all["serviceArns"].as_array().unwrap().len(), 2);
    let daemons = env.ok("ListServices", json!({"schedulingStrategy": "DAEMON"})).await;
    assert_eq!(daemons["serviceArns"].as_array().unwrap().len(), 1);
    let page = env.ok("ListServices", json!({"maxResults": 1})).await;
    assert_eq!(page["serviceArns"].as_array().unwrap().len(), 1);
    let rest = env
        .ok("ListServices", json!({"maxResults": 1, "nextToken": page["nextToken"]}))
        .await;
    assert_eq!(rest["serviceArns"].as_array().unwrap().len(), 1);
    assert_ne!(rest["serviceArns"][0], page["serviceArns"][0]);
    assert!(rest.get("nextToken").is_none());
    assert_eq!(
        env.ok("ListServices", json!({"launchType": "FARGATE"})).await["serviceArns"],
        json!([])
    );

    let e = env
        .err("UpdateService", json!({"service": "ghost", "desiredCount": 1}))
        .await;
    assert_eq!(e.code, "ServiceNotFoundException");
    let e = env
        .err("UpdateService", json!({"service": "daemon", "desiredCount": 1}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let u = env
        .ok("UpdateService", json!({"service": "web", "desiredCount": 2}))
        .await;
    assert_eq!(u["service"]["desiredCount"], 2);
    assert_eq!(u["service"]["deployments"].as_array().unwrap().len(), 1);

    // Scaled above 0: DeleteService needs force.
    let e = env.err("DeleteService", json!({"service": "web"})).await;
    assert_eq!(e.code, "InvalidParameterException");
    let del = env.ok("DeleteService", json!({"service": "web", "force": true})).await;
    assert_eq!(del["service"]["status"], "DRAINING");
    assert_eq!(del["service"]["desiredCount"], 0);
    let e = env
        .err("UpdateService", json!({"service": "web", "desiredCount": 1}))
        .await;
    assert_eq!(e.code, "ServiceNotActiveException");
    eventually(DEADLINE, "web INACTIVE", || async {
        (env.service("web").await["status"] == "INACTIVE").then_some(())
    })
    .await;
    let all = env.ok("ListServices", json!({})).await;
    assert_eq!(all["serviceArns"].as_array().unwrap().len(), 1);
    // The name is free again.
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 0}),
    )
    .await;
}

#[tokio::test]
async fn execute_command_and_network_configuration_are_checked() {
    let env = Env::new().await;
    env.agent_on.store(false, Ordering::SeqCst);
    let td = env.task_definition("web").await;
    let exec =
        "enableExecuteCommand is not supported by Berth yet (ECS Exec is not implemented); omit it or set it to false.";
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "exec", "taskDefinition": td, "enableExecuteCommand": true}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", exec)
    );
    let missing = env.ok("DescribeServices", json!({"services": ["exec"]})).await;
    assert_eq!(missing["failures"][0]["reason"], "MISSING", "{missing}");

    let s = env
        .ok(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": td, "enableExecuteCommand": false}),
        )
        .await;
    assert_eq!(s["service"]["enableExecuteCommand"], false);
    let e = env
        .err("UpdateService", json!({"service": "web", "enableExecuteCommand": true}))
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", exec)
    );
    assert_eq!(env.service("web").await["enableExecuteCommand"], false);
    env.ok(
        "UpdateService",
        json!({"service": "web", "enableExecuteCommand": false}),
    )
    .await;

    let not_valid = "Network Configuration is not valid for the given networkMode of this task definition.";
    let network = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});
    let e = env
        .err(
            "UpdateService",
            json!({"service": "web", "networkConfiguration": network}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", not_valid)
    );
    let e = env
        .err(
            "CreateService",
            json!({"serviceName": "web2", "taskDefinition": td, "networkConfiguration": network}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("InvalidParameterException", not_valid)
    );

    env.ok(
        "RegisterTaskDefinition",
        json!({"family": "vpc", "networkMode": "awsvpc",
               "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    for (network, message) in [
        (
            None,
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ),
        (
            Some(json!({"awsvpcConfiguration": {"subnets": []}})),
            "subnets can not be empty.",
        ),
    ] {
        let mut input = json!({"serviceName": "vpc", "taskDefinition": "vpc"});
        if let Some(n) = network {
            input["networkConfiguration"] = n;
        }
        let e = env.err("CreateService", input).await;
        assert_eq!(
            (e.code.as_ref(), e.message.as_str()),
            ("InvalidParameterException", message)
        );
    }
    env.ok(
        "CreateService",
        json!({"serviceName": "vpc", "taskDefinition": "vpc", "networkConfiguration": network}),
    )
    .await;
}
