use super::*;
use crate::inputs::StatisticSet;

const NOW: f64 = 1_700_000_000.0;

fn datum(name: &str) -> MetricDatum {
    MetricDatum {
        metric_name: name.into(),
        dimensions: Vec::new(),
        timestamp: None,
        value: Some(1.0),
        statistic_values: None,
        values: None,
        counts: None,
        unit: None,
        storage_resolution: None,
    }
}

fn put(data: Vec<MetricDatum>) -> Result<Vec<Sample>, AwsError> {
    samples(
        &PutMetricDataInput {
            namespace: "App".into(),
            metric_data: data,
            entity_metric_data: Vec::new(),
        },
        NOW,
    )
}

fn message(r: Result<Vec<Sample>, AwsError>) -> (String, String) {
    let e = r.unwrap_err();
    (e.code.to_string(), e.message)
}

#[test]
fn a_datum_becomes_a_sample_of_its_metric() {
    let mut d = datum("cpu");
    d.dimensions = vec![
        Dimension {
            name: "b".into(),
            value: "2".into(),
        },
        Dimension {
            name: "a".into(),
            value: "1".into(),
        },
    ];
    d.timestamp = Some(NOW - 30.5);
    d.unit = Some("Percent".into());
    let [s] = put(vec![d]).unwrap().try_into().unwrap();
    assert_eq!(s.metric.dimensions[0].name, "a", "dimensions are sorted");
    assert_eq!(s.ts, NOW as i64 - 31);
    assert_eq!(s.unit, "Percent");
    assert!(!s.high_resolution);
    let [s] = put(vec![datum("x")]).unwrap().try_into().unwrap();
    assert_eq!((s.ts, s.unit.as_str()), (NOW as i64, "None"));
}

#[test]
fn consecutive_datums_of_one_metric_share_its_record() {
    let dim = |name: &str, value: &str| Dimension {
        name: name.into(),
        value: value.into(),
    };
    let with = |name: &str, dims: Vec<Dimension>| MetricDatum {
        dimensions: dims,
        ..datum(name)
    };
    let out = put(vec![
        with("cpu", vec![dim("b", "2"), dim("a", "1")]),
        with("cpu", vec![dim("b", "2"), dim("a", "1")]),
        with("cpu", vec![dim("a", "1"), dim("b", "2")]),
        with("cpu", vec![dim("a", "1")]),
        with("mem", vec![dim("a", "1")]),
        with("cpu", vec![dim("b", "2"), dim("a", "1")]),
    ])
    .unwrap();
    assert!(Arc::ptr_eq(&out[0].metric, &out[1].metric));
    // Another order of the same dimensions is the same metric (sorted), not
    // the same record: equal, not shared.
    assert_eq!(out[2].metric, out[0].metric);
    assert_eq!(out[5].metric, out[0].metric);
    assert_eq!(out[3].metric.dimensions, vec![dim("a", "1")]);
    assert_ne!(out[3].metric, out[0].metric);
    assert_eq!(
        (out[4].metric.metric_name.as_str(), out[4].metric.namespace.as_str()),
        ("mem", "App")
    );
    assert_ne!(out[4].metric, out[3].metric);
}

#[test]
fn put_rules_in_cloudwatch_words() {
    let long = datum(&"m".repeat(256));
    assert_eq!(
        message(put(vec![datum("ok"), long])),
        (
            "InvalidParameterValue".into(),
            "The parameter MetricData.member.2.MetricName must be shorter than 256 characters.".into()
        )
    );
    assert!(put(vec![datum(&"m".repeat(255))]).is_ok());
    assert_eq!(
        message(put(vec![datum("m"); 1001])).1,
        "The collection MetricData must not have a size greater than 1000."
    );
    assert!(put(vec![datum("m"); 1000]).is_ok());
    assert_eq!(message(put(vec![])).0, "MissingParameter");
    let e = samples(
        &PutMetricDataInput {
            namespace: "AWS/EC2".into(),
            metric_data: vec![datum("m")],
            entity_metric_data: Vec::new(),
        },
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.message, "The value AWS/EC2 for parameter Namespace is invalid.");
    let mut d = datum("m");
    d.dimensions = (0..31)
        .map(|i| Dimension {
            name: format!("d{i}"),
            value: "v".into(),
        })
        .collect();
    assert_eq!(
        message(put(vec![d])).1,
        "The collection MetricData.member.1.Dimensions must not have a size greater than 30."
    );
    let mut d = datum("m");
    d.dimensions = vec![Dimension {
        name: "d".into(),
        value: "v".repeat(1025),
    }];
    assert_eq!(
        message(put(vec![d])).1,
        "The parameter MetricData.member.1.Dimensions.member.1.Value must be shorter than 1025 characters."
    );
    let mut d = datum("m");
    d.storage_resolution = Some(5);
    assert_eq!(message(put(vec![d])).0, "InvalidParameterValue");
    let mut d = datum("m");
    d.storage_resolution = Some(1);
    assert!(put(vec![d]).unwrap()[0].high_resolution);
}

