//! CloudWatch's rules for metric data, as pure functions: what PutMetricData
//! accepts (and the samples it stores), the period and datapoint limits of
//! the reads, and the retention tiers data rolls up through. The errors are
//! worded as CloudWatch words them (docs/compatibility.md).

use crate::inputs::{Dimension, Metric, MetricDatum, PutMetricDataInput};
use crate::stats::Aggregate;
use berth_proto::AwsError;
use std::sync::Arc;

/// The most datapoints one GetMetricStatistics (or one MetricStat of
/// GetMetricData) may cover.
pub const MAX_DATAPOINTS: i64 = 1440;
/// The most metric data one PutMetricData may carry.
pub const MAX_METRIC_DATA: usize = 1000;
/// The most values one datum may carry in `Values`.
pub const MAX_VALUES_PER_DATUM: usize = 150;
/// How far in the past a datapoint may be: two weeks.
pub const MAX_PAST_SECS: f64 = 14.0 * 86400.0;
/// How far in the future: two hours.
pub const MAX_FUTURE_SECS: f64 = 2.0 * 3600.0;

pub fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterValue", 400, message)
}

pub fn missing(message: impl Into<String>) -> AwsError {
    AwsError::new("MissingParameter", 400, message)
}

pub fn combination(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterCombination", 400, message)
}

pub fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationError", 400, message)
}

/// A metric-data query's `Id` (GetMetricData, a metric-math alarm's
/// `Metrics`): `^[a-z][a-zA-Z0-9_]*$`, and not one `seen` already; `path`
/// names the query (`MetricDataQueries.member.3`).
pub fn check_query_id<'a>(
    path: &str,
    id: &'a str,
    seen: &mut std::collections::HashSet<&'a str>,
) -> Result<(), AwsError> {
    let mut chars = id.chars();
    let ok =
        chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(validation(format!(
            "The value {id} for parameter {path}.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$."
        )));
    }
    if !seen.insert(id) {
        return Err(validation(format!(
            "The value {id} for parameter {path}.Id is duplicated."
        )));
    }
    Ok(())
}

/// One datapoint to store: the metric, its second, unit and aggregate,
/// and whether it was sent at high resolution (StorageResolution 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Shared by the samples of one metric in a request (a PutMetricData
    /// of 1,000 datums usually names a few metrics).
    pub metric: Arc<Metric>,
    pub ts: i64,
    pub unit: String,
    pub agg: Aggregate,
    pub high_resolution: bool,
}

/// The metric's identity: dimensions sorted by name (the order a caller
/// sends them in does not make another metric).
pub fn metric(namespace: &str, name: &str, dims: &[Dimension]) -> Metric {
    let mut dimensions = dims.to_vec();
    dimensions.sort();
    Metric {
        namespace: namespace.to_string(),
        metric_name: name.to_string(),
        dimensions,
    }
}

/// `name` must be at most `max` characters (CloudWatch: "must be shorter than max+1").
fn length(path: &str, value: &str, max: usize) -> Result<(), AwsError> {
    length_at(|| path.to_string(), value, max)
}

/// [`length`] with the parameter's path built only for the error (a
/// PutMetricData checks thousands of values: no allocation per value).
fn length_at(path: impl Fn() -> String, value: &str, max: usize) -> Result<(), AwsError> {
    // Bytes bound characters from above: count them only when needed.
    if value.len() > max && value.chars().count() > max {
        return Err(invalid(format!(
            "The parameter {} must be shorter than {} characters.",
            path(),
            max + 1
        )));
    }
    Ok(())
}

/// A namespace a caller may publish to: 1–255 characters, not `AWS/…`
/// (reserved for AWS services).
pub fn check_namespace(namespace: &str) -> Result<(), AwsError> {
    length("Namespace", namespace, 255)?;
    if namespace.starts_with("AWS/") {
        return Err(invalid(format!(
            "The value {namespace} for parameter Namespace is invalid."
        )));
    }
    Ok(())
}

/// Dimensions of a metric at `path`: at most 30, names ≤ 255 and values ≤ 1,024 characters.
pub fn check_dimensions(path: &str, dims: &[Dimension]) -> Result<(), AwsError> {
    dimensions_at(|| path.to_string(), dims)
}

/// [`check_dimensions`] with the path built only for an error.
fn dimensions_at(path: impl Fn() -> String, dims: &[Dimension]) -> Result<(), AwsError> {
    if dims.len() > 30 {
        return Err(invalid(format!(
            "The collection {} must not have a size greater than 30.",
            path()
        )));
    }
    for (j, d) in dims.iter().enumerate() {
        length_at(|| format!("{}.member.{}.Name", path(), j + 1), &d.name, 255)?;
        length_at(|| format!("{}.member.{}.Value", path(), j + 1), &d.value, 1024)?;
    }
    Ok(())
}

