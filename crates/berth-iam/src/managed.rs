//! AWS managed policies: the read-only `arn:aws:iam::aws:policy/…` policies
//! every tutorial attaches, built in (one JSON file each under
//! `managed-policies/`, the default version AWS publishes, with its path,
//! version id, dates and description). They exist in every account, cannot be
//! created, changed or deleted, and are evaluated like any attached policy.
//!
//! `ReadOnlyAccess` lists read actions for every AWS service; Berth keeps
//! only the ones of the services it serves (`TrimmedToBerthServices`).

use crate::policy::{PolicyDocument, PolicyKind};
use crate::records::{PolicyRec, PolicyVersionRec};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The ARN prefix of every AWS managed policy.
pub const AWS_POLICY_PREFIX: &str = "arn:aws:iam::aws:policy/";

/// The services whose statements Berth keeps in a trimmed policy.
pub const BERTH_SERVICES: &[&str] = &[
    "application-autoscaling",
    "cloudtrail",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elasticloadbalancing",
    "events",
    "iam",
    "kms",
    "logs",
    "secretsmanager",
    "servicediscovery",
    "ssm",
    "sts",
];

const SOURCES: &[&str] = &[
    include_str!("../managed-policies/AdministratorAccess.json"),
    include_str!("../managed-policies/AmazonEC2ContainerRegistryFullAccess.json"),
    include_str!("../managed-policies/AmazonEC2ContainerRegistryPowerUser.json"),
    include_str!("../managed-policies/AmazonEC2ContainerRegistryReadOnly.json"),
    include_str!("../managed-policies/AmazonEC2ContainerServiceforEC2Role.json"),
    include_str!("../managed-policies/AmazonECSTaskExecutionRolePolicy.json"),
    include_str!("../managed-policies/AmazonECS_FullAccess.json"),
    include_str!("../managed-policies/AmazonSSMReadOnlyAccess.json"),
    include_str!("../managed-policies/CloudWatchLogsFullAccess.json"),
    include_str!("../managed-policies/ReadOnlyAccess.json"),
    include_str!("../managed-policies/SecretsManagerReadWrite.json"),
];

/// One built-in policy file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Source {
    policy_name: String,
    policy_id: String,
    path: String,
    default_version_id: String,
    create_date: String,
    update_date: String,
    version_create_date: String,
    description: String,
    #[serde(default)]
    trimmed_to_berth_services: bool,
    document: serde_json::Value,
}

/// An AWS managed policy, as IAM records it.
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub record: PolicyRec,
    /// Whether statements of services Berth does not serve were left out.
    pub trimmed: bool,
}

/// Whether `arn` names an AWS managed policy (existing or not).
pub fn is_aws_managed(arn: &str) -> bool {
    arn.starts_with(AWS_POLICY_PREFIX)
}

/// Every built-in AWS managed policy, parsed once.
pub fn all() -> &'static [ManagedPolicy] {
    static ALL: OnceLock<Vec<ManagedPolicy>> = OnceLock::new();
    ALL.get_or_init(|| {
        SOURCES
            .iter()
            .map(|text| parse(text).unwrap_or_else(|e| panic!("a built-in AWS managed policy is malformed: {e}")))
            .collect()
    })
}

/// The built-in policy with ARN `arn`.
pub fn get(arn: &str) -> Option<&'static ManagedPolicy> {
    all().iter().find(|p| p.record.arn == arn)
}

/// The parsed default document of the built-in policy `arn`, shared by
/// every user, group and role it is attached to.
pub fn document(arn: &str) -> Option<Arc<PolicyDocument>> {
    static DOCS: OnceLock<HashMap<String, Arc<PolicyDocument>>> = OnceLock::new();
    DOCS.get_or_init(|| {
        all()
            .iter()
            .filter_map(|p| {
                let text = p.record.default_document()?;
                let doc = PolicyDocument::parse(text, PolicyKind::Identity)
                    .unwrap_or_else(|e| panic!("the built-in policy {} does not parse: {}", p.record.name, e.0));
                Some((p.record.arn.clone(), Arc::new(doc)))
            })
            .collect()
    })
    .get(arn)
    .cloned()
}

