//! What ECS operations are authorized on (`JsonService::authz_resources`):
//! RunTask on the task-definition ARN (a bare family resolved to its latest
//! ACTIVE revision), and each resource with its tags.

use berth_ecs::Ecs;
use berth_proto::{AuthzResource, JsonService, RequestContext};
use berth_testkit::EcsEnv;
use berth_testkit::ecs::ok;
use serde_json::json;

const TD: &str = "arn:aws:ecs:us-east-1:000000000000:task-definition/";

fn env() -> (Ecs, RequestContext) {
    let EcsEnv { ecs, ctx, .. } = EcsEnv::new();
    (ecs, ctx)
}

fn arns(r: &[AuthzResource]) -> Vec<&str> {
    r.iter().map(|r| r.arn.as_str()).collect()
}

#[tokio::test]
async fn run_task_is_authorized_on_the_task_definition_it_would_run() {
    let (ecs, ctx) = env();
    let td = json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}],
                    "tags": [{"key": "team", "value": "a"}]});
    for _ in 0..3 {
        ok(&ecs, &ctx, "RegisterTaskDefinition", td.clone()).await;
    }
    let run = |t: &str| json!({"cluster": "default", "taskDefinition": t});
    let r = ecs.authz_resources(&ctx, "RunTask", &run("web")).await;
    assert_eq!(arns(&r), vec![format!("{TD}web:3")]);
    assert_eq!(r[0].tags, vec![("team".to_string(), "a".to_string())]);
    assert_eq!(
        r[0].condition_keys,
        vec![(
            "ecs:cluster".to_string(),
            "arn:aws:ecs:us-east-1:000000000000:cluster/default".to_string()
        )]
    );
    assert_eq!(
        arns(&ecs.authz_resources(&ctx, "StartTask", &run("web:1")).await),
        vec![format!("{TD}web:1")]
    );
    // The latest revision deregistered: a bare family runs (and is authorized on) the one before.
    ok(
        &ecs,
        &ctx,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:3"}),
    )
    .await;
    assert_eq!(
        arns(&ecs.authz_resources(&ctx, "RunTask", &run("web")).await),
        vec![format!("{TD}web:2")]
    );
    // Nothing registered: named as given, no tags (RunTask reports it).
    let r = ecs.authz_resources(&ctx, "RunTask", &run("nope")).await;
    assert_eq!(arns(&r), vec![format!("{TD}nope")]);
    assert!(r[0].tags.is_empty());
    assert_eq!(arns(&ecs.authz_resources(&ctx, "RunTask", &json!({})).await), vec!["*"]);
}

#[tokio::test]
async fn each_resource_carries_its_own_tags() {
    let (ecs, ctx) = env();
    ok(
        &ecs,
        &ctx,
        "CreateCluster",
        json!({"clusterName": "a", "tags": [{"key": "team", "value": "a"}]}),
    )
    .await;
    ok(&ecs, &ctx, "CreateCluster", json!({"clusterName": "b"})).await;
    let r = ecs
        .authz_resources(&ctx, "DescribeClusters", &json!({"clusters": ["a", "b", "missing"]}))
        .await;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].tags, vec![("team".to_string(), "a".to_string())]);
    assert!(r[1].tags.is_empty() && r[2].tags.is_empty());
    assert_eq!(r[2].arn, "arn:aws:ecs:us-east-1:000000000000:cluster/missing");
}

/// Every operation of the routed list reaches its handler (the list the
/// authorization mapping is tested against is the one the dispatch uses),
/// and an operation outside it is unknown.
#[tokio::test]
async fn every_routed_operation_is_dispatched() {
    let (ecs, ctx) = env();
    for op in berth_ecs::routed_operations() {
        if let Err(e) = ecs.call(&ctx, op, json!({})).await {
            assert_ne!(e.code, "UnknownOperationException", "{op} is listed but not dispatched");
        }
    }
    let e = ecs.call(&ctx, "ExecuteCommand", json!({})).await.unwrap_err();
    assert_eq!(e.code, "UnknownOperationException");
}

/// The roles a request passes are `iam:PassRole` checks after the
/// operation's own resources: RunTask passes its definition's roles (found
/// through the revision a bare family resolves to) unless overridden.
#[tokio::test]
async fn run_task_passes_the_roles_of_the_definition_it_would_run() {
    let (ecs, ctx) = env();
    let role = |n: &str| format!("arn:aws:iam::000000000000:role/{n}");
    let td = json!({"family": "app", "taskRoleArn": role("task"), "executionRoleArn": role("exec"),
                    "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]});
    let r = ecs.authz_resources(&ctx, "RegisterTaskDefinition", &td).await;
    assert_eq!(arns(&r), vec!["*".to_string(), role("task"), role("exec")]);
    assert_eq!(r[1].action.as_deref(), Some("iam:PassRole"));
    assert_eq!(
        r[1].condition_keys,
        vec![("iam:PassedToService".to_string(), "ecs-tasks.amazonaws.com".to_string())]
    );
    ok(&ecs, &ctx, "RegisterTaskDefinition", td).await;
    let r = ecs
        .authz_resources(&ctx, "RunTask", &json!({"cluster": "default", "taskDefinition": "app"}))
        .await;
    assert_eq!(arns(&r), vec![format!("{TD}app:1"), role("task"), role("exec")]);
    assert_eq!(r[0].action, None);
    let r = ecs
        .authz_resources(
            &ctx,
            "RunTask",
            &json!({"taskDefinition": "app:1", "overrides": {"taskRoleArn": role("admin")}}),
        )
        .await;
    assert_eq!(arns(&r), vec![format!("{TD}app:1"), role("admin"), role("exec")]);
    // A service names its resolved definition in `ecs:task-definition` and passes its role to ECS.
    let r = ecs
        .authz_resources(
            &ctx,
            "CreateService",
            &json!({"cluster": "c", "serviceName": "web", "taskDefinition": "app", "role": "svc"}),
        )
        .await;
    assert_eq!(
        arns(&r),
        vec![
            "arn:aws:ecs:us-east-1:000000000000:service/c/web".to_string(),
            role("svc")
        ]
    );
    assert!(
        r[0].condition_keys
            .contains(&("ecs:task-definition".to_string(), format!("{TD}app:1")))
    );
    assert_eq!(
        r[1].condition_keys,
        vec![("iam:PassedToService".to_string(), "ecs.amazonaws.com".to_string())]
    );
}