/// Checks a PutMetricData input against CloudWatch's rules at `now` (epoch
/// seconds) and answers the samples to store.
pub fn samples(input: &PutMetricDataInput, now: f64) -> Result<Vec<Sample>, AwsError> {
    check_namespace(&input.namespace)?;
    let entity_data: usize = input.entity_metric_data.iter().map(|e| e.metric_data.len()).sum();
    if input.metric_data.is_empty() && entity_data == 0 {
        return Err(missing("The parameter MetricData is required."));
    }
    if input.metric_data.len() > MAX_METRIC_DATA {
        return Err(invalid(format!(
            "The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
        )));
    }
    // Both lists together: at most 1,000 metrics per request.
    if input.metric_data.len() + entity_data > MAX_METRIC_DATA {
        return Err(invalid(format!(
            "The collections MetricData and EntityMetricData must not have more than {MAX_METRIC_DATA} metrics together."
        )));
    }
    let mut out = Vec::with_capacity(input.metric_data.len() + entity_data);
    let mut shared = SharedMetric::default();
    for (i, d) in input.metric_data.iter().enumerate() {
        let path = || format!("MetricData.member.{}", i + 1);
        out.push(sample(path, d, now, &mut shared, &input.namespace)?);
    }
    for (e, entity) in input.entity_metric_data.iter().enumerate() {
        for (i, d) in entity.metric_data.iter().enumerate() {
            let path = || format!("EntityMetricData.member.{}.MetricData.member.{}", e + 1, i + 1);
            out.push(sample(path, d, now, &mut shared, &input.namespace)?);
        }
    }
    Ok(out)
}

/// The metric of the previous datum, reused by the next one that names
/// the same metric the same way (name, dimensions in the same order): one
/// `Metric` (and its strings) per run of datums, not one per datum.
#[derive(Default)]
struct SharedMetric<'a> {
    last: Option<(&'a MetricDatum, Arc<Metric>)>,
}

impl<'a> SharedMetric<'a> {
    fn of(&mut self, namespace: &str, d: &'a MetricDatum) -> Arc<Metric> {
        match &self.last {
            Some((prev, m)) if prev.metric_name == d.metric_name && prev.dimensions == d.dimensions => m.clone(),
            _ => {
                let m = Arc::new(metric(namespace, &d.metric_name, &d.dimensions));
                self.last = Some((d, m.clone()));
                m
            }
        }
    }
}

/// One datum's sample; `path` names the datum in an error message (built
/// only then).
fn sample<'a>(
    path: impl Fn() -> String + Copy,
    d: &'a MetricDatum,
    now: f64,
    shared: &mut SharedMetric<'a>,
    namespace: &str,
) -> Result<Sample, AwsError> {
    length_at(|| format!("{}.MetricName", path()), &d.metric_name, 255)?;
    dimensions_at(|| format!("{}.Dimensions", path()), &d.dimensions)?;
    let high_resolution = match d.storage_resolution {
        None | Some(60) => false,
        Some(1) => true,
        Some(r) => {
            return Err(invalid(format!(
                "The value {r} for parameter {}.StorageResolution is invalid. Valid values are 1 and 60.",
                path()
            )));
        }
    };
    let ts = d.timestamp.unwrap_or(now);
    if ts < now - MAX_PAST_SECS || ts > now + MAX_FUTURE_SECS {
        return Err(invalid(format!(
            "The parameter {}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.",
            path()
        )));
    }
    let agg = aggregate(path, d)?;
    Ok(Sample {
        metric: shared.of(namespace, d),
        ts: ts.floor() as i64,
        unit: d.unit.clone().unwrap_or_else(|| "None".to_string()),
        agg,
        high_resolution,
    })
}

/// The values CloudWatch accepts: finite and within ±2^360.
fn valid_value(v: f64) -> bool {
    let limit = 2f64.powi(360);
    v.is_finite() && v.abs() <= limit && (v == 0.0 || v.abs() >= 1.0 / limit)
}

fn check_value(path: &str, v: f64) -> Result<(), AwsError> {
    if !valid_value(v) {
        return Err(invalid(format!("The value {v} for parameter {path} is invalid.")));
    }
    Ok(())
}

