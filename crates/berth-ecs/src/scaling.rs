//! What Application Auto Scaling needs of an ECS service: its counts and
//! whether a deployment is in progress ([`Ecs::service_scale`]), and a
//! change of its desired count ([`Ecs::scale_service`]), written as
//! UpdateService writes one (the primary deployment follows, the service
//! controller converges). Only the desired count changes: no deployment is
//! started.

use crate::{Ecs, keys};
use berth_core::time::now_epoch;
use berth_ecs_model::service::ServiceRecord;
use berth_ecs_model::{RolloutState, ServiceStatus};
use berth_proto::AwsError;
use berth_store::{Compare, Op, typed};

/// An ECS service as Application Auto Scaling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceScale {
    pub service_arn: String,
    pub desired_count: i64,
    pub running_count: i64,
    /// More than one deployment, or the primary still rolling out.
    pub deploying: bool,
    /// A DAEMON service has no desired count to set.
    pub daemon: bool,
}

fn scale_of(rec: &ServiceRecord) -> ServiceScale {
    // EXTERNAL: a task set still stabilizing is the external tool's
    // deployment in progress.
    let deploying = rec.deployments.len() > 1
        || rec
            .primary()
            .is_some_and(|p| p.rollout_state == RolloutState::InProgress)
        || rec
            .task_sets
            .iter()
            .any(|t| t.stability_status == berth_ecs_model::service::StabilityStatus::Stabilizing);
    ServiceScale {
        service_arn: rec.service_arn.clone(),
        desired_count: rec.desired_count,
        running_count: rec.running_count,
        deploying,
        daemon: rec.is_daemon(),
    }
}

impl Ecs {
    async fn active_service(&self, cluster: &str, service: &str) -> Result<Option<(ServiceRecord, i64)>, AwsError> {
        let found = typed::get::<ServiceRecord>(&*self.store, &keys::service(cluster, service))
            .await
            .map_err(AwsError::state_store)?;
        Ok(found.filter(|(s, _)| s.status == ServiceStatus::Active))
    }

    /// The ACTIVE service `service` of the cluster named `cluster`, if any.
    pub async fn service_scale(&self, cluster: &str, service: &str) -> Result<Option<ServiceScale>, AwsError> {
        Ok(self.active_service(cluster, service).await?.map(|(s, _)| scale_of(&s)))
    }

    /// Sets the desired count of an ACTIVE service to what `decide` answers
    /// for its current state (`None`: leave it), in one compare-and-swap
    /// (retried when the record changed meanwhile). Answers the state
    /// before and the count written, or `None` when the service is gone or
    /// nothing was written.
    pub async fn scale_service(
        &self,
        cluster: &str,
        service: &str,
        decide: impl Fn(&ServiceScale) -> Option<i64>,
    ) -> Result<Option<(ServiceScale, i64)>, AwsError> {
        loop {
            let Some((mut rec, rev)) = self.active_service(cluster, service).await? else {
                return Ok(None);
            };
            let before = scale_of(&rec);
            let Some(count) = decide(&before).filter(|c| *c >= 0 && *c != before.desired_count) else {
                return Ok(None);
            };
            let now = now_epoch();
            rec.desired_count = count;
            if let Some(p) = rec.primary_mut() {
                p.desired_count = count;
                p.updated_at = now;
            }
            for t in &mut rec.task_sets {
                t.computed_desired_count = t.wanted(count);
                t.updated_at = now;
            }
            rec.berth.steady = false;
            let key = keys::service(cluster, &rec.service_name);
            let written = self
                .store
                .txn(
                    vec![Compare::ModRevision(key.clone(), rev)],
                    vec![Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?)],
                )
                .await
                .map_err(AwsError::state_store)?
                .succeeded;
            if written {
                return Ok(Some((before, count)));
            }
        }
    }
}
