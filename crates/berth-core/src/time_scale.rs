//! The server's time scale (`--time-scale N`, `BERTH_TIME_SCALE`): AWS
//! counts alarm periods, evaluation intervals, cooldowns and bake times in
//! minutes; at scale N one of those "minutes" lasts 60/N seconds, so tests
//! assert the real M-of-N and cooldown logic in seconds. Off (1) by
//! default; at most 60 (one "minute" = one second, the finest the metric
//! store keeps). Wall-clock timestamps shown to clients stay real.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How many times faster than AWS the server counts its minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeScale(u32);

/// A factor outside 1–60.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeScaleError(pub String);

impl fmt::Display for TimeScaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the time scale must be a whole number from 1 (real time) to {} (one minute = one second), got '{}'",
            TimeScale::MAX,
            self.0
        )
    }
}

impl std::error::Error for TimeScaleError {}

impl TimeScale {
    /// Real time: what AWS does.
    pub const REAL: TimeScale = TimeScale(1);
    /// The fastest: one "minute" lasts one second.
    pub const MAX: u32 = 60;

    pub fn new(factor: u32) -> Result<Self, TimeScaleError> {
        if (1..=Self::MAX).contains(&factor) {
            Ok(Self(factor))
        } else {
            Err(TimeScaleError(factor.to_string()))
        }
    }

    pub fn factor(self) -> u32 {
        self.0
    }

    pub fn is_real(self) -> bool {
        self.0 == 1
    }

    /// How long `aws` (a duration as AWS counts it) lasts here.
    pub fn scale(self, aws: Duration) -> Duration {
        aws / self.0
    }

    /// How long `secs` seconds as AWS counts them last here.
    pub fn scale_secs(self, secs: u64) -> Duration {
        self.scale(Duration::from_secs(secs))
    }

    /// One AWS minute here.
    pub fn minute(self) -> Duration {
        self.scale_secs(60)
    }

    /// A period of `secs` AWS seconds in whole seconds here (rounded, at
    /// least one: the metric store's finest interval).
    pub fn period_secs(self, secs: i64) -> i64 {
        let n = i64::from(self.0);
        ((secs + n / 2) / n).max(1)
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        Self::REAL
    }
}

impl fmt::Display for TimeScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for TimeScale {
    type Err = TimeScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u32>()
            .map_err(|_| TimeScaleError(s.to_string()))
            .and_then(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_is_the_default_and_changes_nothing() {
        let real = TimeScale::default();
        assert!(real.is_real());
        assert_eq!(real.minute(), Duration::from_secs(60));
        assert_eq!(real.scale_secs(300), Duration::from_secs(300));
        assert_eq!(real.period_secs(300), 300);
    }

    #[test]
    fn a_scale_shortens_minutes_periods_and_cooldowns() {
        let fast: TimeScale = "60".parse().unwrap();
        assert_eq!(fast.minute(), Duration::from_secs(1));
        assert_eq!(fast.scale_secs(300), Duration::from_secs(5));
        assert_eq!(fast.period_secs(60), 1);
        assert_eq!(fast.period_secs(10), 1, "never under a second");
        let twelve = TimeScale::new(12).unwrap();
        assert_eq!(twelve.minute(), Duration::from_secs(5));
        assert_eq!(twelve.period_secs(300), 25);
        assert_eq!(TimeScale::new(7).unwrap().minute().as_millis(), 8571);
    }

    #[test]
    fn factors_outside_one_to_sixty_are_refused() {
        for bad in ["0", "61", "-1", "1.5", "fast", ""] {
            let e = bad.parse::<TimeScale>().unwrap_err();
            assert!(e.to_string().contains("from 1 (real time) to 60"), "{bad}: {e}");
        }
    }
}
