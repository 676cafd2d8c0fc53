//! Scaling policies: PutScalingPolicy (target tracking creates the two
//! alarms AWS creates — AlarmHigh, 3 of 3 one-minute periods above the
//! target; AlarmLow, 15 of 15 below 90 % of it, not with DisableScaleIn —
//! through [`crate::PolicyAlarms`]; step scaling is run by alarms the user
//! makes), DescribeScalingPolicies, DeleteScalingPolicy (with its alarms).

use crate::inputs::{DescribeScalingPoliciesInput, PolicyInput, PutScalingPolicyInput};
use crate::records::{AlarmRef, PolicyKind, PolicyRecord, TargetRecord, TargetTracking, TrackedMetric};
use crate::resource::{ServiceId, check_namespace, no_target, not_found, policy_arn, target_of};
use crate::{AlarmMetric, AlarmSpec, AlarmWatch, Autoscaling, output, rules};
use berth_proto::AwsError;
use serde_json::{Value, json};

/// A target-tracking alarm's period, seconds.
const PERIOD: i64 = 60;
/// AlarmHigh: 3 of 3 periods above the target.
const HIGH_PERIODS: i64 = 3;
/// AlarmLow: 15 of 15 periods below 90 % of it.
const LOW_PERIODS: i64 = 15;
const LOW_RATIO: f64 = 0.9;

fn no_policy(namespace: &str, resource_id: &str, dimension: &str, name: &str) -> AwsError {
    not_found(format!(
        "No scaling policy found for service namespace: {namespace}, resource ID: {resource_id}, scalable \
         dimension: {dimension}, policy name: {name}"
    ))
}

/// The metric a target-tracking policy's alarms watch.
fn alarm_metric(c: &TargetTracking, id: &ServiceId) -> AlarmWatch {
    AlarmWatch::Metric(match &c.metric {
        TrackedMetric::Math(queries) => return AlarmWatch::Math(queries.clone()),
        TrackedMetric::Predefined(p) => AlarmMetric {
            namespace: "AWS/ECS".into(),
            metric_name: p.metric_name().into(),
            dimensions: vec![
                ("ClusterName".into(), id.cluster.clone()),
                ("ServiceName".into(), id.service.clone()),
            ],
            statistic: "Average".into(),
            unit: Some("Percent".into()),
        },
        // ELB publishes RequestCountPerTarget per TargetGroup; Sum is its
        // only valid statistic (the per-target average of the period).
        TrackedMetric::AlbRequestCountPerTarget { resource_label } => AlarmMetric {
            namespace: "AWS/ApplicationELB".into(),
            metric_name: "RequestCountPerTarget".into(),
            dimensions: vec![(
                "TargetGroup".into(),
                crate::rules::target_group_of_label(resource_label)
                    .unwrap_or(resource_label)
                    .into(),
            )],
            statistic: "Sum".into(),
            unit: None,
        },
        TrackedMetric::Customized {
            namespace,
            metric_name,
            dimensions,
            statistic,
            unit,
        } => AlarmMetric {
            namespace: namespace.clone(),
            metric_name: metric_name.clone(),
            dimensions: dimensions.clone(),
            statistic: statistic.clone(),
            unit: unit.clone(),
        },
    })
}

/// The alarms of a target-tracking policy, named as AWS names them
/// (`TargetTracking-RESOURCE_ID-AlarmHigh-UUID`), keeping the names of
/// the alarms it already has.
pub(crate) fn target_tracking_alarms(
    c: &TargetTracking,
    id: &ServiceId,
    policy_arn: &str,
    existing: &[AlarmRef],
) -> Vec<AlarmSpec> {
    let resource_id = id.resource_id();
    let name = |kind: &str| {
        existing
            .iter()
            .find(|a| a.name.contains(&format!("-{kind}-")))
            .map(|a| a.name.clone())
            .unwrap_or_else(|| format!("TargetTracking-{resource_id}-{kind}-{}", uuid::Uuid::new_v4()))
    };
    let description = format!("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy_arn}.");
    let metric = alarm_metric(c, id);
    let mut out = vec![AlarmSpec {
        name: name("AlarmHigh"),
        description: description.clone(),
        metric: metric.clone(),
        period: PERIOD,
        evaluation_periods: HIGH_PERIODS,
        datapoints_to_alarm: HIGH_PERIODS,
        threshold: c.target_value,
        comparison: "GreaterThanThreshold",
        action: policy_arn.to_string(),
    }];
    if !c.disable_scale_in {
        out.push(AlarmSpec {
            name: name("AlarmLow"),
            description,
            metric,
            period: PERIOD,
            evaluation_periods: LOW_PERIODS,
            datapoints_to_alarm: LOW_PERIODS,
            threshold: c.target_value * LOW_RATIO,
            comparison: "LessThanThreshold",
            action: policy_arn.to_string(),
        });
    }
    out
}

