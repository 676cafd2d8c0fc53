//! The delivery worker: it takes the outbox's deliveries in order, hands
//! each to its target through [`Deliver`] (a log group's write, or the HTTP
//! call of an API destination built by [`crate::http_target`], paced to the
//! destination's rate limit), and removes it once taken. A failed attempt
//! EventBridge retries is retried with a growing pause (1 s doubling to
//! 5 min) as long as the target's retry policy allows (by default 185
//! retries within 24 hours); a failure it does not retry (an HTTP 4xx other
//! than 401, 407, 409, 429) and one past the policy are dropped with a
//! warning. At least once: a delivery taken just before a crash, before its
//! removal, is made again after the restart.

use crate::http_target::{Answer, HttpCall, Outcome, build_call, classify, may_retry};
use crate::records::{ConnectionState, Delivery, OUTBOX};
use crate::targets::{TargetKind, target_kind};
use crate::{Events, store_error};
use async_trait::async_trait;
use berth_store::typed;
use std::time::Duration;

/// How a target takes one event: the binary's implementation writes into
/// CloudWatch Logs (the log group of the target ARN, a log stream named
/// after the event id) and makes HTTP calls.
#[async_trait]
pub trait Deliver: Send + Sync + 'static {
    /// Puts `d.message` in its log group; `Err` (a reason) to retry later.
    async fn deliver(&self, d: &Delivery) -> Result<(), String>;
    /// Makes one HTTP call within [`crate::http_target::TIMEOUT`], following
    /// no redirect: the answer's status, or why there was none.
    async fn call(&self, call: &HttpCall) -> Answer;
}

/// The pause after `attempts` failed attempts (pure).
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs((1u64 << attempts.min(9)).min(300))
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// One attempt: its outcome, or the time the destination's pace allows it.
enum Attempt {
    Done(Outcome),
    NotBefore(i64),
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
            let outcome = match self.attempt(&d, now).await {
                Attempt::Done(o) => o,
                Attempt::NotBefore(at) => {
                    next = Some(next.map_or(at, |n| n.min(at)));
                    continue;
                }
            };
            match outcome {
                Outcome::Delivered => {
                    self.store.delete(&kv.key).await.map_err(store_error)?;
                }
                Outcome::Drop(why) => {
                    tracing::warn!(event = %d.event_id, target = %d.target_arn, reason = %why,
                        "EventBridge dropped an event its target refused");
                    self.store.delete(&kv.key).await.map_err(store_error)?;
                }
                Outcome::Retry(why) => {
                    d.attempts += 1;
                    if !may_retry(&d.retry, d.attempts, d.age_ms(now)) {
                        tracing::warn!(event = %d.event_id, target = %d.target_arn, reason = %why,
                            attempts = d.attempts, "EventBridge dropped an event: its retry policy is used up");
                        self.store.delete(&kv.key).await.map_err(store_error)?;
                        continue;
                    }
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

    async fn attempt(&self, d: &Delivery, now: i64) -> Attempt {
        match target_kind(&d.target_arn, &self.scope.region, &self.scope.account) {
            Some(TargetKind::ApiDestination(name)) => self.call_destination(d, name, now).await,
            _ => Attempt::Done(match self.deliver.deliver(d).await {
                Ok(()) => Outcome::Delivered,
                Err(why) => Outcome::Retry(why),
            }),
        }
    }

    /// One call of an API destination, with its connection as it is now.
    async fn call_destination(&self, d: &Delivery, name: &str, now: i64) -> Attempt {
        let gone = |what: &str| Attempt::Done(Outcome::Drop(format!("the {what} no longer exists")));
        let dest = match self.get_destination(name).await {
            Ok((dest, _)) if dest.arn == d.target_arn => dest,
            Ok(_) => return gone("API destination"),
            Err(e) if e.code == "ResourceNotFoundException" => return gone("API destination"),
            Err(e) => return Attempt::Done(Outcome::Retry(e.message)),
        };
        let conn_name =
            crate::connections::connection_name_of(&dest.connection_arn, &self.scope.region, &self.scope.account);
        let conn = match conn_name {
            None => return gone("connection"),
            Some(n) => match self.get_connection(n).await {
                Ok((c, _)) if c.arn == dest.connection_arn => c,
                Ok(_) => return gone("connection"),
                Err(e) if e.code == "ResourceNotFoundException" => return gone("connection"),
                Err(e) => return Attempt::Done(Outcome::Retry(e.message)),
            },
        };
        if conn.state != ConnectionState::Authorized {
            return Attempt::Done(Outcome::Retry(format!("the connection {} is deauthorized", conn.name)));
        }
        let secrets = match self.connection_secrets(&conn).await {
            Ok(s) => s,
            Err(e) => return Attempt::Done(Outcome::Retry(format!("the connection's secret: {}", e.message))),
        };
        let call = match build_call(&dest, &conn, &secrets, d.http.as_ref(), &d.message) {
            Ok(c) => c,
            Err(why) => return Attempt::Done(Outcome::Drop(why)),
        };
        let paced = self
            .pacer
            .lock()
            .map(|mut p| p.take(&dest.arn, dest.rate_per_second, now))
            .unwrap_or(Ok(()));
        if let Err(at) = paced {
            return Attempt::NotBefore(at);
        }
        Attempt::Done(classify(self.deliver.call(&call).await))
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
