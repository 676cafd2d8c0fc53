//! The ECS operations Berth routes: one list, used by the dispatch
//! (`Ecs::call` refuses any operation not in it) and by the tests below,
//! which fail when a routed operation has no authorization mapping (so a
//! newly routed operation cannot silently be authorized on `*`).

/// Every operation `Ecs::call` dispatches.
pub const ROUTED: &[&str] = &[
    "CreateCluster",
    "DescribeClusters",
    "ListClusters",
    "UpdateCluster",
    "UpdateClusterSettings",
    "DeleteCluster",
    "PutClusterCapacityProviders",
    "RegisterTaskDefinition",
    "DescribeTaskDefinition",
    "ListTaskDefinitions",
    "ListTaskDefinitionFamilies",
    "DeregisterTaskDefinition",
    "DeleteTaskDefinitions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "PutAccountSetting",
    "PutAccountSettingDefault",
    "ListAccountSettings",
    "DeleteAccountSetting",
    "PutAttributes",
    "DeleteAttributes",
    "ListAttributes",
    "DescribeCapacityProviders",
    "RegisterContainerInstance",
    "DescribeContainerInstances",
    "ListContainerInstances",
    "DeregisterContainerInstance",
    "UpdateContainerInstancesState",
    "RunTask",
    "StartTask",
    "StopTask",
    "DescribeTasks",
    "ListTasks",
    "SubmitTaskStateChange",
    "SubmitContainerStateChange",
    "BerthHeartbeat",
    "BerthGetTaskCredentials",
    "CreateService",
    "UpdateService",
    "DeleteService",
    "DescribeServices",
    "ListServices",
    "ListServiceDeployments",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "StopServiceDeployment",
];

/// Whether `operation` is routed.
pub(crate) fn is_routed(operation: &str) -> bool {
    ROUTED.contains(&operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::resource_arns;
    use berth_core::arn::Scope;
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

    #[test]
    fn every_routed_operation_has_an_authorization_mapping() {
        let s = Scope::new("us-east-1", "000000000000");
        let unmapped: Vec<&str> = ROUTED
            .iter()
            .copied()
            .filter(|op| resource_arns(&s, op, &json!({})).is_none())
            .collect();
        assert!(
            unmapped.is_empty(),
            "routed without an authorization mapping: {unmapped:?}"
        );
        assert_eq!(resource_arns(&s, "NoSuchOperation", &json!({})), None);
    }

    #[test]
    fn only_the_listed_operations_are_scoped_to_star() {
        // An input naming every resource field the mapped operations read:
        // each operation outside STAR then names a resource.
        let s = Scope::new("us-east-1", "000000000000");
        let full = json!({
            "cluster": "c", "clusterName": "c", "clusters": ["c"], "service": "web", "serviceName": "web",
            "services": ["web"], "task": "t1", "tasks": ["t1"], "containerInstance": "i1",
            "containerInstances": ["i1"], "taskDefinition": "web:1", "taskDefinitions": ["web:1"],
            "capacityProviders": ["cp"], "resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c",
            "attributes": [{"name": "a", "targetId": "i1"}],
            "serviceDeploymentArn": "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/1",
            "serviceDeploymentArns": ["arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/1"],
            "serviceRevisionArns": ["arn:aws:ecs:us-east-1:000000000000:service-revision/c/web/1"],
        });
        for op in ROUTED {
            let arns = resource_arns(&s, op, &full).unwrap();
            let on_star = arns.iter().any(|a| a == "*");
            assert_eq!(on_star, STAR.contains(op), "{op} is authorized on {arns:?}");
        }
        for op in STAR {
            assert!(is_routed(op), "{op} is listed as `*` but not routed");
        }
    }
}
