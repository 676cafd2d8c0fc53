//! What the operations accept, pure: capacities, the suspended state, a
//! policy's configuration as Berth can honour it, a scheduled action.
//! Each refusal is a `ValidationException` that says what to change.

use crate::inputs::{
    CustomizedInput, PutScalingPolicyInput, QueryInput, ScalableTargetActionInput, StepScalingInput,
    SuspendedStateInput, TargetTrackingInput,
};
use crate::records::{AdjustmentType, Aggregation, PolicyKind, Predefined, Step, StepScaling, Suspended};
use crate::records::{MathMetricStat, MathQuery, TargetTracking, TrackedMetric};
use crate::resource::validation;
use berth_proto::AwsError;

/// The capacities after a registration: a new target needs both; an
/// update keeps what it does not give. Min may not exceed max.
pub fn capacities(old: Option<(i64, i64)>, min: Option<i64>, max: Option<i64>) -> Result<(i64, i64), AwsError> {
    let (min, max) = match (old, min, max) {
        (Some((old_min, old_max)), min, max) => (min.unwrap_or(old_min), max.unwrap_or(old_max)),
        (None, Some(min), Some(max)) => (min, max),
        (None, _, _) => {
            return Err(validation(
                "MinCapacity and MaxCapacity are required to register a new scalable target.",
            ));
        }
    };
    if min < 0 || max < 0 {
        return Err(validation("MinCapacity and MaxCapacity must be 0 or more."));
    }
    if min > max {
        return Err(validation(format!(
            "Maximum capacity cannot be less than minimum capacity (MinCapacity {min}, MaxCapacity {max})."
        )));
    }
    Ok((min, max))
}

/// The suspended state after a registration: what it gives, over what was.
pub fn suspended(old: Suspended, given: Option<&SuspendedStateInput>) -> Suspended {
    let Some(g) = given else { return old };
    Suspended {
        scale_in: g.dynamic_scaling_in_suspended.unwrap_or(old.scale_in),
        scale_out: g.dynamic_scaling_out_suspended.unwrap_or(old.scale_out),
        scheduled: g.scheduled_scaling_suspended.unwrap_or(old.scheduled),
    }
}

/// A policy's configuration, as Berth honours it.
pub fn policy_kind(input: &PutScalingPolicyInput) -> Result<PolicyKind, AwsError> {
    if input.predictive_scaling_policy_configuration.is_some() {
        return Err(validation(
            "PredictiveScalingPolicyConfiguration is not supported: Berth runs TargetTrackingScaling and \
             StepScaling policies.",
        ));
    }
    let kind = input.policy_type.as_deref().unwrap_or("StepScaling");
    match kind {
        "TargetTrackingScaling" => {
            if input.step_scaling_policy_configuration.is_some() {
                return Err(validation(
                    "StepScalingPolicyConfiguration cannot be given with PolicyType TargetTrackingScaling.",
                ));
            }
            let c = input
                .target_tracking_scaling_policy_configuration
                .as_ref()
                .ok_or_else(|| {
                    validation(
                        "TargetTrackingScalingPolicyConfiguration is required for PolicyType TargetTrackingScaling.",
                    )
                })?;
            target_tracking(c).map(PolicyKind::TargetTracking)
        }
        "StepScaling" => {
            if input.target_tracking_scaling_policy_configuration.is_some() {
                return Err(validation(
                    "TargetTrackingScalingPolicyConfiguration cannot be given with PolicyType StepScaling.",
                ));
            }
            let c = input
                .step_scaling_policy_configuration
                .as_ref()
                .ok_or_else(|| validation("StepScalingPolicyConfiguration is required for PolicyType StepScaling."))?;
            step_scaling(c).map(PolicyKind::Step)
        }
        other => Err(validation(format!(
            "PolicyType {other} is not supported: Berth runs TargetTrackingScaling and StepScaling policies."
        ))),
    }
}

