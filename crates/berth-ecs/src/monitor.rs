//! The agent-loss monitor: a background loop that keeps `agentConnected`
//! true to what this process sees (streams, heartbeats), and stops the tasks
//! of an instance whose agent stayed away longer than the grace period. It
//! also forgets STOPPED tasks after a retention period (as ECS does) and
//! expired RunTask client tokens.
//!
//! Every pass works from the store (the disconnect time is stored on the
//! instance), so it is idempotent and a restarted server carries on where
//! the previous one stopped.

use crate::instances::InstanceRecord;
use crate::tasks::{TaskRecord, TokenRecord};
use crate::{Ecs, keys};
use berth_core::time::now_epoch;
use berth_ecs_model::ClusterRecord;
use berth_ecs_model::{TaskStatus, TaskStopCode};
use berth_proto::AwsError;
use berth_store::{Compare, Op, StoreError, typed};
use std::collections::HashSet;
use std::time::Duration;

/// The reason given to tasks stopped because their agent went away.
pub const AGENT_LOST_REASON: &str =
    "Task stopped because the container instance agent was disconnected for longer than the grace period.";

/// Settings of the background controllers.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How long an agent may stay disconnected before its tasks are STOPPED.
    pub agent_grace_period: Duration,
    /// An agent with no heartbeat for this long is disconnected (3 × the
    /// agent's 10 s heartbeat interval).
    pub heartbeat_timeout: Duration,
    /// How often the monitor looks.
    pub interval: Duration,
    /// How long STOPPED tasks stay visible.
    pub stopped_task_retention: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            agent_grace_period: Duration::from_secs(60),
            heartbeat_timeout: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            stopped_task_retention: Duration::from_secs(3600),
        }
    }
}

impl ControllerConfig {
    /// The defaults with another grace period (the monitor then looks at
    /// least four times per grace period).
    pub fn with_grace_period(grace: Duration) -> Self {
        let d = Self::default();
        Self {
            agent_grace_period: grace,
            interval: d.interval.min(grace / 4).max(Duration::from_millis(10)),
            ..d
        }
    }
}

/// Starts the controllers (the agent-loss monitor and the service controller
/// with its defaults) on the current Tokio runtime. They stop when the store
/// closes or the handle is aborted.
pub fn spawn_controllers(ecs: &Ecs, cfg: ControllerConfig) -> tokio::task::JoinHandle<()> {
    ecs.agents.configure(cfg.heartbeat_timeout, cfg.agent_grace_period);
    let ecs = ecs.clone();
    tokio::spawn(async move {
        // EC2's default subnets of the zones instances registered in before.
        if let Err(e) = ecs.sync_registered_zones().await {
            tracing::warn!(error = %e.message, "could not sync the instances' zones to EC2");
        }
        let services = ecs.run_service_controller(crate::ServiceControllerConfig::default());
        let monitor = async {
            loop {
                match ecs.monitor_pass(&cfg).await {
                    Ok(()) => {}
                    Err(MonitorError::Closed) => {
                        tracing::debug!("store closed: agent monitor stops");
                        return;
                    }
                    Err(MonitorError::Other(e)) => tracing::warn!(error = %e, "agent monitor pass failed"),
                }
                tokio::time::sleep(cfg.interval).await;
            }
        };
        tokio::join!(monitor, services);
    })
}

enum MonitorError {
    Closed,
    Other(String),
}

impl From<StoreError> for MonitorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => MonitorError::Closed,
            e => MonitorError::Other(e.to_string()),
        }
    }
}

impl From<AwsError> for MonitorError {
    /// The log gets the inner cause of a store failure (AwsError::state_store).
    fn from(e: AwsError) -> Self {
        MonitorError::Other(match &e.cause {
            Some(cause) => format!("{e} ({cause})"),
            None => e.to_string(),
        })
    }
}

impl Ecs {
    async fn monitor_pass(&self, cfg: &ControllerConfig) -> Result<(), MonitorError> {
        let clusters: Vec<ClusterRecord> = typed::list(&*self.store, keys::CLUSTERS).await?;
        // The lost instances of every cluster first: a shared Fargate host
        // of one cluster carries tasks of the others, and takes them with
        // it when its agent is lost.
        let mut lost = HashSet::new();
        for c in &clusters {
            self.monitor_instances(&c.cluster_name, cfg, &mut lost).await?;
        }
        for c in &clusters {
            self.monitor_tasks(&c.cluster_name, cfg, &lost).await?;
        }
        self.expire_client_tokens().await?;
        Ok(())
    }

