//! A reconcile pass whose write loses the compare-and-swap to a concurrent
//! change of the service (UpdateService, a task set operation) keeps what it
//! did: the event naming the tasks it started is on the service afterwards.

#[path = "support/services_env.rs"]
mod support;

use async_trait::async_trait;
use berth_ecs::spawn_service_controller;
use berth_store::{Compare, KeyValue, Op, Revision, Store, TxnResult, WatchStream};
use berth_testkit::EcsEnv;
use berth_testkit::agents::HollowAgent;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::*;

const SERVICE_KEY: &str = "ecs/services/default/web";

/// A store that, once, writes the service itself just before the
/// controller's compare-and-swap of a pass that started tasks — as a
/// concurrent UpdateService would — so that pass loses.
struct RacingStore {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
}

#[async_trait]
impl Store for RacingStore {
    async fn get(&self, key: &str) -> berth_store::Result<Option<KeyValue>> {
        self.inner.get(key).await
    }
    async fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> berth_store::Result<Vec<KeyValue>> {
        self.inner.range(prefix, start_after, limit).await
    }
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> berth_store::Result<TxnResult> {
        let started_pass = matches!(compares.as_slice(), [Compare::ModRevision(k, _)] if k == SERVICE_KEY)
            && ops.iter().any(|op| {
                matches!(op, Op::Put(k, v) if k == SERVICE_KEY
                    && String::from_utf8_lossy(v).contains("has started"))
            });
        if started_pass && self.armed.swap(false, Ordering::SeqCst) {
            let current = self.inner.get(SERVICE_KEY).await?.expect("the service is stored");
            let mut svc: Value = serde_json::from_slice(&current.value).expect("a service record");
            svc["tags"] = json!([{"key": "racer", "value": "1"}]);
            self.inner
                .put(SERVICE_KEY, serde_json::to_vec(&svc).expect("encodes"))
                .await?;
        }
        self.inner.txn(compares, ops).await
    }
    async fn current_revision(&self) -> berth_store::Result<Revision> {
        self.inner.current_revision().await
    }
    async fn watch(&self, prefix: &str, from_revision: Revision) -> berth_store::Result<WatchStream> {
        self.inner.watch(prefix, from_revision).await
    }
    async fn close(&self) -> berth_store::Result<()> {
        self.inner.close().await
    }
}

#[tokio::test]
async fn a_pass_that_loses_its_write_keeps_its_started_event() {
    let racing = Arc::new(RacingStore {
        inner: berth_testkit::memory_store(),
        armed: AtomicBool::new(true),
    });
    let kit = EcsEnv::on(racing.clone()).default_cluster().await;
    let _agent = HollowAgent::spawn(kit.ecs.clone());
    let controller = spawn_service_controller(&kit.ecs, controller_config());
    let env = support::Env {
        kit,
        controller: Some(controller),
        agent_on: _agent.switch(),
        _agent,
    };
    env.instance("us-east-1a").await;
    let td = env.task_definition("web").await;
    env.ok(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 2}),
    )
    .await;
    let s = env.steady("web", 2).await;
    assert!(!racing.armed.load(Ordering::SeqCst), "the race never happened");
    let ev = events(&s);
    let started: Vec<&String> = ev.iter().filter(|e| e.contains("has started")).collect();
    assert_eq!(started.len(), 1, "{ev:?}");
    assert!(
        started[0].starts_with("(service web) has started 2 tasks: (task "),
        "{ev:?}"
    );
    // The concurrent write is kept too.
    let d = env
        .ok("DescribeServices", json!({"services": ["web"], "include": ["TAGS"]}))
        .await;
    let tags = d["services"][0]["tags"].clone();
    assert_eq!(tags, json!([{"key": "racer", "value": "1"}]));
}
