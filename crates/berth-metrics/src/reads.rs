//! The reads: GetMetricStatistics, GetMetricData (metric stats, then the
//! expressions over them) and ListMetrics. The store gives the stored
//! aggregates of a time range; the periods, statistics and metric math are
//! the pure parts ([`crate::stats`], [`crate::math`], [`crate::rules`]).

use crate::Metrics;
use crate::db::Point;
use crate::inputs::{GetMetricDataInput, GetMetricStatisticsInput, ListMetricsInput, Metric, MetricDataQuery};
use crate::math::{self, Env, Series, Val};
use crate::rules::{self, bucket, combination, invalid, missing, validation};
use crate::stats::{Aggregate, Stat};
use base64::Engine;
use berth_proto::AwsError;
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// ListMetrics' page size.
const LIST_PAGE: usize = 500;
/// GetMetricData's default (and largest) MaxDatapoints.
const MAX_DATAPOINTS: i64 = 100_800;
/// How many queries one GetMetricData may hold.
const MAX_QUERIES: usize = 500;
/// RecentlyActive=PT3H: a datapoint within three hours.
const RECENT_SECS: i64 = 3 * 3600;

pub(crate) fn encode_offset(n: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("offset:{n}"))
}

pub(crate) fn decode_offset(token: &str) -> Result<usize, AwsError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| AwsError::new("InvalidNextToken", 400, "The specified NextToken is not valid."))
}

/// Merges stored aggregates into periods of `period` seconds counted from
/// the start time (rounded down to the minute, or to the second for a
/// high-resolution period, as CloudWatch rounds it), by unit, keeping only
/// `unit` when one is asked for.
fn periods(points: Vec<Point>, origin: i64, period: i64, unit: Option<&str>) -> BTreeMap<(i64, String), Aggregate> {
    let mut out: BTreeMap<(i64, String), Aggregate> = BTreeMap::new();
    for p in points {
        if unit.is_some_and(|u| u != p.unit) {
            continue;
        }
        out.entry((origin + bucket(p.ts - origin, period), p.unit))
            .and_modify(|a| a.merge(&p.agg))
            .or_insert(p.agg);
    }
    out
}

impl Metrics {
    /// The stored rows of `metric` from `origin` to `end`: per second, or
    /// the coarser tiers.
    async fn points(&self, metric: Metric, origin: i64, end: f64, per_second: bool) -> Result<Vec<Point>, AwsError> {
        let to = end.ceil() as i64;
        self.with_db(move |db| match db.find(&metric)? {
            Some(id) => db.read(id, origin, to, per_second),
            None => Ok(Vec::new()),
        })
        .await
    }

    pub(crate) async fn get_metric_statistics(&self, input: GetMetricStatisticsInput) -> Result<Value, AwsError> {
        rules::check_period("Period", input.period)?;
        rules::check_range(input.start_time, input.end_time, input.period)?;
        let stats: Vec<(String, Stat)> = match (&input.statistics, &input.extended_statistics) {
            (None, None) => return Err(missing("Must specify either Statistics or ExtendedStatistics.")),
            (Some(_), Some(_)) => {
                return Err(combination(
                    "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.",
                ));
            }
            (Some(s), None) => s.iter().filter_map(|n| Some((n.clone(), Stat::parse(n)?))).collect(),
            (None, Some(e)) => e
                .iter()
                .map(|n| match rules_percentile(n) {
                    Some(s) => Ok((n.clone(), s)),
                    None => Err(invalid(format!(
                        "The value {n} for parameter ExtendedStatistics is not supported."
                    ))),
                })
                .collect::<Result<_, _>>()?,
        };
        let metric = rules::metric(&input.namespace, &input.metric_name, &input.dimensions);
        let origin = rules::period_origin(input.start_time, input.period);
        let points = self.points(metric, origin, input.end_time, input.period < 60).await?;
        let mut datapoints = Vec::new();
        for ((ts, unit), agg) in periods(points, origin, input.period, input.unit.as_deref()) {
            let mut dp = Map::new();
            dp.insert("Timestamp".into(), json!(ts));
            let mut extended = Map::new();
            for (name, stat) in &stats {
                let Some(v) = agg.statistic(*stat) else { continue };
                match stat {
                    Stat::Percentile(_) => extended.insert(name.clone(), json!(v)),
                    _ => dp.insert(name.clone(), json!(v)),
                };
            }
            if !extended.is_empty() {
                dp.insert("ExtendedStatistics".into(), Value::Object(extended));
            }
            dp.insert("Unit".into(), json!(unit));
            datapoints.push(Value::Object(dp));
        }
        Ok(json!({"Label": input.metric_name, "Datapoints": datapoints}))
    }

