//! FARGATE_SPOT interruptions through `Ecs::interrupt_spot_tasks`: only
//! FARGATE_SPOT tasks, the stop recorded with its code, reason and notice in
//! the store (so a restarted server still sends it), and the refusals.

#[path = "support/ecs_env.rs"]
mod support;

use berth_ecs::SpotTarget;
use berth_ecs::keys;
use berth_testkit::EcsEnv;
use serde_json::{Value, json};
use support::*;

const NETWORK: &str = "subnet-12345678";

async fn spot_and_fargate(env: &Env) -> (Vec<String>, String) {
    env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition_with(
        "fg",
        json!({"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
    env.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
               "defaultCapacityProviderStrategy": []}),
    )
    .await;
    let network = json!({"awsvpcConfiguration": {"subnets": [NETWORK]}});
    let v = env
        .run(
            json!({"taskDefinition": "fg", "count": 5, "networkConfiguration": network,
                    "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                                                 {"capacityProvider": "FARGATE_SPOT", "weight": 3}]}),
        )
        .await;
    let tasks = v["tasks"].as_array().unwrap();
    let of = |p: &str| -> Vec<String> {
        tasks
            .iter()
            .filter(|t| t["capacityProviderName"] == p)
            .map(|t| t["taskArn"].as_str().unwrap().to_string())
            .collect()
    };
    let fargate = of("FARGATE");
    // The base, then 4 by weight 1:3.
    assert_eq!(fargate.len(), 2, "{v}");
    (of("FARGATE_SPOT"), fargate[0].clone())
}

#[tokio::test]
async fn an_interruption_is_a_recorded_stop_with_its_notice() {
    let env = Env::new().await;
    let (spot, fargate) = spot_and_fargate(&env).await;
    assert_eq!(spot.len(), 3);

    let hit = env
        .ecs
        .interrupt_spot_tasks("default", &SpotTarget::Task(spot[0].clone()))
        .await
        .unwrap();
    assert_eq!(hit.len(), 1);
    let t = env.describe_task(&spot[0]).await;
    assert_eq!(t["desiredStatus"], "STOPPED");
    assert_eq!(t["stopCode"], "SpotInterruption");
    assert_eq!(t["stoppedReason"], "Your Spot Task was interrupted.");

    // The notice is in the stored record (two minutes at real time): a
    // server started again on the same store still sends it.
    let again = EcsEnv::on(env.store.clone());
    let id = spot[0].rsplit('/').next().unwrap();
    let raw = again.store.get(&keys::task("default", id)).await.unwrap().unwrap();
    let rec: Value = serde_json::from_slice(&raw.value).unwrap();
    assert_eq!(rec["berth"]["stopNoticeSecs"], 120, "{rec}");

    // Interrupting it again, or a FARGATE task, is refused.
    for arn in [&spot[0], &fargate] {
        let e = env
            .ecs
            .interrupt_spot_tasks("default", &SpotTarget::Task(arn.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert!(e.message.contains("FARGATE_SPOT"), "{}", e.message);
    }
    // --count takes what is left on FARGATE_SPOT, never more.
    let hit = env
        .ecs
        .interrupt_spot_tasks("default", &SpotTarget::Count(5))
        .await
        .unwrap();
    let mut hit: Vec<String> = hit.iter().map(|t| t.task_arn.clone()).collect();
    hit.sort();
    let mut rest = spot[1..].to_vec();
    rest.sort();
    assert_eq!(hit, rest);
    assert!(
        env.ecs
            .interrupt_spot_tasks("default", &SpotTarget::Count(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.describe_task(&fargate).await["desiredStatus"], "RUNNING");

    let e = env
        .ecs
        .interrupt_spot_tasks("nope", &SpotTarget::Count(1))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ClusterNotFoundException");
    let e = env
        .ecs
        .interrupt_spot_tasks("default", &SpotTarget::Count(0))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
}
