//! An alarm as DescribeAlarms answers it (`MetricAlarm`): the members AWS
//! shows, the optional ones only when set. Timestamps are epoch seconds
//! (the bridge writes them as each protocol does).

use super::model::{AlarmRecord, Watched};
use serde_json::{Map, Value, json};

pub fn metric_alarm(r: &AlarmRecord) -> Value {
    let c = &r.config;
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("AlarmName", json!(r.name));
    put("AlarmArn", json!(r.arn));
    if let Some(d) = &c.description {
        put("AlarmDescription", json!(d));
    }
    put("AlarmConfigurationUpdatedTimestamp", json!(r.configuration_updated));
    put("ActionsEnabled", json!(c.actions_enabled));
    put("OKActions", json!(c.ok_actions));
    put("AlarmActions", json!(c.alarm_actions));
    put("InsufficientDataActions", json!(c.insufficient_data_actions));
    put("StateValue", json!(r.state.value.as_str()));
    put("StateReason", json!(r.state.reason));
    if let Some(d) = &r.state.reason_data {
        put("StateReasonData", json!(d));
    }
    put("StateUpdatedTimestamp", json!(r.state.updated));
    put("StateTransitionedTimestamp", json!(r.state.transitioned));
    match &c.watched {
        Watched::Metric(m) => {
            put("MetricName", json!(m.metric_name));
            put("Namespace", json!(m.namespace));
            if let Some(s) = &m.statistic {
                put("Statistic", json!(s));
            }
            if let Some(s) = &m.extended_statistic {
                put("ExtendedStatistic", json!(s));
            }
            put("Dimensions", json!(m.dimensions));
            put("Period", json!(m.period));
            if let Some(u) = &m.unit {
                put("Unit", json!(u));
            }
        }
        Watched::Math(queries) => {
            put("Dimensions", json!([]));
            put("Metrics", json!(queries));
        }
    }
    put("EvaluationPeriods", json!(c.evaluation_periods));
    if let Some(m) = c.datapoints_to_alarm {
        put("DatapointsToAlarm", json!(m));
    }
    put("Threshold", json!(c.threshold));
    put("ComparisonOperator", json!(c.comparison.as_str()));
    if let Some(t) = c.treat_missing_data {
        put("TreatMissingData", json!(t.as_str()));
    }
    if let Some(e) = &c.evaluate_low_sample_count_percentile {
        put("EvaluateLowSampleCountPercentile", json!(e));
    }
    Value::Object(out)
}