fn target_tracking(c: &TargetTrackingInput) -> Result<TargetTracking, AwsError> {
    if !(c.target_value.is_finite() && c.target_value > 0.0) {
        return Err(validation("TargetValue must be greater than 0."));
    }
    let metric = match (&c.predefined_metric_specification, &c.customized_metric_specification) {
        (Some(p), None) if p.predefined_metric_type == "ALBRequestCountPerTarget" => {
            let Some(label) = &p.resource_label else {
                return Err(validation(
                    "ResourceLabel is required for ALBRequestCountPerTarget: \
                     app/LOAD-BALANCER-NAME/ID/targetgroup/TARGET-GROUP-NAME/ID.",
                ));
            };
            if target_group_of_label(label).is_none() {
                return Err(validation(format!(
                    "ResourceLabel {label} is not valid: it is app/LOAD-BALANCER-NAME/ID/targetgroup/TARGET-GROUP-NAME/ID."
                )));
            }
            TrackedMetric::AlbRequestCountPerTarget {
                resource_label: label.clone(),
            }
        }
        (Some(p), None) => {
            let Some(kind) = Predefined::parse(&p.predefined_metric_type) else {
                return Err(refused_predefined(&p.predefined_metric_type));
            };
            if p.resource_label.is_some() {
                return Err(validation(format!(
                    "ResourceLabel is only valid with ALBRequestCountPerTarget, not {}.",
                    kind.name()
                )));
            }
            TrackedMetric::Predefined(kind)
        }
        (None, Some(m)) => customized(m)?,
        _ => {
            return Err(validation(
                "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be given.",
            ));
        }
    };
    for (name, v) in [
        ("ScaleOutCooldown", c.scale_out_cooldown),
        ("ScaleInCooldown", c.scale_in_cooldown),
    ] {
        if v.is_some_and(|v| v < 0) {
            return Err(validation(format!("{name} must be 0 or more seconds.")));
        }
    }
    Ok(TargetTracking {
        target_value: c.target_value,
        metric,
        scale_out_cooldown: c.scale_out_cooldown,
        scale_in_cooldown: c.scale_in_cooldown,
        disable_scale_in: c.disable_scale_in.unwrap_or(false),
    })
}

fn refused_predefined(kind: &str) -> AwsError {
    validation(format!(
        "PredefinedMetricType {kind} is not valid for an ECS service in Berth: use \
         ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization or ALBRequestCountPerTarget."
    ))
}

/// The `TargetGroup` dimension (`targetgroup/NAME/ID`) of an
/// ALBRequestCountPerTarget `ResourceLabel` (`app/LB/ID/targetgroup/TG/ID`), pure.
pub fn target_group_of_label(label: &str) -> Option<&str> {
    let parts: Vec<&str> = label.split('/').collect();
    let ok = parts.len() == 6 && parts[0] == "app" && parts[3] == "targetgroup" && parts.iter().all(|p| !p.is_empty());
    if !ok {
        return None;
    }
    label.find("/targetgroup/").map(|i| &label[i + 1..])
}

fn customized(m: &CustomizedInput) -> Result<TrackedMetric, AwsError> {
    if let Some(queries) = &m.metrics {
        let single = m.metric_name.is_some()
            || m.namespace.is_some()
            || m.statistic.is_some()
            || m.dimensions.is_some()
            || m.unit.is_some();
        if single {
            return Err(validation(
                "CustomizedMetricSpecification takes either Metrics (metric math) or MetricName, Namespace, \
                 Dimensions, Statistic and Unit, not both.",
            ));
        }
        return math_queries(queries).map(TrackedMetric::Math);
    }
    let (Some(name), Some(namespace), Some(statistic)) = (&m.metric_name, &m.namespace, &m.statistic) else {
        return Err(validation(
            "CustomizedMetricSpecification needs MetricName, Namespace and Statistic.",
        ));
    };
    Ok(TrackedMetric::Customized {
        namespace: namespace.clone(),
        metric_name: name.clone(),
        dimensions: m
            .dimensions
            .iter()
            .flatten()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect(),
        statistic: statistic.clone(),
        unit: m.unit.clone(),
    })
}

/// The most queries a metric-math target-tracking policy takes (a
/// CloudWatch alarm's limit).
const MAX_QUERIES: usize = 10;

