//! The records as the data plane takes them, pure: a region's ELBv2
//! [`State`] becomes the proxy's [`LbConfig`] snapshot, with the listeners
//! it cannot serve named and left out (a TLS listener, a forward to an
//! HTTPS or TLS target group: Berth's proxy speaks HTTP and bytes to its
//! targets). The controller ([`crate::controller`]) applies what this builds.
//!
//! An `instance` target's id is a container instance (`i-…` or its ARN's
//! id); for `berth up` every instance is the host Berth runs on, so it is
//! reached at [`Feed::instance_host`] (127.0.0.1). An `ip` target is its
//! address.

use crate::attributes;
use crate::records::{self, LbType, Listener, TargetGroup};
use crate::state::State;
use berth_lb_proxy as proxy;
use std::net::IpAddr;
use std::time::Duration;

/// Where the listeners bind and where `instance` targets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    /// The address every listener binds.
    pub bind: IpAddr,
    /// The address of an `instance` target.
    pub instance_host: IpAddr,
}

impl Default for Feed {
    fn default() -> Self {
        let local = IpAddr::from([127, 0, 0, 1]);
        Feed {
            bind: local,
            instance_host: local,
        }
    }
}

/// A Network Load Balancer's TCP idle timeout (fixed on AWS).
pub const NLB_IDLE_TIMEOUT: Duration = Duration::from_secs(350);

/// The snapshot and the listeners left out of it, with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fed {
    pub config: proxy::LbConfig,
    pub unserved: Vec<(String, String)>,
}

impl Feed {
    /// The host a target of `target_type` is reached at.
    pub fn target_host(&self, target_type: &str, id: &str) -> String {
        if target_type == "instance" {
            self.instance_host.to_string()
        } else {
            id.to_string()
        }
    }

    /// The snapshot of the records.
    pub fn config(&self, state: &State) -> Fed {
        let mut fed = Fed::default();
        for tg in state.tgs.values() {
            fed.config.target_groups.push(self.target_group(tg));
        }
        for lb in state.lbs.values() {
            let idle_timeout = match lb.kind {
                LbType::Application => Duration::from_secs(
                    lb.attributes
                        .get("idle_timeout.timeout_seconds")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(60),
                ),
                LbType::Network => NLB_IDLE_TIMEOUT,
            };
            let mut listeners = Vec::new();
            for l in state.listeners_of(&lb.arn) {
                match listener(state, l) {
                    Ok(one) => listeners.push(one),
                    Err(why) => fed.unserved.push((l.arn.clone(), why)),
                }
            }
            fed.config.load_balancers.push(proxy::LoadBalancer {
                arn: lb.arn.clone(),
                kind: match lb.kind {
                    LbType::Application => proxy::LbKind::Application,
                    LbType::Network => proxy::LbKind::Network,
                },
                bind: self.bind,
                idle_timeout,
                listeners,
            });
        }
        fed
    }

    fn target_group(&self, tg: &TargetGroup) -> proxy::TargetGroup {
        let number = |key| attributes::tg_number(&tg.protocol, &tg.attributes, key);
        let text = |key: &str| {
            attributes::tg_attributes(&tg.protocol, &tg.attributes)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_default()
        };
        let secs = |n: i64| Duration::from_secs(u64::try_from(n).unwrap_or(0));
        let hc = &tg.health_check;
        let http_check = hc.protocol != "TCP";
        proxy::TargetGroup {
            arn: tg.arn.clone(),
            protocol: if tg.protocol.starts_with("HTTP") {
                proxy::TargetProtocol::Http
            } else {
                proxy::TargetProtocol::Tcp
            },
            health_check: proxy::HealthCheck {
                enabled: hc.enabled,
                protocol: if http_check {
                    proxy::HealthCheckProtocol::Http
                } else {
                    proxy::HealthCheckProtocol::Tcp
                },
                port: match hc.port.parse::<u16>() {
                    Ok(p) => proxy::HealthCheckPort::Port(p),
                    Err(_) => proxy::HealthCheckPort::TrafficPort,
                },
                path: hc.path.clone().unwrap_or_else(|| "/".into()),
                interval: secs(hc.interval_seconds.into()),
                timeout: secs(hc.timeout_seconds.into()),
                healthy_threshold: u32::try_from(hc.healthy_threshold).unwrap_or(5),
                unhealthy_threshold: u32::try_from(hc.unhealthy_threshold).unwrap_or(2),
                matcher: hc
                    .matcher
                    .as_deref()
                    .and_then(|m| proxy::Matcher::parse(m).ok())
                    .unwrap_or_else(proxy::Matcher::ok_200),
            },
            attributes: proxy::TargetGroupAttributes {
                deregistration_delay: secs(number("deregistration_delay.timeout_seconds")),
                slow_start: secs(number("slow_start.duration_seconds")),
                algorithm: if text("load_balancing.algorithm.type") == "least_outstanding_requests" {
                    proxy::Algorithm::LeastOutstandingRequests
                } else {
                    proxy::Algorithm::RoundRobin
                },
                stickiness: (text("stickiness.enabled") == "true" && text("stickiness.type") == "lb_cookie")
                    .then(|| secs(number("stickiness.lb_cookie.duration_seconds"))),
            },
            targets: tg
                .targets
                .iter()
                .map(|t| proxy::Target {
                    id: self.target_host(&tg.target_type, &t.id),
                    port: u16::try_from(t.port).unwrap_or(0),
                    availability_zone: t.availability_zone.clone(),
                })
                .collect(),
        }
    }
}

