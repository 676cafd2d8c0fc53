//! Records as Application Auto Scaling answers them (awsJson shapes:
//! `ScalableTarget`, `ScalingPolicy`, `ScheduledAction`, `ScalingActivity`).

use crate::records::{
    ActivityRecord, MathQuery, PolicyKind, PolicyRecord, ScheduledRecord, StepScaling, TargetRecord, TargetTracking,
    TrackedMetric,
};
use serde_json::{Map, Value, json};

pub fn target(t: &TargetRecord) -> Value {
    json!({
        "ServiceNamespace": t.namespace,
        "ResourceId": t.resource_id,
        "ScalableDimension": t.dimension,
        "MinCapacity": t.min,
        "MaxCapacity": t.max,
        "RoleARN": t.role_arn,
        "CreationTime": t.created,
        "SuspendedState": {
            "DynamicScalingInSuspended": t.suspended.scale_in,
            "DynamicScalingOutSuspended": t.suspended.scale_out,
            "ScheduledScalingSuspended": t.suspended.scheduled,
        },
        "ScalableTargetARN": t.arn,
    })
}

/// A `TargetTrackingMetricDataQuery` as DescribeScalingPolicies shows it.
fn math_query(q: &MathQuery) -> Value {
    let mut v = json!({"Id": q.id});
    if let Some(e) = &q.expression {
        v["Expression"] = json!(e);
    }
    if let Some(l) = &q.label {
        v["Label"] = json!(l);
    }
    if let Some(s) = &q.metric_stat {
        let dims: Vec<Value> = s
            .dimensions
            .iter()
            .map(|(n, val)| json!({"Name": n, "Value": val}))
            .collect();
        v["MetricStat"] = json!({
            "Metric": {"Namespace": s.namespace, "MetricName": s.metric_name, "Dimensions": dims},
            "Stat": s.stat,
        });
        if let Some(u) = &s.unit {
            v["MetricStat"]["Unit"] = json!(u);
        }
    }
    if let Some(r) = q.return_data {
        v["ReturnData"] = json!(r);
    }
    v
}

fn target_tracking(c: &TargetTracking) -> Value {
    let mut v = Map::new();
    v.insert("TargetValue".into(), json!(c.target_value));
    match &c.metric {
        TrackedMetric::Predefined(p) => {
            v.insert(
                "PredefinedMetricSpecification".into(),
                json!({"PredefinedMetricType": p.name()}),
            );
        }
        TrackedMetric::AlbRequestCountPerTarget { resource_label } => {
            v.insert(
                "PredefinedMetricSpecification".into(),
                json!({"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": resource_label}),
            );
        }
        TrackedMetric::Customized {
            namespace,
            metric_name,
            dimensions,
            statistic,
            unit,
        } => {
            let mut m = json!({
                "MetricName": metric_name,
                "Namespace": namespace,
                "Dimensions": dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
                "Statistic": statistic,
            });
            if let Some(u) = unit {
                m["Unit"] = json!(u);
            }
            v.insert("CustomizedMetricSpecification".into(), m);
        }
        TrackedMetric::Math(queries) => {
            let metrics: Vec<Value> = queries.iter().map(math_query).collect();
            v.insert("CustomizedMetricSpecification".into(), json!({"Metrics": metrics}));
        }
    }
    if let Some(c) = c.scale_out_cooldown {
        v.insert("ScaleOutCooldown".into(), json!(c));
    }
    if let Some(c) = c.scale_in_cooldown {
        v.insert("ScaleInCooldown".into(), json!(c));
    }
    v.insert("DisableScaleIn".into(), json!(c.disable_scale_in));
    Value::Object(v)
}

fn step_scaling(c: &StepScaling) -> Value {
    let steps: Vec<Value> = c
        .steps
        .iter()
        .map(|s| {
            let mut v = json!({"ScalingAdjustment": s.adjustment});
            if let Some(l) = s.lower {
                v["MetricIntervalLowerBound"] = json!(l);
            }
            if let Some(u) = s.upper {
                v["MetricIntervalUpperBound"] = json!(u);
            }
            v
        })
        .collect();
    let mut v = json!({"AdjustmentType": c.adjustment_type.name(), "StepAdjustments": steps});
    if let Some(m) = c.min_adjustment_magnitude {
        v["MinAdjustmentMagnitude"] = json!(m);
    }
    if let Some(c) = c.cooldown {
        v["Cooldown"] = json!(c);
    }
    if let Some(a) = c.aggregation {
        v["MetricAggregationType"] = json!(a.name());
    }
    v
}

pub fn alarms(p: &PolicyRecord) -> Value {
    Value::Array(
        p.alarms
            .iter()
            .map(|a| json!({"AlarmName": a.name, "AlarmARN": a.arn}))
            .collect(),
    )
}

pub fn policy(t: &TargetRecord, p: &PolicyRecord) -> Value {
    let mut v = json!({
        "PolicyARN": p.arn,
        "PolicyName": p.name,
        "ServiceNamespace": t.namespace,
        "ResourceId": t.resource_id,
        "ScalableDimension": t.dimension,
        "PolicyType": p.kind.type_name(),
        "Alarms": alarms(p),
        "CreationTime": p.created,
    });
    match &p.kind {
        PolicyKind::TargetTracking(c) => v["TargetTrackingScalingPolicyConfiguration"] = target_tracking(c),
        PolicyKind::Step(c) => v["StepScalingPolicyConfiguration"] = step_scaling(c),
    }
    v
}

pub fn scheduled(t: &TargetRecord, s: &ScheduledRecord) -> Value {
    let mut action = Map::new();
    if let Some(m) = s.min {
        action.insert("MinCapacity".into(), json!(m));
    }
    if let Some(m) = s.max {
        action.insert("MaxCapacity".into(), json!(m));
    }
    let mut v = json!({
        "ScheduledActionName": s.name,
        "ScheduledActionARN": s.arn,
        "ServiceNamespace": t.namespace,
        "Schedule": s.schedule,
        "ResourceId": t.resource_id,
        "ScalableDimension": t.dimension,
        "ScalableTargetAction": action,
        "CreationTime": s.created,
    });
    if let Some(z) = &s.timezone {
        v["Timezone"] = json!(z);
    }
    if let Some(x) = s.start {
        v["StartTime"] = json!(x);
    }
    if let Some(x) = s.end {
        v["EndTime"] = json!(x);
    }
    v
}

pub fn activity(a: &ActivityRecord, with_not_scaled: bool) -> Value {
    let mut v = json!({
        "ActivityId": a.id,
        "ServiceNamespace": a.namespace,
        "ResourceId": a.resource_id,
        "ScalableDimension": a.dimension,
        "Description": a.description,
        "Cause": a.cause,
        "StartTime": a.start,
        "StatusCode": a.status.name(),
    });
    if let Some(e) = a.end {
        v["EndTime"] = json!(e);
    }
    if let Some(m) = &a.message {
        v["StatusMessage"] = json!(m);
    }
    if with_not_scaled && !a.not_scaled.is_empty() {
        v["NotScaledReasons"] = Value::Array(
            a.not_scaled
                .iter()
                .map(|n| {
                    let mut r = json!({"Code": n.code});
                    for (k, x) in [
                        ("MinCapacity", n.min),
                        ("MaxCapacity", n.max),
                        ("CurrentCapacity", n.current),
                    ] {
                        if let Some(x) = x {
                            r[k] = json!(x);
                        }
                    }
                    r
                })
                .collect(),
        );
    }
    v
}