/// Checks `CustomizedMetricSpecification.Metrics` as Application Auto
/// Scaling does: ids unique, lower-case first; each query a metric
/// statistic or an expression, not both; exactly one returning data (the
/// tracked value; `ReturnData` defaults to true).
fn math_queries(queries: &[QueryInput]) -> Result<Vec<MathQuery>, AwsError> {
    if queries.is_empty() || queries.len() > MAX_QUERIES {
        return Err(validation(format!(
            "CustomizedMetricSpecification.Metrics must have from 1 to {MAX_QUERIES} queries."
        )));
    }
    let mut ids = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let id_ok = q.id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && q.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && q.id.len() <= 255;
        if !id_ok {
            return Err(validation(format!(
                "The metric query id '{}' must start with a lower-case letter and hold only letters, digits and \
                 underscores.",
                q.id
            )));
        }
        if !ids.insert(q.id.as_str()) {
            return Err(validation(format!("The metric query id '{}' is used twice.", q.id)));
        }
        let metric_stat = match (&q.expression, &q.metric_stat) {
            (Some(e), None) if !e.trim().is_empty() => None,
            (None, Some(s)) => {
                let (Some(namespace), Some(metric_name)) = (&s.metric.namespace, &s.metric.metric_name) else {
                    return Err(validation(format!(
                        "The metric query '{}' needs MetricStat.Metric.Namespace and MetricName.",
                        q.id
                    )));
                };
                Some(MathMetricStat {
                    namespace: namespace.clone(),
                    metric_name: metric_name.clone(),
                    dimensions: s
                        .metric
                        .dimensions
                        .iter()
                        .flatten()
                        .map(|d| (d.name.clone(), d.value.clone()))
                        .collect(),
                    stat: s.stat.clone(),
                    unit: s.unit.clone(),
                })
            }
            _ => {
                return Err(validation(format!(
                    "The metric query '{}' must have either an Expression or a MetricStat, not both.",
                    q.id
                )));
            }
        };
        out.push(MathQuery {
            id: q.id.clone(),
            expression: q.expression.clone(),
            label: q.label.clone(),
            metric_stat,
            return_data: q.return_data,
        });
    }
    let returning = out.iter().filter(|q| q.return_data.unwrap_or(true)).count();
    if returning != 1 {
        return Err(validation(format!(
            "Exactly one metric query of CustomizedMetricSpecification.Metrics must have ReturnData true (the value \
             tracked; it is the default): {returning} have."
        )));
    }
    Ok(out)
}

fn step_scaling(c: &StepScalingInput) -> Result<StepScaling, AwsError> {
    let adjustment_type = match c.adjustment_type.as_deref() {
        None => return Err(validation("AdjustmentType is required for a StepScaling policy.")),
        Some(t) => AdjustmentType::parse(t).ok_or_else(|| validation(format!("AdjustmentType {t} is not valid.")))?,
    };
    let given = c.step_adjustments.as_deref().unwrap_or_default();
    if given.is_empty() {
        return Err(validation("StepAdjustments must list at least one step adjustment."));
    }
    let mut steps: Vec<Step> = given
        .iter()
        .map(|s| Step {
            lower: s.metric_interval_lower_bound,
            upper: s.metric_interval_upper_bound,
            adjustment: s.scaling_adjustment,
        })
        .collect();
    check_steps(&mut steps)?;
    if c.min_adjustment_magnitude.is_some() && adjustment_type != AdjustmentType::PercentChangeInCapacity {
        return Err(validation(
            "MinAdjustmentMagnitude is only valid with AdjustmentType PercentChangeInCapacity.",
        ));
    }
    if c.min_adjustment_magnitude.is_some_and(|m| m < 1) || c.cooldown.is_some_and(|v| v < 0) {
        return Err(validation(
            "MinAdjustmentMagnitude must be 1 or more and Cooldown 0 or more seconds.",
        ));
    }
    let aggregation = match c.metric_aggregation_type.as_deref() {
        None => None,
        Some(a) => {
            Some(Aggregation::parse(a).ok_or_else(|| validation(format!("MetricAggregationType {a} is not valid.")))?)
        }
    };
    Ok(StepScaling {
        adjustment_type,
        steps,
        min_adjustment_magnitude: c.min_adjustment_magnitude,
        cooldown: c.cooldown,
        aggregation,
    })
}

