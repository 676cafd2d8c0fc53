//! An ECS environment for tests: a store, the `Ecs` service over it (with
//! IAM when asked), a root `RequestContext`, and calls that return the
//! output, or the error, or panic saying what went wrong.

use berth_core::arn::Scope;
use berth_ecs::Ecs;
use berth_iam::{Authenticator, Iam};
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

/// The root user of the test account.
pub fn root_ctx() -> RequestContext {
    RequestContext::root(ACCOUNT, REGION)
}

/// Calls `op` as the root user.
pub async fn call(ecs: &Ecs, op: &str, input: Value) -> Result<Value, AwsError> {
    ecs.call(&root_ctx(), op, input).await
}

/// Calls `op` as `ctx`; panics with the error if it fails.
pub async fn ok(ecs: &Ecs, ctx: &RequestContext, op: &str, input: Value) -> Value {
    match ecs.call(ctx, op, input.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{op} {input} failed: {e}"),
    }
}

/// Calls `op` as `ctx`; panics with the output if it succeeds.
pub async fn err(ecs: &Ecs, ctx: &RequestContext, op: &str, input: Value) -> AwsError {
    match ecs.call(ctx, op, input.clone()).await {
        Ok(v) => panic!("{op} {input} should fail, got {v}"),
        Err(e) => e,
    }
}

/// The ECS service of the test account on its own store.
pub struct EcsEnv {
    pub store: Arc<dyn Store>,
    pub ecs: Ecs,
    /// The root user: what `call`, `ok` and `err` run as.
    pub ctx: RequestContext,
    iam: Option<Arc<Iam>>,
}

impl Default for EcsEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl EcsEnv {
    /// ECS on an empty in-memory store, without IAM.
    pub fn new() -> Self {
        Self::on(crate::memory_store())
    }

    /// ECS on `store`, without IAM.
    pub fn on(store: Arc<dyn Store>) -> Self {
        Self {
            ecs: Ecs::new(store.clone(), Scope::new(REGION, ACCOUNT)),
            store,
            ctx: root_ctx(),
            iam: None,
        }
    }

    /// ECS with a real IAM (root keys `ROOTKEY`/`rootsecret`, secrets sealed
    /// by [`XorSealer`](crate::iam::XorSealer)) on an empty in-memory store.
    pub async fn with_iam() -> Self {
        let store = crate::memory_store();
        let auth = Arc::new(Authenticator::new(ACCOUNT, "ROOTKEY", "rootsecret"));
        let iam = Arc::new(
            Iam::open(store.clone(), auth, Arc::new(crate::iam::XorSealer))
                .await
                .expect("IAM opens"),
        );
        let mut env = Self::on(store);
        env.ecs = env.ecs.with_iam(iam.clone());
        env.iam = Some(iam);
        env
    }

    /// The same environment with a cluster named `default`.
    pub async fn default_cluster(self) -> Self {
        self.ok("CreateCluster", json!({"clusterName": "default"})).await;
        self
    }

    /// The IAM service; panics unless built by [`EcsEnv::with_iam`].
    pub fn iam(&self) -> &Iam {
        self.iam.as_deref().expect("an EcsEnv built with_iam")
    }

    pub async fn call(&self, op: &str, input: Value) -> Result<Value, AwsError> {
        self.ecs.call(&self.ctx, op, input).await
    }

    pub async fn ok(&self, op: &str, input: Value) -> Value {
        ok(&self.ecs, &self.ctx, op, input).await
    }

    pub async fn err(&self, op: &str, input: Value) -> AwsError {
        err(&self.ecs, &self.ctx, op, input).await
    }
}
