//! A metric alarm as Berth stores it: its configuration (validated once,
//! by [`super::rules`]), its state, its tags; and the typed values it is
//! made of (state, comparison, missing-data treatment, history item type).

use crate::inputs::{Dimension, MetricDataQuery};
use serde::{Deserialize, Serialize};

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateValue {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl StateValue {
    pub fn as_str(self) -> &'static str {
        match self {
            StateValue::Ok => "OK",
            StateValue::Alarm => "ALARM",
            StateValue::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(StateValue::Ok),
            "ALARM" => Some(StateValue::Alarm),
            "INSUFFICIENT_DATA" => Some(StateValue::InsufficientData),
            _ => None,
        }
    }
}

/// How a datapoint is compared with the threshold (the anomaly-band
/// operators are refused: Berth has no anomaly detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GreaterThanOrEqualToThreshold" => Some(Self::GreaterThanOrEqualToThreshold),
            "GreaterThanThreshold" => Some(Self::GreaterThanThreshold),
            "LessThanThreshold" => Some(Self::LessThanThreshold),
            "LessThanOrEqualToThreshold" => Some(Self::LessThanOrEqualToThreshold),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Self::GreaterThanThreshold => "GreaterThanThreshold",
            Self::LessThanThreshold => "LessThanThreshold",
            Self::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// The words of a state reason: `greater than or equal to`.
    pub fn words(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Self::GreaterThanThreshold => "greater than",
            Self::LessThanThreshold => "less than",
            Self::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// What a missing datapoint counts as (`TreatMissingData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissing {
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

impl TreatMissing {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "missing" => Some(Self::Missing),
            "ignore" => Some(Self::Ignore),
            "breaching" => Some(Self::Breaching),
            "notBreaching" => Some(Self::NotBreaching),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Ignore => "ignore",
            Self::Breaching => "breaching",
            Self::NotBreaching => "notBreaching",
        }
    }
}

/// The kinds of alarm history items Berth writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryItemType {
    ConfigurationUpdate,
    StateUpdate,
    Action,
}

impl HistoryItemType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigurationUpdate => "ConfigurationUpdate",
            Self::StateUpdate => "StateUpdate",
            Self::Action => "Action",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ConfigurationUpdate" => Some(Self::ConfigurationUpdate),
            "StateUpdate" => Some(Self::StateUpdate),
            "Action" => Some(Self::Action),
            _ => None,
        }
    }
}

/// The one metric a single-metric alarm watches, with its statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedMetric {
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name, as the store keys metrics.
    pub dimensions: Vec<Dimension>,
    /// One of `Statistic`'s five values, or `None` with `extended_statistic`.
    pub statistic: Option<String>,
    /// `pNN`, `pNN.N`, `pNN.NN`.
    pub extended_statistic: Option<String>,
    pub period: i64,
    pub unit: Option<String>,
}

/// What an alarm watches: one metric, or metric math (`Metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Watched {
    Metric(WatchedMetric),
    Math(Vec<MetricDataQuery>),
}

/// The configuration PutMetricAlarm sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmConfig {
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub watched: Watched,
    pub evaluation_periods: u32,
    /// As given (AWS shows it only when set); M defaults to N.
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: f64,
    pub comparison: Comparison,
    /// As given (AWS shows it only when set); `missing` by default.
    pub treat_missing_data: Option<TreatMissing>,
    /// `evaluate` (the only one Berth honours), as given.
    pub evaluate_low_sample_count_percentile: Option<String>,
}

impl AlarmConfig {
    /// M of the M-of-N rule.
    pub fn datapoints_to_alarm(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }

    pub fn treat_missing(&self) -> TreatMissing {
        self.treat_missing_data.unwrap_or(TreatMissing::Missing)
    }

    /// The period of the datapoints the alarm compares, in seconds.
    pub fn period(&self) -> i64 {
        match &self.watched {
            Watched::Metric(m) => m.period,
            Watched::Math(queries) => queries
                .iter()
                .find(|q| q.return_data != Some(false))
                .and_then(|q| q.period.or_else(|| q.metric_stat.as_ref().map(|m| m.period)))
                .or_else(|| {
                    queries
                        .iter()
                        .filter_map(|q| q.metric_stat.as_ref().map(|m| m.period))
                        .max()
                })
                .unwrap_or(60),
        }
    }

    /// The action ARNs run on entering `state`.
    pub fn actions_for(&self, state: StateValue) -> &[String] {
        match state {
            StateValue::Ok => &self.ok_actions,
            StateValue::Alarm => &self.alarm_actions,
            StateValue::InsufficientData => &self.insufficient_data_actions,
        }
    }

    /// Every action ARN, whatever the state.
    pub fn all_actions(&self) -> impl Iterator<Item = &String> {
        self.ok_actions
            .iter()
            .chain(&self.alarm_actions)
            .chain(&self.insufficient_data_actions)
    }
}

/// An alarm's state: its value, why, and since when (epoch seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    pub value: StateValue,
    pub reason: String,
    /// JSON text, as AWS writes it.
    pub reason_data: Option<String>,
    /// When the state (or its reason) last changed.
    pub updated: f64,
    /// When the state value last changed.
    pub transitioned: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmTag {
    pub key: String,
    pub value: String,
}

/// One stored alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmRecord {
    pub name: String,
    pub arn: String,
    pub config: AlarmConfig,
    pub configuration_updated: f64,
    pub state: AlarmState,
    pub tags: Vec<AlarmTag>,
}

/// One alarm history item.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub alarm_name: String,
    pub timestamp: f64,
    pub kind: HistoryItemType,
    pub summary: String,
    /// JSON text.
    pub data: String,
}

impl AlarmRecord {
    /// The alarm in `value` for `reason` at `at`: the transition time moves
    /// only when the value changes.
    pub fn with_state(&self, value: StateValue, reason: String, reason_data: Option<String>, at: f64) -> AlarmRecord {
        let mut next = self.clone();
        next.state = AlarmState {
            value,
            reason,
            reason_data,
            updated: at,
            transitioned: if value == self.state.value {
                self.state.transitioned
            } else {
                at
            },
        };
        next
    }
}
