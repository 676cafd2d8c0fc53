//! The registration table: every ECS operation Berth routes, with its typed
//! path (input, authorization resources, handler). The dispatch and the
//! authorization both go through it: an operation not in it is
//! `UnknownOperationException`, and one in it is authorized on what its
//! [`Operation::resources`] says, never on `*` by omission.
//!
//! Adding an operation: its type and `impl Operation` next to its handler,
//! one line below, and its test (the tests at the end list every routed
//! operation with its resources).
//!
//! The operations still marked `untyped!` keep their JSON input as it
//! came; their handlers decode it, and their resources come from
//! [`crate::authz::untyped_resources`], by field name. Moving one to its
//! own `impl Operation` changes nothing else here but its line.

use crate::operation::{Entry, Operation, entry};
use crate::{Ecs, poll_endpoint, services, tasks};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde_json::Value;

/// Operations whose input stays JSON until their handler decodes it.
macro_rules! untyped {
    ($($ty:ident => $handler:ident),* $(,)?) => {$(
        pub(crate) struct $ty;

        #[async_trait]
        impl Operation for $ty {
            const NAME: &'static str = stringify!($ty);
            type Input = Value;
            fn decode(input: Value) -> Result<Value, AwsError> {
                Ok(input)
            }
            fn resources(scope: &Scope, input: &Value) -> Vec<AuthzResource> {
                crate::authz::untyped_resources(scope, Self::NAME, input)
            }
            async fn run(ecs: &Ecs, ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
                ecs.$handler(ctx, input).await
            }
        }
    )*};
}

untyped! {
    CreateCluster => create_cluster,
    DescribeClusters => describe_clusters,
    ListClusters => list_clusters,
    UpdateCluster => update_cluster,
    UpdateClusterSettings => update_cluster_settings,
    DeleteCluster => delete_cluster,
    PutClusterCapacityProviders => put_cluster_capacity_providers,
    RegisterTaskDefinition => register_task_definition,
    DescribeTaskDefinition => describe_task_definition,
    ListTaskDefinitions => list_task_definitions,
    ListTaskDefinitionFamilies => list_task_definition_families,
    DeregisterTaskDefinition => deregister_task_definition,
    DeleteTaskDefinitions => delete_task_definitions,
    TagResource => tag_resource,
    UntagResource => untag_resource,
    ListTagsForResource => list_tags_for_resource,
    PutAccountSetting => put_account_setting,
    PutAccountSettingDefault => put_account_setting_default,
    ListAccountSettings => list_account_settings,
    DeleteAccountSetting => delete_account_setting,
    PutAttributes => put_attributes,
    DeleteAttributes => delete_attributes,
    ListAttributes => list_attributes,
    DescribeCapacityProviders => describe_capacity_providers,
    RegisterContainerInstance => register_container_instance,
    DescribeContainerInstances => describe_container_instances,
    ListContainerInstances => list_container_instances,
    DeregisterContainerInstance => deregister_container_instance,
    UpdateContainerInstancesState => update_container_instances_state,
    StopTask => stop_task,
    DescribeTasks => describe_tasks,
    ListTasks => list_tasks,
    SubmitTaskStateChange => submit_task_state_change,
    SubmitContainerStateChange => submit_container_state_change,
    BerthHeartbeat => berth_heartbeat,
    BerthGetTaskCredentials => berth_get_task_credentials,
    DeleteService => delete_service,
    DescribeServices => describe_services,
    ListServices => list_services,
    ListServiceDeployments => list_service_deployments,
    DescribeServiceDeployments => describe_service_deployments,
    DescribeServiceRevisions => describe_service_revisions,
    StopServiceDeployment => stop_service_deployment,
}

