//! Target-group protocols and health checks (pure): the protocols Berth
//! serves, and a health check's defaults and rules as the ELBv2 API
//! reference gives them for CreateTargetGroup — interval 30 s; timeout 6 s
//! for an HTTP group, 10 s for HTTPS, TCP and TLS; healthy 5, unhealthy 2;
//! the health-check protocol HTTP for HTTP/HTTPS groups (TCP refused), TCP
//! for TCP/TLS groups; path `/` and matcher `200` for HTTP/HTTPS checks of
//! an HTTP/HTTPS group, `200-399` of a TCP/TLS group.

use crate::errors::{LbError, invalid};
use crate::records::HealthCheck;

/// Target-group and listener protocols Berth serves.
pub const HTTP_PROTOCOLS: &[&str] = &["HTTP", "HTTPS"];
pub const TCP_PROTOCOLS: &[&str] = &["TCP", "TLS"];

/// Refuses a protocol of the model Berth does not serve (UDP, TCP_UDP, GENEVE, QUIC…).
pub fn check_served_protocol(protocol: &str) -> Result<(), LbError> {
    if HTTP_PROTOCOLS.contains(&protocol) || TCP_PROTOCOLS.contains(&protocol) {
        Ok(())
    } else {
        Err(LbError::UnsupportedProtocol(format!(
            "Protocol '{protocol}' is not supported by Berth: use HTTP, HTTPS, TCP or TLS"
        )))
    }
}

/// What a request says of a health check (CreateTargetGroup, ModifyTargetGroup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckInput {
    pub enabled: Option<bool>,
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub healthy_threshold: Option<i32>,
    pub unhealthy_threshold: Option<i32>,
    pub matcher: Option<String>,
}

/// The health check of a new target group of `protocol`.
pub fn new_health_check(protocol: &str, given: &HealthCheckInput) -> Result<HealthCheck, LbError> {
    let http_group = HTTP_PROTOCOLS.contains(&protocol);
    let hc_protocol = given
        .protocol
        .clone()
        .unwrap_or_else(|| if http_group { "HTTP" } else { "TCP" }.to_string());
    let base = HealthCheck {
        enabled: true,
        protocol: hc_protocol.clone(),
        port: "traffic-port".to_string(),
        path: None,
        interval_seconds: 30,
        timeout_seconds: if protocol == "HTTP" { 6 } else { 10 },
        healthy_threshold: 5,
        unhealthy_threshold: 2,
        matcher: None,
    };
    apply(protocol, base, given)
}

/// A health check changed by `given` (ModifyTargetGroup), checked again.
pub fn modify_health_check(
    protocol: &str,
    current: &HealthCheck,
    given: &HealthCheckInput,
) -> Result<HealthCheck, LbError> {
    apply(protocol, current.clone(), given)
}

fn apply(protocol: &str, mut hc: HealthCheck, given: &HealthCheckInput) -> Result<HealthCheck, LbError> {
    let http_group = HTTP_PROTOCOLS.contains(&protocol);
    if let Some(p) = &given.protocol {
        if !["HTTP", "HTTPS", "TCP"].contains(&p.as_str()) {
            return Err(invalid(format!("Health check protocol '{p}' is not supported")));
        }
        if http_group && p == "TCP" {
            return Err(invalid(format!(
                "Health check protocol 'TCP' is not supported for target groups with the protocol '{protocol}'"
            )));
        }
        hc.protocol = p.clone();
    }
    if given.enabled == Some(false) {
        return Err(invalid(
            "Health checks cannot be disabled for target groups with target type 'instance' or 'ip'",
        ));
    }
    if let Some(port) = &given.port {
        let ok = port == "traffic-port" || port.parse::<u16>().is_ok_and(|p| p >= 1);
        if !ok {
            return Err(invalid(format!(
                "Health check port '{port}' must be 'traffic-port' or a port between 1 and 65535"
            )));
        }
        hc.port = port.clone();
    }
    let http_check = hc.protocol != "TCP";
    if http_check {
        if let Some(path) = &given.path {
            if !path.starts_with('/') {
                return Err(invalid("Health check path must begin with a '/' character"));
            }
            hc.path = Some(path.clone());
        }
        hc.path.get_or_insert_with(|| "/".to_string());
        if let Some(m) = &given.matcher {
            check_matcher(m, if http_group { 499 } else { 599 })?;
            hc.matcher = Some(m.clone());
        }
        hc.matcher
            .get_or_insert_with(|| if http_group { "200" } else { "200-399" }.to_string());
    } else {
        if given.path.is_some() {
            return Err(invalid("Health check path is not supported for the protocol 'TCP'"));
        }
        if given.matcher.is_some() {
            return Err(invalid("Health check matcher is not supported for the protocol 'TCP'"));
        }
        hc.path = None;
        hc.matcher = None;
    }
    hc.interval_seconds = given.interval_seconds.unwrap_or(hc.interval_seconds);
    hc.timeout_seconds = given.timeout_seconds.unwrap_or(hc.timeout_seconds);
    hc.healthy_threshold = given.healthy_threshold.unwrap_or(hc.healthy_threshold);
    hc.unhealthy_threshold = given.unhealthy_threshold.unwrap_or(hc.unhealthy_threshold);
    if hc.timeout_seconds >= hc.interval_seconds {
        return Err(invalid(format!(
            "Health check timeout '{}' must be smaller than the interval '{}'",
            hc.timeout_seconds, hc.interval_seconds
        )));
    }
    Ok(hc)
}

/// `200`, `200,202`, `200-299`: codes between 200 and `max`.
fn check_matcher(m: &str, max: u16) -> Result<(), LbError> {
    let bad = || {
        invalid(format!(
            "Health check matcher HTTP code '{m}' must be within '200-{max}' (codes like '200', '200,202' or '200-299')"
        ))
    };
    let code = |s: &str| s.trim().parse::<u16>().ok().filter(|c| (200..=max).contains(c));
    for part in m.split(',') {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (code(lo).ok_or_else(bad)?, code(hi).ok_or_else(bad)?);
                if lo > hi {
                    return Err(bad());
                }
            }
            None => {
                code(part).ok_or_else(bad)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
