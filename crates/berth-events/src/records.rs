//! What EventBridge keeps in the region's store: each rule of the default
//! event bus with its targets (one record, so PutTargets and RemoveTargets
//! are one compare-and-swap), and the deliveries PutEvents owes (the
//! outbox), removed once delivered.

use serde::{Deserialize, Serialize};

/// Rules of the default bus: `events/rules/default/NAME`.
pub const RULES: &str = "events/rules/default/";
/// Deliveries not made yet: `events/outbox/<millis>-<event id>-<n>`.
pub const OUTBOX: &str = "events/outbox/";

pub fn rule_key(name: &str) -> String {
    format!("{RULES}{name}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleState {
    Enabled,
    Disabled,
}

impl RuleState {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleState::Enabled => "ENABLED",
            RuleState::Disabled => "DISABLED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRec {
    pub name: String,
    pub arn: String,
    pub event_pattern: String,
    pub state: RuleState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    pub created_by: String,
    #[serde(default)]
    pub targets: Vec<TargetRec>,
}

/// What a target receives of a matched event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shaping {
    /// The whole event.
    Event,
    /// A constant JSON text instead (`Input`).
    Input(String),
    /// The part of the event at a JSON path (`InputPath`, `$.detail`).
    Path(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRec {
    pub id: String,
    pub arn: String,
    pub shaping: Shaping,
}

/// One event owed to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub event_id: String,
    /// The event time, in milliseconds (the log event's timestamp).
    pub time_ms: i64,
    pub rule_arn: String,
    pub target_id: String,
    pub target_arn: String,
    /// The text the target receives.
    pub message: String,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Not before (milliseconds), after a failed attempt.
    #[serde(default)]
    pub next_ms: i64,
}