/// Every operation Berth routes.
pub(crate) const OPERATIONS: &[Entry] = &[
    entry::<CreateCluster>(),
    entry::<DescribeClusters>(),
    entry::<ListClusters>(),
    entry::<UpdateCluster>(),
    entry::<UpdateClusterSettings>(),
    entry::<DeleteCluster>(),
    entry::<PutClusterCapacityProviders>(),
    entry::<RegisterTaskDefinition>(),
    entry::<DescribeTaskDefinition>(),
    entry::<ListTaskDefinitions>(),
    entry::<ListTaskDefinitionFamilies>(),
    entry::<DeregisterTaskDefinition>(),
    entry::<DeleteTaskDefinitions>(),
    entry::<TagResource>(),
    entry::<UntagResource>(),
    entry::<ListTagsForResource>(),
    entry::<PutAccountSetting>(),
    entry::<PutAccountSettingDefault>(),
    entry::<ListAccountSettings>(),
    entry::<DeleteAccountSetting>(),
    entry::<PutAttributes>(),
    entry::<DeleteAttributes>(),
    entry::<ListAttributes>(),
    entry::<DescribeCapacityProviders>(),
    entry::<RegisterContainerInstance>(),
    entry::<DescribeContainerInstances>(),
    entry::<ListContainerInstances>(),
    entry::<DeregisterContainerInstance>(),
    entry::<UpdateContainerInstancesState>(),
    entry::<poll_endpoint::DiscoverPollEndpoint>(),
    entry::<tasks::RunTask>(),
    entry::<tasks::StartTask>(),
    entry::<StopTask>(),
    entry::<DescribeTasks>(),
    entry::<ListTasks>(),
    entry::<tasks::GetTaskProtection>(),
    entry::<tasks::UpdateTaskProtection>(),
    entry::<SubmitTaskStateChange>(),
    entry::<SubmitContainerStateChange>(),
    entry::<BerthHeartbeat>(),
    entry::<BerthGetTaskCredentials>(),
    entry::<services::CreateService>(),
    entry::<services::UpdateService>(),
    entry::<DeleteService>(),
    entry::<DescribeServices>(),
    entry::<ListServices>(),
    entry::<ListServiceDeployments>(),
    entry::<DescribeServiceDeployments>(),
    entry::<DescribeServiceRevisions>(),
    entry::<StopServiceDeployment>(),
];

/// The table row of `operation`, if it is routed.
pub(crate) fn find(operation: &str) -> Option<&'static Entry> {
    OPERATIONS.iter().find(|e| e.name == operation)
}

