//! The `/v2/` API's authorization: an ECR action on a repository (or `*`)
//! through the authorization hook the binary supplies, and `kms:Decrypt`
//! for a pull from a KMS repository; a refusal is OCI's `DENIED`, in IAM's
//! words. Used by the `/v2/` handlers (`oci.rs`), the pull-through import
//! and a replication push's repository creation.

use crate::Registry;
use crate::error::OciError;
use berth_proto::Principal;

/// Runs the authorization hook; a refusal is `DENIED`.
pub(crate) async fn authorize(
    reg: &Registry,
    who: &Principal,
    action: &str,
    repository: Option<&str>,
) -> Result<(), OciError> {
    let (resource, tags) = match repository {
        Some(r) => (reg.repository_arn(r), reg.repository_tags(who, r).await),
        None => ("*".to_string(), Vec::new()),
    };
    reg.authorize(who, action, &resource, &tags).map_err(|reason| {
        OciError::denied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource}{}",
            who.arn,
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            }
        ))
    })
}

/// A pull from a KMS repository: `kms:Decrypt` on its key, or `DENIED`.
pub(crate) async fn authorize_decrypt(reg: &Registry, who: &Principal, name: &str) -> Result<(), OciError> {
    reg.check_decrypt(who, name).await.map_err(|(key, why)| {
        OciError::denied(format!(
            "User: {} is not authorized to perform: kms:Decrypt on resource: {key}{} \
             (the repository {name} is encrypted with that KMS key)",
            who.arn,
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            }
        ))
    })
}
