//! The XML shapes of ELBv2's answers, built from the records: members as
//! the model names them, lists as `<member>` ([`Members`]), absent
//! optional members left out.

use crate::controller::LbState;
use crate::records::{self, Action, Condition, LoadBalancer, Rule, TargetGroup};
use crate::state::State;
use berth_proto::query::Members;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagOut {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

pub fn tags(t: &[records::Tag]) -> Members<TagOut> {
    Members(
        t.iter()
            .map(|t| TagOut {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect(),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateOut {
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerOut {
    pub load_balancer_arn: String,
    #[serde(rename = "DNSName")]
    pub dns_name: String,
    pub created_time: String,
    pub load_balancer_name: String,
    pub scheme: String,
    pub state: StateOut,
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Members::is_empty")]
    pub security_groups: Members<String>,
    pub ip_address_type: String,
}

/// A load balancer with its state (the data plane's).
pub fn load_balancer(r: &LoadBalancer, state: &LbState) -> LoadBalancerOut {
    LoadBalancerOut {
        load_balancer_arn: r.arn.clone(),
        dns_name: r.dns_name.clone(),
        created_time: r.created_time.clone(),
        load_balancer_name: r.name.clone(),
        scheme: r.scheme.clone(),
        state: StateOut {
            code: state.code(),
            reason: state.reason().map(str::to_string),
        },
        kind: r.kind.as_str(),
        security_groups: Members(r.security_groups.clone()),
        ip_address_type: r.ip_address_type.clone(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatcherOut {
    pub http_code: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupOut {
    pub target_group_arn: String,
    pub target_group_name: String,
    pub protocol: String,
    pub port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub health_check_protocol: String,
    pub health_check_port: String,
    pub health_check_enabled: bool,
    pub health_check_interval_seconds: i32,
    pub health_check_timeout_seconds: i32,
    pub healthy_threshold_count: i32,
    pub unhealthy_threshold_count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matcher: Option<MatcherOut>,
    pub load_balancer_arns: Members<String>,
    pub target_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    pub ip_address_type: String,
}

pub fn target_group(state: &State, r: &TargetGroup) -> TargetGroupOut {
    let hc = &r.health_check;
    TargetGroupOut {
        target_group_arn: r.arn.clone(),
        target_group_name: r.name.clone(),
        protocol: r.protocol.clone(),
        port: r.port,
        vpc_id: r.vpc_id.clone(),
        health_check_protocol: hc.protocol.clone(),
        health_check_port: hc.port.clone(),
        health_check_enabled: hc.enabled,
        health_check_interval_seconds: hc.interval_seconds,
        health_check_timeout_seconds: hc.timeout_seconds,
        healthy_threshold_count: hc.healthy_threshold,
        unhealthy_threshold_count: hc.unhealthy_threshold,
        health_check_path: hc.path.clone(),
        matcher: hc.matcher.clone().map(|http_code| MatcherOut { http_code }),
        load_balancer_arns: Members(state.lbs_of_tg(&r.arn)),
        target_type: r.target_type.clone(),
        protocol_version: r.protocol_version.clone(),
        ip_address_type: r.ip_address_type.clone(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TupleOut {
    pub target_group_arn: String,
    pub weight: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StickinessOut {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i32>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardOut {
    pub target_groups: Members<TupleOut>,
    pub target_group_stickiness_config: StickinessOut,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionOut {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_config: Option<records::RedirectConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<records::FixedResponseConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardOut>,
}

pub fn actions(list: &[Action]) -> Members<ActionOut> {
    Members(
        list.iter()
            .map(|a| ActionOut {
                kind: a.kind.clone(),
                target_group_arn: a.target_group_arn.clone(),
                order: a.order,
                redirect_config: a.redirect_config.clone(),
                fixed_response_config: a.fixed_response_config.clone(),
                forward_config: a.forward_config.as_ref().map(|f| ForwardOut {
                    target_groups: Members(
                        f.target_groups
                            .iter()
                            .map(|t| TupleOut {
                                target_group_arn: t.target_group_arn.clone().unwrap_or_default(),
                                weight: t.weight.unwrap_or(1),
                            })
                            .collect(),
                    ),
                    target_group_stickiness_config: StickinessOut {
                        enabled: f
                            .target_group_stickiness_config
                            .as_ref()
                            .and_then(|s| s.enabled)
                            .unwrap_or(false),
                        duration_seconds: f
                            .target_group_stickiness_config
                            .as_ref()
                            .and_then(|s| s.duration_seconds),
                    },
                }),
            })
            .collect(),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateOut {
    pub certificate_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenerOut {
    pub listener_arn: String,
    pub load_balancer_arn: String,
    pub port: i32,
    pub protocol: String,
    #[serde(skip_serializing_if = "Members::is_empty")]
    pub certificates: Members<CertificateOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    pub default_actions: Members<ActionOut>,
    #[serde(skip_serializing_if = "Members::is_empty")]
    pub alpn_policy: Members<String>,
}

pub fn listener(r: &records::Listener) -> ListenerOut {
    ListenerOut {
        listener_arn: r.arn.clone(),
        load_balancer_arn: r.load_balancer_arn.clone(),
        port: r.port,
        protocol: r.protocol.clone(),
        certificates: Members(
            r.certificates
                .iter()
                .filter_map(|c| c.certificate_arn.clone())
                .map(|certificate_arn| CertificateOut { certificate_arn })
                .collect(),
        ),
        ssl_policy: r.ssl_policy.clone(),
        default_actions: actions(&r.default_actions),
        alpn_policy: Members(r.alpn_policy.clone()),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValuesOut {
    pub values: Members<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeaderOut {
    pub http_header_name: String,
    pub values: Members<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValueOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryStringOut {
    pub values: Members<KeyValueOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConditionOut {
    pub field: String,
    #[serde(skip_serializing_if = "Members::is_empty")]
    pub values: Members<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<ValuesOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<ValuesOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_config: Option<HeaderOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_string_config: Option<QueryStringOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request_method_config: Option<ValuesOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip_config: Option<ValuesOut>,
}

fn values(v: &Option<records::Values>) -> Option<ValuesOut> {
    v.as_ref().map(|v| ValuesOut {
        values: Members(v.values.clone()),
    })
}

fn condition(c: &Condition) -> ConditionOut {
    ConditionOut {
        field: c.field.clone().unwrap_or_default(),
        values: Members(c.values.clone()),
        host_header_config: values(&c.host_header_config),
        path_pattern_config: values(&c.path_pattern_config),
        http_header_config: c.http_header_config.as_ref().map(|h| HeaderOut {
            http_header_name: h.http_header_name.clone().unwrap_or_default(),
            values: Members(h.values.clone()),
        }),
        query_string_config: c.query_string_config.as_ref().map(|q| QueryStringOut {
            values: Members(
                q.values
                    .iter()
                    .map(|kv| KeyValueOut {
                        key: kv.key.clone(),
                        value: kv.value.clone().unwrap_or_default(),
                    })
                    .collect(),
            ),
        }),
        http_request_method_config: values(&c.http_request_method_config),
        source_ip_config: values(&c.source_ip_config),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleOut {
    pub rule_arn: String,
    pub priority: String,
    pub conditions: Members<ConditionOut>,
    pub actions: Members<ActionOut>,
    pub is_default: bool,
}

pub fn rule(r: &Rule) -> RuleOut {
    RuleOut {
        rule_arn: r.arn.clone(),
        priority: r.priority.to_string(),
        conditions: Members(r.conditions.iter().map(condition).collect()),
        actions: actions(&r.actions),
        is_default: false,
    }
}

/// The default rule of a listener: its default actions, no conditions.
pub fn default_rule(rule_arn: String, l: &records::Listener) -> RuleOut {
    RuleOut {
        rule_arn,
        priority: "default".into(),
        conditions: Members::default(),
        actions: actions(&l.default_actions),
        is_default: true,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeOut {
    pub key: String,
    pub value: String,
}

pub fn attributes(list: Vec<(String, String)>) -> Members<AttributeOut> {
    Members(
        list.into_iter()
            .map(|(key, value)| AttributeOut { key, value })
            .collect(),
    )
}
