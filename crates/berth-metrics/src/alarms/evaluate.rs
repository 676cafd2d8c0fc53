//! One evaluation of a metric alarm, pure: the datapoints of its
//! evaluation range → the state they call for and the reason CloudWatch
//! writes for it.
//!
//! The evaluation range is the last `N + 2` periods (N = EvaluationPeriods):
//! - at least N real datapoints in it: the newest N real ones decide (the
//!   missing ones are not needed, whatever TreatMissingData says); M
//!   breaching of them (M = DatapointsToAlarm) is ALARM, fewer is OK;
//! - none: `missing` → INSUFFICIENT_DATA, `ignore` → the state is kept,
//!   `breaching` → ALARM, `notBreaching` → OK;
//! - some, fewer than N: `breaching`/`notBreaching` fill the N with
//!   breaching/good datapoints, as few as needed, and the M-of-N rule
//!   decides; `ignore` goes to ALARM with M breaching, to OK when ALARM can
//!   no longer be reached (N−M+1 good ones), else keeps the state;
//!   `missing` judges the real datapoints alone (ALARM when at least
//!   min(M, their number) breach, else OK) — CloudWatch's table of examples
//!   in "Configuring how CloudWatch alarms treat missing data".

use super::model::{Comparison, StateValue, TreatMissing};

/// Periods read beyond the N evaluated, for the missing-data rules.
pub const EXTRA_PERIODS: usize = 2;

/// What decides an alarm's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub comparison: Comparison,
    pub threshold: f64,
    /// N.
    pub evaluation_periods: usize,
    /// M (at most N).
    pub datapoints_to_alarm: usize,
    pub treat_missing: TreatMissing,
}

/// One period of the evaluation range: its start (epoch seconds) and its
/// datapoint, if there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub start: i64,
    pub value: Option<f64>,
}

/// The state a range calls for, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: StateValue,
    pub reason: String,
    /// The real datapoints evaluated, newest first.
    pub evaluated: Vec<(i64, f64)>,
}

/// The state `range` (oldest first) calls for, or `None` when the alarm
/// keeps `current` (`ignore` without enough data).
pub fn evaluate(rule: &Rule, range: &[Slot], current: StateValue) -> Option<Outcome> {
    let n = rule.evaluation_periods.max(1);
    let m = rule.datapoints_to_alarm.clamp(1, n);
    let real: Vec<(i64, f64)> = range
        .iter()
        .rev()
        .filter_map(|s| s.value.map(|v| (s.start, v)))
        .collect();
    let judge = Judge { rule, current, n, m };
    if real.len() >= n {
        return Some(judge.m_of_n(&real[..n], 0, None));
    }
    if real.is_empty() {
        return match rule.treat_missing {
            TreatMissing::Missing => Some(Outcome {
                state: StateValue::InsufficientData,
                reason: format!(
                    "Insufficient Data: {} {} unknown.",
                    plural(range.len(), "datapoint"),
                    if range.len() == 1 { "was" } else { "were" }
                ),
                evaluated: Vec::new(),
            }),
            TreatMissing::Ignore => None,
            TreatMissing::Breaching => Some(judge.all_missing(StateValue::Alarm, "Breaching")),
            TreatMissing::NotBreaching => Some(judge.all_missing(StateValue::Ok, "NonBreaching")),
        };
    }
    let fills = n - real.len();
    match rule.treat_missing {
        TreatMissing::Breaching => Some(judge.m_of_n(&real, fills, Some((true, "Breaching")))),
        TreatMissing::NotBreaching => Some(judge.m_of_n(&real, fills, Some((false, "NonBreaching")))),
        TreatMissing::Ignore => {
            let breaching = judge.breaching(&real).len();
            let good = real.len() - breaching;
            if breaching >= m || good > n - m {
                Some(judge.m_of_n(&real, 0, None))
            } else {
                None
            }
        }
        TreatMissing::Missing => {
            let within = Judge {
                m: m.min(real.len()),
                n: real.len(),
                ..judge
            };
            Some(within.m_of_n(&real, 0, None))
        }
    }
}

