//! What Application Auto Scaling reads and writes of a service
//! (`Ecs::service_scale`, `Ecs::scale_service`): its counts, a deployment
//! in progress, and a new desired count that the primary deployment
//! follows, with no new deployment.

use berth_testkit::EcsEnv;
use serde_json::json;

#[tokio::test]
async fn a_service_is_read_and_its_desired_count_set() {
    let env = EcsEnv::new().default_cluster().await;
    let td = env
        .ok(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [{"name": "c", "image": "busybox", "memory": 16}]}),
        )
        .await["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.ecs.service_scale("default", "web").await.unwrap(), None);
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 2}),
    )
    .await;
    let s = env.ecs.service_scale("default", "web").await.unwrap().unwrap();
    assert_eq!((s.desired_count, s.daemon), (2, false));
    assert!(s.service_arn.ends_with(":service/default/web"));

    // `decide` sees the current state; `None` or the same count writes nothing.
    assert_eq!(env.ecs.scale_service("default", "web", |_| None).await.unwrap(), None);
    assert_eq!(
        env.ecs
            .scale_service("default", "web", |s| Some(s.desired_count))
            .await
            .unwrap(),
        None
    );
    let (before, count) = env
        .ecs
        .scale_service("default", "web", |s| Some(s.desired_count + 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((before.desired_count, count), (2, 5));
    let svc = &env.ok("DescribeServices", json!({"services": ["web"]})).await["services"][0];
    assert_eq!(svc["desiredCount"], 5);
    let deployments = svc["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "no new deployment");
    assert_eq!(deployments[0]["desiredCount"], 5);

    // A new task definition is a deployment in progress.
    env.ok(
        "UpdateService",
        json!({"service": "web", "taskDefinition": td, "forceNewDeployment": true}),
    )
    .await;
    assert!(
        env.ecs
            .service_scale("default", "web")
            .await
            .unwrap()
            .unwrap()
            .deploying
    );

    // A deleted service is not scaled.
    env.ok("DeleteService", json!({"service": "web", "force": true})).await;
    assert_eq!(env.ecs.service_scale("default", "web").await.unwrap(), None);
    assert_eq!(
        env.ecs.scale_service("default", "web", |_| Some(1)).await.unwrap(),
        None
    );
}
