//! Load-balancer and target-group attributes (pure): the keys Berth
//! serves with their defaults (as DescribeLoadBalancerAttributes and
//! DescribeTargetGroupAttributes list them for a new resource) and the
//! values each takes. A key Berth does not serve is refused, not stored; so
//! is a value other than the default of a key whose behaviour the proxy
//! has only at its default (`DEFAULT_ONLY`): DescribeXAttributes lists it,
//! as AWS does, and what it says is what the proxy does.

use crate::errors::LbError;
use crate::records::LbType;
use std::collections::BTreeMap;

/// The keys the proxy serves only at their default: it speaks HTTP/2 to
/// clients, keeps invalid header fields (hyper refuses what it cannot
/// parse), appends to `X-Forwarded-For`, keeps client connections for the
/// idle timeout only, writes no configurable response headers, holds TCP
/// flows for 350 s, and has neither application-cookie nor source-IP
/// stickiness, client-IP preservation, proxy protocol v2 nor connection
/// termination at deregistration.
const DEFAULT_ONLY: &[&str] = &[
    "routing.http2.enabled",
    "routing.http.drop_invalid_header_fields.enabled",
    "routing.http.xff_header_processing.mode",
    "client_keep_alive.seconds",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "deregistration_delay.connection_termination.enabled",
    "preserve_client_ip.enabled",
    "proxy_protocol_v2.enabled",
    "routing.http.response.server.enabled",
    "routing.http.response.strict_transport_security.header_value",
    "routing.http.response.access_control_allow_origin.header_value",
    "routing.http.response.access_control_allow_methods.header_value",
    "routing.http.response.access_control_allow_headers.header_value",
    "routing.http.response.access_control_allow_credentials.header_value",
    "routing.http.response.access_control_expose_headers.header_value",
    "routing.http.response.access_control_max_age.header_value",
    "routing.http.response.content_security_policy.header_value",
    "routing.http.response.x_content_type_options.header_value",
    "routing.http.response.x_frame_options.header_value",
    "tcp.idle_timeout.seconds",
];

/// One attribute's default and the values it takes.
struct Spec {
    key: &'static str,
    default: &'static str,
    values: Values,
}

enum Values {
    Bool,
    /// An integer in the range.
    Int(i64, i64),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Any text up to this many characters.
    Text(usize),
}

const ALB: &[Spec] = &[
    Spec {
        key: "deletion_protection.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "idle_timeout.timeout_seconds",
        default: "60",
        values: Values::Int(1, 4000),
    },
    Spec {
        key: "routing.http2.enabled",
        default: "true",
        values: Values::Bool,
    },
    Spec {
        key: "routing.http.drop_invalid_header_fields.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "routing.http.xff_header_processing.mode",
        default: "append",
        values: Values::OneOf(&["append", "preserve", "remove"]),
    },
    Spec {
        key: "client_keep_alive.seconds",
        default: "3600",
        values: Values::Int(60, 604800),
    },
    Spec {
        key: "load_balancing.cross_zone.enabled",
        default: "true",
        values: Values::Bool,
    },
];

const NLB: &[Spec] = &[
    Spec {
        key: "deletion_protection.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "load_balancing.cross_zone.enabled",
        default: "false",
        values: Values::Bool,
    },
];

const TG_HTTP: &[Spec] = &[
    Spec {
        key: "deregistration_delay.timeout_seconds",
        default: "300",
        values: Values::Int(0, 3600),
    },
    Spec {
        key: "slow_start.duration_seconds",
        default: "0",
        values: Values::Int(0, 900),
    },
    Spec {
        key: "load_balancing.algorithm.type",
        default: "round_robin",
        values: Values::OneOf(&["round_robin", "least_outstanding_requests"]),
    },
    Spec {
        key: "stickiness.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "stickiness.type",
        default: "lb_cookie",
        values: Values::OneOf(&["lb_cookie"]),
    },
    Spec {
        key: "stickiness.lb_cookie.duration_seconds",
        default: "86400",
        values: Values::Int(1, 604800),
    },
    Spec {
        key: "stickiness.app_cookie.cookie_name",
        default: "",
        values: Values::Text(255),
    },
    Spec {
        key: "stickiness.app_cookie.duration_seconds",
        default: "86400",
        values: Values::Int(1, 604800),
    },
];

const TG_TCP: &[Spec] = &[
    Spec {
        key: "deregistration_delay.timeout_seconds",
        default: "300",
        values: Values::Int(0, 3600),
    },
    Spec {
        key: "deregistration_delay.connection_termination.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "preserve_client_ip.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "proxy_protocol_v2.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "stickiness.enabled",
        default: "false",
        values: Values::Bool,
    },
    Spec {
        key: "stickiness.type",
        default: "source_ip",
        values: Values::OneOf(&["source_ip"]),
    },
];

/// HTTP and HTTPS listeners (Application Load Balancers): the response
/// headers the load balancer writes (the mTLS request header names are not
/// served: Berth has no mutual TLS).
const HTTP_LISTENER: &[Spec] = &[
    Spec {
        key: "routing.http.response.server.enabled",
        default: "true",
        values: Values::Bool,
    },
    Spec {
        key: "routing.http.response.strict_transport_security.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.access_control_allow_origin.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.access_control_allow_methods.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.access_control_allow_headers.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.access_control_allow_credentials.header_value",
        default: "",
        values: Values::OneOf(&["", "true"]),
    },
    Spec {
        key: "routing.http.response.access_control_expose_headers.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.access_control_max_age.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.content_security_policy.header_value",
        default: "",
        values: Values::Text(1024),
    },
    Spec {
        key: "routing.http.response.x_content_type_options.header_value",
        default: "",
        values: Values::OneOf(&["", "nosniff"]),
    },
    Spec {
        key: "routing.http.response.x_frame_options.header_value",
        default: "",
        values: Values::Text(1024),
    },
];