    pub(crate) async fn list_metrics(&self, input: ListMetricsInput) -> Result<Value, AwsError> {
        let skip = input.next_token.as_deref().map(decode_offset).transpose()?.unwrap_or(0);
        let recent_after = input.recently_active.is_some().then(|| self.now() as i64 - RECENT_SECS);
        let all = self.with_db(|db| db.list()).await?;
        let matching: Vec<_> = all
            .into_iter()
            .filter(|l| {
                let m = &l.metric;
                input.namespace.as_ref().is_none_or(|n| *n == m.namespace)
                    && input.metric_name.as_ref().is_none_or(|n| *n == m.metric_name)
                    && input.dimensions.iter().all(|f| {
                        m.dimensions
                            .iter()
                            .any(|d| d.name == f.name && f.value.as_ref().is_none_or(|v| *v == d.value))
                    })
                    && recent_after.is_none_or(|after| l.last_put >= after)
            })
            .collect();
        let page: Vec<&Metric> = matching.iter().skip(skip).take(LIST_PAGE).map(|l| &l.metric).collect();
        let mut out = json!({ "Metrics": page });
        if skip + page.len() < matching.len() {
            out["NextToken"] = json!(encode_offset(skip + page.len()));
        }
        Ok(out)
    }

    pub(crate) async fn get_metric_data(&self, input: GetMetricDataInput) -> Result<Value, AwsError> {
        let queries = &input.metric_data_queries;
        check_queries(queries)?;
        if input.start_time >= input.end_time {
            return Err(validation(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let max = input.max_datapoints.unwrap_or(MAX_DATAPOINTS);
        if !(1..=MAX_DATAPOINTS).contains(&max) {
            return Err(invalid(format!(
                "The value {max} for parameter MaxDatapoints is invalid."
            )));
        }
        let skip = input.next_token.as_deref().map(decode_offset).transpose()?.unwrap_or(0);
        let ascending = match input.scan_by.as_deref() {
            None | Some("TimestampDescending") => false,
            Some(_) => true,
        };
        for (i, q) in queries.iter().enumerate() {
            if let Some(ms) = &q.metric_stat {
                let path = format!("MetricDataQueries.member.{}.MetricStat", i + 1);
                rules::check_period(&format!("{path}.Period"), ms.period)?;
                if Stat::parse(&ms.stat).is_none() {
                    return Err(invalid(format!(
                        "The value {} for parameter {path}.Stat is not supported.",
                        ms.stat
                    )));
                }
            }
        }
        let answered = self
            .query_series(queries, input.start_time, input.end_time, false)
            .await?;
        let mut results = Vec::new();
        let mut seen = 0usize;
        let mut emitted = 0usize;
        let mut truncated = false;
        for (q, label, series) in answered {
            let mut points: Vec<(i64, f64)> = series.into_iter().collect();
            if !ascending {
                points.reverse();
            }
            let mut timestamps = Vec::new();
            let mut values = Vec::new();
            let mut complete = true;
            for (t, v) in points {
                seen += 1;
                if seen <= skip {
                    continue;
                }
                if emitted as i64 >= max {
                    complete = false;
                    truncated = true;
                    continue;
                }
                emitted += 1;
                timestamps.push(json!(t));
                values.push(json!(v));
            }
            results.push(json!({
                "Id": q.id,
                "Label": label,
                "Timestamps": timestamps,
                "Values": values,
                "StatusCode": if complete { "Complete" } else { "PartialData" },
                "Messages": [],
            }));
        }
        let mut out = json!({"MetricDataResults": results, "Messages": []});
        if truncated {
            out["NextToken"] = json!(encode_offset(skip + emitted));
        }
        Ok(out)
    }
}

impl Metrics {
    /// The series of each query of `queries` whose data is returned, with
    /// its label, over `[start, end)`: the metric stats read once each
    /// (per second when `per_second`, their periods counted from `start`;
    /// else from StartTime rounded as CloudWatch rounds it), then the
    /// expressions over them. The periods and stats were checked before.
    pub(crate) async fn query_series<'q>(
        &self,
        queries: &'q [MetricDataQuery],
        start: f64,
        end: f64,
        per_second: bool,
    ) -> Result<Vec<(&'q MetricDataQuery, String, Series)>, AwsError> {
        let mut stat_series: Vec<(String, Series, i64)> = Vec::new();
        for q in queries {
            let Some(ms) = &q.metric_stat else { continue };
            let Some(stat) = Stat::parse(&ms.stat) else {
                return Err(invalid(format!("The statistic {} is not supported.", ms.stat)));
            };
            let m = &ms.metric;
            let metric = rules::metric(&m.namespace, &m.metric_name, &m.dimensions);
            let (origin, seconds) = if per_second {
                (start.floor() as i64, true)
            } else {
                (rules::period_origin(start, ms.period), ms.period < 60)
            };
            let points = self.points(metric, origin, end, seconds).await?;
            let mut series = Series::new();
            let mut merged: BTreeMap<i64, Aggregate> = BTreeMap::new();
            for ((ts, _), agg) in periods(points, origin, ms.period, ms.unit.as_deref()) {
                merged.entry(ts).and_modify(|a| a.merge(&agg)).or_insert(agg);
            }
            for (ts, agg) in merged {
                if let Some(v) = agg.statistic(stat) {
                    series.insert(ts, v);
                }
            }
            stat_series.push((q.id.clone(), series, ms.period));
        }
        let env = QueryEnv::new(queries, &stat_series, start, end)?;
        let mut out = Vec::new();
        for q in queries.iter().filter(|q| q.return_data != Some(false)) {
            let series = match env.value_of(&q.id)? {
                Val::Series(s) => s,
                Val::Scalar(x) => env.grid_of(q).into_iter().map(|t| (t, x)).collect(),
                Val::Array(_) => {
                    return Err(validation(format!(
                        "Error in expression {}: the expression must return a single time series.",
                        q.id
                    )));
                }
            };
            out.push((q, env.label(q), series));
        }
        Ok(out)
    }
}

fn rules_percentile(name: &str) -> Option<Stat> {
    crate::stats::parse_percentile(name).map(Stat::Percentile)
}

/// The queries' ids, their shape (one of MetricStat and Expression), and
/// at least one returned.
fn check_queries(queries: &[MetricDataQuery]) -> Result<(), AwsError> {
    if queries.is_empty() {
        return Err(missing(
            "The parameter MetricDataQueries must contain at least one query.",
        ));
    }
    if queries.len() > MAX_QUERIES {
        return Err(invalid(format!(
            "The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
        )));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, q) in queries.iter().enumerate() {
        let path = format!("MetricDataQueries.member.{}", i + 1);
        rules::check_query_id(&path, &q.id, &mut ids)?;
        if q.metric_stat.is_some() == q.expression.is_some() {
            return Err(validation(format!(
                "Exactly one element of the MetricStat and the Expression fields must be specified in {path}."
            )));
        }
    }
    if queries.iter().all(|q| q.return_data == Some(false)) {
        return Err(validation("At least one query must have ReturnData set to true."));
    }
    Ok(())
}

/// The queries of one GetMetricData as metric math sees them: the metric
/// stats read, each expression parsed and evaluated once (a cycle is an error).
struct QueryEnv<'a> {
    queries: HashMap<&'a str, &'a MetricDataQuery>,
    parsed: HashMap<&'a str, math::Expr>,
    stats: &'a [(String, Series, i64)],
    values: RefCell<HashMap<String, Val>>,
    evaluating: RefCell<Vec<String>>,
    start: f64,
    end: f64,
}

impl<'a> QueryEnv<'a> {
    fn new(
        queries: &'a [MetricDataQuery],
        stats: &'a [(String, Series, i64)],
        start: f64,
        end: f64,
    ) -> Result<Self, AwsError> {
        let mut parsed = HashMap::new();
        for q in queries {
            if let Some(e) = &q.expression {
                let expr = math::parse(e).map_err(|why| validation(format!("Error in expression {}: {why}", q.id)))?;
                parsed.insert(q.id.as_str(), expr);
            }
        }
        Ok(Self {
            queries: queries.iter().map(|q| (q.id.as_str(), q)).collect(),
            parsed,
            stats,
            values: RefCell::new(HashMap::new()),
            evaluating: RefCell::new(Vec::new()),
            start,
            end,
        })
    }

