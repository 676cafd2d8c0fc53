//! The service deployment status of a deployment (the rule of
//! DescribeServiceDeployments and ListServiceDeployments): a circuit-breaker
//! rollback is folded into the deployment it rolls back
//! (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED), as
//! ECS shows it.

use super::records::{DeploymentRecord, ServiceRecord};
use crate::status::{DeploymentStatus, RolloutState, ServiceDeploymentStatus, ServiceStatus};

/// The service deployment status of `d`, a deployment of `svc`, and its
/// reason.
pub fn service_deployment_status(svc: &ServiceRecord, d: &DeploymentRecord) -> (ServiceDeploymentStatus, String) {
    use ServiceDeploymentStatus as S;
    let find = |id: &str| svc.deployments.iter().chain(&svc.berth.history).find(|x| x.id == id);
    if let Some(r) = d.berth.rolled_back_by.as_deref() {
        let reason = d.berth.rollback_reason.clone().unwrap_or_default();
        return match find(r).map(|r| (r.rollout_state.known(), r.status.known())) {
            Some((Some(RolloutState::Completed), _)) => (S::RollbackSuccessful, reason),
            Some((Some(RolloutState::InProgress), Some(DeploymentStatus::Primary))) => (S::RollbackInProgress, reason),
            _ => (S::RollbackFailed, reason),
        };
    }
    match (d.rollout_state.known(), d.status.known()) {
        (Some(RolloutState::Completed), _) => (S::Successful, d.rollout_state_reason.clone()),
        (Some(RolloutState::Failed), _) => (S::Stopped, d.rollout_state_reason.clone()),
        (_, Some(DeploymentStatus::Primary)) if svc.status == ServiceStatus::Active => {
            (S::InProgress, d.rollout_state_reason.clone())
        }
        (_, Some(DeploymentStatus::Primary)) => (S::Stopped, "The service was deleted.".into()),
        _ => (S::Stopped, "A newer service deployment started.".into()),
    }
}

impl ServiceDeploymentStatus {
    /// Whether the deployment is still going (no `finishedAt` yet).
    pub fn in_progress(self) -> bool {
        matches!(self, Self::InProgress | Self::RollbackInProgress)
    }
}
