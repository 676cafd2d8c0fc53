//! The registration table: every ECS operation Berth routes, with its typed
//! path (input, authorization resources, handler). The dispatch and the
//! authorization both go through it: an operation not in it is
//! `UnknownOperationException`, and one in it is authorized on what its
//! [`Operation::resources`] says, never on `*` by omission.
//!
//! Adding an operation: its type and `impl Operation` next to its handler,
//! one line below, and its test (`tests.rs` lists every routed operation
//! with its resources).
//!

use crate::Ecs;
use crate::operation::entry;
use crate::{
    attributes, capacity_provider_ops, capacity_providers, clusters, instance_ops, poll_endpoint, service_deployments,
    services, settings, state_changes, tags, task_credentials, task_sets, taskdefs, tasks, usage,
};
use berth_core::arn::Scope;
use berth_proto::RequestContext;
use berth_proto::operation::{OperationService, Table};

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Ecs> = Table(&[
    entry::<clusters::CreateCluster>(),
    entry::<clusters::DescribeClusters>(),
    entry::<clusters::ListClusters>(),
    entry::<clusters::UpdateCluster>(),
    entry::<clusters::UpdateClusterSettings>(),
    entry::<clusters::DeleteCluster>(),
    entry::<clusters::PutClusterCapacityProviders>(),
    entry::<taskdefs::RegisterTaskDefinition>(),
    entry::<taskdefs::DescribeTaskDefinition>(),
    entry::<taskdefs::ListTaskDefinitions>(),
    entry::<taskdefs::ListTaskDefinitionFamilies>(),
    entry::<taskdefs::DeregisterTaskDefinition>(),
    entry::<taskdefs::DeleteTaskDefinitions>(),
    entry::<tags::TagResource>(),
    entry::<tags::UntagResource>(),
    entry::<tags::ListTagsForResource>(),
    entry::<settings::PutAccountSetting>(),
    entry::<settings::PutAccountSettingDefault>(),
    entry::<settings::ListAccountSettings>(),
    entry::<settings::DeleteAccountSetting>(),
    entry::<attributes::PutAttributes>(),
    entry::<attributes::DeleteAttributes>(),
    entry::<attributes::ListAttributes>(),
    entry::<capacity_providers::DescribeCapacityProviders>(),
    entry::<capacity_provider_ops::CreateCapacityProvider>(),
    entry::<capacity_provider_ops::UpdateCapacityProvider>(),
    entry::<capacity_provider_ops::DeleteCapacityProvider>(),
    entry::<instance_ops::RegisterContainerInstance>(),
    entry::<instance_ops::DescribeContainerInstances>(),
    entry::<instance_ops::ListContainerInstances>(),
    entry::<instance_ops::DeregisterContainerInstance>(),
    entry::<instance_ops::UpdateContainerInstancesState>(),
    entry::<poll_endpoint::DiscoverPollEndpoint>(),
    entry::<tasks::RunTask>(),
    entry::<tasks::StartTask>(),
    entry::<tasks::StopTask>(),
    entry::<tasks::DescribeTasks>(),
    entry::<tasks::ListTasks>(),
    entry::<tasks::GetTaskProtection>(),
    entry::<tasks::UpdateTaskProtection>(),
    entry::<state_changes::SubmitTaskStateChange>(),
    entry::<state_changes::SubmitContainerStateChange>(),
    entry::<state_changes::BerthHeartbeat>(),
    entry::<usage::report::BerthPublishTaskUsage>(),
    entry::<task_credentials::BerthGetTaskCredentials>(),
    entry::<services::CreateService>(),
    entry::<services::UpdateService>(),
    entry::<services::DeleteService>(),
    entry::<services::DescribeServices>(),
    entry::<services::ListServices>(),
    entry::<service_deployments::ListServiceDeployments>(),
    entry::<service_deployments::DescribeServiceDeployments>(),
    entry::<service_deployments::DescribeServiceRevisions>(),
    entry::<service_deployments::StopServiceDeployment>(),
    entry::<service_deployments::ContinueServiceDeployment>(),
    entry::<task_sets::CreateTaskSet>(),
    entry::<task_sets::DescribeTaskSets>(),
    entry::<task_sets::UpdateTaskSet>(),
    entry::<task_sets::UpdateServicePrimaryTaskSet>(),
    entry::<task_sets::DeleteTaskSet>(),
]);

impl OperationService for Ecs {
    type Scope = Scope;

    /// An ECS instance serves one region: its ARNs are in its own scope.
    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope.clone()
    }

    fn table() -> &'static Table<Ecs> {
        &OPERATIONS
    }
}

/// The names of every routed operation, in the table's order.
pub fn routed_operations() -> Vec<&'static str> {
    OPERATIONS.names()
}

#[cfg(test)]
mod tests;