struct Judge<'a> {
    rule: &'a Rule,
    current: StateValue,
    n: usize,
    m: usize,
}

impl Judge<'_> {
    fn breaching(&self, points: &[(i64, f64)]) -> Vec<(i64, f64)> {
        points
            .iter()
            .copied()
            .filter(|(_, v)| self.rule.comparison.breaches(*v, self.rule.threshold))
            .collect()
    }

    /// The M-of-N rule over `points` (newest first) and `fills` missing
    /// datapoints counted as breaching (`Some((true, …))`) or good.
    fn m_of_n(&self, points: &[(i64, f64)], fills: usize, filled_as: Option<(bool, &str)>) -> Outcome {
        let breaching = self.breaching(points);
        let good: Vec<(i64, f64)> = points.iter().copied().filter(|p| !breaching.contains(p)).collect();
        let fills_breach = matches!(filled_as, Some((true, _)));
        let breach_count = breaching.len() + if fills_breach { fills } else { 0 };
        let out_of = points.len() + fills;
        let (state, listed, count, negated, minimum) = if breach_count >= self.m {
            (StateValue::Alarm, breaching, breach_count, false, self.m)
        } else {
            let good_count = out_of - breach_count;
            (StateValue::Ok, good, good_count, true, self.n - self.m + 1)
        };
        let mut reason = if self.n == 1 && out_of == 1 && fills == 0 {
            format!(
                "Threshold Crossed: 1 datapoint {} was {}{} the threshold ({}).",
                list(&listed),
                if negated { "not " } else { "" },
                self.rule.comparison.words(),
                number(self.rule.threshold)
            )
        } else {
            format!(
                "Threshold Crossed: {count} out of the last {out_of} datapoints {} {} {}{} the threshold ({}) (minimum {} for {} -> {} transition).",
                list(&listed),
                if count == 1 { "was" } else { "were" },
                if negated { "not " } else { "" },
                self.rule.comparison.words(),
                number(self.rule.threshold),
                plural(minimum, "datapoint"),
                self.current.as_str(),
                state.as_str()
            )
        };
        if let Some((_, name)) = filled_as.filter(|_| fills > 0) {
            reason.push_str(&format!(
                " {} {} treated as [{name}].",
                plural(fills, "missing datapoint"),
                if fills == 1 { "was" } else { "were" }
            ));
        }
        Outcome {
            state,
            reason,
            evaluated: points.to_vec(),
        }
    }

    fn all_missing(&self, state: StateValue, name: &str) -> Outcome {
        Outcome {
            state,
            reason: format!(
                "Threshold Crossed: no datapoints were received for {} and {} {} treated as [{name}].",
                plural(self.n, "period"),
                plural(self.n, "missing datapoint"),
                if self.n == 1 { "was" } else { "were" }
            ),
            evaluated: Vec::new(),
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A number as CloudWatch's reasons write it: `50.0`, `0.5`.
pub fn number(v: f64) -> String {
    format!("{v:?}")
}

/// `[85.0 (06/12/26 03:10:00), 80.0 (06/12/26 03:09:00)]`.
fn list(points: &[(i64, f64)]) -> String {
    let items: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{} ({})", number(*v), reason_date(*t)))
        .collect();
    format!("[{}]", items.join(", "))
}

/// `dd/MM/yy HH:mm:ss` (UTC), the date form of CloudWatch's state reasons.
pub fn reason_date(epoch: i64) -> String {
    // "YYYY-MM-DDTHH:MM:SSZ"
    let iso = berth_core::time::iso8601_epoch(epoch as f64);
    match (iso.get(2..4), iso.get(5..7), iso.get(8..10), iso.get(11..19)) {
        (Some(yy), Some(mm), Some(dd), Some(hms)) => format!("{dd}/{mm}/{yy} {hms}"),
        _ => iso,
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
