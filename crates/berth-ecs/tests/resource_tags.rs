//! Tags on clusters, task definitions and capacity providers through
//! `Ecs::call`.

#[path = "support/ecs_env.rs"]
mod support;

use berth_testkit::{ACCOUNT, REGION};
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn tags_on_clusters_task_definitions_and_capacity_providers() {
    let env = env();
    let cluster_arn = env.ok("CreateCluster", json!({"clusterName": "prod"})).await["cluster"]["clusterArn"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(
        "TagResource",
        json!({"resourceArn": cluster_arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}),
    )
    .await;
    env.ok(
        "TagResource",
        json!({"resourceArn": cluster_arn, "tags": [{"key": "a", "value": "3"}]}),
    )
    .await;
    let t = env.ok("ListTagsForResource", json!({"resourceArn": cluster_arn})).await;
    assert_eq!(
        t["tags"],
        json!([{"key": "a", "value": "3"}, {"key": "b", "value": "2"}])
    );
    let d = env
        .ok("DescribeClusters", json!({"clusters": ["prod"], "include": ["TAGS"]}))
        .await;
    assert_eq!(
        d["clusters"][0]["tags"], t["tags"],
        "the cluster record itself carries the tags"
    );
    env.ok("UntagResource", json!({"resourceArn": cluster_arn, "tagKeys": ["a"]}))
        .await;
    let t = env.ok("ListTagsForResource", json!({"resourceArn": cluster_arn})).await;
    assert_eq!(t["tags"], json!([{"key": "b", "value": "2"}]));

    // Task definitions.
    env.ok("RegisterTaskDefinition", simple("web")).await;
    let arn = td_arn("web", 1);
    env.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "env", "value": "dev"}]}),
    )
    .await;
    let d = env
        .ok(
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(d["tags"], json!([{"key": "env", "value": "dev"}]));
    assert_eq!(
        d["taskDefinition"]["status"], "ACTIVE",
        "tagging keeps the definition intact"
    );

    // Built-in capacity providers.
    let fargate = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/FARGATE");
    let t = env.ok("ListTagsForResource", json!({"resourceArn": fargate})).await;
    assert_eq!(t["tags"], json!([]));
    env.ok(
        "TagResource",
        json!({"resourceArn": fargate, "tags": [{"key": "x", "value": "y"}]}),
    )
    .await;
    let cp = env
        .ok(
            "DescribeCapacityProviders",
            json!({"capacityProviders": ["FARGATE"], "include": ["TAGS"]}),
        )
        .await;
    assert_eq!(cp["capacityProviders"][0]["tags"], json!([{"key": "x", "value": "y"}]));
    env.ok("UntagResource", json!({"resourceArn": fargate, "tagKeys": ["x"]}))
        .await;
    let t = env.ok("ListTagsForResource", json!({"resourceArn": fargate})).await;
    assert_eq!(t["tags"], json!([]));

    // Errors.
    let too_many: Vec<Value> = (0..50).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect();
    let e = env
        .err("TagResource", json!({"resourceArn": cluster_arn, "tags": too_many}))
        .await;
    assert_eq!(
        e.code, "InvalidParameterException",
        "50 new + 1 existing exceeds the limit"
    );
    let missing_cluster = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/ghost");
    let e = env
        .err("ListTagsForResource", json!({"resourceArn": missing_cluster}))
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .err(
            "TagResource",
            json!({"resourceArn": td_arn("web", 5), "tags": [{"key": "k", "value": "v"}]}),
        )
        .await;
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        (
            "ResourceNotFoundException",
            "The specified resource could not be found."
        )
    );
    let task = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0123456789abcdef0123456789abcdef");
    let e = env.err("ListTagsForResource", json!({"resourceArn": task})).await;
    assert_eq!(e.code, "ResourceNotFoundException");
    let task_in_ghost = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/ghost/0123456789abcdef0123456789abcdef");
    let e = env
        .err("ListTagsForResource", json!({"resourceArn": task_in_ghost}))
        .await;
    assert_eq!(e.code, "ClusterNotFoundException");
    for bad in [
        "not-an-arn",
        "arn:aws:s3:::bucket",
        &format!("arn:aws:ecs:{REGION}:{ACCOUNT}:widget/x"),
    ] {
        let e = env.err("ListTagsForResource", json!({"resourceArn": bad})).await;
        assert_eq!(e.code, "InvalidParameterException", "{bad}");
    }
    let e = env
        .err(
            "UntagResource",
            json!({"resourceArn": cluster_arn, "tagKeys": ["aws:cloudformation:stack-name"]}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}
