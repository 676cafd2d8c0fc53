use super::*;
use crate::alarms::model::{AlarmConfig, AlarmState, Comparison, StateValue, Watched, WatchedMetric};

pub(crate) fn record(name: &str) -> AlarmRecord {
    AlarmRecord {
        name: name.into(),
        arn: format!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"),
        config: AlarmConfig {
            description: None,
            actions_enabled: true,
            ok_actions: vec![],
            alarm_actions: vec![],
            insufficient_data_actions: vec![],
            watched: Watched::Metric(WatchedMetric {
                namespace: "App".into(),
                metric_name: "CPU".into(),
                dimensions: vec![],
                statistic: Some("Average".into()),
                extended_statistic: None,
                period: 60,
                unit: None,
            }),
            evaluation_periods: 1,
            datapoints_to_alarm: None,
            threshold: 1.0,
            comparison: Comparison::GreaterThanThreshold,
            treat_missing_data: None,
            evaluate_low_sample_count_percentile: None,
        },
        configuration_updated: 10.0,
        state: AlarmState {
            value: StateValue::InsufficientData,
            reason: "Unchecked: Initial alarm creation".into(),
            reason_data: None,
            updated: 10.0,
            transitioned: 10.0,
        },
        tags: vec![],
    }
}

fn item(name: &str, ts: f64, kind: HistoryItemType) -> HistoryItem {
    HistoryItem {
        alarm_name: name.into(),
        timestamp: ts,
        kind,
        summary: format!("{name} at {ts}"),
        data: "{}".into(),
    }
}

fn put(db: &Db, r: AlarmRecord, items: Vec<HistoryItem>) {
    let name = r.name.clone();
    db.upsert_alarm(&name, |_| Ok::<_, ()>(Some((r, items))))
        .unwrap()
        .unwrap();
}

#[test]
fn the_evaluator_never_overwrites_a_newer_write() {
    let db = Db::memory(&[SCHEMA]).unwrap();
    put(&db, record("a"), vec![]);
    let read = db.alarm("a").unwrap().unwrap();
    // A PutMetricAlarm lands between the evaluator's read and its write.
    let mut updated = record("a");
    updated.config.threshold = 5.0;
    put(&db, updated, vec![]);
    let evaluated = read.record.with_state(StateValue::Alarm, "r".into(), None, 20.0);
    assert!(!db.replace_alarm_at(read.rev, &evaluated, &[]).unwrap());
    let now = db.alarm("a").unwrap().unwrap();
    assert_eq!(now.record.config.threshold, 5.0);
    assert!(
        db.replace_alarm_at(
            now.rev,
            &now.record.with_state(StateValue::Ok, "r".into(), None, 30.0),
            &[]
        )
        .unwrap()
    );
    assert_eq!(db.alarm("a").unwrap().unwrap().record.state.value, StateValue::Ok);
}

#[test]
fn deletes_are_all_or_nothing_and_history_outlives_the_alarm() {
    let db = Db::memory(&[SCHEMA]).unwrap();
    put(
        &db,
        record("a"),
        vec![item("a", 1.0, HistoryItemType::ConfigurationUpdate)],
    );
    put(&db, record("b"), vec![]);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        db.delete_alarms(&names(&["a", "zz"]), &[]).unwrap(),
        Deleted::NoneAsMissing("zz".to_string())
    );
    assert_eq!(db.alarms().unwrap().len(), 2);
    let gone = item("a", 2.0, HistoryItemType::ConfigurationUpdate);
    assert_eq!(db.delete_alarms(&names(&["a"]), &[gone]).unwrap(), Deleted::All);
    assert!(db.alarm("a").unwrap().is_none());
    let q = HistoryQuery {
        alarm_name: Some("a".into()),
        limit: 10,
        ..HistoryQuery::default()
    };
    let h = db.history(&q).unwrap();
    assert_eq!(h.iter().map(|h| h.timestamp).collect::<Vec<_>>(), [2.0, 1.0]);
}

#[test]
fn history_reads_filter_order_page_and_prune() {
    let db = Db::memory(&[SCHEMA]).unwrap();
    db.add_history(&[
        item("a", 1.0, HistoryItemType::ConfigurationUpdate),
        item("a", 2.0, HistoryItemType::StateUpdate),
        item("b", 3.0, HistoryItemType::StateUpdate),
        item("a", 4.0, HistoryItemType::Action),
    ])
    .unwrap();
    let read = |q: HistoryQuery| db.history(&q).unwrap().iter().map(|h| h.timestamp).collect::<Vec<_>>();
    let all = HistoryQuery {
        limit: 10,
        ..HistoryQuery::default()
    };
    assert_eq!(read(all.clone()), [4.0, 3.0, 2.0, 1.0]);
    assert_eq!(
        read(HistoryQuery {
            ascending: true,
            offset: 1,
            limit: 2,
            ..all.clone()
        }),
        [2.0, 3.0]
    );
    assert_eq!(
        read(HistoryQuery {
            kind: Some(HistoryItemType::StateUpdate),
            ..all.clone()
        }),
        [3.0, 2.0]
    );
    assert_eq!(
        read(HistoryQuery {
            from: Some(2.0),
            to: Some(3.0),
            ..all.clone()
        }),
        [3.0, 2.0]
    );
    assert_eq!(db.prune_history(2.5).unwrap(), 2);
    assert_eq!(read(all), [4.0, 3.0]);
}
