//! The capacity arithmetic of scaling, pure: what a target-tracking or a
//! step policy asks for, the min/max clamps, and whether the cooldowns,
//! the suspended state or a deployment let it act now.

use crate::records::{AdjustmentType, Cooldowns, StepScaling, Suspended};

/// Which way a scaling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
}

impl Direction {
    /// The direction from `current` to `wanted` (`None`: no change).
    pub fn between(current: i64, wanted: i64) -> Option<Self> {
        match wanted.cmp(&current) {
            std::cmp::Ordering::Greater => Some(Self::Out),
            std::cmp::Ordering::Less => Some(Self::In),
            std::cmp::Ordering::Equal => None,
        }
    }
}

/// What a target-tracking policy asks for when its high (`high`) or low
/// alarm fires with `metric` as the newest value: the count that brings the
/// metric back to `target`, `ceil(current × metric / target)` — scale-out
/// adds at least one, scale-in never goes below what keeps the metric
/// under the target. Without a value (an alarm set by hand), one step.
pub fn target_tracking(current: i64, metric: Option<f64>, target: f64, high: bool) -> i64 {
    let proportional = metric
        .filter(|m| m.is_finite() && *m >= 0.0 && target > 0.0)
        .map(|m| (current as f64 * m / target).ceil() as i64);
    if high {
        match proportional {
            Some(n) => n.max(current + 1),
            None => current + 1,
        }
    } else {
        match proportional {
            Some(n) => n.min(current),
            None => current - 1,
        }
    }
}

/// The step of `policy` whose interval holds `breach` (metric − threshold):
/// above the threshold the lower bound is inclusive and the upper
/// exclusive, below it the other way round (as AWS documents the bounds).
pub fn step_for(policy: &StepScaling, breach: f64) -> Option<i64> {
    policy
        .steps
        .iter()
        .find(|s| {
            if breach >= 0.0 {
                s.lower.is_none_or(|l| breach >= l) && s.upper.is_none_or(|u| breach < u)
            } else {
                s.lower.is_none_or(|l| breach > l) && s.upper.is_none_or(|u| breach <= u)
            }
        })
        .map(|s| s.adjustment)
}

/// The count a step adjustment asks for from `current`.
pub fn step_count(policy: &StepScaling, current: i64, adjustment: i64) -> i64 {
    match policy.adjustment_type {
        AdjustmentType::ChangeInCapacity => current + adjustment,
        AdjustmentType::ExactCapacity => adjustment,
        AdjustmentType::PercentChangeInCapacity => {
            let raw = current as f64 * adjustment as f64 / 100.0;
            // Between 0 and 1 (or -1): one; beyond: toward zero.
            let mut delta = if raw > 0.0 && raw < 1.0 {
                1
            } else if raw < 0.0 && raw > -1.0 {
                -1
            } else {
                raw.trunc() as i64
            };
            if let Some(m) = policy.min_adjustment_magnitude
                && delta != 0
                && delta.abs() < m
            {
                delta = m * delta.signum();
            }
            current + delta
        }
    }
}

/// `count` within `[min, max]`.
pub fn clamp(count: i64, min: i64, max: i64) -> i64 {
    count.max(min).min(max)
}

/// Why a scaling was not made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Suspended,
    Cooldown,
    /// Scale-in waits while the service deploys.
    Deploying,
}

/// Whether a dynamic scaling in `dir` may act at `now`: scale-out waits
/// for its own cooldown only (a scale-in cooldown does not hold it back);
/// scale-in waits for both and for a deployment in progress.
pub fn gate(dir: Direction, suspended: Suspended, cooldown: Cooldowns, deploying: bool, now: f64) -> Result<(), Held> {
    let cooling = |until: Option<f64>| until.is_some_and(|u| now < u);
    match dir {
        Direction::Out if suspended.scale_out => Err(Held::Suspended),
        Direction::Out if cooling(cooldown.out_until) => Err(Held::Cooldown),
        Direction::Out => Ok(()),
        Direction::In if suspended.scale_in => Err(Held::Suspended),
        Direction::In if cooling(cooldown.out_until) || cooling(cooldown.in_until) => Err(Held::Cooldown),
        Direction::In if deploying => Err(Held::Deploying),
        Direction::In => Ok(()),
    }
}

/// The cooldowns after a scaling in `dir` at `now` with a cooldown lasting
/// `secs` (already scaled): a scale-out ends a scale-in cooldown.
pub fn after(dir: Direction, now: f64, secs: f64, mut c: Cooldowns) -> Cooldowns {
    match dir {
        Direction::Out => {
            c.out_until = Some(now + secs);
            c.in_until = None;
        }
        Direction::In => c.in_until = Some(now + secs),
    }
    c
}

