//! The arithmetic of ECS deployments that shift production traffic between
//! two target groups (pure: no IO, no clock): the strategy of a
//! `deploymentConfiguration` (BLUE_GREEN, CANARY or LINEAR, with AWS's
//! defaults and ranges) and its schedule of production weights.
//!
//! The service controller follows this schedule (`service_shift.rs` of
//! `berth-ecs`, through `service::advance_shift`).
//!
//! Shares are counted in tenths of a percent (AWS's canary and linear
//! percentages are multiples of 0.1), so the schedule is exact. ELBv2
//! forward weights are integers from 0 to 999: a share of `t` tenths is
//! weights `(1000 − t, t)` for blue and green, and the two ends are `(1, 0)`
//! and `(0, 1)`.

use serde_json::Value;

/// The longest bake AWS accepts: 24 hours.
pub const MAX_BAKE_MINUTES: u32 = 1440;
/// All of the traffic, in tenths of a percent.
pub const ALL: u32 = 1000;

/// How production traffic moves to the new (green) service revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftStrategy {
    /// All at once.
    BlueGreen,
    /// `percent` (tenths) first, the rest after `bake_minutes`.
    Canary { percent: u32, bake_minutes: u32 },
    /// `step` (tenths) at a time, `bake_minutes` between steps.
    Linear { step: u32, bake_minutes: u32 },
}

/// One step of the production traffic shift: green's share after it, and
/// how long to wait before the next step (none after the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftStep {
    /// Green's share of production traffic, in tenths of a percent.
    pub green: u32,
    pub bake_minutes: u32,
}

/// A percentage as tenths, if it is a multiple of 0.1 within `lo..=hi`
/// tenths.
fn tenths(p: f64, lo: u32, hi: u32) -> Option<u32> {
    let t = (p * 10.0).round();
    ((p * 10.0 - t).abs() < 1e-6 && t >= f64::from(lo) && t <= f64::from(hi)).then_some(t as u32)
}

fn minutes(v: &Value, what: &str, default: u32) -> Result<u32, String> {
    match v {
        Value::Null => Ok(default),
        v => v
            .as_i64()
            .filter(|m| (0..=i64::from(MAX_BAKE_MINUTES)).contains(m))
            .map(|m| m as u32)
            .ok_or_else(|| format!("{what} must be a whole number of minutes from 0 to {MAX_BAKE_MINUTES}.")),
    }
}

fn percent(v: &Value, what: &str, default: u32, lo: u32) -> Result<u32, String> {
    match v {
        Value::Null => Ok(default),
        v => v.as_f64().and_then(|p| tenths(p, lo, ALL)).ok_or_else(|| {
            format!(
                "{what} must be a multiple of 0.1 from {}.{} to 100.0.",
                lo / 10,
                lo % 10
            )
        }),
    }
}

impl ShiftStrategy {
    /// The strategy of a `deploymentConfiguration.strategy` other than
    /// ROLLING with its `canaryConfiguration`/`linearConfiguration` (AWS's
    /// defaults: canary 5 % baked 10 minutes, linear steps of 10 % baked 6
    /// minutes). The error says which member is wrong.
    pub fn parse(strategy: &str, canary: Option<&Value>, linear: Option<&Value>) -> Result<Self, String> {
        let null = Value::Null;
        match strategy {
            "BLUE_GREEN" | "CANARY" | "LINEAR" => {}
            s => return Err(format!("{s} is not a strategy that shifts traffic.")),
        }
        if canary.is_some() && strategy != "CANARY" {
            return Err("canaryConfiguration is only valid with the CANARY deployment strategy.".into());
        }
        if linear.is_some() && strategy != "LINEAR" {
            return Err("linearConfiguration is only valid with the LINEAR deployment strategy.".into());
        }
        Ok(match strategy {
            "CANARY" => {
                let c = canary.unwrap_or(&null);
                ShiftStrategy::Canary {
                    percent: percent(&c["canaryPercent"], "canaryConfiguration.canaryPercent", 50, 1)?,
                    bake_minutes: minutes(
                        &c["canaryBakeTimeInMinutes"],
                        "canaryConfiguration.canaryBakeTimeInMinutes",
                        10,
                    )?,
                }
            }
            "LINEAR" => {
                let l = linear.unwrap_or(&null);
                ShiftStrategy::Linear {
                    step: percent(&l["stepPercent"], "linearConfiguration.stepPercent", 100, 30)?,
                    bake_minutes: minutes(
                        &l["stepBakeTimeInMinutes"],
                        "linearConfiguration.stepBakeTimeInMinutes",
                        6,
                    )?,
                }
            }
            _ => ShiftStrategy::BlueGreen,
        })
    }

    /// The production shift, step by step; the last step is all green.
    pub fn schedule(self) -> Vec<ShiftStep> {
        let last = ShiftStep {
            green: ALL,
            bake_minutes: 0,
        };
        match self {
            ShiftStrategy::BlueGreen => vec![last],
            ShiftStrategy::Canary { percent, .. } if percent >= ALL => vec![last],
            ShiftStrategy::Canary { percent, bake_minutes } => vec![
                ShiftStep {
                    green: percent,
                    bake_minutes,
                },
                last,
            ],
            ShiftStrategy::Linear { step, bake_minutes } => {
                let mut out: Vec<ShiftStep> = (1..)
                    .map(|i| step.saturating_mul(i))
                    .take_while(|g| *g < ALL)
                    .map(|green| ShiftStep { green, bake_minutes })
                    .collect();
                out.push(last);
                out
            }
        }
    }
}

