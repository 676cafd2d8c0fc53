//! FARGATE_SPOT interruptions: which tasks can be interrupted, the notice
//! they get, and the chaos rate's draw. Pure: the server marks the tasks
//! (`berth-ecs` `spot.rs`), the agent gives them the notice.

use super::records::TaskRecord;
use crate::TaskStatus;

/// The capacity provider whose tasks can be interrupted.
pub const FARGATE_SPOT: &str = "FARGATE_SPOT";

/// The `stoppedReason` of an interrupted task, as ECS words it.
pub const SPOT_INTERRUPTION_REASON: &str = "Your Spot Task was interrupted.";

/// The notice an interrupted task gets between SIGTERM and SIGKILL, in
/// AWS seconds (two minutes; shorter under `--time-scale`).
pub const SPOT_NOTICE_SECS: u64 = 120;

/// Whether `t` runs on FARGATE_SPOT capacity and is not already stopping.
pub fn is_interruptible(t: &TaskRecord) -> bool {
    t.capacity_provider_name.as_deref() == Some(FARGATE_SPOT)
        && t.desired_status != TaskStatus::Stopped
        && t.last_status != TaskStatus::Stopped
}

/// The notice in whole seconds here, at `factor` times AWS's speed (at
/// least one second: SIGTERM always comes before SIGKILL).
pub fn spot_notice_secs(factor: u32) -> u64 {
    (SPOT_NOTICE_SECS / u64::from(factor.max(1))).max(1)
}

/// The chaos rate's draw: whether a task is interrupted in a tick of
/// `tick_secs`, at `per_hour` interruptions per task-hour, given a uniform
/// `u` in [0, 1). Interruptions are a Poisson process: the chance in a
/// tick is 1 - e^(-rate × tick).
pub fn chaos_interrupts(per_hour: f64, tick_secs: f64, u: f64) -> bool {
    if per_hour <= 0.0 || tick_secs <= 0.0 {
        return false;
    }
    let p = 1.0 - (-(per_hour * tick_secs / 3600.0)).exp();
    u < p
}

/// The chaos rate given on the command line: interruptions per task-hour,
/// a finite number from 0 (off) to 3600.
pub fn parse_interruption_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=3600.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "the FARGATE_SPOT interruption rate is interruptions per task-hour, a number from 0 (off) to 3600, got '{s}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_is_scaled_and_never_zero() {
        assert_eq!(spot_notice_secs(1), 120);
        assert_eq!(spot_notice_secs(60), 2);
        assert_eq!(spot_notice_secs(0), 120);
        assert_eq!(spot_notice_secs(1000), 1);
    }

    #[test]
    fn chaos_draw_follows_the_rate() {
        assert!(!chaos_interrupts(0.0, 1.0, 0.0));
        assert!(!chaos_interrupts(10.0, 0.0, 0.0));
        // 3600 per hour over one second: p = 1 - 1/e ~ 0.632.
        assert!(chaos_interrupts(3600.0, 1.0, 0.6));
        assert!(!chaos_interrupts(3600.0, 1.0, 0.7));
        // One per hour over one second: p ~ 0.000278.
        assert!(chaos_interrupts(1.0, 1.0, 0.0002));
        assert!(!chaos_interrupts(1.0, 1.0, 0.0003));
    }

    #[test]
    fn rate_flag() {
        assert_eq!(parse_interruption_rate("0"), Ok(0.0));
        assert_eq!(parse_interruption_rate("2.5"), Ok(2.5));
        assert!(parse_interruption_rate("-1").is_err());
        assert!(parse_interruption_rate("NaN").is_err());
        assert!(parse_interruption_rate("x").is_err());
        assert!(parse_interruption_rate("3601").is_err());
    }

    #[test]
    fn only_running_spot_tasks_are_interruptible() {
        let mut t: TaskRecord = serde_json::from_value(serde_json::json!({
            "taskArn": "arn:aws:ecs:r:1:task/c/t", "clusterArn": "arn:aws:ecs:r:1:cluster/c",
            "taskDefinitionArn": "arn:aws:ecs:r:1:task-definition/f:1",
            "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "cpu": "256", "memory": "512",
            "containers": [], "createdAt": 0.0, "group": "family:f", "launchType": "FARGATE",
            "version": 1, "healthStatus": "UNKNOWN", "capacityProviderName": "FARGATE_SPOT",
            "berth": {"cluster": "c", "id": "t"}
        }))
        .unwrap();
        assert!(is_interruptible(&t));
        t.desired_status = TaskStatus::Stopped.into();
        assert!(!is_interruptible(&t));
        t.desired_status = TaskStatus::Running.into();
        t.capacity_provider_name = Some("FARGATE".into());
        assert!(!is_interruptible(&t));
    }
}
