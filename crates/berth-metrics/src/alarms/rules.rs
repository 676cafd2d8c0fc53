//! What PutMetricAlarm accepts, as pure functions: a PutMetricAlarm input
//! → the alarm's configuration, or the error CloudWatch answers. The model's
//! own constraints (lengths, enums, minimums) were checked before
//! ([`crate::model`]); these are the rules between members. Wording where
//! CloudWatch's is not public is Berth's (docs/compatibility.md).

use super::actions::check_action;
use super::inputs::{PutMetricAlarmInput, Tag};
use super::model::{AlarmConfig, Comparison, TreatMissing, Watched, WatchedMetric};
use crate::inputs::MetricDataQuery;
use crate::rules::{check_dimensions, combination, invalid, missing};
use crate::stats::{Stat, parse_percentile};
use berth_proto::AwsError;

/// The most queries a metric-math alarm may hold.
pub const MAX_ALARM_METRICS: usize = 10;

pub use crate::rules::validation;

/// An alarm's period: 10, 30 (high resolution) or a multiple of 60.
fn check_period(path: &str, period: i64) -> Result<(), AwsError> {
    if period == 10 || period == 30 || (period >= 60 && period % 60 == 0) {
        Ok(())
    } else {
        Err(validation(format!(
            "The parameter {path} must be 10, 30 or a multiple of 60 (got {period})."
        )))
    }
}

/// The configuration `input` sets, checked; `region` and `account` are the
/// alarm's (its actions must be theirs).
pub fn config(input: &PutMetricAlarmInput, region: &str, account: &str) -> Result<AlarmConfig, AwsError> {
    if input.alarm_name.chars().any(char::is_control) {
        return Err(invalid("The parameter AlarmName must not contain control characters."));
    }
    refuse_unsupported(input)?;
    let comparison = comparison(input)?;
    let threshold = input
        .threshold
        .ok_or_else(|| missing("The parameter Threshold is required."))?;
    if !threshold.is_finite() {
        return Err(invalid(format!(
            "The value {threshold} for parameter Threshold is invalid."
        )));
    }
    let evaluation_periods = input
        .evaluation_periods
        .ok_or_else(|| missing("The parameter EvaluationPeriods is required."))?;
    let evaluation_periods = u32::try_from(evaluation_periods)
        .map_err(|_| invalid("The parameter EvaluationPeriods must be at least 1."))?;
    if evaluation_periods == 0 {
        return Err(invalid("The parameter EvaluationPeriods must be at least 1."));
    }
    let datapoints_to_alarm = match input.datapoints_to_alarm {
        None => None,
        Some(m) if m >= 1 && m <= i64::from(evaluation_periods) => Some(m as u32),
        Some(m) => {
            return Err(validation(format!(
                "DatapointsToAlarm ({m}) must be between 1 and EvaluationPeriods ({evaluation_periods})."
            )));
        }
    };
    let treat_missing_data = match input.treat_missing_data.as_deref() {
        None => None,
        Some(t) => Some(TreatMissing::parse(t).ok_or_else(|| {
            invalid(format!(
                "The value {t} for parameter TreatMissingData is invalid: it must be one of breaching, notBreaching, ignore, missing."
            ))
        })?),
    };
    let watched = watched(input, account)?;
    let period = match &watched {
        Watched::Metric(m) => m.period,
        Watched::Math(_) => 0,
    };
    let mut config = AlarmConfig {
        description: input.alarm_description.clone(),
        actions_enabled: input.actions_enabled.unwrap_or(true),
        ok_actions: input.ok_actions.clone().unwrap_or_default(),
        alarm_actions: input.alarm_actions.clone().unwrap_or_default(),
        insufficient_data_actions: input.insufficient_data_actions.clone().unwrap_or_default(),
        watched,
        evaluation_periods,
        datapoints_to_alarm,
        threshold,
        comparison,
        treat_missing_data,
        evaluate_low_sample_count_percentile: None,
    };
    let period = if period == 0 { config.period() } else { period };
    check_period("Period", period)?;
    check_evaluation_range(period, evaluation_periods)?;
    config.evaluate_low_sample_count_percentile = low_sample_count(input, &config)?;
    for (path, list) in [
        ("OKActions", &config.ok_actions),
        ("AlarmActions", &config.alarm_actions),
        ("InsufficientDataActions", &config.insufficient_data_actions),
    ] {
        for arn in list {
            check_action(path, arn, region, account).map_err(|refused| invalid(refused.to_string()))?;
        }
    }
    Ok(config)
}

