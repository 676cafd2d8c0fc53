//! The stored ELBv2 records, one key each under `elbv2/` in the region's
//! store: what the API answers and what the data plane will be fed
//! (listeners with port, protocol and certificate files; rules with their
//! conditions and actions; target groups with health-check settings,
//! attributes and registered targets). Members are the model's names
//! (PascalCase), so the same types are decoded from a request's form.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prefix of every ELBv2 key.
pub const PREFIX: &str = "elbv2/";
/// Bumped by every ELBv2 write, compared by the next: writes are serialised
/// per region, so an invariant spanning records (a name used once, a
/// target group in use not deleted) holds under concurrency.
pub const SERIAL_KEY: &str = "elbv2/serial";

/// A tag, as the model has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `application` or `network` (the types Berth serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbType {
    Application,
    Network,
}

impl LbType {
    pub fn as_str(self) -> &'static str {
        match self {
            LbType::Application => "application",
            LbType::Network => "network",
        }
    }
    /// The ARN segment: `app` or `net`.
    pub fn arn_segment(self) -> &'static str {
        match self {
            LbType::Application => "app",
            LbType::Network => "net",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: LbType,
    pub scheme: String,
    pub ip_address_type: String,
    pub dns_name: String,
    /// ISO 8601 with milliseconds.
    pub created_time: String,
    pub security_groups: Vec<String>,
    pub subnets: Vec<String>,
    /// Attributes set by the caller (the rest are the defaults).
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
}

/// The health check of a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    /// HTTP, HTTPS or TCP.
    pub protocol: String,
    /// A port number, or `traffic-port`.
    pub port: String,
    /// HTTP/HTTPS checks only.
    pub path: Option<String>,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    /// HTTP codes (`200`, `200-299`, `200,302`); HTTP/HTTPS checks only.
    pub matcher: Option<String>,
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// An instance id (`instance` groups; Berth's container instances) or an IP address.
    pub id: String,
    pub port: i32,
    pub availability_zone: Option<String>,
    /// Epoch milliseconds of the registration (slow start counts from it).
    pub registered_at_ms: i64,
}

/// A deregistered target still draining: the data plane finishes its
/// connections until `until_ms` (now + `deregistration_delay.timeout_seconds`);
/// entries past it are dropped at the group's next write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draining {
    pub id: String,
    pub port: i32,
    pub until_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub id: String,
    pub name: String,
    /// HTTP, HTTPS, TCP, TLS, UDP or TCP_UDP.
    pub protocol: String,
    pub protocol_version: Option<String>,
    pub port: i32,
    pub vpc_id: Option<String>,
    /// `instance` or `ip`.
    pub target_type: String,
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    pub attributes: BTreeMap<String, String>,
    pub targets: Vec<Target>,
    #[serde(default)]
    pub draining: Vec<Draining>,
    pub tags: Vec<Tag>,
}

/// A certificate of an HTTPS/TLS listener: Berth has no ACM, so the
/// "ARN" is a `file://` URI of a PEM file holding the chain and its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Certificate {
    pub certificate_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

/// The file a certificate "ARN" names: `file:///ABSOLUTE/PATH`.
pub fn certificate_path(arn: &str) -> Option<&std::path::Path> {
    arn.strip_prefix("file://")
        .filter(|p| p.starts_with('/'))
        .map(std::path::Path::new)
}

/// A target group of a forward action, with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupTuple {
    pub target_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stickiness {
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardConfig {
    #[serde(default)]
    pub target_groups: Vec<TargetGroupTuple>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<Stickiness>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RedirectConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub status_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FixedResponseConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    pub status_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// An action of a listener or rule (`forward`, `redirect`, `fixed-response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_config: Option<RedirectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponseConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardConfig>,
}

impl Action {
    /// Every target group the action forwards to.
    pub fn target_groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.target_group_arn.iter().map(String::as_str).collect();
        if let Some(f) = &self.forward_config {
            for t in &f.target_groups {
                if let Some(arn) = &t.target_group_arn
                    && !out.contains(&arn.as_str())
                {
                    out.push(arn);
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Values {
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpHeaderConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header_name: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryStringConfig {
    #[serde(default)]
    pub values: Vec<KeyValue>,
}

/// A rule condition: `Field` with its values (the legacy `Values` or the
/// field's own config, normalised to the config on write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<Values>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<Values>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header_config: Option<HttpHeaderConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_config: Option<QueryStringConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request_method_config: Option<Values>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_config: Option<Values>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub id: String,
    pub load_balancer_arn: String,
    pub port: i32,
    pub protocol: String,
    pub certificates: Vec<Certificate>,
    pub ssl_policy: Option<String>,
    pub alpn_policy: Vec<String>,
    pub default_actions: Vec<Action>,
    /// The id of its default rule (`listener-rule/…/ID`), fixed at creation.
    pub default_rule_id: String,
    /// Attributes set by the caller (the rest are the defaults).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub arn: String,
    pub id: String,
    pub listener_arn: String,
    pub priority: i32,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub tags: Vec<Tag>,
}

/// The store key of each record.
pub fn lb_key(id: &str) -> String {
    format!("{PREFIX}loadbalancers/{id}")
}
pub fn tg_key(id: &str) -> String {
    format!("{PREFIX}targetgroups/{id}")
}
pub fn listener_key(id: &str) -> String {
    format!("{PREFIX}listeners/{id}")
}
pub fn rule_key(id: &str) -> String {
    format!("{PREFIX}rules/{id}")
}