/// TCP and TLS listeners (Network Load Balancers).
const TCP_LISTENER: &[Spec] = &[Spec {
    key: "tcp.idle_timeout.seconds",
    default: "350",
    values: Values::Int(60, 6000),
}];

fn listener_specs(protocol: &str) -> &'static [Spec] {
    if crate::health::HTTP_PROTOCOLS.contains(&protocol) {
        HTTP_LISTENER
    } else {
        TCP_LISTENER
    }
}

/// Every attribute of a listener of `protocol`.
pub fn listener_attributes(protocol: &str, set: &BTreeMap<String, String>) -> Vec<(String, String)> {
    effective(listener_specs(protocol), set)
}

/// Sets attributes of a listener.
pub fn set_listener_attributes(
    protocol: &str,
    set: &mut BTreeMap<String, String>,
    given: &[(String, String)],
) -> Result<(), LbError> {
    apply("Listener", listener_specs(protocol), set, given)
}

fn lb_specs(kind: LbType) -> &'static [Spec] {
    match kind {
        LbType::Application => ALB,
        LbType::Network => NLB,
    }
}

fn tg_specs(protocol: &str) -> &'static [Spec] {
    if crate::health::HTTP_PROTOCOLS.contains(&protocol) {
        TG_HTTP
    } else {
        TG_TCP
    }
}

/// Every attribute of a load balancer: the defaults, with what was set.
pub fn lb_attributes(kind: LbType, set: &BTreeMap<String, String>) -> Vec<(String, String)> {
    effective(lb_specs(kind), set)
}

/// Every attribute of a target group of `protocol`.
pub fn tg_attributes(protocol: &str, set: &BTreeMap<String, String>) -> Vec<(String, String)> {
    effective(tg_specs(protocol), set)
}

/// Sets attributes of a load balancer: each key served, each value valid, or nothing.
pub fn set_lb_attributes(
    kind: LbType,
    set: &mut BTreeMap<String, String>,
    given: &[(String, String)],
) -> Result<(), LbError> {
    apply("Load balancer", lb_specs(kind), set, given)
}

/// Sets attributes of a target group.
pub fn set_tg_attributes(
    protocol: &str,
    set: &mut BTreeMap<String, String>,
    given: &[(String, String)],
) -> Result<(), LbError> {
    let mut next = set.clone();
    apply("Target group", tg_specs(protocol), &mut next, given)?;
    let slow_start = next
        .get("slow_start.duration_seconds")
        .map(String::as_str)
        .unwrap_or("0");
    if slow_start != "0" && slow_start.parse::<i64>().is_ok_and(|s| s < 30) {
        return Err(LbError::InvalidConfiguration(
            "The slow start duration must be 0 (off) or between 30 and 900 seconds".into(),
        ));
    }
    *set = next;
    Ok(())
}

/// The number an attribute holds (its default if unset or unreadable).
pub fn tg_number(protocol: &str, set: &BTreeMap<String, String>, key: &str) -> i64 {
    tg_attributes(protocol, set)
        .into_iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn effective(specs: &[Spec], set: &BTreeMap<String, String>) -> Vec<(String, String)> {
    specs
        .iter()
        .map(|s| {
            let v = set.get(s.key).cloned().unwrap_or_else(|| s.default.to_string());
            (s.key.to_string(), v)
        })
        .collect()
}

fn apply(
    what: &str,
    specs: &[Spec],
    set: &mut BTreeMap<String, String>,
    given: &[(String, String)],
) -> Result<(), LbError> {
    let mut next = set.clone();
    for (key, value) in given {
        let spec = specs
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| LbError::InvalidConfiguration(format!("{what} attribute key '{key}' is not recognized")))?;
        let ok = match spec.values {
            Values::Bool => value == "true" || value == "false",
            Values::Int(lo, hi) => value.parse::<i64>().is_ok_and(|n| (lo..=hi).contains(&n)),
            Values::OneOf(words) => words.contains(&value.as_str()),
            Values::Text(max) => value.chars().count() <= max,
        };
        if !ok {
            let expected = match spec.values {
                Values::Bool => "'true' or 'false'".to_string(),
                Values::Int(lo, hi) => format!("an integer between {lo} and {hi}"),
                Values::OneOf(words) => format!("one of '{}'", words.join(", ")),
                Values::Text(max) => format!("at most {max} characters"),
            };
            return Err(LbError::InvalidConfiguration(format!(
                "{what} attribute '{key}' cannot be '{value}': it must be {expected}"
            )));
        }
        let source_ip_stickiness = std::ptr::eq(specs, TG_TCP) && spec.key == "stickiness.enabled";
        if value != spec.default && (DEFAULT_ONLY.contains(&spec.key) || source_ip_stickiness) {
            return Err(LbError::InvalidConfiguration(format!(
                "{what} attribute '{key}' can only be '{}' in Berth: its load balancer does not serve another value",
                spec.default
            )));
        }
        next.insert(key.clone(), value.clone());
    }
    *set = next;
    Ok(())
}

#[cfg(test)]
#[path = "attributes_tests.rs"]
mod tests;