impl Autoscaling {
    pub(crate) async fn put_scaling_policy(&self, i: PutScalingPolicyInput) -> Result<Value, AwsError> {
        let id = target_of(&i.service_namespace, &i.resource_id, &i.scalable_dimension)?;
        let kind = rules::policy_kind(&i)?;
        let missing = || no_target(&i.service_namespace, &i.resource_id, &i.scalable_dimension);
        let target = self
            .target(&i.service_namespace, &i.scalable_dimension, &i.resource_id)
            .await?
            .ok_or_else(missing)?;
        let old = target.policy(&i.policy_name).cloned();
        let arn = old.as_ref().map(|p| p.arn.clone()).unwrap_or_else(|| {
            policy_arn(
                &self.scope,
                &uuid::Uuid::new_v4().to_string(),
                &i.resource_id,
                &i.policy_name,
            )
        });
        let old_alarms = old.as_ref().map(|p| p.alarms.clone()).unwrap_or_default();
        // The alarms first: a policy is never stored without them.
        let mut alarms = Vec::new();
        if let PolicyKind::TargetTracking(c) = &kind {
            for spec in target_tracking_alarms(c, &id, &arn, &old_alarms) {
                let name = spec.name.clone();
                let alarm_arn = self.alarms.put(spec).await?;
                alarms.push(AlarmRef { name, arn: alarm_arn });
            }
        }
        let stale: Vec<String> = old_alarms
            .iter()
            .filter(|a| !alarms.iter().any(|n| n.name == a.name))
            .map(|a| a.name.clone())
            .collect();
        let now = self.now();
        let record = PolicyRecord {
            name: i.policy_name.clone(),
            arn: arn.clone(),
            created: old.as_ref().map_or(now, |p| p.created),
            kind,
            alarms: alarms.clone(),
        };
        let written = self
            .update_target(&i.service_namespace, &i.scalable_dimension, &i.resource_id, |cur| {
                let Some(mut cur) = cur else { return Err(missing()) };
                cur.policies.retain(|p| p.name != record.name);
                cur.policies.push(record.clone());
                Ok(Some(cur))
            })
            .await;
        if let Err(e) = written {
            let created: Vec<String> = alarms
                .iter()
                .filter(|a| !old_alarms.iter().any(|o| o.name == a.name))
                .map(|a| a.name.clone())
                .collect();
            if !created.is_empty() {
                self.alarms.delete(created).await.ok();
            }
            return Err(e);
        }
        if !stale.is_empty() {
            self.alarms.delete(stale).await?;
        }
        let mut out = json!({"PolicyARN": arn});
        if !alarms.is_empty() {
            out["Alarms"] = output::alarms(&record);
        }
        Ok(out)
    }

    pub(crate) async fn delete_scaling_policy(&self, i: PolicyInput) -> Result<Value, AwsError> {
        target_of(&i.service_namespace, &i.resource_id, &i.scalable_dimension)?;
        let mut removed = None;
        self.update_target(&i.service_namespace, &i.scalable_dimension, &i.resource_id, |cur| {
            let Some(mut cur) = cur else {
                return Err(no_target(&i.service_namespace, &i.resource_id, &i.scalable_dimension));
            };
            let Some(at) = cur.policies.iter().position(|p| p.name == i.policy_name) else {
                return Err(no_policy(
                    &i.service_namespace,
                    &i.resource_id,
                    &i.scalable_dimension,
                    &i.policy_name,
                ));
            };
            removed = Some(cur.policies.remove(at));
            Ok(Some(cur))
        })
        .await?;
        if let Some(p) = removed
            && !p.alarms.is_empty()
        {
            self.alarms
                .delete(p.alarms.into_iter().map(|a| a.name).collect())
                .await?;
        }
        Ok(json!({}))
    }

    pub(crate) async fn describe_scaling_policies(&self, i: DescribeScalingPoliciesInput) -> Result<Value, AwsError> {
        check_namespace(&i.service_namespace)?;
        let targets: Vec<TargetRecord> = self.targets(&i.service_namespace).await?;
        let list: Vec<Value> = targets
            .iter()
            .filter(|t| i.resource_id.as_ref().is_none_or(|r| *r == t.resource_id))
            .filter(|t| i.scalable_dimension.as_ref().is_none_or(|d| *d == t.dimension))
            .flat_map(|t| {
                t.policies
                    .iter()
                    .filter(|p| i.policy_names.as_ref().is_none_or(|n| n.contains(&p.name)))
                    .map(move |p| output::policy(t, p))
            })
            .collect();
        let (page, next) = crate::ops::page(list, i.max_results, i.next_token.as_deref())?;
        let mut out = json!({"ScalingPolicies": page});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Predefined;

    #[test]
    fn target_tracking_makes_the_two_alarms_aws_makes() {
        let id = ServiceId {
            cluster: "default".into(),
            service: "web".into(),
        };
        let mut c = TargetTracking {
            target_value: 50.0,
            metric: TrackedMetric::Predefined(Predefined::EcsServiceAverageCpuUtilization),
            scale_out_cooldown: None,
            scale_in_cooldown: None,
            disable_scale_in: false,
        };
        let alarms = target_tracking_alarms(&c, &id, "arn:policy", &[]);
        assert_eq!(alarms.len(), 2);
        let (high, low) = (&alarms[0], &alarms[1]);
        assert!(
            high.name.starts_with("TargetTracking-service/default/web-AlarmHigh-"),
            "{}",
            high.name
        );
        assert!(
            low.name.starts_with("TargetTracking-service/default/web-AlarmLow-"),
            "{}",
            low.name
        );
        assert_eq!(
            (high.evaluation_periods, high.datapoints_to_alarm, high.threshold),
            (3, 3, 50.0)
        );
        assert_eq!(
            (low.evaluation_periods, low.datapoints_to_alarm, low.threshold),
            (15, 15, 45.0)
        );
        let AlarmWatch::Metric(m) = &high.metric else {
            panic!("one metric: {:?}", high.metric)
        };
        assert_eq!(m.namespace, "AWS/ECS");
        assert_eq!(m.metric_name, "CPUUtilization");
        assert_eq!(
            m.dimensions,
            [
                ("ClusterName".into(), "default".into()),
                ("ServiceName".into(), "web".into())
            ]
        );
        // An update keeps the names; DisableScaleIn drops AlarmLow.
        let refs: Vec<AlarmRef> = alarms
            .iter()
            .map(|a| AlarmRef {
                name: a.name.clone(),
                arn: String::new(),
            })
            .collect();
        c.disable_scale_in = true;
        let again = target_tracking_alarms(&c, &id, "arn:policy", &refs);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].name, high.name);
    }
}
