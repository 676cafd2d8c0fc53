use super::*;
use crate::alarms::model::StateValue;
use serde_json::{Value, json};

fn input(v: Value) -> PutMetricAlarmInput {
    let mut base = json!({
        "AlarmName": "cpu-high", "MetricName": "CPU", "Namespace": "App", "Statistic": "Average",
        "Period": 60, "EvaluationPeriods": 3, "Threshold": 50.0, "ComparisonOperator": "GreaterThanThreshold",
    });
    for (k, val) in v.as_object().unwrap() {
        if val.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = val.clone();
        }
    }
    serde_json::from_value(base).unwrap()
}

fn err(v: Value) -> (String, String) {
    let e = config(&input(v), "us-east-1", "000000000000").unwrap_err();
    (e.code.to_string(), e.message.to_string())
}

#[test]
fn a_metric_alarm_takes_its_defaults() {
    let c = config(&input(json!({})), "us-east-1", "000000000000").unwrap();
    assert!(c.actions_enabled);
    assert_eq!(c.datapoints_to_alarm(), 3);
    assert_eq!(c.treat_missing(), TreatMissing::Missing);
    assert_eq!(c.period(), 60);
    assert!(c.actions_for(StateValue::Alarm).is_empty());
}

#[test]
fn bad_inputs_answer_cloudwatchs_errors() {
    let cases = [
        (
            json!({"Period": 45}),
            "ValidationError",
            "must be 10, 30 or a multiple of 60",
        ),
        (
            json!({"ExtendedStatistic": "p99"}),
            "InvalidParameterCombination",
            "mutually exclusive",
        ),
        (
            json!({"Statistic": null}),
            "MissingParameter",
            "Statistic or ExtendedStatistic",
        ),
        (
            json!({"ExtendedStatistic": "tm99", "Statistic": null}),
            "InvalidParameterValue",
            "tm99",
        ),
        (
            json!({"DatapointsToAlarm": 4}),
            "ValidationError",
            "DatapointsToAlarm (4)",
        ),
        (
            json!({"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}),
            "InvalidParameterValue",
            "anomaly",
        ),
        (
            json!({"ComparisonOperator": null}),
            "MissingParameter",
            "ComparisonOperator",
        ),
        (json!({"Threshold": null}), "MissingParameter", "Threshold"),
        (
            json!({"TreatMissingData": "sometimes"}),
            "InvalidParameterValue",
            "TreatMissingData",
        ),
        (
            json!({"EvaluationPeriods": 1441}),
            "ValidationError",
            "must not exceed 86400",
        ),
        (
            json!({"ThresholdMetricId": "ad1"}),
            "InvalidParameterValue",
            "ThresholdMetricId",
        ),
        (
            json!({"AlarmActions": ["arn:aws:sns:us-east-1:000000000000:t"]}),
            "InvalidParameterValue",
            "not supported",
        ),
        (
            json!({"EvaluateLowSampleCountPercentile": "evaluate"}),
            "InvalidParameterCombination",
            "only valid",
        ),
        (
            json!({"Metrics": [{"Id": "m1", "Expression": "SUM(METRICS())"}]}),
            "InvalidParameterCombination",
            "cannot be given with MetricName",
        ),
    ];
    for (v, code, words) in cases {
        let (c, m) = err(v.clone());
        assert_eq!(c, code, "{v}: {m}");
        assert!(m.contains(words), "{v}: {m}");
    }
}

#[test]
fn metric_math_alarms_return_exactly_one_series() {
    let none = json!({"MetricName": null, "Namespace": null, "Statistic": null, "Period": null});
    let with = |metrics: Value| {
        let mut v = none.clone();
        v["Metrics"] = metrics;
        v
    };
    let stat = json!({"Metric": {"Namespace": "App", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"});
    let ok = with(json!([
        {"Id": "e", "MetricStat": stat, "ReturnData": false},
        {"Id": "rate", "Expression": "e * 2", "ReturnData": true},
    ]));
    let c = config(&input(ok), "us-east-1", "000000000000").unwrap();
    assert_eq!(c.period(), 60);
    let (code, msg) = err(with(json!([
        {"Id": "e", "MetricStat": stat},
        {"Id": "rate", "Expression": "e * 2"},
    ])));
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ValidationError",
            "Metrics list must contain exactly one metric matching the ReturnData parameter"
        )
    );
    let (code, msg) = err(with(json!([{"Id": "x", "Expression": "SUM(", "ReturnData": true}])));
    assert_eq!(code, "ValidationError", "{msg}");
}
