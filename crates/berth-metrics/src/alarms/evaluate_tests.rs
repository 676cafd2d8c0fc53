use super::*;
use proptest::prelude::*;

const T0: i64 = 1_765_000_800; // 06/12/25 06:00:00 UTC

fn rule(m: usize, n: usize, treat: TreatMissing) -> Rule {
    Rule {
        comparison: Comparison::GreaterThanThreshold,
        threshold: 50.0,
        evaluation_periods: n,
        datapoints_to_alarm: m,
        treat_missing: treat,
    }
}

/// `"0-X-X"` (oldest first): 0 a good datapoint (10.0), X a breaching one (90.0), - none.
fn range(pattern: &str) -> Vec<Slot> {
    pattern
        .chars()
        .enumerate()
        .map(|(i, c)| Slot {
            start: T0 + 60 * i as i64,
            value: match c {
                '0' => Some(10.0),
                'X' => Some(90.0),
                _ => None,
            },
        })
        .collect()
}

fn state(r: &Rule, pattern: &str, current: StateValue) -> Option<StateValue> {
    evaluate(r, &range(pattern), current).map(|o| o.state)
}

#[test]
fn cloudwatchs_table_of_missing_data_examples() {
    use StateValue::*;
    use TreatMissing::*;
    // CloudWatch's documented examples: 3 of 3, a range of 5 periods.
    let rows: [(&str, [Option<StateValue>; 4]); 5] = [
        ("0-X-X", [Some(Ok), Some(Ok), Some(Ok), Some(Ok)]),
        ("0----", [Some(Ok), Some(Ok), Some(Ok), Some(Ok)]),
        ("-----", [Some(InsufficientData), None, Some(Alarm), Some(Ok)]),
        ("0XX-X", [Some(Alarm), Some(Alarm), Some(Alarm), Some(Alarm)]),
        ("--X--", [Some(Alarm), None, Some(Alarm), Some(Ok)]),
    ];
    for (pattern, expected) in rows {
        for (treat, want) in [Missing, Ignore, Breaching, NotBreaching].into_iter().zip(expected) {
            assert_eq!(state(&rule(3, 3, treat), pattern, Ok), want, "{pattern} {treat:?}");
        }
    }
}

#[test]
fn m_of_n_counts_breaching_datapoints_among_the_newest_n() {
    let r = rule(2, 3, TreatMissing::Missing);
    assert_eq!(state(&r, "--0XX", StateValue::Ok), Some(StateValue::Alarm));
    assert_eq!(state(&r, "--X0X", StateValue::Ok), Some(StateValue::Alarm));
    assert_eq!(state(&r, "--00X", StateValue::Alarm), Some(StateValue::Ok));
    // The older real datapoints are used when the newest periods are empty.
    assert_eq!(state(&r, "XX0--", StateValue::Ok), Some(StateValue::Alarm));
}

#[test]
fn reasons_are_worded_as_cloudwatch_writes_them() {
    let r = rule(3, 3, TreatMissing::Missing);
    let o = evaluate(&r, &range("--XXX"), StateValue::Ok).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 3 out of the last 3 datapoints [90.0 (06/12/25 06:04:00), 90.0 (06/12/25 06:03:00), \
         90.0 (06/12/25 06:02:00)] were greater than the threshold (50.0) (minimum 3 datapoints for OK -> ALARM transition)."
    );
    let o = evaluate(&r, &range("--XX0"), StateValue::Alarm).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 out of the last 3 datapoints [10.0 (06/12/25 06:04:00)] was not greater than the \
         threshold (50.0) (minimum 1 datapoint for ALARM -> OK transition)."
    );
    let one = rule(1, 1, TreatMissing::Missing);
    let o = evaluate(&one, &range("--X"), StateValue::InsufficientData).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: 1 datapoint [90.0 (06/12/25 06:02:00)] was greater than the threshold (50.0)."
    );
    let o = evaluate(&r, &range("-----"), StateValue::Ok).unwrap();
    assert_eq!(o.reason, "Insufficient Data: 5 datapoints were unknown.");
    let b = rule(3, 3, TreatMissing::Breaching);
    let o = evaluate(&b, &range("-----"), StateValue::Ok).unwrap();
    assert_eq!(
        o.reason,
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as [Breaching]."
    );
    let o = evaluate(&b, &range("---X-"), StateValue::Ok).unwrap();
    assert_eq!(o.state, StateValue::Alarm);
    assert!(
        o.reason.ends_with(" 2 missing datapoints were treated as [Breaching]."),
        "{}",
        o.reason
    );
}

#[test]
fn every_comparison_operator_compares_as_named() {
    use Comparison::*;
    for (op, at, above, below) in [
        (GreaterThanOrEqualToThreshold, true, true, false),
        (GreaterThanThreshold, false, true, false),
        (LessThanThreshold, false, false, true),
        (LessThanOrEqualToThreshold, true, false, true),
    ] {
        assert_eq!(op.breaches(50.0, 50.0), at, "{op:?}");
        assert_eq!(op.breaches(51.0, 50.0), above, "{op:?}");
        assert_eq!(op.breaches(49.0, 50.0), below, "{op:?}");
    }
}

fn slots() -> impl Strategy<Value = Vec<Option<bool>>> {
    proptest::collection::vec(proptest::option::of(any::<bool>()), 1..12)
}

proptest! {
    /// With N real datapoints or more, TreatMissingData changes nothing,
    /// and the state is ALARM exactly when M of the newest N breach.
    #[test]
    fn enough_real_data_decides_alone(points in slots(), n in 1usize..5, m_off in 0usize..5) {
        let m = n - m_off.min(n - 1);
        let range: Vec<Slot> = points.iter().enumerate().map(|(i, p)| Slot {
            start: T0 + 60 * i as i64,
            value: p.map(|b| if b { 90.0 } else { 10.0 }),
        }).collect();
        let real: Vec<bool> = points.iter().rev().filter_map(|p| *p).collect();
        prop_assume!(real.len() >= n);
        let breaching = real[..n].iter().filter(|b| **b).count();
        let want = if breaching >= m { StateValue::Alarm } else { StateValue::Ok };
        for treat in [TreatMissing::Missing, TreatMissing::Ignore, TreatMissing::Breaching, TreatMissing::NotBreaching] {
            let o = evaluate(&rule(m, n, treat), &range, StateValue::InsufficientData).unwrap();
            prop_assert_eq!(o.state, want);
            prop_assert_eq!(o.evaluated.len(), n);
        }
    }

    /// Missing data treated as breaching never gives a better state than
    /// treated as good.
    #[test]
    fn breaching_is_never_better_than_not_breaching(points in slots(), n in 1usize..5) {
        let range: Vec<Slot> = points.iter().enumerate().map(|(i, p)| Slot {
            start: T0 + 60 * i as i64,
            value: p.map(|b| if b { 90.0 } else { 10.0 }),
        }).collect();
        let bad = evaluate(&rule(n, n, TreatMissing::Breaching), &range, StateValue::Ok).unwrap().state;
        let good = evaluate(&rule(n, n, TreatMissing::NotBreaching), &range, StateValue::Ok).unwrap().state;
        prop_assert!(!(good == StateValue::Alarm && bad == StateValue::Ok));
    }
}