/// A datum's aggregate: exactly one of Value, StatisticValues, Values (with Counts).
fn aggregate(path: impl Fn() -> String, d: &MetricDatum) -> Result<Aggregate, AwsError> {
    if let (Some(v), None, None) = (d.value, &d.statistic_values, &d.values) {
        // The common case, without building the path unless `v` is refused.
        if valid_value(v) {
            return Ok(Aggregate::value(v, 1.0));
        }
    }
    let path = path();
    match (d.value, &d.statistic_values, &d.values) {
        (Some(v), None, None) => {
            check_value(&format!("{path}.Value"), v)?;
            Ok(Aggregate::value(v, 1.0))
        }
        (None, Some(s), None) => {
            for (name, v) in [
                ("SampleCount", s.sample_count),
                ("Sum", s.sum),
                ("Minimum", s.minimum),
                ("Maximum", s.maximum),
            ] {
                check_value(&format!("{path}.StatisticValues.{name}"), v)?;
            }
            if s.sample_count <= 0.0 || s.minimum > s.maximum {
                return Err(invalid(format!(
                    "The parameter {path}.StatisticValues is invalid: SampleCount must be positive and Minimum no greater than Maximum."
                )));
            }
            Ok(Aggregate::statistic_set(s.sample_count, s.sum, s.minimum, s.maximum))
        }
        (None, None, Some(values)) => values_aggregate(&path, values, d.counts.as_deref()),
        (None, None, None) => Err(missing(format!(
            "At least one of the parameters {path}.Value, {path}.StatisticValues or {path}.Values must be specified."
        ))),
        _ => Err(combination(format!(
            "The parameters {path}.Value, {path}.StatisticValues and {path}.Values are mutually exclusive and you have specified more than one."
        ))),
    }
}

fn values_aggregate(path: &str, values: &[f64], counts: Option<&[f64]>) -> Result<Aggregate, AwsError> {
    if values.is_empty() {
        return Err(missing(format!("The parameter {path}.Values must not be empty.")));
    }
    if values.len() > MAX_VALUES_PER_DATUM {
        return Err(invalid(format!(
            "The collection {path}.Values must not have a size greater than {MAX_VALUES_PER_DATUM}."
        )));
    }
    if let Some(c) = counts
        && c.len() != values.len()
    {
        return Err(combination(format!(
            "The parameters {path}.Values and {path}.Counts must be of the same size."
        )));
    }
    let mut agg: Option<Aggregate> = None;
    for (k, v) in values.iter().enumerate() {
        check_value(&format!("{path}.Values.member.{}", k + 1), *v)?;
        let count = counts.map_or(1.0, |c| c[k]);
        if !(count.is_finite() && count >= 0.0) {
            return Err(invalid(format!(
                "The value {count} for parameter {path}.Counts.member.{} is invalid.",
                k + 1
            )));
        }
        if count == 0.0 {
            continue;
        }
        let one = Aggregate::value(*v, count);
        match agg.as_mut() {
            Some(a) => a.merge(&one),
            None => agg = Some(one),
        }
    }
    agg.ok_or_else(|| invalid(format!("The parameter {path}.Counts must count at least one value.")))
}

/// A read's period: 1, 5, 10, 30 (high resolution) or a multiple of 60.
pub fn check_period(path: &str, period: i64) -> Result<(), AwsError> {
    if period < 1 || (period < 60 && ![1, 5, 10, 30].contains(&period)) || (period >= 60 && period % 60 != 0) {
        return Err(invalid(format!(
            "The parameter {path} must be 1, 5, 10, 30, or a multiple of 60."
        )));
    }
    Ok(())
}

/// StartTime before EndTime, and at most [`MAX_DATAPOINTS`] periods between them.
pub fn check_range(start: f64, end: f64, period: i64) -> Result<(), AwsError> {
    if start >= end {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let n = ((end - start) / period as f64).ceil() as i64;
    if n > MAX_DATAPOINTS {
        return Err(combination(format!(
            "You have requested up to {n} datapoints, which exceeds the limit of {MAX_DATAPOINTS}. \
             You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    Ok(())
}

/// One retention tier: data kept at `resolution` seconds for `keep`
/// seconds, then rolled into the next tier (or dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub resolution: i64,
    pub keep: i64,
    pub rolls_into: Option<i64>,
}

/// CloudWatch's retention: high-resolution data 3 hours (its minutes are
/// kept in the 1-minute tier all along), 1-minute data 15 days, 5-minute
/// 63 days, 1-hour 455 days.
pub const TIERS: [Tier; 4] = [
    Tier {
        resolution: 1,
        keep: 3 * 3600,
        rolls_into: None,
    },
    Tier {
        resolution: 60,
        keep: 15 * 86400,
        rolls_into: Some(300),
    },
    Tier {
        resolution: 300,
        keep: 63 * 86400,
        rolls_into: Some(3600),
    },
    Tier {
        resolution: 3600,
        keep: 455 * 86400,
        rolls_into: None,
    },
];

/// Where a read's periods start: StartTime rounded down to the minute (to
/// the second for a period under a minute).
pub fn period_origin(start: f64, period: i64) -> i64 {
    let s = start.floor() as i64;
    if period < 60 { s } else { bucket(s, 60) }
}

/// The start of the interval of `resolution` seconds holding `ts`.
pub fn bucket(ts: i64, resolution: i64) -> i64 {
    ts.div_euclid(resolution) * resolution
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
