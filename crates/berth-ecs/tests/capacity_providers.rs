//! DescribeCapacityProviders through `Ecs::call`: the built-in Fargate
//! providers.

#[path = "support/ecs_env.rs"]
mod support;

use berth_testkit::{ACCOUNT, REGION};
use serde_json::json;
use support::*;

#[tokio::test]
async fn describe_capacity_providers() {
    let env = env();
    let all = env.ok("DescribeCapacityProviders", json!({})).await;
    let cps = all["capacityProviders"].as_array().unwrap();
    assert_eq!(cps.len(), 2);
    assert_eq!(
        cps[0],
        json!({
            "capacityProviderArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/FARGATE"),
            "name": "FARGATE",
            "status": "ACTIVE",
            "type": "FARGATE",
            "tags": []
        })
    );
    assert_eq!(cps[1]["name"], "FARGATE_SPOT");
    assert_eq!(all["failures"], json!([]));

    let v = env
        .ok(
            "DescribeCapacityProviders",
            json!({"capacityProviders": [format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/FARGATE_SPOT"), "MY_ASG"]}),
        )
        .await;
    assert_eq!(v["capacityProviders"].as_array().unwrap().len(), 1);
    assert_eq!(v["capacityProviders"][0]["name"], "FARGATE_SPOT");
    assert_eq!(
        v["failures"],
        json!([{"arn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/MY_ASG"), "reason": "MISSING"}])
    );

    // Pagination.
    let p1 = env.ok("DescribeCapacityProviders", json!({"maxResults": 1})).await;
    assert_eq!(p1["capacityProviders"][0]["name"], "FARGATE");
    let token = p1["nextToken"].as_str().unwrap();
    let p2 = env
        .ok(
            "DescribeCapacityProviders",
            json!({"maxResults": 1, "nextToken": token}),
        )
        .await;
    assert_eq!(p2["capacityProviders"][0]["name"], "FARGATE_SPOT");
    assert!(p2.get("nextToken").is_none());
    let e = env.err("DescribeCapacityProviders", json!({"maxResults": 11})).await;
    assert_eq!(e.code, "InvalidParameterException");

    // Only a cluster's providers when a cluster is named.
    env.ok(
        "CreateCluster",
        json!({"clusterName": "f", "capacityProviders": ["FARGATE"]}),
    )
    .await;
    let v = env.ok("DescribeCapacityProviders", json!({"cluster": "f"})).await;
    assert_eq!(v["capacityProviders"].as_array().unwrap().len(), 1);
    let e = env.err("DescribeCapacityProviders", json!({"cluster": "ghost"})).await;
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .err("DescribeCapacityProviders", json!({"include": ["STATS"]}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn custom_capacity_providers_over_host_groups() {
    let env = env();
    let cp = env
        .ok(
            "CreateCapacityProvider",
            json!({"name": "pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "hosts-a",
                   "managedScaling": {"targetCapacity": 90}}}),
        )
        .await;
    let p = &cp["capacityProvider"];
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["updateStatus"], "CREATE_COMPLETE");
    assert_eq!(p["type"], "EC2_AUTOSCALING");
    assert_eq!(
        p["autoScalingGroupProvider"]["managedScaling"],
        json!({"status": "DISABLED", "targetCapacity": 90, "minimumScalingStepSize": 1,
               "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300})
    );
    let all = env.ok("DescribeCapacityProviders", json!({})).await;
    let names: Vec<&str> = all["capacityProviders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["FARGATE", "FARGATE_SPOT", "pool"]);
    // One provider per host group; names are unique; reserved prefixes.
    let e = env
        .err(
            "CreateCapacityProvider",
            json!({"name": "other", "autoScalingGroupProvider": {"autoScalingGroupArn": "hosts-a"}}),
        )
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err(
            "CreateCapacityProvider",
            json!({"name": "pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "hosts-b"}}),
        )
        .await;
    assert_eq!(e.code, "ClientException");
    let e = env
        .err(
            "CreateCapacityProvider",
            json!({"name": "ecs-pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "hosts-b"}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    // A cluster that has it keeps it from being deleted.
    env.ok(
        "CreateCluster",
        json!({"clusterName": "c", "capacityProviders": ["pool"]}),
    )
    .await;
    let e = env
        .err("DeleteCapacityProvider", json!({"capacityProvider": "pool"}))
        .await;
    assert_eq!(e.code, "ResourceInUseException");
    env.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "c", "capacityProviders": [], "defaultCapacityProviderStrategy": []}),
    )
    .await;
    let gone = env
        .ok("DeleteCapacityProvider", json!({"capacityProvider": "pool"}))
        .await;
    assert_eq!(gone["capacityProvider"]["status"], "INACTIVE");
    let e = env
        .err(
            "PutClusterCapacityProviders",
            json!({"cluster": "c", "capacityProviders": ["pool"], "defaultCapacityProviderStrategy": []}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}