/// Steps, sorted by their lower bound, may neither overlap nor leave a
/// gap, and only the ends may be unbounded.
fn check_steps(steps: &mut [Step]) -> Result<(), AwsError> {
    for s in steps.iter() {
        if s.lower.is_none() && s.upper.is_none() {
            return Err(validation(
                "A step adjustment needs MetricIntervalLowerBound or MetricIntervalUpperBound.",
            ));
        }
        if let (Some(l), Some(u)) = (s.lower, s.upper)
            && l >= u
        {
            return Err(validation(format!(
                "MetricIntervalLowerBound ({l}) must be less than MetricIntervalUpperBound ({u})."
            )));
        }
    }
    steps.sort_by(|a, b| {
        let key = |s: &Step| s.lower.unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b))
    });
    for pair in steps.windows(2) {
        if pair[0].upper != pair[1].lower || pair[0].upper.is_none() {
            return Err(validation(
                "The step adjustments' intervals must not overlap or leave a gap: each step's \
                 MetricIntervalUpperBound is the next one's MetricIntervalLowerBound.",
            ));
        }
    }
    Ok(())
}

/// A scheduled action's new capacities, checked.
pub fn scheduled_capacities(a: Option<&ScalableTargetActionInput>) -> Result<(Option<i64>, Option<i64>), AwsError> {
    let Some(a) = a else {
        return Err(validation(
            "ScalableTargetAction is required: give MinCapacity, MaxCapacity or both.",
        ));
    };
    if a.min_capacity.is_none() && a.max_capacity.is_none() {
        return Err(validation(
            "ScalableTargetAction must give MinCapacity, MaxCapacity or both.",
        ));
    }
    if let (Some(min), Some(max)) = (a.min_capacity, a.max_capacity)
        && min > max
    {
        return Err(validation(format!(
            "Maximum capacity cannot be less than minimum capacity (MinCapacity {min}, MaxCapacity {max})."
        )));
    }
    Ok((a.min_capacity, a.max_capacity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_of_a_new_and_an_updated_target() {
        assert_eq!(capacities(None, Some(1), Some(4)).unwrap(), (1, 4));
        assert!(
            capacities(None, Some(1), None)
                .unwrap_err()
                .message
                .contains("required")
        );
        assert!(
            capacities(None, Some(5), Some(2))
                .unwrap_err()
                .message
                .contains("cannot be less")
        );
        assert_eq!(capacities(Some((1, 4)), None, Some(6)).unwrap(), (1, 6));
        assert!(capacities(Some((3, 4)), None, Some(2)).is_err());
    }

    fn policy(body: serde_json::Value) -> Result<PolicyKind, AwsError> {
        let mut body = body;
        for (k, v) in [
            ("PolicyName", "p"),
            ("ServiceNamespace", "ecs"),
            ("ResourceId", "service/c/s"),
            ("ScalableDimension", "ecs:service:DesiredCount"),
        ] {
            body[k] = v.into();
        }
        policy_kind(&serde_json::from_value(body).unwrap())
    }

    #[test]
    fn target_tracking_configurations() {
        let ok = policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}))
        .unwrap();
        let PolicyKind::TargetTracking(t) = ok else { panic!() };
        assert_eq!(t.out_cooldown(), 300);
        assert_eq!(
            t.metric,
            TrackedMetric::Predefined(Predefined::EcsServiceAverageCpuUtilization)
        );
        let alb = policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": "app/lb/1/targetgroup/tg/2"}}}))
        .unwrap();
        let PolicyKind::TargetTracking(t) = alb else { panic!() };
        assert_eq!(
            t.metric,
            TrackedMetric::AlbRequestCountPerTarget {
                resource_label: "app/lb/1/targetgroup/tg/2".into()
            }
        );
        for label in [None, Some("targetgroup/tg/2"), Some("app/lb/1/targetgroup/tg")] {
            let mut spec = serde_json::json!({"PredefinedMetricType": "ALBRequestCountPerTarget"});
            if let Some(l) = label {
                spec["ResourceLabel"] = l.into();
            }
            let e = policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0,
                "PredefinedMetricSpecification": spec}}))
            .unwrap_err();
            assert!(e.message.contains("ResourceLabel"), "{}", e.message);
        }
        assert_eq!(
            target_group_of_label("app/lb/1/targetgroup/tg/2"),
            Some("targetgroup/tg/2")
        );
        let e = policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0}}))
        .unwrap_err();
        assert!(e.message.contains("Exactly one"), "{}", e.message);
        let custom = policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10.0, "DisableScaleIn": true,
            "CustomizedMetricSpecification": {"MetricName": "Queue", "Namespace": "App",
                "Dimensions": [{"Name": "Q", "Value": "jobs"}], "Statistic": "Average"}}}))
        .unwrap();
        let PolicyKind::TargetTracking(t) = custom else {
            panic!()
        };
        assert!(t.disable_scale_in);
    }

    fn math(metrics: serde_json::Value) -> Result<PolicyKind, AwsError> {
        policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10.0,
            "CustomizedMetricSpecification": {"Metrics": metrics}}}))
    }

    #[test]
    fn metric_math_configurations() {
        let stat = |name: &str| {
            serde_json::json!({"Metric": {"Namespace": "App", "MetricName": name,
                "Dimensions": [{"Name": "Q", "Value": "jobs"}]}, "Stat": "Sum"})
        };
        let ok = math(serde_json::json!([
            {"Id": "backlog", "MetricStat": stat("Backlog"), "ReturnData": false},
            {"Id": "tasks", "MetricStat": stat("Tasks"), "ReturnData": false},
            {"Id": "per_task", "Expression": "backlog / tasks", "Label": "Backlog per task"}
        ]))
        .unwrap();
        let PolicyKind::TargetTracking(t) = ok else { panic!() };
        let TrackedMetric::Math(q) = &t.metric else {
            panic!("{:?}", t.metric)
        };
        assert_eq!(q.len(), 3);
        assert_eq!(
            q[0].metric_stat.as_ref().unwrap().dimensions,
            [("Q".into(), "jobs".into())]
        );
        assert_eq!(q[2].expression.as_deref(), Some("backlog / tasks"));
        // One metric alone returns data by default.
        assert!(math(serde_json::json!([{"Id": "m", "MetricStat": stat("Backlog")}])).is_ok());
        for (bad, why) in [
            (serde_json::json!([]), "from 1 to 10"),
            (
                serde_json::json!([{"Id": "m", "MetricStat": stat("A")}, {"Id": "e", "Expression": "m * 2"}]),
                "ReturnData",
            ),
            (
                serde_json::json!([{"Id": "m", "MetricStat": stat("A"), "ReturnData": false}]),
                "ReturnData",
            ),
            (
                serde_json::json!([{"Id": "m", "MetricStat": stat("A"), "Expression": "1"}]),
                "not both",
            ),
            (serde_json::json!([{"Id": "m"}]), "either an Expression or a MetricStat"),
            (
                serde_json::json!([{"Id": "Big", "MetricStat": stat("A")}]),
                "lower-case",
            ),
            (
                serde_json::json!([{"Id": "m", "MetricStat": stat("A"), "ReturnData": false},
                                {"Id": "m", "Expression": "m"}]),
                "used twice",
            ),
            (
                serde_json::json!([{"Id": "m", "MetricStat": {"Metric": {"Namespace": "App"}, "Stat": "Sum"}}]),
                "MetricName",
            ),
        ] {
            let e = math(bad.clone()).unwrap_err();
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
        let e = policy(serde_json::json!({"PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10.0,
            "CustomizedMetricSpecification": {"MetricName": "A", "Namespace": "App", "Statistic": "Sum",
                "Metrics": [{"Id": "m", "MetricStat": stat("A")}]}}}))
        .unwrap_err();
        assert!(e.message.contains("not both"), "{}", e.message);
    }

    #[test]
    fn step_configurations() {
        let ok = policy(serde_json::json!({"PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "Cooldown": 60,
            "StepAdjustments": [{"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3},
                                {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1}]}}))
        .unwrap();
        let PolicyKind::Step(s) = ok else { panic!() };
        assert_eq!(s.steps[0].lower, Some(0.0));
        let gap = policy(serde_json::json!({"StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 3},
                                {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 5.0, "ScalingAdjustment": 1}]}}))
        .unwrap_err();
        assert!(gap.message.contains("gap"), "{}", gap.message);
        let mam = policy(serde_json::json!({"StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity",
            "MinAdjustmentMagnitude": 2, "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}}))
        .unwrap_err();
        assert!(mam.message.contains("PercentChangeInCapacity"), "{}", mam.message);
    }
}
