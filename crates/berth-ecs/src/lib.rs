//! The ECS API (awsJson 1.1, target `AmazonEC2ContainerServiceV20141113`)
//! and its controllers. Each operation is a type (`operation.rs`) listed in
//! the registration table (`routes/`): its input is decoded once, names the
//! IAM resources it is authorized on, and its handler — thin: the pure rules
//! in `berth-core` and `berth-ecs-model` (the records and their rules),
//! intent recorded in the store — runs with that same input.

mod agent_identity;
pub mod alarm_states;
mod arn_page;
mod attributes;
mod authz;
pub mod capacity_hook;
mod capacity_provider_ops;
mod capacity_providers;
mod cluster_view;
mod clusters;
pub mod host_share;
mod instance_ops;
mod instances;
pub mod keys;
pub mod managed_scaling;
mod model;
mod monitor;
mod operation;
pub mod placement_timing;
mod poll_endpoint;
mod provisioning;
mod references;
mod routes;
mod scaling;
pub mod security_groups;
mod service_alarms;
mod service_controller;
mod service_deployments;
mod service_shift;
mod service_targets;
mod service_task_sets;
mod service_tasks;
mod services;
mod session;
mod settings;
mod spot;
mod state_changes;
mod tags;
pub mod target_registry;
mod task_credentials;
mod task_sets;
mod taskdefs;
mod tasks;
pub mod usage;

pub use managed_scaling::{ReservationDatum, spawn_capacity_controllers};
pub use monitor::{AGENT_LOST_REASON, ControllerConfig, spawn_controllers};
pub use routes::routed_operations;
pub use scaling::ServiceScale;
pub use service_controller::{HEALTH_CHECK_REASON, ServiceControllerConfig, spawn_service_controller};
pub use session::{AgentSession, KEEPALIVE_INTERVAL};
pub use spot::{SpotTarget, spawn_spot_chaos};
pub use usage::{UsageSink, spawn_usage_publisher};

use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AwsError, JsonServiceInfo, RequestContext};
use berth_store::Store;
use std::sync::Arc;

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// The ECS service: state lives in the store; besides it, only which agents
/// are alive is kept in memory (heartbeats and open session streams).
#[derive(Clone)]
pub struct Ecs {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) scope: Scope,
    pub(crate) agents: Arc<session::Agents>,
    /// Instances, tasks and attributes of every cluster, in memory.
    pub(crate) view: Arc<cluster_view::ClusterView>,
    /// IAM, to issue task and execution role credentials to agents
    /// (`BerthGetTaskCredentials`); None: the operation is refused.
    pub(crate) iam: Option<Arc<berth_iam::Iam>>,
    /// The URL clients and agents reach this server at (DiscoverPollEndpoint).
    pub(crate) endpoint: Option<String>,
    /// What agents reported their tasks used since the last `AWS/ECS`
    /// publication (`usage/`).
    pub(crate) usage: Arc<usage::UsageBook>,
    /// The load balancers service tasks are registered with; None: services
    /// with `loadBalancers` are refused.
    pub(crate) targets: Option<Arc<dyn target_registry::TargetRegistry>>,
    /// The CloudWatch alarms deployments watch, and how fast their minutes
    /// pass (`--time-scale`).
    pub(crate) alarms: Option<Arc<dyn alarm_states::AlarmStates>>,
    pub(crate) time_scale: berth_core::time_scale::TimeScale,
    /// The EC2 security groups awsvpc launches are checked against; None:
    /// `securityGroups` are refused.
    pub(crate) security_groups: Option<Arc<dyn security_groups::SecurityGroupDirectory>>,
    /// The capacity hooks by host group (`--capacity-hook`).
    pub(crate) capacity_hooks: Arc<std::collections::HashMap<String, capacity_hook::CapacityHook>>,
    /// The managed-scaling controller's reservations and last hook calls.
    pub(crate) scaling: Arc<managed_scaling::ScalingState>,
}

impl Ecs {
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self {
            store,
            scope,
            agents: Arc::new(session::Agents::default()),
            view: Arc::new(cluster_view::ClusterView::default()),
            iam: None,
            endpoint: None,
            usage: Arc::new(usage::UsageBook::default()),
            targets: None,
            alarms: None,
            time_scale: berth_core::time_scale::TimeScale::REAL,
            security_groups: None,
            capacity_hooks: Arc::default(),
            scaling: Arc::default(),
        }
    }

    /// Lets deployments watch the CloudWatch alarms of `alarms`, counting
    /// AWS minutes (bake times) at `scale`.
    pub fn with_alarms(
        mut self,
        alarms: Arc<dyn alarm_states::AlarmStates>,
        scale: berth_core::time_scale::TimeScale,
    ) -> Self {
        self.alarms = Some(alarms);
        self.time_scale = scale;
        self
    }

    /// Lets services register their tasks in `registry`'s target groups.
    pub fn with_target_registry(mut self, registry: Arc<dyn target_registry::TargetRegistry>) -> Self {
        self.targets = Some(registry);
        self
    }

    /// The URL this server is reached at, as agents are told (`https://host:port`).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Lets agents get their tasks' role credentials from `iam`.
    pub fn with_iam(mut self, iam: Arc<berth_iam::Iam>) -> Self {
        self.iam = Some(iam);
        self
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Writes `value` under `key` if the key is still at `rev` (compare and
    /// swap); false when another write came first.
    pub(crate) async fn put_at_revision<T: serde::Serialize>(
        &self,
        key: &str,
        rev: berth_store::Revision,
        value: &T,
    ) -> Result<bool, AwsError> {
        let res = self
            .store
            .txn(
                vec![berth_store::Compare::ModRevision(key.to_string(), rev)],
                vec![berth_store::Op::Put(
                    key.to_string(),
                    berth_store::typed::encode(value).map_err(AwsError::state_store)?,
                )],
            )
            .await
            .map_err(AwsError::state_store)?;
        Ok(res.succeeded)
    }

    /// The in-memory cluster view, holding every write acknowledged before
    /// this call.
    pub(crate) async fn synced_view(&self) -> Result<&cluster_view::ClusterView, AwsError> {
        self.view.sync(&self.store).await?;
        Ok(&self.view)
    }
}

#[async_trait]
impl JsonServiceInfo for Ecs {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "ecs"
    }

    fn model(&self) -> Option<&'static berth_proto::validate::ServiceModel> {
        Some(&model::MODEL)
    }

    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        authz::resource_tags(self, arn).await
    }
}
