use crate::Metrics;
use crate::alarms::actions::{ActionError, ActionRunner, StateChange};
use crate::alarms::model::{HistoryItemType, StateValue};
use crate::alarms::store::HistoryQuery;
use async_trait::async_trait;
use berth_core::time_scale::TimeScale;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const T0: f64 = 1_765_000_800.0;
const POLICY: &str = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:resource/ecs/service/c/s:policyName/p";

struct Clock(Arc<Mutex<f64>>);

impl Clock {
    fn set(&self, t: f64) {
        *self.0.lock().unwrap() = t;
    }
}

fn service(scale: TimeScale) -> (Metrics, Clock) {
    let now = Arc::new(Mutex::new(T0));
    let read = now.clone();
    let m = Metrics::in_memory("us-east-1", "000000000000")
        .unwrap()
        .with_clock(move || *read.lock().unwrap())
        .with_time_scale(scale);
    (m, Clock(now))
}

async fn put(m: &Metrics, at: f64, value: f64) {
    let input = serde_json::from_value(json!({
        "Namespace": "App",
        "MetricData": [{"MetricName": "CPU", "Timestamp": at, "Value": value}],
    }))
    .unwrap();
    let mut samples = crate::rules::samples(&input, m.now()).unwrap();
    if !m.time_scale.is_real() {
        for s in &mut samples {
            s.high_resolution = true;
        }
    }
    m.with_db(move |db| db.put(samples)).await.unwrap();
}

async fn alarm(m: &Metrics, extra: Value) {
    let mut input = json!({
        "AlarmName": "cpu-high", "MetricName": "CPU", "Namespace": "App", "Statistic": "Average",
        "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 50.0,
        "ComparisonOperator": "GreaterThanThreshold",
    });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    m.put_metric_alarm(serde_json::from_value(input).unwrap())
        .await
        .unwrap();
}

async fn state(m: &Metrics) -> (StateValue, String) {
    let s = m.with_db(|db| db.alarm("cpu-high")).await.unwrap().unwrap();
    (s.record.state.value, s.record.state.reason)
}

async fn history(m: &Metrics, kind: HistoryItemType) -> Vec<String> {
    let q = HistoryQuery {
        alarm_name: Some("cpu-high".into()),
        kind: Some(kind),
        ascending: true,
        limit: 50,
        ..HistoryQuery::default()
    };
    m.with_db(move |db| db.history(&q))
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.summary)
        .collect()
}

#[tokio::test]
async fn two_breaching_minutes_of_three_raise_the_alarm_and_good_ones_clear_it() {
    let (m, clock) = service(TimeScale::REAL);
    alarm(&m, json!({})).await;
    assert_eq!(state(&m).await.0, StateValue::InsufficientData);
    for (i, v) in [10.0, 90.0, 90.0].into_iter().enumerate() {
        put(&m, T0 + 60.0 * i as f64, v).await;
    }
    // Within the third minute, it is not complete: two datapoints, one
    // breaching; `missing` judges them alone (2 of 2 would be needed).
    clock.set(T0 + 150.0);
    m.evaluate_alarms().await.unwrap();
    assert_eq!(state(&m).await.0, StateValue::Ok, "{:?}", state(&m).await);
    clock.set(T0 + 185.0);
    assert_eq!(m.evaluate_alarms().await.unwrap(), 1);
    let (value, reason) = state(&m).await;
    assert_eq!(value, StateValue::Alarm);
    assert!(
        reason.starts_with("Threshold Crossed: 2 out of the last 3 datapoints [90.0 (06/12/25 06:02:00), 90.0 (06/12/25 06:01:00)] were greater than the threshold (50.0) (minimum 2 datapoints for OK -> ALARM transition)."),
        "{reason}"
    );
    // Evaluating again changes nothing.
    assert_eq!(m.evaluate_alarms().await.unwrap(), 0);
    put(&m, T0 + 180.0, 10.0).await;
    put(&m, T0 + 240.0, 10.0).await;
    clock.set(T0 + 300.0);
    m.evaluate_alarms().await.unwrap();
    assert_eq!(state(&m).await.0, StateValue::Ok);
    assert_eq!(
        history(&m, HistoryItemType::StateUpdate).await,
        [
            "Alarm updated from INSUFFICIENT_DATA to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK"
        ]
    );
    assert_eq!(
        history(&m, HistoryItemType::ConfigurationUpdate).await,
        ["Alarm \"cpu-high\" created"]
    );
}