fn parse(text: &str) -> Result<ManagedPolicy, String> {
    let s: Source = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let document = serde_json::to_string(&s.document).map_err(|e| e.to_string())?;
    Ok(ManagedPolicy {
        record: PolicyRec {
            arn: format!("arn:aws:iam::aws:policy{}{}", s.path, s.policy_name),
            name: s.policy_name,
            id: s.policy_id,
            path: s.path,
            description: Some(s.description),
            create_date: s.create_date,
            update_date: s.update_date,
            versions: vec![PolicyVersionRec {
                id: s.default_version_id.clone(),
                document,
                create_date: s.version_create_date,
            }],
            default_version: s.default_version_id,
            next_version: 0,
        },
        trimmed: s.trimmed_to_berth_services,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ContextKeys, Decision, Request, evaluate};

    fn decide(policy: &str, action: &str, resource: &str) -> Decision {
        let doc = document(&format!("{AWS_POLICY_PREFIX}{policy}")).unwrap();
        evaluate(
            &[&doc],
            None,
            &Request {
                principal_arn: "arn:aws:iam::123456789012:user/u",
                account_id: "123456789012",
                action,
                resource,
                keys: &ContextKeys::new(),
            },
        )
    }

    #[test]
    fn every_built_in_policy_parses_as_an_identity_policy() {
        assert_eq!(all().len(), SOURCES.len());
        for p in all() {
            let text = p.record.default_document().unwrap();
            PolicyDocument::parse(text, PolicyKind::Identity)
                .unwrap_or_else(|e| panic!("{} does not parse: {}", p.record.name, e.0));
            assert!(is_aws_managed(&p.record.arn));
            assert!(p.record.path.starts_with('/') && p.record.path.ends_with('/'));
            assert!(p.record.id.starts_with("ANPA"), "{}", p.record.id);
        }
    }

    #[test]
    fn service_role_policies_live_under_their_path() {
        for name in [
            "AmazonECSTaskExecutionRolePolicy",
            "AmazonEC2ContainerServiceforEC2Role",
        ] {
            let p = get(&format!("{AWS_POLICY_PREFIX}service-role/{name}")).unwrap();
            assert_eq!(p.record.path, "/service-role/");
        }
        assert!(get(&format!("{AWS_POLICY_PREFIX}AmazonECSTaskExecutionRolePolicy")).is_none());
    }

    #[test]
    fn trimmed_policies_keep_only_berth_services() {
        let ro = get(&format!("{AWS_POLICY_PREFIX}ReadOnlyAccess")).unwrap();
        assert!(ro.trimmed);
        let doc: serde_json::Value = serde_json::from_str(ro.record.default_document().unwrap()).unwrap();
        for s in doc["Statement"].as_array().unwrap() {
            for a in s["Action"].as_array().unwrap() {
                let service = a.as_str().unwrap().split(':').next().unwrap();
                assert!(BERTH_SERVICES.contains(&service), "{a}");
            }
        }
    }

    #[test]
    fn the_documents_grant_what_aws_publishes() {
        let any = "*";
        assert_eq!(decide("AdministratorAccess", "iam:CreateUser", any), Decision::Allow);
        assert_eq!(decide("ReadOnlyAccess", "ecs:ListClusters", any), Decision::Allow);
        assert_eq!(
            decide("ReadOnlyAccess", "ecs:CreateCluster", any),
            Decision::ImplicitDeny
        );
        assert_eq!(decide("ReadOnlyAccess", "ssm:GetParameter", any), Decision::Allow);
        let repo = "arn:aws:ecr:us-east-1:123456789012:repository/app";
        assert_eq!(
            decide("AmazonEC2ContainerRegistryReadOnly", "ecr:BatchGetImage", repo),
            Decision::Allow
        );
        assert_eq!(
            decide("AmazonEC2ContainerRegistryReadOnly", "ecr:PutImage", repo),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide("AmazonEC2ContainerRegistryPowerUser", "ecr:PutImage", repo),
            Decision::Allow
        );
        assert_eq!(
            decide("AmazonEC2ContainerRegistryPowerUser", "ecr:DeleteRepository", repo),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(
                "service-role/AmazonECSTaskExecutionRolePolicy",
                "logs:PutLogEvents",
                any
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                "service-role/AmazonECSTaskExecutionRolePolicy",
                "ssm:GetParameters",
                any
            ),
            Decision::ImplicitDeny
        );
        // AmazonECS_FullAccess reads only the public ECS parameters of SSM.
        assert_eq!(
            decide(
                "AmazonECS_FullAccess",
                "ssm:GetParameter",
                "arn:aws:ssm:us-east-1:123456789012:parameter/aws/service/ecs/optimized-ami"
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                "AmazonECS_FullAccess",
                "ssm:GetParameter",
                "arn:aws:ssm:us-east-1:123456789012:parameter/db/password"
            ),
            Decision::ImplicitDeny
        );
    }
}
