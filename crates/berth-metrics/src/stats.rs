//! The aggregate Berth keeps of a metric over one interval (a second, a
//! minute, five minutes, an hour) and the statistics read from it. Pure.
//!
//! An aggregate holds the sample count, sum, minimum and maximum (what
//! SampleCount, Sum, Average, Minimum and Maximum need, exact at any
//! roll-up), and, for percentiles, the values themselves with their counts
//! (`Values`/`Counts` are kept as sent), up to [`MAX_VALUES`] distinct values
//! per aggregate: beyond that the smallest gaps are merged (the two nearest
//! values become their count-weighted mean), so a percentile stays within
//! the spread of the values it falls between. A statistic set
//! (`StatisticValues`) gives values only when CloudWatch can tell them
//! (SampleCount 1, or Minimum = Maximum and Sum = Minimum × SampleCount);
//! otherwise the aggregate cannot answer percentiles, as CloudWatch.

use serde::{Deserialize, Serialize};

/// The most distinct values one aggregate keeps for percentiles.
pub const MAX_VALUES: usize = 1000;

/// One interval's aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// `(value, count)`, sorted by value; empty with `exact_values` false
    /// when a statistic set hid them.
    pub values: Vec<(f64, f64)>,
    /// Whether `values` hold every sample (percentiles are answerable).
    pub exact_values: bool,
}

impl Aggregate {
    /// One value, seen `count` times.
    pub fn value(v: f64, count: f64) -> Self {
        Self {
            count,
            sum: v * count,
            min: v,
            max: v,
            values: vec![(v, count)],
            exact_values: true,
        }
    }

    /// A statistic set: its values are known only when CloudWatch can tell them.
    pub fn statistic_set(count: f64, sum: f64, min: f64, max: f64) -> Self {
        let known = count == 1.0 || (min == max && (sum - min * count).abs() <= f64::EPSILON * sum.abs().max(1.0));
        Self {
            count,
            sum,
            min,
            max,
            values: if known { vec![(min, count)] } else { Vec::new() },
            exact_values: known,
        }
    }

    /// Adds `other` into this aggregate.
    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.exact_values &= other.exact_values;
        if !self.exact_values {
            self.values.clear();
            return;
        }
        let mut merged = Vec::with_capacity(self.values.len() + other.values.len());
        let (mut a, mut b) = (self.values.iter().peekable(), other.values.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 < y.0 => a.next(),
                (Some(x), Some(y)) if x.0 > y.0 => b.next(),
                (Some(x), Some(y)) => {
                    merged.push((x.0, x.1 + y.1));
                    a.next();
                    b.next();
                    continue;
                }
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            merged.extend(next.copied());
        }
        self.values = merged;
        compact(&mut self.values, MAX_VALUES);
    }

    /// The value of `stat` over this aggregate (None: it cannot be told,
    /// a percentile of values a statistic set hid).
    pub fn statistic(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::SampleCount => Some(self.count),
            Stat::Sum => Some(self.sum),
            Stat::Average => (self.count > 0.0).then(|| self.sum / self.count),
            Stat::Minimum => Some(self.min),
            Stat::Maximum => Some(self.max),
            Stat::Percentile(p) => self.percentile(p),
        }
    }

    /// The `p`th percentile (0–100): the smallest value at or below which
    /// `p` % of the samples fall.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if !self.exact_values || self.values.is_empty() {
            return None;
        }
        let total: f64 = self.values.iter().map(|v| v.1).sum();
        let rank = (p / 100.0 * total).max(f64::MIN_POSITIVE);
        let mut seen = 0.0;
        for (v, c) in &self.values {
            seen += c;
            if seen >= rank - 1e-9 {
                return Some(*v);
            }
        }
        self.values.last().map(|v| v.0)
    }
}

/// Merges the nearest neighbours of sorted `(value, count)` pairs until at
/// most `max` are left.
fn compact(values: &mut Vec<(f64, f64)>, max: usize) {
    while values.len() > max {
        let i = (0..values.len() - 1)
            .min_by(|&i, &j| {
                let gi = values[i + 1].0 - values[i].0;
                let gj = values[j + 1].0 - values[j].0;
                gi.total_cmp(&gj)
            })
            .unwrap_or(0);
        let (a, b) = (values[i], values[i + 1]);
        let count = a.1 + b.1;
        values[i] = ((a.0 * a.1 + b.0 * b.1) / count, count);
        values.remove(i + 1);
    }
}

/// A statistic CloudWatch answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `pNN` / `pNN.NN`.
    Percentile(f64),
}

impl Stat {
    /// A statistic by name: the five of `Statistics`, or a percentile
    /// (`p0`–`p100`, up to two decimals), as `Stat` and `ExtendedStatistics` take.
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "SampleCount" => Stat::SampleCount,
            "Average" => Stat::Average,
            "Sum" => Stat::Sum,
            "Minimum" => Stat::Minimum,
            "Maximum" => Stat::Maximum,
            _ => Stat::Percentile(parse_percentile(s)?),
        })
    }
}

/// `p90`, `p99.9`, `p99.99`: the number, when it is 0–100 with at most two decimals.
pub fn parse_percentile(s: &str) -> Option<f64> {
    let n = s.strip_prefix('p')?;
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    if int.is_empty()
        || int.len() > 3
        || !digits(int)
        || frac.len() > 2
        || !digits(frac)
        || (n.contains('.') && frac.is_empty())
    {
        return None;
    }
    let v: f64 = n.parse().ok()?;
    (0.0..=100.0).contains(&v).then_some(v)
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
