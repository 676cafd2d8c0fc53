//! The destination's side of cross-account replication: a `/v2/` write
//! naming a source account (`X-Berth-Replication-Source-Account`, sent by
//! the source server's replicator, [`super::remote`]) is allowed only when
//! this registry's policy allows that account `ecr:ReplicateImage` on the
//! repository — on top of the caller's own IAM permissions, never instead
//! of them: the caller is a principal of this account (the IAM user the
//! operator made for the peer), so the header can only narrow what it may
//! do. A write to a repository that does not exist creates it when the
//! registry policy allows the account `ecr:CreateRepository` and the
//! caller's policies allow it too (as ECR creates a replica's repository).

use crate::error::{OciError, RegistryError};
use crate::records::RepositoryRecord;
use crate::{Registry, keys, now_epoch, registry_policy};
use berth_proto::Principal;
use berth_store::typed;
use http::{HeaderMap, Method};

/// The header naming the account a replication push comes from.
pub(crate) const SOURCE_ACCOUNT_HEADER: &str = "x-berth-replication-source-account";

/// The checks of a replication push into `repository` (none for a request
/// without the header, or a read).
pub(crate) async fn check(
    reg: &Registry,
    who: &Principal,
    headers: &HeaderMap,
    method: &Method,
    repository: Option<&str>,
) -> Result<(), OciError> {
    let Some(value) = headers.get(SOURCE_ACCOUNT_HEADER) else {
        return Ok(());
    };
    let source = value.to_str().unwrap_or_default();
    if source.len() != 12 || !source.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OciError::denied(format!(
            "{SOURCE_ACCOUNT_HEADER} must be a 12-digit account id"
        )));
    }
    if source == reg.registry_id() {
        return Err(OciError::denied(format!(
            "{SOURCE_ACCOUNT_HEADER} names this registry's own account: replication is from another account"
        )));
    }
    let (Some(name), false) = (repository, *method == Method::GET || *method == Method::HEAD) else {
        return Ok(());
    };
    let arn = reg.repository_arn(name);
    let policy = reg.registry_policy_text().await.map_err(OciError::from)?;
    let refuse = |why: String| {
        OciError::denied(format!(
            "replication from account {source} into {arn} is not allowed: {why}; \
             the destination's registry policy must allow ecr:ReplicateImage (and ecr:CreateRepository) \
             to arn:aws:iam::{source}:root"
        ))
    };
    registry_policy::allows_account(policy.as_deref(), source, "ecr:ReplicateImage", &arn).map_err(refuse)?;
    match reg.repository(name).await {
        Ok(_) => return Ok(()),
        Err(RegistryError::RepositoryNotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    registry_policy::allows_account(policy.as_deref(), source, "ecr:CreateRepository", &arn).map_err(refuse)?;
    crate::oci_authz::authorize(reg, who, "ecr:CreateRepository", Some(name)).await?;
    create_repository(reg, name).await
}

/// The replica's repository, with ECR's defaults (mutable tags, AES256) or
/// the settings of the REPLICATION creation template that applies.
async fn create_repository(reg: &Registry, name: &str) -> Result<(), OciError> {
    reg.sweep_repository_keys(name).await?;
    let base = RepositoryRecord::with_defaults(name, reg.repository_arn(name), reg.registry_id(), now_epoch());
    let rec = reg
        .templated_repository(base, crate::templates::AppliedFor::Replication)
        .await?;
    let value = typed::encode(&rec).map_err(RegistryError::from)?;
    // Created by a racing push meanwhile: as good.
    if reg
        .store
        .create(&keys::repository(name), value)
        .await
        .map_err(RegistryError::from)?
    {
        tracing::info!(repository = %rec.repository_arn, "repository created by cross-account replication");
    }
    Ok(())
}
