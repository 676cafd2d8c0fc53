//! What ECS operations are authorized on (`JsonService::authz_resources`):
//! RunTask on the task-definition ARN (a bare family resolved to its latest
//! ACTIVE revision), and each resource with its tags.

use berth_core::arn::Scope;
use berth_ecs::Ecs;
use berth_proto::{AuthzResource, JsonService, RequestContext};
use berth_store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;

const TD: &str = "arn:aws:ecs:us-east-1:000000000000:task-definition/";

async fn env() -> (Ecs, RequestContext, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    let ecs = Ecs::new(store, Scope::new("us-east-1", "000000000000"));
    (ecs, RequestContext::root("000000000000", "us-east-1"), dir)
}

async fn ok(ecs: &Ecs, ctx: &RequestContext, op: &str, input: Value) -> Value {
    ecs.call(ctx, op, input.clone())
        .await
        .unwrap_or_else(|e| panic!("{op} {input}: {e}"))
}

fn arns(r: &[AuthzResource]) -> Vec<&str> {
    r.iter().map(|r| r.arn.as_str()).collect()
}

#[tokio::test]
async fn run_task_is_authorized_on_the_task_definition_it_would_run() {
    let (ecs, ctx, _dir) = env().await;
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
    let (ecs, ctx, _dir) = env().await;
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
