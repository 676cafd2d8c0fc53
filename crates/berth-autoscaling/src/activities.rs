//! Scaling activities: every change of an ECS service's desired count that
//! scaling makes is recorded with AWS's texts (`Setting desired count to
//! 3.`, the cause, `Successful`/`Failed`), and a triggered scaling that
//! could not act because the target is at a bound is recorded as not
//! scaled (shown with `IncludeNotScaledActivities`); DescribeScalingActivities.

use crate::inputs::DescribeScalingActivitiesInput;
use crate::records::{ActivityRecord, ActivityStatus, NotScaled, TargetRecord};
use crate::resource::{ServiceId, check_namespace, validation};
use crate::{Autoscaling, Decide, ServiceState, output};
use berth_proto::AwsError;
use serde_json::{Value, json};

/// The cause of a change, from the count before and after.
pub(crate) type Cause<'a> = &'a (dyn Fn(i64, i64) -> String + Send + Sync);

impl Autoscaling {
    fn activity(&self, t: &TargetRecord, description: String, cause: String, status: ActivityStatus) -> ActivityRecord {
        let now = self.now();
        ActivityRecord {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: t.namespace.clone(),
            resource_id: t.resource_id.clone(),
            dimension: t.dimension.clone(),
            description,
            cause,
            start: now,
            end: Some(now),
            status,
            message: None,
            not_scaled: Vec::new(),
        }
    }

    async fn record(&self, a: ActivityRecord) {
        if let Err(e) = self.put_activity(&a).await {
            tracing::warn!(resource = a.resource_id, error = %e, "scaling activity not recorded");
        }
    }

    /// Sets the service's desired count to what `decide` answers and
    /// records the activity; answers the state before and the count set.
    pub(crate) async fn scale_to(
        &self,
        t: &TargetRecord,
        id: &ServiceId,
        decide: Decide<'_>,
        cause: Cause<'_>,
    ) -> Option<(ServiceState, i64)> {
        match self.ecs.set_desired_count(&id.cluster, &id.service, decide).await {
            Ok(Some((before, after))) => {
                let mut a = self.activity(
                    t,
                    format!("Setting desired count to {after}."),
                    cause(before.desired_count, after),
                    ActivityStatus::Successful,
                );
                a.message = Some(format!(
                    "Successfully set desired count to {after}. Change successfully fulfilled by ecs."
                ));
                self.record(a).await;
                Some((before, after))
            }
            Ok(None) => None,
            Err(e) => {
                let mut a = self.activity(t, "Setting desired count.".into(), cause(0, 0), ActivityStatus::Failed);
                a.message = Some(format!("Failed to set desired count: {}", e.message));
                self.record(a).await;
                None
            }
        }
    }

    /// Records that a triggered scaling did not act (`code`), unless the
    /// newest activity already says the same.
    pub(crate) async fn record_not_scaled(
        &self,
        t: &TargetRecord,
        cause: String,
        wanted: i64,
        code: &str,
        current: i64,
    ) {
        if let Ok(list) = self
            .activities(&t.namespace, Some((&t.dimension, &t.resource_id)))
            .await
            && list
                .first()
                .is_some_and(|a| a.cause == cause && a.not_scaled.first().is_some_and(|n| n.code == code))
        {
            return;
        }
        let mut a = self.activity(
            t,
            "Attempting to scale due to alarm triggered".into(),
            cause,
            ActivityStatus::Failed,
        );
        a.message = Some(format!("Failed to set desired count to {wanted}"));
        a.not_scaled = vec![NotScaled {
            code: code.to_string(),
            min: (code == "AlreadyAtMinCapacity").then_some(t.min),
            max: (code == "AlreadyAtMaxCapacity").then_some(t.max),
            current: Some(current),
        }];
        self.record(a).await;
    }

    /// Records a change of the target itself (a scheduled action's new
    /// min and max).
    pub(crate) async fn record_target_change(&self, t: &TargetRecord, description: String, cause: String) {
        let mut a = self.activity(t, description, cause, ActivityStatus::Successful);
        a.message = Some("Successfully updated the scalable target.".into());
        self.record(a).await;
    }

    pub(crate) async fn describe_scaling_activities(
        &self,
        i: DescribeScalingActivitiesInput,
    ) -> Result<Value, AwsError> {
        check_namespace(&i.service_namespace)?;
        if i.scalable_dimension.is_some() && i.resource_id.is_none() {
            return Err(validation("ResourceId is required when ScalableDimension is given."));
        }
        let with_not_scaled = i.include_not_scaled_activities.unwrap_or(false);
        let all = self.activities(&i.service_namespace, None).await?;
        let list: Vec<Value> = all
            .iter()
            .filter(|a| i.resource_id.as_ref().is_none_or(|r| *r == a.resource_id))
            .filter(|a| i.scalable_dimension.as_ref().is_none_or(|d| *d == a.dimension))
            .filter(|a| with_not_scaled || a.not_scaled.is_empty())
            .map(|a| output::activity(a, with_not_scaled))
            .collect();
        let (page, next) = crate::ops::page(list, i.max_results, i.next_token.as_deref())?;
        let mut out = json!({"ScalingActivities": page});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }
}
