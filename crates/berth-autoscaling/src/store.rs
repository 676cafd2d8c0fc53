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

/// When the activity a key names started (epoch milliseconds).
fn started_ms(key: &str) -> Option<i64> {
    let last = key.rsplit('/').next()?;
    let (inverted, _) = last.split_once('-')?;
    Some(i64::MAX - inverted.parse::<i64>().ok()?)
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

    /// Deletes every activity that started before `before` (epoch
    /// seconds), read from the keys alone; answers how many.
    pub(crate) async fn prune_activities(&self, before: f64) -> Result<usize, AwsError> {
        let keys = self
            .store
            .range(ACTIVITIES, None, None)
            .await
            .map_err(AwsError::state_store)?;
        let old: Vec<Op> = keys
            .into_iter()
            .filter(|kv| started_ms(&kv.key).is_some_and(|ms| (ms as f64) < before * 1000.0))
            .map(|kv| Op::Delete(kv.key))
            .collect();
        let n = old.len();
        for chunk in old.chunks(100) {
            self.store
                .txn(vec![], chunk.to_vec())
                .await
                .map_err(AwsError::state_store)?;
        }
        Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ActivityStatus;

    #[test]
    fn an_activity_key_sorts_newest_first_and_says_when_it_started() {
        let at = |start: f64| ActivityRecord {
            id: "0e0c-4a".into(),
            namespace: "ecs".into(),
            resource_id: "service/c/s".into(),
            dimension: "ecs:service:DesiredCount".into(),
            description: String::new(),
            cause: String::new(),
            start,
            end: None,
            status: ActivityStatus::Successful,
            message: None,
            not_scaled: vec![],
        };
        let (old, new) = (activity_key(&at(1000.5)), activity_key(&at(2000.0)));
        assert!(new < old, "{new} < {old}");
        assert_eq!(started_ms(&old), Some(1_000_500));
        assert!(old.starts_with("application-autoscaling/activities/ecs/ecs:service:DesiredCount/service/c/s/"));
    }
}
