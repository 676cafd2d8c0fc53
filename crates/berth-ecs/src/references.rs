//! References to ECS resources in requests: a `cluster` parameter (name
//! or ARN) and the ARN of a taggable resource, resolved without IO. Below
//! every operation file (clusters, tags, authz all read them).

use berth_core::arn::{Arn, Scope};
use berth_core::names::is_valid_ecs_name;
use berth_proto::AwsError;

/// Resolves a `cluster` parameter (name or ARN; absent means `default`) to a name.
pub(crate) fn cluster_name(param: Option<&str>) -> Result<String, AwsError> {
    let raw = param.unwrap_or("default");
    let name = if raw.starts_with("arn:") {
        let arn = Arn::parse(raw).ok_or_else(|| AwsError::invalid_parameter(format!("Invalid cluster ARN: {raw}")))?;
        match arn.resource_parts() {
            ("cluster", name) => name.to_string(),
            _ => {
                return Err(AwsError::invalid_parameter(format!(
                    "The ARN {raw} is not a cluster ARN."
                )));
            }
        }
    } else {
        raw.to_string()
    };
    if !is_valid_ecs_name(&name) {
        return Err(AwsError::invalid_parameter(
            "Cluster name can only contain letters (uppercase and lowercase), numbers, hyphens and underscores, up to 255 characters.",
        ));
    }
    Ok(name)
}

/// A taggable resource, as named by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagTarget {
    Cluster(String),
    TaskDefinition(String, i64),
    /// Tasks, services and container instances; `cluster` is `None` for the
    /// old short ARN format (`task/ID`).
    Task(Option<String>, String),
    Service(Option<String>, String),
    ContainerInstance(Option<String>, String),
    CapacityProvider(String),
}

fn invalid_arn(arn: &str) -> AwsError {
    AwsError::invalid_parameter(format!(
        "Invalid resource ARN: {arn}. Specify the ARN of an ECS resource."
    ))
}

pub(crate) fn resource_not_found() -> AwsError {
    AwsError::resource_not_found("The specified resource could not be found.")
}

/// Parses an ECS resource ARN. Malformed ARNs and ARNs of resource types that
/// cannot be tagged are `InvalidParameterException`; ARNs of another account
/// or region name nothing here (`ResourceNotFoundException`).
pub(crate) fn parse_resource_arn(scope: &Scope, raw: &str) -> Result<TagTarget, AwsError> {
    let arn = Arn::parse(raw).ok_or_else(|| invalid_arn(raw))?;
    if arn.service != "ecs" {
        return Err(invalid_arn(raw));
    }
    let (kind, rest) = arn.resource_parts();
    let parts: Vec<&str> = rest.split('/').collect();
    let valid = |s: &str| {
        !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let target = match (kind, parts.as_slice()) {
        ("cluster", [name]) if is_valid_ecs_name(name) => TagTarget::Cluster(name.to_string()),
        ("task-definition", [body]) => {
            let (family, rev) = body.split_once(':').ok_or_else(|| {
                AwsError::invalid_parameter(format!(
                    "The task definition ARN {raw} must include a revision (task-definition/FAMILY:REVISION)."
                ))
            })?;
            let rev = rev
                .parse::<i64>()
                .ok()
                .filter(|r| *r >= 1)
                .ok_or_else(|| invalid_arn(raw))?;
            if !is_valid_ecs_name(family) {
                return Err(invalid_arn(raw));
            }
            TagTarget::TaskDefinition(family.to_string(), rev)
        }
        ("task", [cluster, id]) if valid(cluster) && valid(id) => {
            TagTarget::Task(Some(cluster.to_string()), id.to_string())
        }
        ("task", [id]) if valid(id) => TagTarget::Task(None, id.to_string()),
        ("service", [cluster, name]) if valid(cluster) && valid(name) => {
            TagTarget::Service(Some(cluster.to_string()), name.to_string())
        }
        ("service", [name]) if valid(name) => TagTarget::Service(None, name.to_string()),
        ("container-instance", [cluster, id]) if valid(cluster) && valid(id) => {
            TagTarget::ContainerInstance(Some(cluster.to_string()), id.to_string())
        }
        ("container-instance", [id]) if valid(id) => TagTarget::ContainerInstance(None, id.to_string()),
        ("capacity-provider", [name]) if valid(name) => TagTarget::CapacityProvider(name.to_string()),
        ("task-set", _) => {
            return Err(AwsError::invalid_parameter(
                "Berth does not tag task sets after their creation: give their tags to CreateTaskSet.",
            ));
        }
        _ => return Err(invalid_arn(raw)),
    };
    if arn.region != scope.region || arn.account != scope.account {
        return Err(match target {
            TagTarget::Cluster(_) => AwsError::cluster_not_found("Cluster not found."),
            _ => resource_not_found(),
        });
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_and_arns() {
        assert_eq!(cluster_name(None).unwrap(), "default");
        assert_eq!(
            cluster_name(Some("arn:aws:ecs:us-east-1:000000000000:cluster/web")).unwrap(),
            "web"
        );
        assert!(cluster_name(Some("arn:aws:ecs:us-east-1:000000000000:service/x/y")).is_err());
        assert!(cluster_name(Some("bad name")).is_err());
    }

    fn scope() -> Scope {
        Scope::new("us-east-1", "000000000000")
    }

    fn p(s: &str) -> Result<TagTarget, AwsError> {
        parse_resource_arn(&scope(), s)
    }

    #[test]
    fn arns_resolve_to_targets() {
        let a = "arn:aws:ecs:us-east-1:000000000000:";
        assert_eq!(p(&format!("{a}cluster/web")).unwrap(), TagTarget::Cluster("web".into()));
        assert_eq!(
            p(&format!("{a}task-definition/web:3")).unwrap(),
            TagTarget::TaskDefinition("web".into(), 3)
        );
        assert_eq!(
            p(&format!("{a}task/c1/abc")).unwrap(),
            TagTarget::Task(Some("c1".into()), "abc".into())
        );
        assert_eq!(p(&format!("{a}task/abc")).unwrap(), TagTarget::Task(None, "abc".into()));
        assert_eq!(
            p(&format!("{a}service/c1/svc")).unwrap(),
            TagTarget::Service(Some("c1".into()), "svc".into())
        );
        assert_eq!(
            p(&format!("{a}container-instance/c1/i1")).unwrap(),
            TagTarget::ContainerInstance(Some("c1".into()), "i1".into())
        );
        assert_eq!(
            p(&format!("{a}capacity-provider/FARGATE")).unwrap(),
            TagTarget::CapacityProvider("FARGATE".into())
        );
    }

    #[test]
    fn bad_arns_are_invalid_parameters() {
        for bad in [
            "not-an-arn",
            "arn:aws:s3:::bucket",
            "arn:aws:ecs:us-east-1:000000000000:widget/x",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:x",
            "arn:aws:ecs:us-east-1:000000000000:cluster/a b",
            "arn:aws:ecs:us-east-1:000000000000:task/a/b/c",
        ] {
            assert_eq!(p(bad).unwrap_err().code, "InvalidParameterException", "{bad}");
        }
    }

    #[test]
    fn foreign_arns_are_not_found() {
        assert_eq!(
            p("arn:aws:ecs:eu-west-1:000000000000:cluster/web").unwrap_err().code,
            "ClusterNotFoundException"
        );
        assert_eq!(
            p("arn:aws:ecs:us-east-1:111111111111:task-definition/web:1")
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
    }
}