/// The production rule's forward weights (blue, green) for green's share.
pub fn weights(green: u32) -> (u32, u32) {
    match green {
        0 => (1, 0),
        g if g >= ALL => (0, 1),
        g => (ALL - g, g),
    }
}

/// Green's share of traffic the weights (blue, green) give, in tenths.
pub fn share(blue: u32, green: u32) -> u32 {
    match blue + green {
        0 => 0,
        total => ((u64::from(green) * u64::from(ALL) + u64::from(total) / 2) / u64::from(total)) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn defaults_are_aws_defaults() {
        assert_eq!(
            ShiftStrategy::parse("BLUE_GREEN", None, None),
            Ok(ShiftStrategy::BlueGreen)
        );
        assert_eq!(
            ShiftStrategy::parse("CANARY", None, None),
            Ok(ShiftStrategy::Canary {
                percent: 50,
                bake_minutes: 10
            })
        );
        assert_eq!(
            ShiftStrategy::parse("LINEAR", None, Some(&json!({}))),
            Ok(ShiftStrategy::Linear {
                step: 100,
                bake_minutes: 6
            })
        );
    }

    #[test]
    fn ranges_and_members_are_checked() {
        let canary = |v: Value| ShiftStrategy::parse("CANARY", Some(&v), None);
        let linear = |v: Value| ShiftStrategy::parse("LINEAR", None, Some(&v));
        assert_eq!(
            canary(json!({"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1})),
            Ok(ShiftStrategy::Canary {
                percent: 100,
                bake_minutes: 1
            })
        );
        assert_eq!(
            canary(json!({"canaryPercent": 0.3})).map(|s| s.schedule()[0].green),
            Ok(3)
        );
        for bad in [
            json!({"canaryPercent": 0.0}),
            json!({"canaryPercent": 100.1}),
            json!({"canaryPercent": 5.05}),
        ] {
            assert!(
                canary(bad)
                    .unwrap_err()
                    .contains("canaryPercent must be a multiple of 0.1 from 0.1")
            );
        }
        assert!(
            canary(json!({"canaryBakeTimeInMinutes": 1441}))
                .unwrap_err()
                .contains("0 to 1440")
        );
        assert!(
            linear(json!({"stepPercent": 2.9}))
                .unwrap_err()
                .contains("from 3.0 to 100.0")
        );
        assert!(linear(json!({"stepBakeTimeInMinutes": -1})).is_err());
        assert!(
            ShiftStrategy::parse("BLUE_GREEN", Some(&json!({})), None)
                .unwrap_err()
                .contains("CANARY")
        );
        assert!(
            ShiftStrategy::parse("CANARY", None, Some(&json!({})))
                .unwrap_err()
                .contains("LINEAR")
        );
        assert!(ShiftStrategy::parse("ROLLING", None, None).is_err());
    }

    #[test]
    fn schedules() {
        let g = |s: ShiftStrategy| {
            s.schedule()
                .iter()
                .map(|x| (x.green, x.bake_minutes))
                .collect::<Vec<_>>()
        };
        assert_eq!(g(ShiftStrategy::BlueGreen), vec![(1000, 0)]);
        assert_eq!(
            g(ShiftStrategy::Canary {
                percent: 100,
                bake_minutes: 3
            }),
            vec![(100, 3), (1000, 0)]
        );
        assert_eq!(
            g(ShiftStrategy::Linear {
                step: 250,
                bake_minutes: 2
            }),
            vec![(250, 2), (500, 2), (750, 2), (1000, 0)]
        );
        assert_eq!(
            g(ShiftStrategy::Linear {
                step: 300,
                bake_minutes: 1
            }),
            vec![(300, 1), (600, 1), (900, 1), (1000, 0)]
        );
        assert_eq!(weights(0), (1, 0));
        assert_eq!(weights(100), (900, 100));
        assert_eq!(weights(1000), (0, 1));
    }

    fn strategy() -> impl Strategy<Value = ShiftStrategy> {
        prop_oneof![
            Just(ShiftStrategy::BlueGreen),
            (1u32..=1000, 0u32..=1440)
                .prop_map(|(percent, bake_minutes)| ShiftStrategy::Canary { percent, bake_minutes }),
            (30u32..=1000, 0u32..=1440).prop_map(|(step, bake_minutes)| ShiftStrategy::Linear { step, bake_minutes }),
        ]
    }

    proptest! {
        /// Every schedule rises strictly, ends all green with no bake after
        /// it, and its weights are valid ELBv2 weights giving that share.
        #[test]
        fn schedules_rise_to_all_green(s in strategy()) {
            let steps = s.schedule();
            prop_assert_eq!(steps.last().copied(), Some(ShiftStep { green: ALL, bake_minutes: 0 }));
            for w in steps.windows(2) {
                prop_assert!(w[0].green < w[1].green);
            }
            for st in &steps {
                let (b, g) = weights(st.green);
                prop_assert!(b <= 999 && g <= 999 && b + g > 0);
                prop_assert_eq!(share(b, g), st.green);
            }
            prop_assert!(steps.len() <= 34);
        }
    }
}
