//! The store layout: `application-autoscaling/targets/NAMESPACE/DIMENSION/RESOURCE_ID`
//! (a target with its policies, scheduled actions and cooldowns) and
//! `application-autoscaling/activities/NAMESPACE/DIMENSION/RESOURCE_ID/INVERTED_MS-ID`
//! (its activities, newest first in key order).

use crate::Autoscaling;
use crate::records::{ActivityRecord, TargetRecord};
use berth_proto::AwsError;
use berth_store::{Op, typed};

const TARGETS: &str = "application-autoscaling/targets/";
const ACTIVITIES: &str = "application-autoscaling/activities/";

fn target_key(namespace: &str, dimension: &str, resource_id: &str) -> String {
    format!("{TARGETS}{namespace}/{dimension}/{resource_id}")
}

fn activities_prefix(namespace: &str, dimension: &str, resource_id: &str) -> String {
    format!("{ACTIVITIES}{namespace}/{dimension}/{resource_id}/")
}

fn activity_key(a: &ActivityRecord) -> String {
    let ms = (a.start * 1000.0) as i64;
    format!(
        "{}{:020}-{}",
        activities_prefix(&a.namespace, &a.dimension, &a.resource_id),
        i64::MAX - ms,
        a.id
    )
}

impl Autoscaling {
    pub(crate) async fn target(
        &self,
        namespace: &str,
        dimension: &str,
        resource_id: &str,
    ) -> Result<Option<TargetRecord>, AwsError> {
        Ok(
            typed::get::<TargetRecord>(&*self.store, &target_key(namespace, dimension, resource_id))
                .await
                .map_err(AwsError::state_store)?
                .map(|(t, _)| t),
        )
    }

    /// Every target of a namespace, in key order.
    pub(crate) async fn targets(&self, namespace: &str) -> Result<Vec<TargetRecord>, AwsError> {
        typed::list::<TargetRecord>(&*self.store, &format!("{TARGETS}{namespace}/"))
            .await
            .map_err(AwsError::state_store)
    }

    /// The target whose ARN is `arn`.
    pub(crate) async fn target_by_arn(&self, arn: &str) -> Result<Option<TargetRecord>, AwsError> {
        Ok(self
            .targets(crate::resource::ECS)
            .await?
            .into_iter()
            .find(|t| t.arn == arn))
    }

    /// Read-modify-write of one target (`f` sees it, answers what to write:
    /// `None` deletes), retried on a concurrent change.
    pub(crate) async fn update_target<F>(
        &self,
        namespace: &str,
        dimension: &str,
        resource_id: &str,
        f: F,
    ) -> Result<Option<TargetRecord>, AwsError>
    where
        F: FnMut(Option<TargetRecord>) -> Result<Option<TargetRecord>, AwsError>,
    {
        typed::update_with(
            AwsError::state_store,
            &*self.store,
            &target_key(namespace, dimension, resource_id),
            f,
        )
        .await
    }

    pub(crate) async fn put_activity(&self, a: &ActivityRecord) -> Result<(), AwsError> {
        self.store
            .put(&activity_key(a), typed::encode(a).map_err(AwsError::state_store)?)
            .await
            .map_err(AwsError::state_store)?;
        Ok(())
    }

    /// A target's activities, newest first (`None`: every target's of the namespace).
    pub(crate) async fn activities(
        &self,
        namespace: &str,
        target: Option<(&str, &str)>,
    ) -> Result<Vec<ActivityRecord>, AwsError> {
        let prefix = match target {
            Some((dimension, resource_id)) => activities_prefix(namespace, dimension, resource_id),
            None => format!("{ACTIVITIES}{namespace}/"),
        };
        let mut all = typed::list::<ActivityRecord>(&*self.store, &prefix)
            .await
            .map_err(AwsError::state_store)?;
        all.sort_by(|a, b| b.start.total_cmp(&a.start));
        Ok(all)
    }

    /// Deletes a target's activities (it was deregistered).
    pub(crate) async fn delete_activities(&self, t: &TargetRecord) -> Result<(), AwsError> {
        let prefix = activities_prefix(&t.namespace, &t.dimension, &t.resource_id);
        let keys = self
            .store
            .range(&prefix, None, None)
            .await
            .map_err(AwsError::state_store)?;
        if keys.is_empty() {
            return Ok(());
        }
        let ops = keys.into_iter().map(|kv| Op::Delete(kv.key)).collect();
        self.store.txn(vec![], ops).await.map_err(AwsError::state_store)?;
        Ok(())
    }
}