fn listener(state: &State, l: &Listener) -> Result<proxy::Listener, String> {
    let protocol = match l.protocol.as_str() {
        "HTTP" => proxy::ListenerProtocol::Http,
        "HTTPS" => {
            let arn = l
                .certificates
                .iter()
                .find_map(|c| c.certificate_arn.as_deref())
                .unwrap_or_default();
            let path =
                records::certificate_path(arn).ok_or_else(|| format!("certificate '{arn}' is not a file:// URI"))?;
            // One PEM file holds the chain and its key.
            proxy::ListenerProtocol::Https {
                cert: path.to_path_buf(),
                key: path.to_path_buf(),
            }
        }
        "TCP" => proxy::ListenerProtocol::Tcp,
        other => return Err(format!("{other} listeners are not served by Berth's proxy")),
    };
    let default_action = action(state, &l.default_actions)?;
    let rules = state
        .rules_of(&l.arn)
        .into_iter()
        .map(|r| {
            Ok(proxy::Rule {
                arn: r.arn.clone(),
                priority: u32::try_from(r.priority).unwrap_or(u32::MAX),
                conditions: r.conditions.iter().map(condition).collect::<Result<_, String>>()?,
                action: action(state, &r.actions)?,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(proxy::Listener {
        arn: l.arn.clone(),
        port: u16::try_from(l.port).map_err(|_| format!("port {} is out of range", l.port))?,
        protocol,
        default_action,
        rules,
    })
}

/// The terminal action (the last by `Order`; Berth serves no
/// authenticate actions before it).
fn action(state: &State, actions: &[records::Action]) -> Result<proxy::Action, String> {
    let last = actions
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (a.order.unwrap_or(i32::MAX), *i))
        .map(|(_, a)| a)
        .ok_or("no action")?;
    Ok(match last.kind.as_str() {
        "forward" => {
            let mut groups: Vec<proxy::WeightedGroup> = Vec::new();
            match &last.forward_config {
                Some(f) if !f.target_groups.is_empty() => {
                    for t in &f.target_groups {
                        let arn = t.target_group_arn.clone().unwrap_or_default();
                        groups.push(proxy::WeightedGroup {
                            arn,
                            weight: u32::try_from(t.weight.unwrap_or(1)).unwrap_or(0),
                        });
                    }
                }
                _ => groups.extend(last.target_group_arn.iter().map(|arn| proxy::WeightedGroup {
                    arn: arn.clone(),
                    weight: 1,
                })),
            }
            for g in &groups {
                if let Some(tg) = state.tgs.get(&g.arn)
                    && (tg.protocol == "HTTPS" || tg.protocol == "TLS")
                {
                    return Err(format!(
                        "{} target groups are not served by Berth's proxy ({})",
                        tg.protocol, tg.name
                    ));
                }
            }
            let stickiness = last
                .forward_config
                .as_ref()
                .and_then(|f| f.target_group_stickiness_config.as_ref())
                .filter(|s| s.enabled == Some(true))
                .map(|s| Duration::from_secs(u64::try_from(s.duration_seconds.unwrap_or(3600)).unwrap_or(0)));
            proxy::Action::Forward(proxy::Forward {
                target_groups: groups,
                stickiness,
            })
        }
        "fixed-response" => {
            let f = last
                .fixed_response_config
                .as_ref()
                .ok_or("a fixed-response action without its config")?;
            proxy::Action::FixedResponse(proxy::FixedResponse {
                status: f
                    .status_code
                    .parse()
                    .map_err(|_| format!("status code '{}'", f.status_code))?,
                content_type: f.content_type.clone(),
                body: f.message_body.clone(),
            })
        }
        "redirect" => {
            let r = last
                .redirect_config
                .as_ref()
                .ok_or("a redirect action without its config")?;
            proxy::Action::Redirect(proxy::Redirect {
                protocol: r.protocol.clone(),
                host: r.host.clone(),
                port: r.port.clone(),
                path: r.path.clone(),
                query: r.query.clone(),
                status: if r.status_code == "HTTP_301" {
                    proxy::RedirectStatus::Http301
                } else {
                    proxy::RedirectStatus::Http302
                },
            })
        }
        other => return Err(format!("'{other}' actions are not served by Berth's proxy")),
    })
}

fn condition(c: &records::Condition) -> Result<proxy::Condition, String> {
    let values = |config: &Option<records::Values>| match config {
        Some(v) if !v.values.is_empty() => v.values.clone(),
        _ => c.values.clone(),
    };
    let field = c.field.as_deref().unwrap_or_default();
    Ok(match field {
        "path-pattern" => proxy::Condition::PathPattern(values(&c.path_pattern_config)),
        "host-header" => proxy::Condition::HostHeader(values(&c.host_header_config)),
        "http-request-method" => proxy::Condition::HttpRequestMethod(values(&c.http_request_method_config)),
        "http-header" => {
            let h = c
                .http_header_config
                .as_ref()
                .ok_or("an http-header condition without its config")?;
            proxy::Condition::HttpHeader {
                name: h.http_header_name.clone().unwrap_or_default(),
                values: h.values.clone(),
            }
        }
        "query-string" => proxy::Condition::QueryString(
            c.query_string_config
                .as_ref()
                .map(|q| {
                    q.values
                        .iter()
                        .map(|kv| proxy::QueryPair {
                            key: kv.key.clone(),
                            value: kv.value.clone().unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "source-ip" => proxy::Condition::SourceIp(
            values(&c.source_ip_config)
                .iter()
                .map(|s| {
                    s.parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| format!("source-ip '{s}' is not a CIDR"))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("'{other}' conditions are not served by Berth's proxy")),
    })
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
