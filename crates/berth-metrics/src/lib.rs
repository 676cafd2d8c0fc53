//! CloudWatch metrics: PutMetricData, GetMetricStatistics, GetMetricData
//! (metric stats and the metric-math subset) and ListMetrics, written once
//! as typed operations ([`ops`]) and served over awsJson 1.0 (this crate's
//! [`Metrics`], a `JsonService` by its table), rpcv2Cbor and awsQuery (the
//! same table through [`berth_proto::bridge::Bridged`], built by
//! [`bridged`]). Data lives in a per-region SQLite store of per-second and
//! per-minute aggregates that roll up into 5-minute and 1-hour ones as
//! CloudWatch's retention says ([`db`], [`rules::TIERS`]). Metric alarms
//! ([`alarms`]) live in the same database and are evaluated every minute
//! (scaled by the server's [`TimeScale`]).

#![forbid(unsafe_code)]

pub mod alarms;
mod authz;
mod body;
pub mod db;
mod group_commit;
pub mod inputs;
pub mod math;
pub mod model;
mod ops;
mod reads;
pub mod rules;
pub mod stats;
mod stored;

use berth_core::time_scale::TimeScale;
use berth_proto::AwsError;
use berth_proto::bridge::Bridged;
use std::path::Path;
use std::sync::Arc;

pub use model::{SIGNING_NAME, TARGET_PREFIX};

/// One region's CloudWatch metrics.
#[derive(Clone)]
pub struct Metrics {
    db: Arc<db::Db>,
    region: String,
    account_id: String,
    /// The clock, epoch seconds (tests set it).
    clock: Arc<dyn Fn() -> f64 + Send + Sync>,
    /// How fast alarm minutes pass (`--time-scale`).
    time_scale: TimeScale,
    /// Runs alarm actions.
    actions: Arc<dyn alarms::actions::ActionRunner>,
}

impl Metrics {
    /// Opens the region's metric store in `dir`.
    pub fn open(dir: &Path, region: &str, account_id: &str) -> Result<Self, db::DbError> {
        Ok(Self::over(
            db::Db::open(dir, &[alarms::store::SCHEMA])?,
            region,
            account_id,
        ))
    }

    /// A store in memory (tests).
    pub fn in_memory(region: &str, account_id: &str) -> Result<Self, db::DbError> {
        Ok(Self::over(
            db::Db::memory(&[alarms::store::SCHEMA])?,
            region,
            account_id,
        ))
    }

    fn over(db: db::Db, region: &str, account_id: &str) -> Self {
        Self {
            db: Arc::new(db),
            region: region.to_string(),
            account_id: account_id.to_string(),
            clock: Arc::new(berth_core::time::now_epoch),
            time_scale: TimeScale::REAL,
            actions: Arc::new(alarms::actions::NoRunner),
        }
    }

    /// The same service counting alarm minutes at `scale`: a period of P
    /// seconds lasts P/N, evaluation runs every 60/N seconds, and every
    /// datapoint is also kept per second so scaled periods can be read.
    pub fn with_time_scale(mut self, scale: TimeScale) -> Self {
        self.time_scale = scale;
        self
    }

    /// The same service running alarm actions with `runner`.
    pub fn with_action_runner(mut self, runner: Arc<dyn alarms::actions::ActionRunner>) -> Self {
        self.actions = runner;
        self
    }

    /// The same service reading `clock` for "now" (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn now(&self) -> f64 {
        (self.clock)()
    }

    /// Runs `f` on the store off the async threads.
    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&db::Db) -> Result<T, db::DbError> + Send + 'static,
    ) -> Result<T, AwsError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(r) => r.map_err(AwsError::state_store),
            Err(e) => Err(AwsError::internal(format!("metric store task failed: {e}"))),
        }
    }

    /// Rolls data past its tier's retention up (or out) every `every`.
    pub fn spawn_roll_up(&self, every: std::time::Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let now = me.now() as i64;
                if let Err(e) = me.with_db(move |db| db.roll_up(now)).await {
                    tracing::warn!(region = me.region, error = %e, "metric roll-up failed");
                }
            }
        });
    }

    /// Stores datapoints a Berth service publishes itself (the `AWS/ECS`
    /// metrics): no PutMetricData checks, the `AWS/` namespaces are theirs.
    /// Under a time scale they are kept per second too, as PutMetricData's
    /// are, so alarms on them (Application Auto Scaling's) read scaled periods.
    pub async fn put_samples(&self, mut samples: Vec<rules::Sample>) -> Result<(), AwsError> {
        if !self.time_scale.is_real() {
            for s in &mut samples {
                s.high_resolution = true;
            }
        }
        self.with_db(move |db| db.put(samples)).await
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}

/// CloudWatch over rpcv2Cbor and awsQuery for every region given (the
/// same typed operations as its awsJson face).
pub fn bridged(regions: impl IntoIterator<Item = Arc<Metrics>>) -> Arc<Bridged<Metrics>> {
    let mut b = Bridged::new(&model::WIRE, SIGNING_NAME);
    for m in regions {
        b.add_region(&m.region.clone(), m);
    }
    Arc::new(b)
}