/// Checks the tags of a new alarm (or of TagResource) with the tag rule.
pub fn check_tags(tags: &[Tag]) -> Result<(), AwsError> {
    berth_core::tags::check_tags(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())))
        .map_err(|v| invalid(v.to_string()))
}

fn refuse_unsupported(input: &PutMetricAlarmInput) -> Result<(), AwsError> {
    let given = [
        ("ThresholdMetricId", input.threshold_metric_id.is_some()),
        ("EvaluationWindow", input.evaluation_window.is_some()),
        ("WarmUpConfiguration", input.warm_up_configuration.is_some()),
        ("EvaluationCriteria", input.evaluation_criteria.is_some()),
        ("EvaluationInterval", input.evaluation_interval.is_some()),
        ("ActionConfiguration", input.action_configuration.is_some()),
    ];
    if let Some((name, _)) = given.iter().find(|(_, set)| *set) {
        return Err(invalid(format!(
            "The parameter {name} is not supported by Berth (no anomaly detection, no query-based evaluation)."
        )));
    }
    Ok(())
}

fn comparison(input: &PutMetricAlarmInput) -> Result<Comparison, AwsError> {
    let op = input
        .comparison_operator
        .as_deref()
        .ok_or_else(|| missing("The parameter ComparisonOperator is required."))?;
    Comparison::parse(op).ok_or_else(|| {
        invalid(format!(
            "The ComparisonOperator {op} compares with an anomaly detection band, which Berth does not have: \
             use GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold."
        ))
    })
}

/// One metric with its statistic, or metric math — not both, not neither.
fn watched(input: &PutMetricAlarmInput, account: &str) -> Result<Watched, AwsError> {
    let single = input.metric_name.is_some()
        || input.namespace.is_some()
        || input.statistic.is_some()
        || input.extended_statistic.is_some()
        || !input.dimensions.is_empty()
        || input.period.is_some()
        || input.unit.is_some();
    match (&input.metrics, single) {
        (Some(_), true) => Err(combination(
            "The parameter Metrics cannot be given with MetricName, Namespace, Statistic, ExtendedStatistic, Dimensions, Period or Unit.",
        )),
        (Some(queries), false) => math(queries, account).map(Watched::Math),
        (None, _) => metric(input).map(Watched::Metric),
    }
}

fn metric(input: &PutMetricAlarmInput) -> Result<WatchedMetric, AwsError> {
    let metric_name = input
        .metric_name
        .clone()
        .ok_or_else(|| missing("The parameter MetricName is required (or Metrics, for a metric math alarm)."))?;
    let namespace = input
        .namespace
        .clone()
        .ok_or_else(|| missing("The parameter Namespace is required."))?;
    let period = input
        .period
        .ok_or_else(|| missing("The parameter Period is required."))?;
    check_dimensions("Dimensions", &input.dimensions)?;
    match (&input.statistic, &input.extended_statistic) {
        (Some(_), Some(_)) => {
            return Err(combination(
                "The parameters Statistic and ExtendedStatistic are mutually exclusive and you have specified both.",
            ));
        }
        (None, None) => {
            return Err(missing(
                "One of the parameters Statistic or ExtendedStatistic is required.",
            ));
        }
        (None, Some(e)) if parse_percentile(e).is_none() => {
            return Err(invalid(format!(
                "The value {e} for parameter ExtendedStatistic is not supported: Berth evaluates percentiles (p0.0 to p100)."
            )));
        }
        _ => {}
    }
    let watched = crate::rules::metric(&namespace, &metric_name, &input.dimensions);
    Ok(WatchedMetric {
        namespace,
        metric_name,
        dimensions: watched.dimensions,
        statistic: input.statistic.clone(),
        extended_statistic: input.extended_statistic.clone(),
        period,
        unit: input.unit.clone(),
    })
}

