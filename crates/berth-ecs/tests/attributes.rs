//! Attributes on container instances through `Ecs::call`.

#[path = "support/ecs_env.rs"]
mod support;

use berth_ecs::keys;
use berth_testkit::{ACCOUNT, REGION};
use serde_json::{Value, json};
use std::collections::HashSet;
use support::*;

/// Writes a container instance record as the instance handlers store it.
async fn put_instance(env: &Env, cluster: &str, id: &str) -> String {
    let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/{id}");
    let record = json!({
        "containerInstanceArn": arn,
        "status": "ACTIVE",
        "attributes": [{"name": "ecs.os-type", "value": "linux"}, {"name": "ecs.capability.task-eni"}]
    });
    env.ecs
        .store()
        .put(&keys::instance(cluster, id), serde_json::to_vec(&record).unwrap())
        .await
        .unwrap();
    arn
}

#[tokio::test]
async fn attributes_on_container_instances() {
    let env = env();
    env.ok("CreateCluster", json!({"clusterName": "c1"})).await;
    let i1 = put_instance(&env, "c1", "i1").await;
    let i2 = put_instance(&env, "c1", "i2").await;

    let put = env
        .ok(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [
                {"name": "stack", "value": "prod", "targetId": i1},
                {"name": "flag", "targetType": "container-instance", "targetId": "i2"},
                {"name": "stack", "value": "dev", "targetId": i2}
            ]}),
        )
        .await;
    let put = put["attributes"].as_array().unwrap();
    assert_eq!(put.len(), 3);
    assert!(put.iter().all(|a| a["targetType"] == "container-instance"));
    assert!(put.iter().any(|a| a["name"] == "flag" && a["targetId"] == i2.as_str()));

    // Custom and agent-registered attributes are listed together.
    let all = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance"}),
        )
        .await;
    assert_eq!(all["attributes"].as_array().unwrap().len(), 7);
    let by_name = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "stack"}),
        )
        .await;
    assert_eq!(by_name["attributes"].as_array().unwrap().len(), 2);
    let by_value = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "stack", "attributeValue": "prod"}),
        )
        .await;
    assert_eq!(
        by_value["attributes"],
        json!([{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": i1}])
    );
    let os = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "ecs.os-type", "attributeValue": "linux"}),
        )
        .await;
    assert_eq!(os["attributes"].as_array().unwrap().len(), 2);

    // Pagination.
    let mut seen = vec![];
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"cluster": "c1", "targetType": "container-instance", "maxResults": 2});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let v = env.ok("ListAttributes", input).await;
        for a in v["attributes"].as_array().unwrap() {
            seen.push(format!("{} {}", a["targetId"], a["name"]));
        }
        match v.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);

    // Delete.
    let del = env
        .ok(
            "DeleteAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "stack", "targetId": i1}]}),
        )
        .await;
    assert_eq!(del["attributes"][0]["name"], "stack");
    let by_name = env
        .ok(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeName": "stack"}),
        )
        .await;
    assert_eq!(by_name["attributes"].as_array().unwrap().len(), 1);

    // Errors.
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "x", "targetId": "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/ghost"}]}),
        )
        .await;
    assert_eq!(e.code, "TargetNotFoundException");
    assert!(e.message.starts_with("Could not find target"));
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "x", "targetId": "i1"}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException", "a bare id needs targetType");
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "nope", "attributes": [{"name": "x", "targetId": i1}]}),
        )
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "bad name", "targetId": i1}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"name": format!("a{i}"), "targetId": i1}))
        .collect();
    let e = env
        .err("PutAttributes", json!({"cluster": "c1", "attributes": eleven}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let ten: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("a{i}"), "targetId": i1}))
        .collect();
    env.ok("PutAttributes", json!({"cluster": "c1", "attributes": ten}))
        .await;
    let e = env
        .err(
            "PutAttributes",
            json!({"cluster": "c1", "attributes": [{"name": "one-more", "targetId": i1}]}),
        )
        .await;
    assert_eq!(e.code, "AttributeLimitExceededException");
    // Replacing an existing attribute's value is not a new attribute.
    env.ok(
        "PutAttributes",
        json!({"cluster": "c1", "attributes": [{"name": "a0", "value": "v2", "targetId": i1}]}),
    )
    .await;
    let e = env
        .err("ListAttributes", json!({"cluster": "c1", "targetType": "task"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err(
            "ListAttributes",
            json!({"cluster": "c1", "targetType": "container-instance", "attributeValue": "prod"}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}
