//! The config snapshot the proxy is driven by: load balancers with their
//! listeners and rules, target groups with their health checks, attributes
//! and targets. Plain data, independent of the store and of the ELBv2 API;
//! the controller that reads the API's records builds one and hands it to
//! [`crate::Proxy::apply`]. Values are taken as given (the API validated
//! them), so tests may use intervals far below ELBv2's 5 s minimum.

use crate::matcher::Matcher;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the data plane serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LbConfig {
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
}

/// `application` (HTTP/HTTPS listeners, rules) or `network` (TCP listeners).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbKind {
    Application,
    Network,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancer {
    pub arn: String,
    pub kind: LbKind,
    /// The address every listener of this load balancer binds (127.0.0.1
    /// for `berth up`).
    pub bind: IpAddr,
    /// `idle_timeout.timeout_seconds` (ALB default 60 s): a client
    /// connection with no bytes either way for this long is closed, and a
    /// target that has not answered within it is a 504. For a Network Load
    /// Balancer, its TCP idle timeout (350 s on AWS).
    pub idle_timeout: Duration,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub arn: String,
    /// The port bound; 0 binds an ephemeral one ([`crate::Proxy::bound_port`]).
    pub port: u16,
    pub protocol: ListenerProtocol,
    /// The listener's default action, taken when no rule matches.
    pub default_action: Action,
    /// Evaluated in priority order (lowest first), whatever their order here.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerProtocol {
    Http,
    /// A certificate given as PEM files (there is no ACM): the chain and its key.
    Https {
        cert: PathBuf,
        key: PathBuf,
    },
    /// A Network Load Balancer's TCP listener: only a forward action to one
    /// target group is meaningful.
    Tcp,
}

/// A listener rule. ELBv2 lets authenticate actions precede the terminal
/// one; Berth has none of them, so a rule has exactly its terminal action.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub arn: String,
    pub priority: u32,
    /// All must match; the values inside one condition are OR'd.
    pub conditions: Vec<Condition>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Paths with `*` and `?` wildcards, case-sensitive, against the path
    /// without its query string.
    PathPattern(Vec<String>),
    /// Host names with wildcards, case-insensitive, against the Host header
    /// without its port.
    HostHeader(Vec<String>),
    /// A header (name case-insensitive) whose value matches one of these
    /// (wildcards, case-insensitive).
    HttpHeader { name: String, values: Vec<String> },
    /// Methods, exact and case-sensitive.
    HttpRequestMethod(Vec<String>),
    /// Query parameters (key optional; wildcards, case-insensitive).
    QueryString(Vec<QueryPair>),
    /// The client's address (not X-Forwarded-For) in one of these CIDRs.
    SourceIp(Vec<IpNet>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPair {
    pub key: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Forward(Forward),
    FixedResponse(FixedResponse),
    Redirect(Redirect),
}

/// Forward to one target group, or share between several by weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub target_groups: Vec<WeightedGroup>,
    /// Group-level stickiness (the `AWSALBTG` cookie): a client stays with
    /// the target group it was sent to for this long.
    pub stickiness: Option<Duration>,
}

impl Forward {
    /// A forward to one target group.
    pub fn to(arn: &str) -> Forward {
        Forward {
            target_groups: vec![WeightedGroup {
                arn: arn.into(),
                weight: 1,
            }],
            stickiness: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedGroup {
    pub arn: String,
    /// 0 to 999; 0 sends it nothing.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

/// `#{protocol}`, `#{host}`, `#{port}`, `#{path}`, `#{query}` are replaced
/// by the request's; a component left out keeps the request's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub status: RedirectStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectStatus {
    Http301,
    Http302,
}

impl RedirectStatus {
    pub fn code(self) -> u16 {
        match self {
            RedirectStatus::Http301 => 301,
            RedirectStatus::Http302 => 302,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroup {
    pub arn: String,
    pub protocol: TargetProtocol,
    pub health_check: HealthCheck,
    pub attributes: TargetGroupAttributes,
    pub targets: Vec<Target>,
}

/// The target group's protocol. The listener decides how the proxy talks
/// to the targets (HTTP/1.1 behind an ALB listener, bytes behind a TCP
/// one); HTTPS to targets is not served yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetProtocol {
    Http,
    Tcp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// False: no checks; every target is `unavailable` and receives traffic.
    pub enabled: bool,
    pub protocol: HealthCheckProtocol,
    pub port: HealthCheckPort,
    /// The path of an HTTP check (default `/`).
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// The success codes of an HTTP check (ALB default `200`).
    pub matcher: Matcher,
}

impl HealthCheck {
    /// ELBv2's defaults for an HTTP target group of an ALB: `/`, every
    /// 30 s, 5 s timeout, healthy after 5, unhealthy after 2, code 200.
    pub fn http_default() -> HealthCheck {
        HealthCheck {
            enabled: true,
            protocol: HealthCheckProtocol::Http,
            port: HealthCheckPort::TrafficPort,
            path: "/".into(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::ok_200(),
        }
    }

    /// ELBv2's defaults for a TCP target group: a connect every 30 s, 10 s
    /// timeout, healthy after 5, unhealthy after 2.
    pub fn tcp_default() -> HealthCheck {
        HealthCheck {
            protocol: HealthCheckProtocol::Tcp,
            timeout: Duration::from_secs(10),
            ..HealthCheck::http_default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckProtocol {
    Http,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckPort {
    /// The port each target receives traffic on.
    TrafficPort,
    Port(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupAttributes {
    /// `deregistration_delay.timeout_seconds` (default 300 s).
    pub deregistration_delay: Duration,
    /// `slow_start.duration_seconds` (default 0: off).
    pub slow_start: Duration,
    pub algorithm: Algorithm,
    /// `stickiness.enabled` with `stickiness.type` `lb_cookie`:
    /// `stickiness.lb_cookie.duration_seconds`.
    pub stickiness: Option<Duration>,
}

impl Default for TargetGroupAttributes {
    fn default() -> Self {
        TargetGroupAttributes {
            deregistration_delay: Duration::from_secs(300),
            slow_start: Duration::ZERO,
            algorithm: Algorithm::RoundRobin,
            stickiness: None,
        }
    }
}

/// `load_balancing.algorithm.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
}

/// A registered target: an `instance` target's host or an `ip` target's
/// address, and the port it receives traffic on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
}

impl Target {
    pub fn new(id: &str, port: u16) -> Target {
        Target {
            id: id.into(),
            port,
            availability_zone: None,
        }
    }

    /// `host:port`, with an IPv6 address in brackets.
    pub fn authority(&self, port: u16) -> String {
        if self.id.contains(':') {
            format!("[{}]:{port}", self.id)
        } else {
            format!("{}:{port}", self.id)
        }
    }
}
