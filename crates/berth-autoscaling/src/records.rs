//! What is stored: one record per scalable target holding its policies,
//! its scheduled actions and its cooldowns (one compare-and-swap changes a
//! target and all that hangs on it), and one record per scaling activity.
//! Typed values, no IO.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A registered scalable target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// The ARN's id.
    pub id: String,
    pub arn: String,
    pub namespace: String,
    pub resource_id: String,
    pub dimension: String,
    pub min: i64,
    pub max: i64,
    /// The role answered (the service-linked role).
    pub role_arn: String,
    pub created: f64,
    #[serde(default)]
    pub suspended: Suspended,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub policies: Vec<PolicyRecord>,
    #[serde(default)]
    pub scheduled: Vec<ScheduledRecord>,
    #[serde(default)]
    pub cooldown: Cooldowns,
}

impl TargetRecord {
    pub fn policy(&self, name: &str) -> Option<&PolicyRecord> {
        self.policies.iter().find(|p| p.name == name)
    }
}

/// `SuspendedState`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspended {
    pub scale_in: bool,
    pub scale_out: bool,
    pub scheduled: bool,
}

/// Until when (epoch seconds, already scaled) each direction waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cooldowns {
    pub out_until: Option<f64>,
    pub in_until: Option<f64>,
}

/// A scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub name: String,
    pub arn: String,
    pub created: f64,
    pub kind: PolicyKind,
    /// The alarms Application Auto Scaling created for it (target tracking).
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRef {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PolicyKind {
    TargetTracking(TargetTracking),
    Step(StepScaling),
}

impl PolicyKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            PolicyKind::TargetTracking(_) => "TargetTrackingScaling",
            PolicyKind::Step(_) => "StepScaling",
        }
    }
}

/// ECS's default target-tracking cooldowns, seconds.
pub const DEFAULT_COOLDOWN: i64 = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetTracking {
    pub target_value: f64,
    pub metric: TrackedMetric,
    /// As given (answered only when given; [`DEFAULT_COOLDOWN`] otherwise).
    pub scale_out_cooldown: Option<i64>,
    pub scale_in_cooldown: Option<i64>,
    pub disable_scale_in: bool,
}

impl TargetTracking {
    pub fn out_cooldown(&self) -> i64 {
        self.scale_out_cooldown.unwrap_or(DEFAULT_COOLDOWN)
    }
    pub fn in_cooldown(&self) -> i64 {
        self.scale_in_cooldown.unwrap_or(DEFAULT_COOLDOWN)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Predefined {
    EcsServiceAverageCpuUtilization,
    EcsServiceAverageMemoryUtilization,
}

impl Predefined {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ECSServiceAverageCPUUtilization" => Some(Self::EcsServiceAverageCpuUtilization),
            "ECSServiceAverageMemoryUtilization" => Some(Self::EcsServiceAverageMemoryUtilization),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::EcsServiceAverageCpuUtilization => "ECSServiceAverageCPUUtilization",
            Self::EcsServiceAverageMemoryUtilization => "ECSServiceAverageMemoryUtilization",
        }
    }
    /// The `AWS/ECS` metric it tracks.
    pub fn metric_name(self) -> &'static str {
        match self {
            Self::EcsServiceAverageCpuUtilization => "CPUUtilization",
            Self::EcsServiceAverageMemoryUtilization => "MemoryUtilization",
        }
    }
}

/// One query of a target-tracking policy's metric math
/// (`TargetTrackingMetricDataQuery`): a metric's statistic or an
/// expression over the other queries' ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MathQuery {
    pub id: String,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub metric_stat: Option<MathMetricStat>,
    pub return_data: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MathMetricStat {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrackedMetric {
    Predefined(Predefined),
    /// `ALBRequestCountPerTarget` of one target group: its
    /// `ResourceLabel` (`app/LB/ID/targetgroup/TG/ID`).
    AlbRequestCountPerTarget {
        resource_label: String,
    },
    Customized {
        namespace: String,
        metric_name: String,
        dimensions: Vec<(String, String)>,
        statistic: String,
        unit: Option<String>,
    },
    /// `CustomizedMetricSpecification.Metrics`: the one query whose
    /// `ReturnData` is true is the tracked value.
    Math(Vec<MathQuery>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdjustmentType {
    ChangeInCapacity,
    PercentChangeInCapacity,
    ExactCapacity,
}

impl AdjustmentType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ChangeInCapacity" => Some(Self::ChangeInCapacity),
            "PercentChangeInCapacity" => Some(Self::PercentChangeInCapacity),
            "ExactCapacity" => Some(Self::ExactCapacity),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::ChangeInCapacity => "ChangeInCapacity",
            Self::PercentChangeInCapacity => "PercentChangeInCapacity",
            Self::ExactCapacity => "ExactCapacity",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    Average,
    Minimum,
    Maximum,
}

impl Aggregation {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Average" => Some(Self::Average),
            "Minimum" => Some(Self::Minimum),
            "Maximum" => Some(Self::Maximum),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Average => "Average",
            Self::Minimum => "Minimum",
            Self::Maximum => "Maximum",
        }
    }
}

/// One step: bounds relative to the alarm's threshold (`None`: unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub adjustment: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepScaling {
    pub adjustment_type: AdjustmentType,
    pub steps: Vec<Step>,
    pub min_adjustment_magnitude: Option<i64>,
    pub cooldown: Option<i64>,
    pub aggregation: Option<Aggregation>,
}

/// A scheduled action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRecord {
    pub name: String,
    pub arn: String,
    /// As given: `at(…)`, `rate(…)` or `cron(…)`.
    pub schedule: String,
    pub timezone: Option<String>,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub created: f64,
    /// When it last ran (epoch seconds).
    pub last_run: Option<f64>,
}

/// `ScalingActivityStatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityStatus {
    InProgress,
    Successful,
    Failed,
}

impl ActivityStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
        }
    }
}

/// Why a triggered scaling did not change the capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotScaled {
    /// `AlreadyAtMaxCapacity`, `AlreadyAtMinCapacity`, `AlreadyAtDesiredCapacity`.
    pub code: String,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub current: Option<i64>,
}

/// How long activities are kept, seconds: six weeks, as AWS keeps them.
pub const ACTIVITY_RETENTION_SECS: f64 = 42.0 * 86_400.0;

/// A scaling activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRecord {
    pub id: String,
    pub namespace: String,
    pub resource_id: String,
    pub dimension: String,
    pub description: String,
    pub cause: String,
    pub start: f64,
    pub end: Option<f64>,
    pub status: ActivityStatus,
    pub message: Option<String>,
    /// Not scaled: shown only with `IncludeNotScaledActivities`.
    #[serde(default)]
    pub not_scaled: Vec<NotScaled>,
}
