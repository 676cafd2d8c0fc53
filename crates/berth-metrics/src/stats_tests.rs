use super::*;

#[test]
fn values_give_every_statistic() {
    let mut a = Aggregate::value(1.0, 50.0);
    a.merge(&Aggregate::value(2.0, 45.0));
    a.merge(&Aggregate::value(100.0, 5.0));
    assert_eq!(a.statistic(Stat::SampleCount), Some(100.0));
    assert_eq!(a.statistic(Stat::Sum), Some(50.0 + 90.0 + 500.0));
    assert_eq!(a.statistic(Stat::Average), Some(6.4));
    assert_eq!(a.statistic(Stat::Minimum), Some(1.0));
    assert_eq!(a.statistic(Stat::Maximum), Some(100.0));
    assert_eq!(a.statistic(Stat::Percentile(50.0)), Some(1.0));
    assert_eq!(a.statistic(Stat::Percentile(51.0)), Some(2.0));
    assert_eq!(a.statistic(Stat::Percentile(95.0)), Some(2.0));
    assert_eq!(a.statistic(Stat::Percentile(99.0)), Some(100.0));
    assert_eq!(a.statistic(Stat::Percentile(0.0)), Some(1.0));
    assert_eq!(a.statistic(Stat::Percentile(100.0)), Some(100.0));
    // Equal values merge into one entry.
    a.merge(&Aggregate::value(2.0, 1.0));
    assert_eq!(a.values, vec![(1.0, 50.0), (2.0, 46.0), (100.0, 5.0)]);
}

#[test]
fn a_statistic_set_hides_its_values_unless_they_can_be_told() {
    let known = Aggregate::statistic_set(4.0, 12.0, 3.0, 3.0);
    assert_eq!(known.percentile(50.0), Some(3.0));
    let one = Aggregate::statistic_set(1.0, 7.0, 7.0, 7.0);
    assert_eq!(one.percentile(99.0), Some(7.0));
    let mut hidden = Aggregate::statistic_set(3.0, 6.0, 1.0, 3.0);
    assert_eq!(hidden.statistic(Stat::Average), Some(2.0));
    assert_eq!(hidden.percentile(50.0), None);
    // Merged with exact values, percentiles stay unknown; the rest is exact.
    hidden.merge(&Aggregate::value(10.0, 1.0));
    assert_eq!(hidden.percentile(50.0), None);
    assert_eq!(
        (hidden.count, hidden.sum, hidden.min, hidden.max),
        (4.0, 16.0, 1.0, 10.0)
    );
}

#[test]
fn values_beyond_the_bound_merge_their_nearest_neighbours() {
    let mut a = Aggregate::value(0.0, 1.0);
    for i in 1..(MAX_VALUES as i64 + 500) {
        a.merge(&Aggregate::value(i as f64, 1.0));
    }
    assert_eq!(a.values.len(), MAX_VALUES);
    assert_eq!(a.count, (MAX_VALUES + 500) as f64);
    assert_eq!(a.values.iter().map(|v| v.1).sum::<f64>(), a.count);
    let p50 = a.percentile(50.0).unwrap();
    assert!((p50 - 750.0).abs() <= 2.0, "{p50}");
}

#[test]
fn statistic_names() {
    assert_eq!(Stat::parse("Average"), Some(Stat::Average));
    assert_eq!(Stat::parse("SampleCount"), Some(Stat::SampleCount));
    assert_eq!(Stat::parse("p99"), Some(Stat::Percentile(99.0)));
    assert_eq!(Stat::parse("p99.9"), Some(Stat::Percentile(99.9)));
    assert_eq!(Stat::parse("p0"), Some(Stat::Percentile(0.0)));
    assert_eq!(Stat::parse("p100"), Some(Stat::Percentile(100.0)));
    for bad in ["p101", "p", "p99.999", "p9.", "Median", "average", "px", "tm99"] {
        assert_eq!(Stat::parse(bad), None, "{bad}");
    }
}