/// Why a count already at a bound was not changed (`NotScaledReason.Code`).
pub fn not_scaled_code(wanted: i64, current: i64, min: i64, max: i64) -> &'static str {
    if wanted >= max && current == max {
        "AlreadyAtMaxCapacity"
    } else if wanted <= min && current == min {
        "AlreadyAtMinCapacity"
    } else {
        "AlreadyAtDesiredCapacity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Step;

    #[test]
    fn target_tracking_is_proportional_and_conservative() {
        // 2 tasks at 100 % for a 50 % target: 4.
        assert_eq!(target_tracking(2, Some(100.0), 50.0, true), 4);
        // Just above: at least one more.
        assert_eq!(target_tracking(3, Some(50.5), 50.0, true), 4);
        // From zero tasks: one.
        assert_eq!(target_tracking(0, Some(0.0), 50.0, true), 1);
        // 4 tasks at 10 % for 50 %: ceil(0.8) = 1 keeps it under the target.
        assert_eq!(target_tracking(4, Some(10.0), 50.0, false), 1);
        // 4 at 40 %: ceil(3.2) = 4, nothing to remove.
        assert_eq!(target_tracking(4, Some(40.0), 50.0, false), 4);
        // Idle: as low as the clamps allow.
        assert_eq!(target_tracking(5, Some(0.0), 50.0, false), 0);
        // No value (SetAlarmState): one step.
        assert_eq!(target_tracking(3, None, 50.0, true), 4);
        assert_eq!(target_tracking(3, None, 50.0, false), 2);
    }

    fn steps(kind: AdjustmentType, steps: &[(Option<f64>, Option<f64>, i64)], mam: Option<i64>) -> StepScaling {
        StepScaling {
            adjustment_type: kind,
            steps: steps
                .iter()
                .map(|&(lower, upper, adjustment)| Step {
                    lower,
                    upper,
                    adjustment,
                })
                .collect(),
            min_adjustment_magnitude: mam,
            cooldown: None,
            aggregation: None,
        }
    }

    #[test]
    fn step_bounds_are_relative_to_the_threshold() {
        let up = steps(
            AdjustmentType::ChangeInCapacity,
            &[(Some(0.0), Some(10.0), 1), (Some(10.0), None, 3)],
            None,
        );
        assert_eq!(step_for(&up, 0.0), Some(1));
        assert_eq!(step_for(&up, 9.9), Some(1));
        assert_eq!(step_for(&up, 10.0), Some(3));
        assert_eq!(step_for(&up, -1.0), None);
        let down = steps(
            AdjustmentType::ChangeInCapacity,
            &[(Some(-10.0), Some(0.0), -1), (None, Some(-10.0), -2)],
            None,
        );
        assert_eq!(step_for(&down, -0.5), Some(-1));
        assert_eq!(step_for(&down, -10.0), Some(-2));
        assert_eq!(step_for(&down, -30.0), Some(-2));
    }

    #[test]
    fn adjustment_types() {
        let change = steps(AdjustmentType::ChangeInCapacity, &[], None);
        assert_eq!(step_count(&change, 3, 2), 5);
        let exact = steps(AdjustmentType::ExactCapacity, &[], None);
        assert_eq!(step_count(&exact, 3, 7), 7);
        let pct = steps(AdjustmentType::PercentChangeInCapacity, &[], None);
        assert_eq!(step_count(&pct, 10, 25), 12); // 2.5 → 2
        assert_eq!(step_count(&pct, 2, 25), 3); // 0.5 → 1
        assert_eq!(step_count(&pct, 2, -25), 1); // -0.5 → -1
        assert_eq!(step_count(&pct, 10, -25), 8); // -2.5 → -2
        let pct_min = steps(AdjustmentType::PercentChangeInCapacity, &[], Some(4));
        assert_eq!(step_count(&pct_min, 10, 25), 14);
        assert_eq!(clamp(14, 1, 10), 10);
        assert_eq!(clamp(-1, 1, 10), 1);
    }

    #[test]
    fn cooldowns_and_suspension() {
        let none = Suspended::default();
        let c = after(Direction::Out, 100.0, 10.0, Cooldowns::default());
        assert_eq!(gate(Direction::Out, none, c, false, 105.0), Err(Held::Cooldown));
        assert_eq!(gate(Direction::In, none, c, false, 105.0), Err(Held::Cooldown));
        assert_eq!(gate(Direction::Out, none, c, false, 110.0), Ok(()));
        // A scale-out during a scale-in cooldown acts at once, and ends it.
        let c = after(Direction::In, 100.0, 10.0, Cooldowns::default());
        assert_eq!(gate(Direction::In, none, c, false, 105.0), Err(Held::Cooldown));
        assert_eq!(gate(Direction::Out, none, c, false, 105.0), Ok(()));
        let c = after(Direction::Out, 105.0, 1.0, c);
        assert_eq!(c.in_until, None);
        // Scale-in waits for a deployment; suspension holds each direction.
        assert_eq!(
            gate(Direction::In, none, Cooldowns::default(), true, 0.0),
            Err(Held::Deploying)
        );
        let s = Suspended {
            scale_out: true,
            ..none
        };
        assert_eq!(
            gate(Direction::Out, s, Cooldowns::default(), false, 0.0),
            Err(Held::Suspended)
        );
        assert_eq!(gate(Direction::In, s, Cooldowns::default(), false, 0.0), Ok(()));
    }

    #[test]
    fn not_scaled_codes() {
        assert_eq!(not_scaled_code(9, 5, 1, 5), "AlreadyAtMaxCapacity");
        assert_eq!(not_scaled_code(0, 1, 1, 5), "AlreadyAtMinCapacity");
        assert_eq!(not_scaled_code(3, 3, 1, 5), "AlreadyAtDesiredCapacity");
    }
}
