//! The ECS API (awsJson 1.1, target `AmazonEC2ContainerServiceV20141113`)
//! and, later, its controllers. Handlers are thin: they decode the input,
//! call the pure rules in `berth-core`, and record intent in the store.

mod agent_identity;
mod attributes;
mod authz;
mod capacity_providers;
mod cluster_view;
mod clusters;
pub mod deploy_math;
pub mod host_share;
mod instances;
pub mod keys;
mod model;
mod monitor;
pub mod placement_timing;
mod service_controller;
mod service_deployments;
mod services;
mod session;
mod settings;
mod state_changes;
mod tags;
mod task_credentials;
mod taskdefs;
mod tasks;

pub use agent_identity::AgentOwner;
pub use authz::operations::ROUTED as ROUTED_OPERATIONS;
pub use monitor::{AGENT_LOST_REASON, ControllerConfig, spawn_controllers};
pub use service_controller::{HEALTH_CHECK_REASON, ServiceControllerConfig, spawn_service_controller};
pub use session::{AgentSession, KEEPALIVE_INTERVAL};

use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_store::Store;
use serde_json::Value;
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
}

impl Ecs {
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self {
            store,
            scope,
            agents: Arc::new(session::Agents::default()),
            view: Arc::new(cluster_view::ClusterView::default()),
            iam: None,
        }
    }

    /// Lets agents get their tasks' role credentials from `iam`.
    pub fn with_iam(mut self, iam: Arc<berth_iam::Iam>) -> Self {
        self.iam = Some(iam);
        self
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The in-memory cluster view, holding every write acknowledged before
    /// this call.
    pub(crate) async fn synced_view(&self) -> Result<&cluster_view::ClusterView, AwsError> {
        self.view.sync(&self.store).await?;
        Ok(&self.view)
    }
}

#[async_trait]
impl JsonService for Ecs {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "ecs"
    }

    fn model(&self) -> Option<&'static berth_proto::validate::ServiceModel> {
        Some(&model::MODEL)
    }

    fn resource_arns(&self, _ctx: &RequestContext, operation: &str, input: &Value) -> Vec<String> {
        authz::resource_arns(&self.scope, operation, input).unwrap_or_else(|| vec!["*".to_string()])
    }

    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        authz::resource_tags(self, arn).await
    }

    async fn authz_resources(
        &self,
        _ctx: &RequestContext,
        operation: &str,
        input: &Value,
    ) -> Vec<berth_proto::AuthzResource> {
        authz::authz_resources(self, operation, input).await
    }

    async fn call(&self, ctx: &RequestContext, operation: &str, input: Value) -> Result<Value, AwsError> {
        // One list of routed operations: the authorization mapping is tested
        // against it, so an operation added below must be added there too.
        if !authz::operations::is_routed(operation) {
            return Err(AwsError::unknown_operation(operation));
        }
        match operation {
            "CreateCluster" => self.create_cluster(ctx, input).await,
            "DescribeClusters" => self.describe_clusters(ctx, input).await,
            "ListClusters" => self.list_clusters(ctx, input).await,
            "UpdateCluster" => self.update_cluster(ctx, input).await,
            "UpdateClusterSettings" => self.update_cluster_settings(ctx, input).await,
            "DeleteCluster" => self.delete_cluster(ctx, input).await,
            "PutClusterCapacityProviders" => self.put_cluster_capacity_providers(ctx, input).await,
            "RegisterTaskDefinition" => self.register_task_definition(ctx, input).await,
            "DescribeTaskDefinition" => self.describe_task_definition(ctx, input).await,
            "ListTaskDefinitions" => self.list_task_definitions(ctx, input).await,
            "ListTaskDefinitionFamilies" => self.list_task_definition_families(ctx, input).await,
            "DeregisterTaskDefinition" => self.deregister_task_definition(ctx, input).await,
            "DeleteTaskDefinitions" => self.delete_task_definitions(ctx, input).await,
            "TagResource" => self.tag_resource(ctx, input).await,
            "UntagResource" => self.untag_resource(ctx, input).await,
            "ListTagsForResource" => self.list_tags_for_resource(ctx, input).await,
            "PutAccountSetting" => self.put_account_setting(ctx, input).await,
            "PutAccountSettingDefault" => self.put_account_setting_default(ctx, input).await,
            "ListAccountSettings" => self.list_account_settings(ctx, input).await,
            "DeleteAccountSetting" => self.delete_account_setting(ctx, input).await,
            "PutAttributes" => self.put_attributes(ctx, input).await,
            "DeleteAttributes" => self.delete_attributes(ctx, input).await,
            "ListAttributes" => self.list_attributes(ctx, input).await,
            "DescribeCapacityProviders" => self.describe_capacity_providers(ctx, input).await,
            "RegisterContainerInstance" => self.register_container_instance(ctx, input).await,
            "DescribeContainerInstances" => self.describe_container_instances(ctx, input).await,
            "ListContainerInstances" => self.list_container_instances(ctx, input).await,
            "DeregisterContainerInstance" => self.deregister_container_instance(ctx, input).await,
            "UpdateContainerInstancesState" => self.update_container_instances_state(ctx, input).await,
            "RunTask" => self.run_task(ctx, input).await,
            "StartTask" => self.start_task(ctx, input).await,
            "StopTask" => self.stop_task(ctx, input).await,
            "DescribeTasks" => self.describe_tasks(ctx, input).await,
            "ListTasks" => self.list_tasks(ctx, input).await,
            "SubmitTaskStateChange" => self.submit_task_state_change(ctx, input).await,
            "SubmitContainerStateChange" => self.submit_container_state_change(ctx, input).await,
            "BerthHeartbeat" => self.berth_heartbeat(ctx, input).await,
            "BerthGetTaskCredentials" => self.berth_get_task_credentials(ctx, input).await,
            "CreateService" => self.create_service(ctx, input).await,
            "UpdateService" => self.update_service(ctx, input).await,
            "DeleteService" => self.delete_service(ctx, input).await,
            "DescribeServices" => self.describe_services(ctx, input).await,
            "ListServices" => self.list_services(ctx, input).await,
            "ListServiceDeployments" => self.list_service_deployments(ctx, input).await,
            "DescribeServiceDeployments" => self.describe_service_deployments(ctx, input).await,
            "DescribeServiceRevisions" => self.describe_service_revisions(ctx, input).await,
            "StopServiceDeployment" => self.stop_service_deployment(ctx, input).await,
            _ => Err(AwsError::unknown_operation(operation)),
        }
    }
}
