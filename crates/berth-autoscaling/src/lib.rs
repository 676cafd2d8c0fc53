//! Application Auto Scaling (awsJson 1.1, target `AnyScaleFrontendService`)
//! for ECS services: scalable targets (`ecs:service:DesiredCount`), target
//! tracking and step scaling policies run by CloudWatch alarm actions,
//! scheduled actions, and the scaling activities they leave.
//!
//! - pure: [`resource`] (namespaces, dimensions, resource ids, ARNs),
//!   [`records`] (what is stored), [`rules`] (what the operations accept),
//!   [`capacity`] (target-tracking and step arithmetic, cooldowns, clamps),
//!   [`schedule`] (`at(…)`, `rate(…)`, `cron(…)` and their next run),
//!   [`output`] (records as answered);
//! - the operations: `inputs`, `ops` (the table), `targets`, `policies`,
//!   `scheduled`, `activities`;
//! - what acts: `runner` (an alarm's action runs its policy), `scheduler`
//!   (scheduled actions, every second).
//!
//! The crate knows neither ECS nor CloudWatch: the binary gives it an
//! [`EcsServices`] (read and set a service's desired count) and a
//! [`PolicyAlarms`] (create, delete and read the alarms of target-tracking
//! policies).

#![forbid(unsafe_code)]

mod activities;
pub mod capacity;
pub mod inputs;
pub mod model;
mod ops;
pub mod output;
mod policies;
pub mod records;
pub mod resource;
pub mod rules;
mod runner;
pub mod schedule;
mod scheduled;
mod scheduler;
mod store;
mod targets;

use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time_scale::TimeScale;
use berth_proto::AwsError;
use berth_store::Store;
use std::sync::Arc;

/// The awsJson target prefix.
pub const TARGET_PREFIX: &str = "AnyScaleFrontendService";
/// The SigV4 signing name, also the IAM service prefix.
pub const SIGNING_NAME: &str = "application-autoscaling";

/// An ECS service as scaling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub desired_count: i64,
    pub running_count: i64,
    /// A deployment is in progress: scale-in waits.
    pub deploying: bool,
    /// A DAEMON service: no desired count to scale.
    pub daemon: bool,
}

/// Decides a service's new desired count from its current state (`None`: no change).
pub type Decide<'a> = &'a (dyn Fn(&ServiceState) -> Option<i64> + Send + Sync);

/// The ECS services scaled.
#[async_trait]
pub trait EcsServices: Send + Sync {
    /// The ACTIVE service `service` of cluster `cluster`, if any.
    async fn service(&self, cluster: &str, service: &str) -> Result<Option<ServiceState>, AwsError>;
    /// Sets its desired count to what `decide` answers for its current
    /// state, atomically; answers the state before and the count written
    /// (`None`: the service is gone or nothing was written).
    async fn set_desired_count(
        &self,
        cluster: &str,
        service: &str,
        decide: Decide<'_>,
    ) -> Result<Option<(ServiceState, i64)>, AwsError>;
}

/// What a target-tracking alarm watches: one metric's statistic, or the
/// policy's metric math (the alarm's `Metrics`).
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmWatch {
    Metric(AlarmMetric),
    Math(Vec<records::MathQuery>),
}

/// A CloudWatch metric a target-tracking alarm watches.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmMetric {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Average`, `Sum`, …
    pub statistic: String,
    pub unit: Option<String>,
}

/// One alarm a target-tracking policy creates.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub description: String,
    pub metric: AlarmWatch,
    /// Seconds.
    pub period: i64,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: i64,
    pub threshold: f64,
    /// `GreaterThanThreshold` or `LessThanThreshold`.
    pub comparison: &'static str,
    /// The policy ARN the alarm's ALARM state runs.
    pub action: String,
}

/// What a policy's run reads of the alarm that triggered it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmReading {
    pub in_alarm: bool,
    pub threshold: f64,
    /// Whether the alarm fires above its threshold (else below).
    pub above: bool,
    /// The newest datapoint the alarm evaluated, if it says.
    pub value: Option<f64>,
}

/// The CloudWatch alarms of target-tracking policies.
#[async_trait]
pub trait PolicyAlarms: Send + Sync {
    /// Creates (or replaces) an alarm; answers its ARN.
    async fn put(&self, alarm: AlarmSpec) -> Result<String, AwsError>;
    /// Deletes alarms (those already gone are no error).
    async fn delete(&self, names: Vec<String>) -> Result<(), AwsError>;
    /// The alarm `name` as it stands, if it exists.
    async fn read(&self, name: &str) -> Result<Option<AlarmReading>, AwsError>;
}

/// The alarm whose ALARM state runs a policy ([`Autoscaling::run_policy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub alarm_name: String,
}

/// One region's Application Auto Scaling.
#[derive(Clone)]
pub struct Autoscaling {
    store: Arc<dyn Store>,
    scope: Scope,
    ecs: Arc<dyn EcsServices>,
    alarms: Arc<dyn PolicyAlarms>,
    time_scale: TimeScale,
    clock: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl Autoscaling {
    pub fn new(store: Arc<dyn Store>, scope: Scope, ecs: Arc<dyn EcsServices>, alarms: Arc<dyn PolicyAlarms>) -> Self {
        Self {
            store,
            scope,
            ecs,
            alarms,
            time_scale: TimeScale::REAL,
            clock: Arc::new(berth_core::time::now_epoch),
        }
    }

    /// Cooldowns and `rate(…)` schedules counted at `scale`.
    pub fn with_time_scale(mut self, scale: TimeScale) -> Self {
        self.time_scale = scale;
        self
    }

    /// Reads "now" (epoch seconds) from `clock` (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn now(&self) -> f64 {
        (self.clock)()
    }

    /// AWS seconds as they last here, in seconds.
    fn scaled_secs(&self, secs: i64) -> f64 {
        self.time_scale.scale_secs(secs.max(0) as u64).as_secs_f64()
    }

    pub fn region(&self) -> &str {
        &self.scope.region
    }
}
