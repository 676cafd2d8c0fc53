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
    /// The role EventBridge uses for the target (required for API destinations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
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
    /// The target's `HttpParameters` when the event was matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpParams>,
    /// The target's retry policy when the event was matched.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// When EventBridge received the event (milliseconds; 0 in records
    /// written before it was kept: the event time stands in): the start of
    /// its age for the retry policy, whatever `Time` PutEvents gave.
    #[serde(default)]
    pub received_ms: i64,
}

impl Delivery {
    /// How old the event is at `now_ms`, for the retry policy.
    pub fn age_ms(&self, now_ms: i64) -> i64 {
        let since = if self.received_ms > 0 {
            self.received_ms
        } else {
            self.time_ms
        };
        now_ms - since
    }
}

/// Connections: `events/connections/NAME`.
pub const CONNECTIONS: &str = "events/connections/";
/// API destinations: `events/api-destinations/NAME`.
pub const DESTINATIONS: &str = "events/api-destinations/";

pub fn connection_key(name: &str) -> String {
    format!("{CONNECTIONS}{name}")
}

pub fn destination_key(name: &str) -> String {
    format!("{DESTINATIONS}{name}")
}

/// How a connection authorizes its calls (OAuth client credentials are
/// refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthType {
    Basic,
    ApiKey,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Basic => "BASIC",
            AuthType::ApiKey => "API_KEY",
        }
    }
}

/// A connection's state as EventBridge reports it (Basic and API key
/// connections are authorized as soon as they are made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    Authorized,
    Deauthorized,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Authorized => "AUTHORIZED",
            ConnectionState::Deauthorized => "DEAUTHORIZED",
        }
    }
}

impl std::fmt::Debug for ConnectionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.params.iter().map(|p| p.key.as_str()).collect();
        f.debug_struct("ConnectionSecrets")
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("api_key_value", &self.api_key_value.as_ref().map(|_| "(hidden)"))
            .field("params", &keys)
            .finish()
    }
}

/// Where a connection's invocation parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamPlace {
    Header,
    Query,
    Body,
}

/// One invocation HTTP parameter of a connection. A secret one's value is
/// kept in the sealed [`ConnectionSecrets`] only (`value` is `None` here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub place: ParamPlace,
    pub key: String,
    pub secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What a connection keeps secret, sealed as one JSON text under KMS
/// (never stored, logged or returned in clear: its `Debug` shows no value).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_value: Option<String>,
    /// The secret invocation parameters, with their values.
    #[serde(default)]
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRec {
    pub name: String,
    pub arn: String,
    pub auth: AuthType,
    pub state: ConnectionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// BASIC's user name / API_KEY's header name (not secret).
    pub principal: String,
    /// Every invocation parameter; the values of the secret ones are in `sealed`.
    #[serde(default)]
    pub params: Vec<Param>,
    /// The KMS envelope of [`ConnectionSecrets`] (base64); `None` once deauthorized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// The ARN of the secret as EventBridge names it (`events!connection/NAME/UUID-XXXXXX`).
    pub secret_arn: String,
    pub created: f64,
    pub modified: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized: Option<f64>,
}

/// The methods an API destination calls with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HttpMethod {
    Post,
    Get,
    Head,
    Options,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 7] = [
        HttpMethod::Post,
        HttpMethod::Get,
        HttpMethod::Head,
        HttpMethod::Options,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<HttpMethod> {
        HttpMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether a request with this method carries the event as its body.
    pub fn has_body(self) -> bool {
        !matches!(self, HttpMethod::Get | HttpMethod::Head)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationRec {
    pub name: String,
    pub arn: String,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created: f64,
    pub modified: f64,
}

/// A target's `HttpParameters` (API destination targets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpParams {
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub query: Vec<(String, String)>,
}

/// A target's `RetryPolicy`, as given (a member not given is EventBridge's
/// default: 185 retries, 24 hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
}

impl RetryPolicy {
    /// EventBridge's default number of retries.
    pub const DEFAULT_RETRIES: u32 = 185;
    /// EventBridge's default maximum event age, in seconds (24 hours).
    pub const DEFAULT_AGE_SECS: u32 = 86_400;

    pub fn retries(&self) -> u32 {
        self.max_retries.unwrap_or(Self::DEFAULT_RETRIES)
    }

    pub fn max_age_ms(&self) -> i64 {
        i64::from(self.max_age_secs.unwrap_or(Self::DEFAULT_AGE_SECS)) * 1000
    }
}
