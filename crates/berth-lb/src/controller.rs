//! The controller of a region's load balancers: it keeps the data plane
//! (`berth-lb-proxy`) equal to the ELBv2 records. Every change under
//! `elbv2/` (one store watch) loads the records, turns them into the
//! proxy's snapshot ([`Feed::config`], pure) and applies it; the
//! listeners that could not be served are remembered (their load balancer
//! is `failed`), the load balancers applied are `active`, the others
//! `provisioning`. Every write of the API reconciles at once and reads the
//! outcome ([`DataPlane::reconcile`]): a write that leaves a listener
//! unservable (a port already taken) is undone and refused instead of
//! stored. Draining entries whose deregistration
//! delay has passed are dropped from the records when it passes.

use crate::feed::Feed;
use crate::state::{self, State, now_ms};
use berth_lb_proxy::{MetricsSnapshot, Proxy, TargetHealthDescription};
use berth_store::Store;
use futures::{FutureExt, StreamExt};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A region's data plane and what its last apply served.
#[derive(Debug)]
pub struct DataPlane {
    proxy: Proxy,
    feed: Feed,
    status: Mutex<Status>,
    /// One reconcile at a time: a later load is never overwritten by an
    /// earlier one.
    reconciling: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Status {
    /// The load balancers in the last snapshot applied.
    applied: HashSet<String>,
    /// Listeners not served, with why.
    failed: HashMap<String, String>,
}

/// A load balancer's `State.Code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbState {
    Provisioning,
    Active,
    /// With why (`State.Reason`): the listeners not served.
    Failed(String),
}

impl LbState {
    pub fn code(&self) -> &'static str {
        match self {
            LbState::Provisioning => "provisioning",
            LbState::Active => "active",
            LbState::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            LbState::Failed(why) => Some(why),
            _ => None,
        }
    }
}

impl DataPlane {
    /// A data plane binding where `feed` says. Create it inside a Tokio runtime.
    pub fn new(feed: Feed) -> Arc<DataPlane> {
        Arc::new(DataPlane {
            proxy: Proxy::new(),
            feed,
            status: Mutex::new(Status::default()),
            reconciling: tokio::sync::Mutex::new(()),
        })
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the records and applies them; returns the state applied.
    pub async fn reconcile(&self, store: &dyn Store) -> Result<State, crate::errors::LbError> {
        let _one = self.reconciling.lock().await;
        let (records, _, _) = state::load(store).await?;
        let fed = self.feed.config(&records);
        let mut failed: HashMap<String, String> = fed.unserved.into_iter().collect();
        if let Err(e) = self.proxy.apply(&fed.config).await {
            for (arn, why) in e.0 {
                tracing::warn!(listener = %arn, error = %why, "a listener is not served");
                failed.insert(arn, why.to_string());
            }
        }
        let mut status = self.status();
        status.applied = records.lbs.keys().cloned().collect();
        status.failed = failed;
        drop(status);
        Ok(records)
    }

    /// The listeners not served, with why.
    pub fn failures(&self) -> HashMap<String, String> {
        self.status().failed.clone()
    }

    /// A load balancer's state: `provisioning` until a snapshot holding it
    /// is applied, `failed` while one of its listeners is not served.
    pub fn lb_state(&self, records: &State, lb_arn: &str) -> LbState {
        let status = self.status();
        if !status.applied.contains(lb_arn) {
            return LbState::Provisioning;
        }
        let failed: Vec<String> = records
            .listeners_of(lb_arn)
            .iter()
            .filter_map(|l| Some(format!("listener on port {}: {}", l.port, status.failed.get(&l.arn)?)))
            .collect();
        if failed.is_empty() {
            LbState::Active
        } else {
            LbState::Failed(failed.join("; "))
        }
    }

    /// The health of a target group's targets as its checks found them
    /// (none until the group is applied).
    pub fn target_health(&self, tg_arn: &str) -> Option<Vec<TargetHealthDescription>> {
        self.proxy.target_health(tg_arn)
    }

    /// The port a listener is bound to.
    pub fn bound_port(&self, listener_arn: &str) -> Option<u16> {
        self.proxy.bound_port(listener_arn)
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.proxy.metrics()
    }

    /// Runs the controller on a region's store: reconciles now, then after
    /// every change under `elbv2/`, and drops the draining entries whose
    /// delay has passed. Returns when the store closes.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            let from = match store.current_revision().await {
                Ok(rev) => rev,
                Err(berth_store::StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "ELBv2 controller: cannot read the store's revision");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut events = match store.watch(crate::records::PREFIX, from).await {
                Ok(w) => w,
                Err(berth_store::StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "ELBv2 controller: cannot watch the records");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut next_expiry = self.reconcile_logged(&*store).await;
            loop {
                let wait = next_expiry.map(|ms| Duration::from_millis(u64::try_from(ms - now_ms()).unwrap_or(0)));
                let event = match wait {
                    Some(wait) => tokio::time::timeout(wait, events.next()).await.ok(),
                    None => Some(events.next().await),
                };
                match event {
                    // The delay of a draining entry has passed.
                    None => {
                        let now = now_ms();
                        if let Err(e) = state::write(&*store, |st| {
                            drop_expired(st, now);
                            Ok(())
                        })
                        .await
                        {
                            tracing::warn!(error = %e, "ELBv2 controller: cannot drop expired draining entries");
                            // The store is failing: try again later, not at once.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        next_expiry = self.reconcile_logged(&*store).await;
                    }
                    Some(Some(Ok(_))) => {
                        // The keys of one write arrive together: one reconcile for them all.
                        let mut fell_behind = false;
                        loop {
                            match events.next().now_or_never() {
                                Some(Some(Ok(_))) => continue,
                                Some(Some(Err(_))) => fell_behind = true,
                                Some(None) => return,
                                None => {}
                            }
                            break;
                        }
                        if fell_behind {
                            break;
                        }
                        next_expiry = self.reconcile_logged(&*store).await;
                    }
                    Some(None) => return,
                    // Fell behind (compacted): watch again from now.
                    Some(Some(Err(_))) => break,
                }
            }
        }
    }

    async fn reconcile_logged(&self, store: &dyn Store) -> Option<i64> {
        match self.reconcile(store).await {
            Ok(records) => next_expiry(&records),
            Err(e) => {
                tracing::warn!(error = %e, "ELBv2 controller: cannot load the records");
                None
            }
        }
    }
}

/// When the first draining entry of the records expires (epoch ms).
pub fn next_expiry(records: &State) -> Option<i64> {
    records
        .tgs
        .values()
        .flat_map(|tg| tg.draining.iter().map(|d| d.until_ms))
        .min()
}

/// Drops the draining entries whose delay has passed by `now_ms`.
pub fn drop_expired(records: &mut State, now_ms: i64) {
    for tg in records.tgs.values_mut() {
        tg.draining.retain(|d| d.until_ms > now_ms);
    }
}
