//! What a scalable target is named by: its service namespace, scalable
//! dimension and resource id (`service/CLUSTER/SERVICE` for ECS, the only
//! namespace Berth scales), and the ARNs of targets, policies and
//! scheduled actions. Pure.

use berth_core::arn::Scope;
use berth_proto::AwsError;

/// The one namespace Berth scales.
pub const ECS: &str = "ecs";
/// The one dimension of an ECS service.
pub const DESIRED_COUNT: &str = "ecs:service:DesiredCount";

/// The service-linked role Application Auto Scaling uses for ECS.
pub fn service_linked_role(account: &str) -> String {
    format!(
        "arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/\
         AWSServiceRoleForApplicationAutoScaling_ECSService"
    )
}

pub fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", 400, message)
}

pub fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ObjectNotFoundException", 400, message)
}

/// An ECS service as a resource id names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceId {
    pub cluster: String,
    pub service: String,
}

impl ServiceId {
    /// `service/CLUSTER/SERVICE`.
    pub fn parse(resource_id: &str) -> Option<Self> {
        let rest = resource_id.strip_prefix("service/")?;
        let (cluster, service) = rest.split_once('/')?;
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        (ok(cluster) && ok(service)).then(|| Self {
            cluster: cluster.to_string(),
            service: service.to_string(),
        })
    }

    pub fn resource_id(&self) -> String {
        format!("service/{}/{}", self.cluster, self.service)
    }
}

/// A scalable target's three names, checked: Berth's namespace, dimension
/// and a well-formed ECS resource id.
pub fn target_of(namespace: &str, resource_id: &str, dimension: &str) -> Result<ServiceId, AwsError> {
    check_namespace(namespace)?;
    if dimension != DESIRED_COUNT {
        return Err(validation(format!(
            "Unsupported scalable dimension '{dimension}' for service namespace '{ECS}': \
             an ECS service scales on '{DESIRED_COUNT}'."
        )));
    }
    ServiceId::parse(resource_id).ok_or_else(|| {
        validation(format!(
            "Unsupported resource ID '{resource_id}': an ECS service's resource ID is service/CLUSTER_NAME/SERVICE_NAME."
        ))
    })
}

/// Berth scales ECS services only: any other namespace the model knows is refused.
pub fn check_namespace(namespace: &str) -> Result<(), AwsError> {
    if namespace == ECS {
        return Ok(());
    }
    Err(validation(format!(
        "Unsupported service namespace '{namespace}': Berth's Application Auto Scaling scales ECS services \
         (service namespace '{ECS}') only."
    )))
}

/// What the three names say when nothing is registered under them.
pub fn no_target(namespace: &str, resource_id: &str, dimension: &str) -> AwsError {
    not_found(format!(
        "No scalable target registered for service namespace: {namespace}, resource ID: {resource_id}, \
         scalable dimension: {dimension}"
    ))
}

/// `arn:aws:application-autoscaling:REGION:ACCOUNT:scalable-target/ID`.
pub fn target_arn(scope: &Scope, id: &str) -> String {
    scope.arn("application-autoscaling", format!("scalable-target/{id}"))
}

/// Every target of the region, as an IAM resource pattern.
pub fn any_target_arn(scope: &Scope) -> String {
    target_arn(scope, "*")
}

/// A new scalable target's id: 36 hexadecimal characters, as AWS's.
pub fn new_target_id() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..4])
}

/// `arn:aws:autoscaling:REGION:ACCOUNT:scalingPolicy:UUID:resource/ecs/RESOURCE_ID:policyName/NAME`.
pub fn policy_arn(scope: &Scope, id: &str, resource_id: &str, name: &str) -> String {
    scope.arn(
        "autoscaling",
        format!("scalingPolicy:{id}:resource/{ECS}/{resource_id}:policyName/{name}"),
    )
}

/// `arn:aws:autoscaling:REGION:ACCOUNT:scheduledAction:UUID:resource/ecs/RESOURCE_ID:scheduledActionName/NAME`.
pub fn scheduled_action_arn(scope: &Scope, id: &str, resource_id: &str, name: &str) -> String {
    scope.arn(
        "autoscaling",
        format!("scheduledAction:{id}:resource/{ECS}/{resource_id}:scheduledActionName/{name}"),
    )
}

/// The condition keys a target's resource carries.
pub fn condition_keys(namespace: &str, dimension: &str) -> Vec<(String, String)> {
    vec![
        ("application-autoscaling:service-namespace".into(), namespace.into()),
        ("application-autoscaling:scalable-dimension".into(), dimension.into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ecs_service_is_named_service_cluster_service() {
        let id = target_of("ecs", "service/default/web", DESIRED_COUNT).unwrap();
        assert_eq!((id.cluster.as_str(), id.service.as_str()), ("default", "web"));
        assert_eq!(id.resource_id(), "service/default/web");
        for bad in [
            "service/default",
            "default/web",
            "service//web",
            "service/a/b/c",
            "cluster/a/b",
        ] {
            let e = target_of("ecs", bad, DESIRED_COUNT).unwrap_err();
            assert_eq!(e.code, "ValidationException", "{bad}");
        }
        let e = target_of("dynamodb", "table/t", "dynamodb:table:ReadCapacityUnits").unwrap_err();
        assert!(
            e.message.contains("Unsupported service namespace 'dynamodb'"),
            "{}",
            e.message
        );
        let e = target_of("ecs", "service/a/b", "ecs:service:Other").unwrap_err();
        assert!(e.message.contains("Unsupported scalable dimension"), "{}", e.message);
    }

    #[test]
    fn arns_are_aws_shaped() {
        let scope = Scope::new("us-east-1", "000000000000");
        let id = new_target_id();
        assert_eq!(id.len(), 36);
        assert_eq!(
            target_arn(&scope, "abc"),
            "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/abc"
        );
        assert_eq!(
            policy_arn(&scope, "u", "service/default/web", "cpu"),
            "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:u:resource/ecs/service/default/web:policyName/cpu"
        );
        assert!(
            scheduled_action_arn(&scope, "u", "service/c/s", "n")
                .ends_with(":scheduledAction:u:resource/ecs/service/c/s:scheduledActionName/n")
        );
    }
}