    /// Keeps the instances' `agentConnected` true and adds to `lost` the
    /// ARNs of those whose agent stayed away past the grace period.
    async fn monitor_instances(
        &self,
        cluster: &str,
        cfg: &ControllerConfig,
        lost: &mut HashSet<String>,
    ) -> Result<(), MonitorError> {
        let instances = self.synced_view().await?.state(cluster).instances;
        for (inst, _) in instances.iter().filter(|(i, _)| i.is_registered()) {
            let id = &inst.berth.id;
            let live = self.agents.is_live(cluster, id);
            if live != inst.agent_connected || live != inst.berth.disconnected_at.is_none() {
                self.sync_connection(cluster, id).await?;
            }
            if live {
                continue;
            }
            // Read the disconnect time as stored now (sync may have set it).
            let Some((fresh, _)) = typed::get::<InstanceRecord>(&*self.store, &keys::instance(cluster, id)).await?
            else {
                continue;
            };
            if let Some(since) = fresh.berth.disconnected_at
                && now_epoch() - since >= cfg.agent_grace_period.as_secs_f64()
            {
                lost.insert(fresh.container_instance_arn.clone());
            }
        }
        Ok(())
    }

    /// Stops the tasks of a cluster placed on a lost instance (its own or
    /// a shared Fargate host) and forgets STOPPED tasks past retention.
    async fn monitor_tasks(
        &self,
        cluster: &str,
        cfg: &ControllerConfig,
        lost: &HashSet<String>,
    ) -> Result<(), MonitorError> {
        // One snapshot: the tasks are re-read under compare-and-swap when
        // one is stopped.
        let tasks = self.synced_view().await?.tasks(cluster);
        let now = now_epoch();
        for t in &tasks {
            let on_lost = t.container_instance_arn.as_ref().is_some_and(|a| lost.contains(a));
            if on_lost && t.last_status != TaskStatus::Stopped {
                let stopped = self
                    .modify_task(cluster, &t.berth.id, |t| {
                        if t.last_status == TaskStatus::Stopped {
                            return Ok(false);
                        }
                        let code = if t.started_at.is_some() {
                            TaskStopCode::TerminationNotice
                        } else {
                            TaskStopCode::TaskFailedToStart
                        };
                        t.mark_stopped(now_epoch(), code, AGENT_LOST_REASON);
                        Ok(true)
                    })
                    .await?;
                if let Some(s) = stopped {
                    tracing::warn!(task = %s.task_arn, "task stopped: its agent was disconnected past the grace period");
                }
            } else if t.last_status == TaskStatus::Stopped
                && !t.wanted_by_agent()
                && t.stopped_at
                    .is_some_and(|s| now - s >= cfg.stopped_task_retention.as_secs_f64())
            {
                self.forget_task(cluster, &t.berth.id).await?;
            }
        }
        Ok(())
    }

    /// Deletes a STOPPED task record whose retention has passed.
    async fn forget_task(&self, cluster: &str, id: &str) -> Result<(), MonitorError> {
        let key = keys::task(cluster, id);
        if let Some((t, rev)) = typed::get::<TaskRecord>(&*self.store, &key).await?
            && t.last_status == TaskStatus::Stopped
            && !t.berth.reserved
        {
            self.store
                .txn(vec![Compare::ModRevision(key.clone(), rev)], vec![Op::Delete(key)])
                .await?;
        }
        Ok(())
    }

    async fn expire_client_tokens(&self) -> Result<(), MonitorError> {
        let now = now_epoch();
        for kv in self.store.range(keys::CLIENT_TOKENS, None, None).await? {
            let Ok(token) = serde_json::from_slice::<TokenRecord>(&kv.value) else {
                continue;
            };
            if !token.live_at(now) {
                self.store
                    .txn(
                        vec![Compare::ModRevision(kv.key.clone(), kv.mod_revision)],
                        vec![Op::Delete(kv.key)],
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
