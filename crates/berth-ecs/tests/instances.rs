//! Container instances through `Ecs::call`: registration, describe and
//! list, deregistration, and the custom attributes placement reads.

#[path = "support/ecs_env.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn register_describe_and_list_instances() {
    let env = Env::new().await;
    let a = env.instance(2048, 4096, "us-east-1a").await;
    let b = env.instance(1024, 2048, "us-east-1b").await;
    let inst = env.describe_instance(&a).await;
    assert_eq!(inst["status"], "ACTIVE");
    assert_eq!(inst["agentConnected"], true);
    assert_eq!(inst["runningTasksCount"], 0);
    assert_eq!(inst["versionInfo"]["agentVersion"], "1.0.0");
    assert!(inst["ec2InstanceId"].as_str().unwrap().starts_with("i-"));
    assert!(inst.get("capacityProviderName").is_none());
    assert_eq!(inst["registeredResources"], inst["remainingResources"]);
    let attrs = inst["attributes"].as_array().unwrap();
    assert!(
        attrs.iter().any(|a| a["name"] == "ecs.os-family"),
        "computed attributes are added"
    );

    // Short ids work too; unknown ones are MISSING failures.
    let id = a.rsplit('/').next().unwrap();
    let v = env
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [id, "0123"], "include": ["CONTAINER_INSTANCE_HEALTH"]}),
        )
        .await;
    assert_eq!(v["containerInstances"][0]["containerInstanceArn"], a.as_str());
    assert_eq!(v["containerInstances"][0]["healthStatus"]["overallStatus"], "OK");
    assert_eq!(v["failures"][0]["reason"], "MISSING");

    // Re-registration with the persisted ARN re-attaches to the same record.
    let again = env
        .ok(
            "RegisterContainerInstance",
            json!({
                "containerInstanceArn": a,
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}
                ],
                "attributes": [{"name": "ecs.instance-type", "value": "m5.large"}]
            }),
        )
        .await;
    assert_eq!(again["containerInstance"]["containerInstanceArn"], a.as_str());
    assert_eq!(env.remaining(&a, "CPU").await, 4096);

    // Filters: status and the cluster query language; pagination.
    let list = |input: Value| async { env.ok("ListContainerInstances", input).await };
    let all = list(json!({})).await;
    assert_eq!(all["containerInstanceArns"].as_array().unwrap().len(), 2);
    let filtered = list(json!({"filter": "attribute:ecs.instance-type == t3.small"})).await;
    assert_eq!(filtered["containerInstanceArns"], json!([b]));
    let page = list(json!({"maxResults": 1})).await;
    assert_eq!(page["containerInstanceArns"].as_array().unwrap().len(), 1);
    let rest = list(json!({"maxResults": 1, "nextToken": page["nextToken"]})).await;
    assert_eq!(rest["containerInstanceArns"].as_array().unwrap().len(), 1);
    assert_ne!(page["containerInstanceArns"], rest["containerInstanceArns"]);
    let e = env
        .err(
            "ListContainerInstances",
            json!({"filter": "attribute:ecs.instance-type =="}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");

    // DRAINING instances are listed with status DRAINING and get no tasks.
    let v = env
        .ok(
            "UpdateContainerInstancesState",
            json!({"containerInstances": [a], "status": "DRAINING"}),
        )
        .await;
    assert_eq!(v["containerInstances"][0]["status"], "DRAINING");
    let draining = list(json!({"status": "DRAINING"})).await;
    assert_eq!(draining["containerInstanceArns"], json!([a]));
    env.task_definition("web", 64).await;
    let run = env.run(json!({"taskDefinition": "web", "count": 3})).await;
    assert!(
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["containerInstanceArn"] == b.as_str())
    );
}

#[tokio::test]
async fn deregistering_instances() {
    let env = Env::new().await;
    let a = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    let task = task_arns(&env.run(json!({"taskDefinition": "web"})).await)[0].clone();
    let e = env
        .err("DeregisterContainerInstance", json!({"containerInstance": a}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(e.message, "Found running tasks on the instance.");
    let v = env
        .ok(
            "DeregisterContainerInstance",
            json!({"containerInstance": a, "force": true}),
        )
        .await;
    assert_eq!(v["containerInstance"]["status"], "INACTIVE");
    assert_eq!(env.describe_task(&task).await["lastStatus"], "STOPPED");
    let list = env.ok("ListContainerInstances", json!({})).await;
    assert_eq!(list["containerInstanceArns"], json!([]));
    let e = env
        .err("BerthHeartbeat", json!({"cluster": "default", "containerInstance": a}))
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err(
            "RegisterContainerInstance",
            json!({"containerInstanceArn": a,
            "totalResources": [{"name": "CPU", "integerValue": 1}, {"name": "MEMORY", "integerValue": 1}]}),
        )
        .await;
    assert_eq!(e.code, "ClientException");
}

#[tokio::test]
async fn custom_attributes_drive_member_of_and_filters() {
    let env = Env::new().await;
    let a = env.instance(4096, 4096, "us-east-1a").await;
    let b = env.instance(4096, 4096, "us-east-1b").await;
    env.ok(
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": a}]}),
    )
    .await;
    let inst = env.describe_instance(&a).await;
    assert!(
        inst["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "stack" && x["value"] == "prod")
    );
    let list = env
        .ok("ListContainerInstances", json!({"filter": "attribute:stack == prod"}))
        .await;
    assert_eq!(list["containerInstanceArns"], json!([a]));
    env.task_definition("web", 64).await;
    let v = env
        .run(json!({"taskDefinition": "web", "count": 4,
                    "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == prod"}]}))
        .await;
    assert_eq!(per_instance(&v).get(&a), Some(&4));
    // distinctInstance: one task of the group per instance, the rest fail.
    let v = env
        .run(json!({"taskDefinition": "web", "count": 3, "group": "solo",
                    "placementConstraints": [{"type": "distinctInstance"}]}))
        .await;
    let counts = per_instance(&v);
    assert_eq!((counts.get(&a), counts.get(&b)), (Some(&1), Some(&1)));
    assert_eq!(v["failures"].as_array().unwrap().len(), 2);
    assert!(
        v["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason"] == "ATTRIBUTE")
    );
}