#[tokio::test]
async fn missing_data_follows_treat_missing_data() {
    let (m, clock) = service(TimeScale::REAL);
    alarm(&m, json!({"TreatMissingData": "breaching"})).await;
    clock.set(T0 + 600.0);
    m.evaluate_alarms().await.unwrap();
    let (value, reason) = state(&m).await;
    assert_eq!(value, StateValue::Alarm);
    assert_eq!(
        reason,
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as [Breaching]."
    );
    alarm(&m, json!({"TreatMissingData": "missing"})).await;
    m.evaluate_alarms().await.unwrap();
    assert_eq!(
        state(&m).await,
        (
            StateValue::InsufficientData,
            "Insufficient Data: 5 datapoints were unknown.".to_string()
        )
    );
    alarm(&m, json!({"TreatMissingData": "ignore"})).await;
    m.set_alarm_state(
        serde_json::from_value(json!({"AlarmName": "cpu-high", "StateValue": "OK", "StateReason": "by hand"})).unwrap(),
    )
    .await
    .unwrap();
    m.evaluate_alarms().await.unwrap();
    assert_eq!(state(&m).await, (StateValue::Ok, "by hand".to_string()));
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, StateValue, StateValue)>>);

#[async_trait]
impl ActionRunner for Recorder {
    async fn run(&self, action_arn: &str, change: &StateChange) -> Result<(), ActionError> {
        self.0
            .lock()
            .unwrap()
            .push((action_arn.to_string(), change.old, change.new));
        Ok(())
    }
}

#[tokio::test]
async fn entering_a_state_runs_its_actions_when_enabled() {
    let recorder = Arc::new(Recorder::default());
    let (m, clock) = service(TimeScale::REAL);
    let m = m.with_action_runner(recorder.clone());
    alarm(&m, json!({"AlarmActions": [POLICY], "TreatMissingData": "breaching"})).await;
    clock.set(T0 + 600.0);
    m.evaluate_alarms().await.unwrap();
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [(POLICY.to_string(), StateValue::InsufficientData, StateValue::Alarm)]
    );
    assert_eq!(
        history(&m, HistoryItemType::Action).await,
        [format!("Successfully executed action {POLICY}")]
    );
    // Disabled actions are not run.
    m.set_actions_enabled(
        serde_json::from_value(json!({"AlarmNames": ["cpu-high"]})).unwrap(),
        false,
    )
    .await
    .unwrap();
    m.set_alarm_state(
        serde_json::from_value(json!({"AlarmName": "cpu-high", "StateValue": "OK", "StateReason": "x"})).unwrap(),
    )
    .await
    .unwrap();
    m.evaluate_alarms().await.unwrap();
    assert_eq!(state(&m).await.0, StateValue::Alarm);
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
}

/// Repeats every action, as an Auto Scaling policy runner does.
struct Repeating(Recorder);

#[async_trait]
impl ActionRunner for Repeating {
    async fn run(&self, action_arn: &str, change: &StateChange) -> Result<(), ActionError> {
        self.0.run(action_arn, change).await
    }

    fn repeats(&self, _action_arn: &str) -> bool {
        true
    }
}

#[tokio::test]
async fn a_repeating_action_runs_at_every_evaluation_while_the_state_lasts() {
    let runner = Arc::new(Repeating(Recorder::default()));
    let (m, clock) = service(TimeScale::REAL);
    let m = m.with_action_runner(runner.clone());
    alarm(&m, json!({"AlarmActions": [POLICY], "TreatMissingData": "breaching"})).await;
    clock.set(T0 + 600.0);
    m.evaluate_alarms().await.unwrap();
    clock.set(T0 + 660.0);
    m.evaluate_alarms().await.unwrap();
    assert_eq!(
        *runner.0.0.lock().unwrap(),
        [
            (POLICY.to_string(), StateValue::InsufficientData, StateValue::Alarm),
            (POLICY.to_string(), StateValue::Alarm, StateValue::Alarm),
        ]
    );
    assert_eq!(history(&m, HistoryItemType::Action).await.len(), 2);
}