    fn value_of(&self, id: &str) -> Result<Val, AwsError> {
        self.series(id).map_err(validation)
    }

    /// An expression's period: its own, else the longest of the metric stats'.
    fn period_of(&self, q: &MetricDataQuery) -> i64 {
        q.period
            .or_else(|| q.metric_stat.as_ref().map(|m| m.period))
            .or_else(|| self.stats.iter().map(|s| s.2).max())
            .unwrap_or(60)
    }

    fn grid_of(&self, q: &MetricDataQuery) -> Vec<i64> {
        let period = self.period_of(q).max(1);
        let mut t = rules::period_origin(self.start, period);
        let mut out = Vec::new();
        while (t as f64) < self.end {
            if t as f64 >= self.start.floor() {
                out.push(t);
            }
            t += period;
        }
        out
    }

    fn label(&self, q: &MetricDataQuery) -> String {
        q.label.clone().unwrap_or_else(|| match &q.metric_stat {
            Some(ms) => ms.metric.metric_name.clone(),
            None => q.id.clone(),
        })
    }
}

impl Env for QueryEnv<'_> {
    fn series(&self, id: &str) -> Result<Val, String> {
        if let Some((_, s, _)) = self.stats.iter().find(|s| s.0 == id) {
            return Ok(Val::Series(s.clone()));
        }
        if let Some(v) = self.values.borrow().get(id) {
            return Ok(v.clone());
        }
        let expr = self
            .parsed
            .get(id)
            .ok_or_else(|| format!("Unrecognized metric id '{id}'"))?;
        if self.evaluating.borrow().iter().any(|e| e == id) {
            return Err(format!("Circular dependency on '{id}'"));
        }
        self.evaluating.borrow_mut().push(id.to_string());
        let v = math::eval(expr, self).map_err(|why| format!("Error in expression {id}: {why}"));
        self.evaluating.borrow_mut().pop();
        let v = v?;
        self.values.borrow_mut().insert(id.to_string(), v.clone());
        Ok(v)
    }

    fn metrics(&self) -> Vec<(String, Series)> {
        self.stats.iter().map(|(id, s, _)| (id.clone(), s.clone())).collect()
    }

    fn grid(&self) -> Vec<i64> {
        let evaluating = self.evaluating.borrow();
        match evaluating.last().and_then(|id| self.queries.get(id.as_str())) {
            Some(q) => self.grid_of(q),
            None => Vec::new(),
        }
    }
}
