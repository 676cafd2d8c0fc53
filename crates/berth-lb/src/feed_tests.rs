//! The records → snapshot translation, without IO.

use super::*;
use crate::records::*;
use std::collections::BTreeMap;

const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1";
const L: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/1/2";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/3";
const TG2: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/4";

fn tg(arn: &str, protocol: &str, target_type: &str) -> TargetGroup {
    TargetGroup {
        arn: arn.into(),
        id: "3".into(),
        name: "web".into(),
        protocol: protocol.into(),
        protocol_version: None,
        port: 80,
        vpc_id: None,
        target_type: target_type.into(),
        ip_address_type: "ipv4".into(),
        health_check: HealthCheck {
            enabled: true,
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            path: Some("/health".into()),
            interval_seconds: 5,
            timeout_seconds: 2,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: Some("200-299".into()),
        },
        attributes: BTreeMap::from([
            ("deregistration_delay.timeout_seconds".into(), "10".into()),
            ("stickiness.enabled".into(), "true".into()),
            ("stickiness.type".into(), "lb_cookie".into()),
        ]),
        targets: vec![Target {
            id: "i-0abc".into(),
            port: 32768,
            availability_zone: None,
            registered_at_ms: 0,
        }],
        draining: vec![],
        tags: vec![],
    }
}

fn forward(arn: &str) -> records::Action {
    records::Action {
        kind: "forward".into(),
        target_group_arn: Some(arn.into()),
        order: None,
        redirect_config: None,
        fixed_response_config: None,
        forward_config: None,
    }
}

fn state(protocol: &str, tg_protocol: &str) -> State {
    let mut s = State::default();
    s.lbs.insert(
        LB.into(),
        LoadBalancer {
            arn: LB.into(),
            id: "1".into(),
            name: "web".into(),
            kind: LbType::Application,
            scheme: "internet-facing".into(),
            ip_address_type: "ipv4".into(),
            dns_name: "web".into(),
            created_time: String::new(),
            security_groups: vec![],
            subnets: vec![],
            attributes: BTreeMap::from([("idle_timeout.timeout_seconds".into(), "30".into())]),
            tags: vec![],
        },
    );
    s.tgs.insert(TG.into(), tg(TG, tg_protocol, "instance"));
    s.tgs.insert(TG2.into(), tg(TG2, "HTTP", "ip"));
    s.listeners.insert(
        L.into(),
        Listener {
            arn: L.into(),
            id: "2".into(),
            load_balancer_arn: LB.into(),
            port: 8080,
            protocol: protocol.into(),
            certificates: vec![],
            ssl_policy: None,
            alpn_policy: vec![],
            default_actions: vec![forward(TG)],
            default_rule_id: "d".into(),
            attributes: BTreeMap::new(),
            tags: vec![],
        },
    );
    s.rules.insert(
        "r".into(),
        Rule {
            arn: "r".into(),
            id: "r".into(),
            listener_arn: L.into(),
            priority: 10,
            conditions: vec![Condition {
                field: Some("path-pattern".into()),
                values: vec![],
                host_header_config: None,
                path_pattern_config: Some(Values {
                    values: vec!["/api/*".into()],
                }),
                http_header_config: None,
                query_string_config: None,
                http_request_method_config: None,
                source_ip_config: None,
            }],
            actions: vec![forward(TG2)],
            tags: vec![],
        },
    );
    s
}