fn math(queries: &[MetricDataQuery], account: &str) -> Result<Vec<MetricDataQuery>, AwsError> {
    if queries.is_empty() {
        return Err(missing("The parameter Metrics must contain at least one query."));
    }
    if queries.len() > MAX_ALARM_METRICS {
        return Err(validation(format!(
            "The collection Metrics must not have a size greater than {MAX_ALARM_METRICS}."
        )));
    }
    if queries.iter().filter(|q| q.return_data != Some(false)).count() != 1 {
        return Err(validation(
            "Metrics list must contain exactly one metric matching the ReturnData parameter",
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, q) in queries.iter().enumerate() {
        let path = format!("Metrics.member.{}", i + 1);
        crate::rules::check_query_id(&path, &q.id, &mut ids)?;
        if q.account_id.as_deref().is_some_and(|a| a != account) {
            return Err(invalid(format!(
                "The parameter {path}.AccountId names another account: Berth has one account ({account})."
            )));
        }
        match (&q.metric_stat, &q.expression) {
            (Some(ms), None) => {
                check_period(&format!("{path}.MetricStat.Period"), ms.period)?;
                check_dimensions(&format!("{path}.MetricStat.Metric.Dimensions"), &ms.metric.dimensions)?;
                if Stat::parse(&ms.stat).is_none() {
                    return Err(invalid(format!(
                        "The value {} for parameter {path}.MetricStat.Stat is not supported.",
                        ms.stat
                    )));
                }
            }
            (None, Some(e)) => {
                crate::math::parse(e).map_err(|why| validation(format!("Error in expression {}: {why}", q.id)))?;
                if let Some(p) = q.period {
                    check_period(&format!("{path}.Period"), p)?;
                }
            }
            _ => {
                return Err(validation(format!(
                    "Exactly one element of the MetricStat and the Expression fields must be specified in {path}."
                )));
            }
        }
    }
    Ok(queries.to_vec())
}

/// Period × EvaluationPeriods: at most a day, or 7 days for periods of an hour or more.
fn check_evaluation_range(period: i64, evaluation_periods: u32) -> Result<(), AwsError> {
    let limit = if period >= 3600 { 7 * 86400 } else { 86400 };
    let range = period * i64::from(evaluation_periods);
    if range > limit {
        return Err(validation(format!(
            "The evaluation range (Period x EvaluationPeriods = {range} seconds) must not exceed {limit} seconds."
        )));
    }
    Ok(())
}

/// `evaluate` only, and only with a percentile.
fn low_sample_count(input: &PutMetricAlarmInput, config: &AlarmConfig) -> Result<Option<String>, AwsError> {
    let Some(v) = input.evaluate_low_sample_count_percentile.as_deref() else {
        return Ok(None);
    };
    let percentile = matches!(&config.watched, Watched::Metric(m) if m.extended_statistic.is_some());
    match v {
        "evaluate" if percentile => Ok(Some(v.to_string())),
        "ignore" if percentile => Err(invalid(
            "EvaluateLowSampleCountPercentile=ignore is not supported by Berth: its percentile alarms always evaluate.",
        )),
        "evaluate" | "ignore" => Err(combination(
            "The parameter EvaluateLowSampleCountPercentile is only valid with an ExtendedStatistic percentile.",
        )),
        other => Err(invalid(format!(
            "The value {other} for parameter EvaluateLowSampleCountPercentile is invalid: it must be evaluate or ignore."
        ))),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
