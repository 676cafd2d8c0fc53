//! The delivery worker: it takes the outbox's deliveries in order, hands
//! each to its target through [`Deliver`], and removes it once taken. A
//! failed attempt is retried with a growing pause (1 s doubling to 5 min);
//! after 24 hours (EventBridge's default maximum event age) the delivery is
//! dropped with a warning. At least once: a delivery taken just before a
//! crash, before its removal, is made again after the restart.

use crate::records::{Delivery, OUTBOX};
use crate::{Events, store_error};
use async_trait::async_trait;
use berth_store::typed;
use std::time::Duration;

/// How a target takes one event: the binary's implementation writes into
/// CloudWatch Logs (the log group of the target ARN, a log stream named
/// after the event id).
#[async_trait]
pub trait Deliver: Send + Sync + 'static {
    /// Puts `d.message` at its target; `Err` (a reason) to retry later.
    async fn deliver(&self, d: &Delivery) -> Result<(), String>;
}

/// EventBridge keeps retrying an event for 24 hours by default.
pub const MAX_AGE_MS: i64 = 24 * 3600 * 1000;

/// The pause after `attempts` failed attempts (pure).
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs((1u64 << attempts.min(9)).min(300))
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Events {
    /// Runs the delivery worker until the runtime stops.
    pub fn spawn_delivery(&self) -> tokio::task::JoinHandle<()> {
        let events = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = match events.deliver_due().await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::warn!(error = %e.message, "EventBridge delivery pass failed");
                        Some(Duration::from_secs(1))
                    }
                };
                let pause = wait.unwrap_or(Duration::from_secs(60));
                let _ = tokio::time::timeout(pause, events.wake.notified()).await;
            }
        })
    }

    /// Makes every delivery that is due; returns how long until the next
    /// one is (None: the outbox is empty).
    pub async fn deliver_due(&self) -> Result<Option<Duration>, berth_proto::AwsError> {
        let kvs = self.store.range(OUTBOX, None, None).await.map_err(store_error)?;
        let mut next: Option<i64> = None;
        for kv in kvs {
            let mut d: Delivery = match typed::decode(&kv) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "dropping an unreadable EventBridge delivery");
                    let _ = self.store.delete(&kv.key).await;
                    continue;
                }
            };
            let now = now_ms();
            if d.next_ms > now {
                next = Some(next.map_or(d.next_ms, |n| n.min(d.next_ms)));
                continue;
            }
            match self.deliver.deliver(&d).await {
                Ok(()) => {
                    self.store.delete(&kv.key).await.map_err(store_error)?;
                }
                Err(why) if now - d.time_ms > MAX_AGE_MS => {
                    tracing::warn!(event = %d.event_id, target = %d.target_arn, reason = %why,
                        "EventBridge dropped an event its target did not take within 24 hours");
                    self.store.delete(&kv.key).await.map_err(store_error)?;
                }
                Err(why) => {
                    d.attempts += 1;
                    d.next_ms = now + backoff(d.attempts).as_millis() as i64;
                    tracing::info!(event = %d.event_id, target = %d.target_arn, reason = %why,
                        attempts = d.attempts, "EventBridge delivery failed; retrying");
                    next = Some(next.map_or(d.next_ms, |n| n.min(d.next_ms)));
                    let value = typed::encode(&d).map_err(store_error)?;
                    self.store.put(&kv.key, value).await.map_err(store_error)?;
                }
            }
        }
        Ok(next.map(|n| Duration::from_millis((n - now_ms()).max(0) as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_five_minutes() {
        let secs: Vec<u64> = (0..12).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }
}
