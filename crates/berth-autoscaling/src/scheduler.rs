//! Runs scheduled actions: every second each target's actions are asked
//! when they run next ([`crate::schedule`]); one that is due (within its
//! StartTime and EndTime, scheduled scaling not suspended) sets the
//! target's min and/or max in one compare-and-swap that also records when
//! it ran (so a restart neither repeats nor loses it), then the service's
//! desired count is brought into the new range. Everything is in the
//! store: the loop only converges it. Once an hour it also deletes the
//! activities older than six weeks.

use crate::records::{ACTIVITY_RETENTION_SECS, ScheduledRecord, TargetRecord};
use crate::resource::{ECS, ServiceId};
use crate::{Autoscaling, schedule};

/// When `action` runs next after it last ran (or was created).
fn next_run(action: &ScheduledRecord, scale: impl Fn(i64) -> f64) -> Option<f64> {
    let parsed = schedule::parse(&action.schedule, action.timezone.as_deref()).ok()?;
    let anchor = action.start.unwrap_or(action.created);
    let after = action.last_run.unwrap_or(action.created.max(anchor));
    let next = parsed.next_after(after, anchor, scale)?;
    if action.end.is_some_and(|e| next > e) {
        return None;
    }
    Some(next)
}

/// The actions of `t` due at `now`.
fn due(t: &TargetRecord, now: f64, scale: impl Fn(i64) -> f64 + Copy) -> Vec<String> {
    t.scheduled
        .iter()
        .filter(|a| next_run(a, scale).is_some_and(|n| n <= now))
        .map(|a| a.name.clone())
        .collect()
}

/// The min and max after an action gives one or both (a bound given alone
/// that crosses the other carries it along).
fn new_range(t: &TargetRecord, a: &ScheduledRecord) -> (i64, i64) {
    match (a.min, a.max) {
        (Some(min), Some(max)) => (min, max),
        (Some(min), None) => (min, t.max.max(min)),
        (None, Some(max)) => (t.min.min(max), max),
        (None, None) => (t.min, t.max),
    }
}

impl Autoscaling {
    /// Runs the due scheduled actions every second, for as long as the runtime lives.
    pub fn spawn_scheduler(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                if let Err(e) = me.run_scheduled_actions().await {
                    tracing::warn!(region = me.scope.region, error = %e, "scheduled actions not run");
                }
                // Hourly: activities older than six weeks go, as in AWS.
                if ticks.is_multiple_of(3600)
                    && let Err(e) = me.prune_old_activities().await
                {
                    tracing::warn!(region = me.scope.region, error = %e, "old scaling activities not pruned");
                }
                ticks += 1;
            }
        });
    }

    /// Deletes the activities older than six weeks; answers how many.
    pub async fn prune_old_activities(&self) -> Result<usize, berth_proto::AwsError> {
        self.prune_activities(self.now() - ACTIVITY_RETENTION_SECS).await
    }

    /// Runs every scheduled action due now (one pass).
    pub async fn run_scheduled_actions(&self) -> Result<(), berth_proto::AwsError> {
        let now = self.now();
        let scale = |s: i64| self.scaled_secs(s);
        for t in self.targets(ECS).await? {
            if due(&t, now, scale).is_empty() {
                continue;
            }
            let mut ran: Vec<ScheduledRecord> = Vec::new();
            let written = self
                .update_target(&t.namespace, &t.dimension, &t.resource_id, |cur| {
                    ran.clear();
                    let Some(mut cur) = cur else { return Ok(None) };
                    for name in due(&cur, now, scale) {
                        let Some(i) = cur.scheduled.iter().position(|a| a.name == name) else {
                            continue;
                        };
                        cur.scheduled[i].last_run = Some(now);
                        if cur.suspended.scheduled {
                            continue;
                        }
                        let action = cur.scheduled[i].clone();
                        (cur.min, cur.max) = new_range(&cur, &action);
                        ran.push(action);
                    }
                    Ok(Some(cur))
                })
                .await?;
            let (Some(written), false) = (written, ran.is_empty()) else {
                continue;
            };
            for action in &ran {
                self.record_target_change(
                    &written,
                    format!(
                        "Setting min capacity to {} and max capacity to {}",
                        written.min, written.max
                    ),
                    format!("scheduled action name {} was triggered", action.name),
                )
                .await;
            }
            if let Some(id) = ServiceId::parse(&written.resource_id) {
                self.clamp_into_range(&written, &id).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(schedule: &str, created: f64) -> ScheduledRecord {
        ScheduledRecord {
            name: "a".into(),
            arn: "arn".into(),
            schedule: schedule.into(),
            timezone: None,
            start: None,
            end: None,
            min: Some(2),
            max: None,
            created,
            last_run: None,
        }
    }

    #[test]
    fn an_at_action_runs_once_and_a_rate_one_every_interval() {
        let real = |s: i64| s as f64;
        let mut at = action("at(2026-01-02T03:04:05)", 1_767_000_000.0);
        assert_eq!(next_run(&at, real), Some(1_767_323_045.0));
        at.last_run = Some(1_767_323_046.0);
        assert_eq!(next_run(&at, real), None);
        let mut rate = action("rate(1 minute)", 1000.0);
        assert_eq!(next_run(&rate, real), Some(1060.0));
        rate.last_run = Some(1061.0);
        assert_eq!(next_run(&rate, real), Some(1120.0));
        rate.end = Some(1100.0);
        assert_eq!(next_run(&rate, real), None);
        // Scaled thirty-fold: every 2 s.
        rate.end = None;
        assert_eq!(next_run(&rate, |s| s as f64 / 30.0), Some(1062.0));
    }

    #[test]
    fn a_bound_given_alone_carries_the_other() {
        let t = TargetRecord {
            id: "i".into(),
            arn: "a".into(),
            namespace: "ecs".into(),
            resource_id: "service/c/s".into(),
            dimension: crate::resource::DESIRED_COUNT.into(),
            min: 1,
            max: 3,
            role_arn: String::new(),
            created: 0.0,
            suspended: Default::default(),
            tags: Default::default(),
            policies: vec![],
            scheduled: vec![],
            cooldown: Default::default(),
        };
        let mut a = action("rate(1 minute)", 0.0);
        a.min = Some(5);
        assert_eq!(new_range(&t, &a), (5, 5));
        a.min = None;
        a.max = Some(0);
        assert_eq!(new_range(&t, &a), (0, 0));
        a.min = Some(2);
        a.max = Some(4);
        assert_eq!(new_range(&t, &a), (2, 4));
    }
}