#[test]
fn records_become_the_snapshot() {
    let fed = Feed::default().config(&state("HTTP", "HTTP"));
    assert!(fed.unserved.is_empty());
    let [lb] = fed.config.load_balancers.as_slice() else {
        panic!("one load balancer")
    };
    assert_eq!(lb.bind, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(lb.idle_timeout, Duration::from_secs(30));
    let [l] = lb.listeners.as_slice() else {
        panic!("one listener")
    };
    assert_eq!((l.port, &l.protocol), (8080, &proxy::ListenerProtocol::Http));
    assert_eq!(l.default_action, proxy::Action::Forward(proxy::Forward::to(TG)));
    assert_eq!(l.rules[0].priority, 10);
    assert_eq!(
        l.rules[0].conditions,
        vec![proxy::Condition::PathPattern(vec!["/api/*".into()])]
    );
    assert_eq!(l.rules[0].action, proxy::Action::Forward(proxy::Forward::to(TG2)));
    let group = fed
        .config
        .target_groups
        .iter()
        .find(|g| g.arn == TG)
        .expect("the group");
    // An instance target is reached on the host.
    assert_eq!(group.targets, vec![proxy::Target::new("127.0.0.1", 32768)]);
    assert_eq!(group.health_check.path, "/health");
    assert_eq!(group.health_check.interval, Duration::from_secs(5));
    assert!(group.health_check.matcher.accepts(204) && !group.health_check.matcher.accepts(302));
    assert_eq!(group.attributes.deregistration_delay, Duration::from_secs(10));
    // lb_cookie stickiness with its default duration (one day).
    assert_eq!(group.attributes.stickiness, Some(Duration::from_secs(86400)));
    let ip = fed
        .config
        .target_groups
        .iter()
        .find(|g| g.arn == TG2)
        .expect("the ip group");
    assert_eq!(ip.targets[0].id, "i-0abc", "an ip target is its own address");
}

#[test]
fn what_the_proxy_cannot_serve_is_named_and_left_out() {
    let fed = Feed::default().config(&state("HTTP", "HTTPS"));
    assert_eq!(fed.unserved.len(), 1);
    assert_eq!(fed.unserved[0].0, L);
    assert!(
        fed.unserved[0].1.contains("HTTPS target groups"),
        "{}",
        fed.unserved[0].1
    );
    assert!(fed.config.load_balancers[0].listeners.is_empty());
}

#[test]
fn fixed_responses_and_redirects() {
    let mut s = state("HTTP", "HTTP");
    let l = s.listeners.get_mut(L).expect("listener");
    l.default_actions = vec![records::Action {
        kind: "fixed-response".into(),
        fixed_response_config: Some(FixedResponseConfig {
            message_body: Some("nope".into()),
            status_code: "404".into(),
            content_type: Some("text/plain".into()),
        }),
        ..forward(TG)
    }];
    l.default_actions[0].target_group_arn = None;
    let r = s.rules.get_mut("r").expect("rule");
    r.actions = vec![records::Action {
        kind: "redirect".into(),
        target_group_arn: None,
        redirect_config: Some(RedirectConfig {
            protocol: Some("HTTPS".into()),
            port: Some("443".into()),
            host: None,
            path: None,
            query: None,
            status_code: "HTTP_301".into(),
        }),
        ..forward(TG)
    }];
    let fed = Feed::default().config(&s);
    let l = &fed.config.load_balancers[0].listeners[0];
    assert_eq!(
        l.default_action,
        proxy::Action::FixedResponse(proxy::FixedResponse {
            status: 404,
            content_type: Some("text/plain".into()),
            body: Some("nope".into()),
        })
    );
    let proxy::Action::Redirect(r) = &l.rules[0].action else {
        panic!("a redirect")
    };
    assert_eq!(
        (r.status, r.protocol.as_deref()),
        (proxy::RedirectStatus::Http301, Some("HTTPS"))
    );
}

#[test]
fn expired_draining_entries_are_dropped() {
    let mut s = state("HTTP", "HTTP");
    let g = s.tgs.get_mut(TG).expect("group");
    g.draining = vec![
        Draining {
            id: "i-1".into(),
            port: 1,
            until_ms: 100,
        },
        Draining {
            id: "i-2".into(),
            port: 2,
            until_ms: 200,
        },
    ];
    assert_eq!(crate::controller::next_expiry(&s), Some(100));
    crate::controller::drop_expired(&mut s, 150);
    assert_eq!(s.tgs[TG].draining.len(), 1);
    assert_eq!(crate::controller::next_expiry(&s), Some(200));
}