#[tokio::test]
async fn without_a_runner_an_action_fails_in_the_history() {
    let (m, clock) = service(TimeScale::REAL);
    alarm(&m, json!({"AlarmActions": [POLICY], "TreatMissingData": "breaching"})).await;
    clock.set(T0 + 600.0);
    m.evaluate_alarms().await.unwrap();
    clock.set(T0 + 660.0);
    m.evaluate_alarms().await.unwrap();
    // Run on the transition only: no runner repeats.
    let items = history(&m, HistoryItemType::Action).await;
    assert_eq!(items.len(), 1);
    assert!(
        items[0].starts_with(&format!(
            "Failed to execute action {POLICY}. Received error: \"Application Auto Scaling is not served"
        )),
        "{items:?}"
    );
}

#[tokio::test]
async fn under_a_time_scale_a_minute_is_a_second() {
    let (m, clock) = service(TimeScale::new(60).unwrap());
    alarm(&m, json!({})).await;
    for (i, v) in [90.0, 10.0, 90.0].into_iter().enumerate() {
        put(&m, T0 + i as f64, v).await;
    }
    clock.set(T0 + 3.2);
    m.evaluate_alarms().await.unwrap();
    let (value, reason) = state(&m).await;
    assert_eq!(value, StateValue::Alarm);
    assert!(
        reason.contains("2 out of the last 3 datapoints [90.0 (06/12/25 06:00:02), 90.0 (06/12/25 06:00:00)]"),
        "{reason}"
    );
}

#[tokio::test]
async fn long_reasons_stay_within_cloudwatchs_limits() {
    let (m, clock) = service(TimeScale::REAL);
    alarm(&m, json!({"EvaluationPeriods": 60, "DatapointsToAlarm": 60})).await;
    for i in 0..60 {
        put(&m, T0 + 60.0 * f64::from(i), 90.0).await;
    }
    clock.set(T0 + 3600.0);
    m.evaluate_alarms().await.unwrap();
    let s = m.with_db(|db| db.alarm("cpu-high")).await.unwrap().unwrap();
    assert_eq!(s.record.state.value, StateValue::Alarm);
    assert!(
        s.record
            .state
            .reason
            .starts_with("Threshold Crossed: 60 out of the last 60 datapoints [")
    );
    assert!(s.record.state.reason.len() <= 1023);
    let data = s.record.state.reason_data.unwrap();
    assert!(data.len() <= 4000, "{}", data.len());
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["evaluatedDatapoints"].as_array().unwrap().len(), 20);
}

/// The cost of one evaluation tick over 10,000 alarms, each on its own
/// metric with three minutes of data, in a database on disk. Run with
/// `cargo nextest run -p berth-metrics --run-ignored only evaluation_cost`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a check"]
async fn evaluation_cost_of_ten_thousand_alarms() {
    const ALARMS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(Mutex::new(T0));
    let read = now.clone();
    let m = Metrics::open(dir.path(), "us-east-1", "000000000000")
        .unwrap()
        .with_clock(move || *read.lock().unwrap());
    for chunk in (0..ALARMS).collect::<Vec<_>>().chunks(300) {
        let data: Vec<Value> = chunk
            .iter()
            .flat_map(|i| {
                (0..3).map(
                    move |k| json!({"MetricName": format!("m{i}"), "Timestamp": T0 + 60.0 * k as f64, "Value": 90.0}),
                )
            })
            .collect();
        let input = serde_json::from_value(json!({"Namespace": "App", "MetricData": data})).unwrap();
        let samples = crate::rules::samples(&input, T0).unwrap();
        m.with_db(move |db| db.put(samples)).await.unwrap();
    }
    for i in 0..ALARMS {
        let input = json!({
            "AlarmName": format!("a{i:05}"), "MetricName": format!("m{i}"), "Namespace": "App", "Statistic": "Average",
            "Period": 60, "EvaluationPeriods": 3, "Threshold": 50.0, "ComparisonOperator": "GreaterThanThreshold",
        });
        m.put_metric_alarm(serde_json::from_value(input).unwrap())
            .await
            .unwrap();
    }
    *now.lock().unwrap() = T0 + 185.0;
    let started = std::time::Instant::now();
    assert_eq!(m.evaluate_alarms().await.unwrap(), ALARMS);
    let changing = started.elapsed();
    let started = std::time::Instant::now();
    assert_eq!(m.evaluate_alarms().await.unwrap(), 0);
    let steady = started.elapsed();
    println!("{ALARMS} alarms: a tick that changes every state {changing:?}, a steady tick {steady:?}");
}
