//! What every routed ECR operation is authorized on, as the Service
//! Authorization Reference names it (pure): the repository ARN for the
//! repository operations, each named repository (or `repository/*` when
//! none is named) for DescribeRepositories, the `resourceArn` for tagging,
//! and `*` — explicitly — for the operations AWS does not scope to a
//! repository (GetAuthorizationToken and the registry-level ones). The
//! dispatch routes exactly the operations of [`OPERATIONS`].

use serde_json::Value;

/// What an operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Not resource-scoped in AWS: `*`.
    Any,
    /// `repositoryName`.
    Repository,
    /// `repositoryNames` (each), or every repository.
    Repositories,
    /// `resourceArn`.
    Resource,
}

/// Every routed operation and what it is authorized on.
pub const OPERATIONS: &[(&str, Scope)] = &[
    ("BatchCheckLayerAvailability", Scope::Repository),
    ("BatchDeleteImage", Scope::Repository),
    ("BatchGetImage", Scope::Repository),
    ("CompleteLayerUpload", Scope::Repository),
    ("CreateRepository", Scope::Repository),
    ("DeleteRegistryPolicy", Scope::Any),
    ("DeleteRepository", Scope::Repository),
    ("DeleteRepositoryPolicy", Scope::Repository),
    ("DescribeImages", Scope::Repository),
    ("DescribeRegistry", Scope::Any),
    ("DescribeRepositories", Scope::Repositories),
    ("GetAuthorizationToken", Scope::Any),
    ("GetDownloadUrlForLayer", Scope::Repository),
    ("GetRegistryPolicy", Scope::Any),
    ("GetRepositoryPolicy", Scope::Repository),
    ("InitiateLayerUpload", Scope::Repository),
    ("ListImages", Scope::Repository),
    ("ListTagsForResource", Scope::Resource),
    ("PutImage", Scope::Repository),
    ("PutImageTagMutability", Scope::Repository),
    ("PutRegistryPolicy", Scope::Any),
    ("SetRepositoryPolicy", Scope::Repository),
    ("TagResource", Scope::Resource),
    ("UntagResource", Scope::Resource),
    ("UploadLayerPart", Scope::Repository),
];

/// What `operation` acts on, or `None` when it is not routed.
pub fn scope_of(operation: &str) -> Option<Scope> {
    OPERATIONS.iter().find(|(op, _)| *op == operation).map(|(_, s)| *s)
}

/// One resource to authorize: its ARN and, when it is a repository of this
/// registry, its name (for its tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub arn: String,
    pub repository: Option<String>,
}

/// The resources `operation` is authorized on. `repository_arn` names a
/// repository; `repository_of_arn` reads a repository ARN of this registry.
pub fn targets(
    operation: &str,
    input: &Value,
    repository_arn: impl Fn(&str) -> String,
    repository_of_arn: impl Fn(&str) -> Option<String>,
) -> Vec<Target> {
    let repo = |name: &str| Target {
        arn: repository_arn(name),
        repository: Some(name.to_string()),
    };
    match scope_of(operation) {
        None => Vec::new(),
        Some(Scope::Any) => vec![Target {
            arn: "*".into(),
            repository: None,
        }],
        // A missing name is authorized on the empty name, never `*`; the
        // operation then answers its validation error.
        Some(Scope::Repository) => vec![repo(
            input.get("repositoryName").and_then(Value::as_str).unwrap_or_default(),
        )],
        Some(Scope::Repositories) => match input.get("repositoryNames").and_then(Value::as_array) {
            Some(names) if !names.is_empty() => names.iter().filter_map(Value::as_str).map(repo).collect(),
            _ => vec![Target {
                arn: repository_arn("*"),
                repository: None,
            }],
        },
        Some(Scope::Resource) => {
            let arn = input.get("resourceArn").and_then(Value::as_str).unwrap_or_default();
            vec![Target {
                arn: arn.to_string(),
                repository: repository_of_arn(arn),
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "arn:aws:ecr:us-east-1:000000000000:repository/";

    fn t(op: &str, input: Value) -> Vec<String> {
        targets(
            op,
            &input,
            |n| format!("{P}{n}"),
            |a| a.strip_prefix(P).map(str::to_string),
        )
        .into_iter()
        .map(|t| t.arn)
        .collect()
    }

    #[test]
    fn only_token_and_registry_operations_are_star() {
        let star: Vec<&str> = OPERATIONS
            .iter()
            .filter(|(_, s)| *s == Scope::Any)
            .map(|(op, _)| *op)
            .collect();
        assert_eq!(
            star,
            [
                "DeleteRegistryPolicy",
                "DescribeRegistry",
                "GetAuthorizationToken",
                "GetRegistryPolicy",
                "PutRegistryPolicy"
            ]
        );
        for (op, _) in OPERATIONS {
            assert!(!t(op, json!({"repositoryName": "app"})).is_empty(), "{op}");
        }
        assert!(t("CreatePullThroughCacheRule", json!({})).is_empty());
    }

    #[test]
    fn repositories_are_named() {
        assert_eq!(
            t("PutImage", json!({"repositoryName": "team/app"})),
            [format!("{P}team/app")]
        );
        assert_eq!(t("PutImage", json!({})), [P.to_string()]);
        assert_eq!(
            t("DescribeRepositories", json!({"repositoryNames": ["a", "b"]})),
            [format!("{P}a"), format!("{P}b")]
        );
        assert_eq!(t("DescribeRepositories", json!({})), [format!("{P}*")]);
        assert_eq!(
            t("TagResource", json!({"resourceArn": format!("{P}a")})),
            [format!("{P}a")]
        );
    }
}
