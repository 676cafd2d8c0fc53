//! The CloudWatch Logs API (awsJson 1.1, target `Logs_20140328`, signing
//! name `logs`): log groups and streams, PutLogEvents with the batch rules,
//! GetLogEvents with forward/backward tokens, FilterLogEvents with filter
//! patterns, retention (applied by a background sweep) and tags.
//!
//! Events live in their own SQLite database (see [`db`]); the agent ships
//! container output through PutLogEvents like any other client.

pub mod authz;
pub mod db;
mod handlers;
mod inputs;
pub mod pattern;
mod routes;
pub mod rules;

use async_trait::async_trait;
use berth_proto::{AwsError, JsonServiceInfo, RequestContext};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const TARGET_PREFIX: &str = "Logs_20140328";

/// The CloudWatch Logs service. Cheap to clone.
#[derive(Clone)]
pub struct Logs {
    pub(crate) db: Arc<db::Db>,
    pub(crate) region: String,
    pub(crate) account_id: String,
}

impl Logs {
    /// Opens (creating if needed) `dir/events.db`.
    pub fn open(dir: &Path, region: &str, account_id: &str) -> Result<Self, db::DbError> {
        Ok(Self {
            db: Arc::new(db::Db::open(dir)?),
            region: region.to_string(),
            account_id: account_id.to_string(),
        })
    }

    /// Deletes events older than their group's retention now; returns how many.
    pub async fn sweep_expired(&self) -> Result<u64, AwsError> {
        let now = now_ms();
        self.blocking(move |db| db.sweep_expired(now)).await
    }

    /// Runs [`Logs::sweep_expired`] every `every` until the runtime stops.
    pub fn spawn_retention_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let logs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match logs.sweep_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "log retention: expired events deleted"),
                    Err(e) => tracing::warn!(error = %e, "log retention sweep failed"),
                }
            }
        })
    }

    /// Runs a blocking database call off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&db::Db) -> db::Result<T> + Send + 'static,
    ) -> Result<T, AwsError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "log store failure");
                Err(AwsError::service_unavailable(
                    "An internal error occurred while accessing the log store. Try again.",
                ))
            }
            Err(e) => Err(AwsError::service_unavailable(format!("log store task failed: {e}"))),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl JsonServiceInfo for Logs {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "logs"
    }

    /// The tags of the log group the ARN names (one indexed read).
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        let Some(name) = authz::group_of_arn(arn).map(str::to_string) else {
            return Vec::new();
        };
        match self.blocking(move |db| db.group(&name)).await {
            Ok(Some(g)) => g
                .tags
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The names of every routed operation, in the table's order.
pub fn routed_operations() -> Vec<&'static str> {
    routes::OPERATIONS.names()
}