#[test]
fn entity_metric_data_is_data_too() {
    let input = |n: usize, m: usize| PutMetricDataInput {
        namespace: "App".into(),
        metric_data: vec![datum("plain"); n],
        entity_metric_data: vec![crate::inputs::EntityMetricData {
            metric_data: vec![datum("entity"); m],
        }],
    };
    let s = samples(&input(0, 2), NOW).unwrap();
    assert_eq!(
        s.iter().map(|s| s.metric.metric_name.as_str()).collect::<Vec<_>>(),
        ["entity", "entity"]
    );
    assert_eq!(samples(&input(1, 1), NOW).unwrap().len(), 2);
    assert_eq!(
        samples(&input(600, 401), NOW).unwrap_err().code,
        "InvalidParameterValue"
    );
    let mut bad = input(0, 1);
    bad.entity_metric_data[0].metric_data[0].metric_name = "m".repeat(256);
    assert_eq!(
        samples(&bad, NOW).unwrap_err().message,
        "The parameter EntityMetricData.member.1.MetricData.member.1.MetricName must be shorter than 256 characters."
    );
}

#[test]
fn timestamps_within_two_weeks_past_and_two_hours_ahead() {
    for (offset, ok) in [
        (-MAX_PAST_SECS, true),
        (-MAX_PAST_SECS - 1.0, false),
        (MAX_FUTURE_SECS, true),
        (MAX_FUTURE_SECS + 1.0, false),
    ] {
        let mut d = datum("m");
        d.timestamp = Some(NOW + offset);
        assert_eq!(put(vec![d]).is_ok(), ok, "{offset}");
    }
}

#[test]
fn one_of_value_statistic_values_or_values() {
    let mut d = datum("m");
    d.statistic_values = Some(StatisticSet {
        sample_count: 2.0,
        sum: 3.0,
        minimum: 1.0,
        maximum: 2.0,
    });
    assert_eq!(message(put(vec![d.clone()])).0, "InvalidParameterCombination");
    d.value = None;
    let s = &put(vec![d]).unwrap()[0];
    assert_eq!((s.agg.count, s.agg.sum), (2.0, 3.0));
    let mut d = datum("m");
    d.value = None;
    assert_eq!(message(put(vec![d.clone()])).0, "MissingParameter");
    d.values = Some(vec![1.0, 5.0]);
    d.counts = Some(vec![3.0]);
    assert_eq!(message(put(vec![d.clone()])).0, "InvalidParameterCombination");
    d.counts = Some(vec![3.0, 1.0]);
    let s = &put(vec![d.clone()]).unwrap()[0];
    assert_eq!((s.agg.count, s.agg.sum, s.agg.max), (4.0, 8.0, 5.0));
    d.counts = None;
    d.values = Some(vec![1.0; 151]);
    assert_eq!(message(put(vec![d])).0, "InvalidParameterValue");
    let mut d = datum("m");
    d.value = Some(2f64.powi(361));
    assert_eq!(message(put(vec![d])).0, "InvalidParameterValue");
}

#[test]
fn periods_and_the_datapoint_limit() {
    for ok in [1, 5, 10, 30, 60, 120, 300, 86400] {
        assert!(check_period("Period", ok).is_ok(), "{ok}");
    }
    for bad in [0, 2, 45, 90, 61] {
        let e = check_period("Period", bad).unwrap_err();
        assert_eq!(
            e.message,
            "The parameter Period must be 1, 5, 10, 30, or a multiple of 60."
        );
    }
    assert!(check_range(0.0, 1440.0 * 60.0, 60).is_ok());
    let e = check_range(0.0, 1441.0 * 60.0, 60).unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    assert!(
        e.message
            .starts_with("You have requested up to 1441 datapoints, which exceeds the limit of 1440.")
    );
    assert_eq!(check_range(60.0, 60.0, 60).unwrap_err().code, "InvalidParameterValue");
}

#[test]
fn tiers_and_buckets() {
    assert_eq!(bucket(125, 60), 120);
    assert_eq!(bucket(-1, 60), -60);
    assert_eq!(period_origin(125.7, 60), 120);
    assert_eq!(period_origin(125.7, 5), 125);
    let keep: Vec<_> = TIERS.iter().map(|t| (t.resolution, t.keep / 3600)).collect();
    assert_eq!(keep, [(1, 3), (60, 15 * 24), (300, 63 * 24), (3600, 455 * 24)]);
}