/// The names of every routed operation, in the table's order.
pub fn routed_operations() -> Vec<&'static str> {
    OPERATIONS.iter().map(|e| e.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The operations AWS does not scope to a resource: the only ones that
    /// may be authorized on `*` whatever their input.
    const STAR: &[&str] = &[
        "ListClusters",
        "RegisterTaskDefinition",
        "DescribeTaskDefinition",
        "ListTaskDefinitions",
        "ListTaskDefinitionFamilies",
        "DeregisterTaskDefinition",
        "PutAccountSetting",
        "PutAccountSettingDefault",
        "ListAccountSettings",
        "DeleteAccountSetting",
    ];

    /// An input naming every resource field the routed operations read
    /// (and the required members of the typed ones): each operation
    /// outside STAR then names a resource.
    fn full() -> Value {
        json!({
            "cluster": "c", "clusterName": "c", "clusters": ["c"], "service": "web", "serviceName": "web",
            "services": ["web"], "task": "t1", "tasks": ["t1"], "containerInstance": "i1",
            "containerInstances": ["i1"], "taskDefinition": "web:1", "taskDefinitions": ["web:1"],
            "capacityProviders": ["cp"], "resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
            "attributes": [{"name": "a", "targetId": "i1"}],
            "serviceDeploymentArn": "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/1",
            "serviceDeploymentArns": ["arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/1"],
            "serviceRevisionArns": ["arn:aws:ecs:us-east-1:000000000000:service-revision/c/web/1"],
            "protectionEnabled": true,
        })
    }

    fn arns(op: &str, input: Value) -> Vec<String> {
        let s = Scope::new("us-east-1", "000000000000");
        let e = find(op).unwrap_or_else(|| panic!("{op} is not routed"));
        let r = (e.resources)(&s, input).unwrap_or_else(|err| panic!("{op}: {err:?}"));
        r.into_iter().map(|r| r.arn).collect()
    }

    #[test]
    fn every_routed_operation_has_an_authorization_mapping() {
        let mut names = routed_operations();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "an operation is registered twice");
        for op in routed_operations() {
            assert!(!arns(op, full()).is_empty(), "{op} names no resource");
        }
        assert!(find("NoSuchOperation").is_none());
        assert!(find("CreateTaskSet").is_none());
    }

    #[test]
    fn only_the_listed_operations_are_scoped_to_star() {
        for op in routed_operations() {
            let arns = arns(op, full());
            let on_star = arns.iter().any(|a| a == "*");
            assert_eq!(on_star, STAR.contains(&op), "{op} is authorized on {arns:?}");
        }
        for op in STAR {
            assert!(find(op).is_some(), "{op} is listed as `*` but not routed");
        }
    }

    /// Every routed operation and the resources it names for [`full`]
    /// (the resources named, before the roles passed).
    #[test]
    fn every_routed_operation_with_its_resources() {
        const A: &str = "arn:aws:ecs:us-east-1:000000000000:";
        let cluster = format!("{A}cluster/c");
        let service = format!("{A}service/c/web");
        let task = format!("{A}task/c/t1");
        let instance = format!("{A}container-instance/c/i1");
        let td = format!("{A}task-definition/web:1");
        let deployment = format!("{A}service-deployment/c/web/1");
        let revision = format!("{A}service-revision/c/web/1");
        let cp = format!("{A}capacity-provider/cp");
        let star = "*".to_string();
        let expected: Vec<(&str, Vec<String>)> = vec![
            ("CreateCluster", vec![cluster.clone()]),
            ("DescribeClusters", vec![cluster.clone()]),
            ("ListClusters", vec![star.clone()]),
            ("UpdateCluster", vec![cluster.clone()]),
            ("UpdateClusterSettings", vec![cluster.clone()]),
            ("DeleteCluster", vec![cluster.clone()]),
            ("PutClusterCapacityProviders", vec![cluster.clone()]),
            ("RegisterTaskDefinition", vec![star.clone()]),
            ("DescribeTaskDefinition", vec![star.clone()]),
            ("ListTaskDefinitions", vec![star.clone()]),
            ("ListTaskDefinitionFamilies", vec![star.clone()]),
            ("DeregisterTaskDefinition", vec![star.clone()]),
            ("DeleteTaskDefinitions", vec![td.clone()]),
            ("TagResource", vec![cluster.clone()]),
            ("UntagResource", vec![cluster.clone()]),
            ("ListTagsForResource", vec![cluster.clone()]),
            ("PutAccountSetting", vec![star.clone()]),
            ("PutAccountSettingDefault", vec![star.clone()]),
            ("ListAccountSettings", vec![star.clone()]),
            ("DeleteAccountSetting", vec![star.clone()]),
            ("PutAttributes", vec![instance.clone()]),
            ("DeleteAttributes", vec![instance.clone()]),
            ("ListAttributes", vec![cluster.clone()]),
            ("DescribeCapacityProviders", vec![cp.clone()]),
            ("RegisterContainerInstance", vec![cluster.clone()]),
            ("DescribeContainerInstances", vec![instance.clone()]),
            ("ListContainerInstances", vec![cluster.clone()]),
            ("DeregisterContainerInstance", vec![cluster.clone()]),
            ("UpdateContainerInstancesState", vec![instance.clone()]),
            ("DiscoverPollEndpoint", vec![instance.clone()]),
            ("RunTask", vec![td.clone()]),
            ("StartTask", vec![td.clone()]),
            ("StopTask", vec![task.clone()]),
            ("DescribeTasks", vec![task.clone()]),
            ("ListTasks", vec![cluster.clone()]),
            ("GetTaskProtection", vec![task.clone()]),
            ("UpdateTaskProtection", vec![task.clone()]),
            ("SubmitTaskStateChange", vec![cluster.clone()]),
            ("SubmitContainerStateChange", vec![cluster.clone()]),
            ("BerthHeartbeat", vec![instance.clone()]),
            ("BerthGetTaskCredentials", vec![instance.clone()]),
            ("CreateService", vec![service.clone()]),
            ("UpdateService", vec![service.clone()]),
            ("DeleteService", vec![service.clone()]),
            ("DescribeServices", vec![service.clone()]),
            ("ListServices", vec![cluster.clone()]),
            ("ListServiceDeployments", vec![service.clone()]),
            ("DescribeServiceDeployments", vec![deployment.clone()]),
            ("DescribeServiceRevisions", vec![revision.clone()]),
            ("StopServiceDeployment", vec![deployment.clone()]),
        ];
        assert_eq!(
            expected.iter().map(|(op, _)| *op).collect::<Vec<_>>(),
            routed_operations(),
            "the list below names every routed operation, in the table's order"
        );
        for (op, want) in expected {
            assert_eq!(arns(op, full()), want, "{op}");
        }
    }
}
