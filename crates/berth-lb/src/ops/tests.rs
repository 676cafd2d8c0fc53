//! The operations' pure steps over a [`State`]: what they store, and what
//! they refuse without changing anything.

use super::listeners::{self, CreateListenerInput, ModifyListenerInput};
use super::load_balancers::{self, CreateLoadBalancerInput, DescribeLoadBalancersInput};
use super::rules::{self, CreateRuleInput, RulePriorityPair};
use super::target_groups::{self, CreateTargetGroupInput};
use super::targets::{self, TargetDescription};
use super::*;
use crate::records::{Action, Condition, Values};
use crate::state::State;
use berth_core::arn::Scope;
use berth_proto::query::QueryInput;

fn scope() -> Scope {
    Scope::new("eu-west-1", "123456789012")
}

fn decode<T: serde::de::DeserializeOwned>(form: &str) -> T {
    QueryInput::parse(form.as_bytes()).unwrap().decode().unwrap()
}

fn forward(tg: &str) -> Action {
    Action {
        kind: "forward".into(),
        target_group_arn: Some(tg.into()),
        order: None,
        redirect_config: None,
        fixed_response_config: None,
        forward_config: None,
    }
}

/// An ALB, an HTTP target group and an HTTP listener forwarding to it.
fn alb(st: &mut State) -> (String, String, String) {
    let lb: CreateLoadBalancerInput = decode("Name=web");
    let lb = load_balancers::create(st, &scope(), &lb).unwrap();
    let tg: CreateTargetGroupInput = decode("Name=tg&Protocol=HTTP&Port=80");
    let tg = target_groups::create(st, &scope(), &tg).unwrap();
    let mut l: CreateListenerInput = decode("Protocol=HTTP&Port=80&LoadBalancerArn=x&DefaultActions=");
    l.load_balancer_arn = lb.arn.clone();
    l.default_actions = vec![forward(&tg.arn)];
    let l = listeners::create(st, &l).unwrap();
    (lb.arn, tg.arn, l.arn)
}

fn path_rule(listener: &str, tg: &str, priority: i32) -> CreateRuleInput {
    let mut r: CreateRuleInput = decode("ListenerArn=x&Priority=1&Conditions=&Actions=");
    r.listener_arn = listener.into();
    r.priority = priority;
    r.conditions = vec![Condition {
        field: Some("path-pattern".into()),
        values: vec![format!("/p{priority}/*")],
        host_header_config: None,
        path_pattern_config: None::<Values>,
        http_header_config: None,
        query_string_config: None,
        http_request_method_config: None,
        source_ip_config: None,
    }];
    r.actions = vec![forward(tg)];
    r
}

#[test]
fn arns_and_dns_names() {
    let mut st = State::default();
    let (lb, tg, l) = alb(&mut st);
    let rec = &st.lbs[&lb];
    assert_eq!(
        lb,
        format!(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/{}",
            rec.id
        )
    );
    assert_eq!(rec.dns_name, format!("web-{}.eu-west-1.elb.localhost", rec.id));
    assert!(tg.starts_with("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/"));
    assert_eq!(
        l,
        format!("{}/{}", lb.replace(":loadbalancer/", ":listener/"), st.listeners[&l].id)
    );
    assert_eq!(
        rule_arn(&l, "r"),
        format!("{}/r", l.replace(":listener/", ":listener-rule/"))
    );
}

#[test]
fn rules_priorities_and_the_default_rule() {
    let mut st = State::default();
    let (_, tg, l) = alb(&mut st);
    let r1 = rules::create(&mut st, &path_rule(&l, &tg, 10)).unwrap();
    let before = st.clone();
    assert_eq!(
        rules::create(&mut st, &path_rule(&l, &tg, 10)).unwrap_err().code(),
        "PriorityInUse"
    );
    let r2 = rules::create(&mut st, &path_rule(&l, &tg, 20)).unwrap();
    let swap = [
        RulePriorityPair {
            rule_arn: Some(r1.arn.clone()),
            priority: Some(20),
        },
        RulePriorityPair {
            rule_arn: Some(r2.arn.clone()),
            priority: Some(10),
        },
    ];
    rules::set_priorities(&mut st, &swap).unwrap();
    assert_eq!(st.rules[&r1.arn].priority, 20);
    let clash = [RulePriorityPair {
        rule_arn: Some(r1.arn.clone()),
        priority: Some(10),
    }];
    assert_eq!(
        rules::set_priorities(&mut st.clone(), &clash).unwrap_err().code(),
        "PriorityInUse"
    );
    let default_rule = listeners::default_rule_arn(&st.listeners[&l]);
    assert_eq!(
        rules::delete(&mut st, &default_rule).unwrap_err().code(),
        "OperationNotPermitted"
    );
    assert_eq!(rules::delete(&mut st, "nope").unwrap_err().code(), "RuleNotFound");
    assert_ne!(before, st);
}

#[test]
fn listeners_and_protocols() {
    let mut st = State::default();
    let (lb, tg, l) = alb(&mut st);
    let mut dup: CreateListenerInput = decode("Protocol=HTTP&Port=80&LoadBalancerArn=x&DefaultActions=");
    dup.load_balancer_arn = lb.clone();
    dup.default_actions = vec![forward(&tg)];
    assert_eq!(
        listeners::create(&mut st, &dup).unwrap().arn,
        l,
        "the same listener again is the same"
    );
    dup.default_actions[0].kind = "fixed-response".into();
    dup.default_actions[0].target_group_arn = None;
    dup.default_actions[0].fixed_response_config = Some(crate::records::FixedResponseConfig {
        message_body: None,
        status_code: "404".into(),
        content_type: None,
    });
    assert_eq!(
        listeners::create(&mut st, &dup).unwrap_err().code(),
        "DuplicateListener"
    );
    dup.port = Some(443);
    dup.protocol = Some("HTTPS".into());
    assert_eq!(
        listeners::create(&mut st, &dup).unwrap_err().code(),
        "ValidationError",
        "no certificate"
    );
    dup.certificates = vec![crate::records::Certificate {
        certificate_arn: Some("arn:aws:acm:eu-west-1:123456789012:certificate/x".into()),
        is_default: None,
    }];
    assert_eq!(
        listeners::create(&mut st, &dup).unwrap_err().code(),
        "CertificateNotFound"
    );
    dup.certificates[0].certificate_arn = Some("file:///etc/site.pem".into());
    let https = listeners::create(&mut st.clone(), &dup).unwrap();
    assert_eq!(https.ssl_policy.as_deref(), Some(listeners::DEFAULT_SSL_POLICY));
    dup.protocol = Some("TCP".into());
    let e = listeners::create(&mut st, &dup).unwrap_err();
    assert_eq!(e.to_string(), "Listener protocol 'TCP' must be one of 'HTTPS, HTTP'");
    let nlb: CreateLoadBalancerInput = decode("Name=net&Type=network");
    let nlb = load_balancers::create(&mut st, &scope(), &nlb).unwrap();
    let mut on_nlb: CreateListenerInput = decode("Protocol=HTTP&Port=80&LoadBalancerArn=x&DefaultActions=");
    on_nlb.load_balancer_arn = nlb.arn.clone();
    on_nlb.default_actions = vec![forward(&tg)];
    assert_eq!(
        listeners::create(&mut st, &on_nlb).unwrap_err().to_string(),
        "Listener protocol 'HTTP' must be one of 'TLS, TCP, TCP_UDP, UDP'"
    );
    on_nlb.protocol = Some("UDP".into());
    assert_eq!(
        listeners::create(&mut st, &on_nlb).unwrap_err().code(),
        "UnsupportedProtocol"
    );
    on_nlb.protocol = Some("TCP".into());
    assert_eq!(
        listeners::create(&mut st, &on_nlb).unwrap_err().code(),
        "IncompatibleProtocols"
    );
    let mut modify: ModifyListenerInput = decode("ListenerArn=x");
    modify.listener_arn = l.clone();
    modify.port = Some(8080);
    assert_eq!(listeners::modify(&mut st, &modify).unwrap().port, 8080);
}

#[test]
fn deleting_in_order() {
    let mut st = State::default();
    let (lb, tg, l) = alb(&mut st);
    rules::create(&mut st, &path_rule(&l, &tg, 1)).unwrap();
    assert_eq!(target_groups::delete(&mut st, &tg).unwrap_err().code(), "ResourceInUse");
    load_balancers::delete(&mut st, &lb).unwrap();
    assert!(st.listeners.is_empty() && st.rules.is_empty());
    load_balancers::delete(&mut st, &lb).unwrap();
    target_groups::delete(&mut st, &tg).unwrap();
    target_groups::delete(&mut st, &tg).unwrap();
    assert!(st.lbs.is_empty());
    assert!(st.tgs.is_empty());
}

#[test]
fn deletion_protection() {
    let mut st = State::default();
    let (lb, ..) = alb(&mut st);
    let rec = st.lbs.get_mut(&lb).unwrap();
    crate::attributes::set_lb_attributes(
        rec.kind,
        &mut rec.attributes,
        &[("deletion_protection.enabled".into(), "true".into())],
    )
    .unwrap();
    assert_eq!(
        load_balancers::delete(&mut st, &lb).unwrap_err().code(),
        "OperationNotPermitted"
    );
}

#[test]
fn targets_register_once_and_drain_when_in_use() {
    let mut st = State::default();
    let (_, tg, _) = alb(&mut st);
    let t = |id: &str, port: Option<i32>| TargetDescription {
        id: id.into(),
        port,
        availability_zone: None,
    };
    targets::register(
        &mut st,
        &tg,
        &[t("i-1", None), t("i-1", None), t("i-2", Some(8080))],
        1_000,
    )
    .unwrap();
    assert_eq!(st.tgs[&tg].targets.len(), 2);
    assert_eq!(st.tgs[&tg].targets[0].port, 80);
    let before = st.clone();
    targets::deregister(&mut st, &tg, &[t("i-9", None)], 2_000).unwrap();
    assert_eq!(st, before, "a target not registered is already deregistered");
    targets::deregister(&mut st, &tg, &[t("i-1", None)], 2_000).unwrap();
    let draining = &st.tgs[&tg].draining;
    assert_eq!(
        (draining[0].id.as_str(), draining[0].until_ms),
        ("i-1", 2_000 + 300_000)
    );
    // Past the delay, the next write drops it.
    targets::register(&mut st, &tg, &[t("i-3", None)], 400_000).unwrap();
    assert!(st.tgs[&tg].draining.is_empty());
    let ip: CreateTargetGroupInput = decode("Name=ips&Protocol=HTTP&Port=80&TargetType=ip");
    let ip = target_groups::create(&mut st, &scope(), &ip).unwrap();
    assert_eq!(
        targets::register(&mut st, &ip.arn, &[t("i-1", None)], 0)
            .unwrap_err()
            .code(),
        "InvalidTarget"
    );
    targets::register(&mut st, &ip.arn, &[t("10.0.0.7", None)], 0).unwrap();
}

#[test]
fn names_idempotency_and_pagination() {
    let mut st = State::default();
    alb(&mut st);
    let same: CreateLoadBalancerInput = decode("Name=web");
    assert_eq!(load_balancers::create(&mut st, &scope(), &same).unwrap().name, "web");
    assert_eq!(st.lbs.len(), 1);
    let other: CreateLoadBalancerInput = decode("Name=web&Type=network");
    assert_eq!(
        load_balancers::create(&mut st, &scope(), &other).unwrap_err().code(),
        "DuplicateLoadBalancerName"
    );
    let tg: CreateTargetGroupInput = decode("Name=tg&Protocol=HTTP&Port=81");
    assert_eq!(
        target_groups::create(&mut st, &scope(), &tg).unwrap_err().code(),
        "DuplicateTargetGroupName"
    );
    for n in ["b", "c", "d"] {
        let i: CreateLoadBalancerInput = decode(&format!("Name={n}"));
        load_balancers::create(&mut st, &scope(), &i).unwrap();
    }
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let input = DescribeLoadBalancersInput {
            load_balancer_arns: Vec::new(),
            names: Vec::new(),
            marker: marker.clone(),
            page_size: Some(3),
        };
        let (page, next) = load_balancers::describe(&st, &input).unwrap();
        all.extend(page.into_iter().map(|lb| lb.name));
        match next {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    all.sort();
    assert_eq!(all, vec!["b", "c", "d", "web"]);
    let missing = DescribeLoadBalancersInput {
        load_balancer_arns: Vec::new(),
        names: vec!["nope".into()],
        marker: None,
        page_size: None,
    };
    assert_eq!(
        load_balancers::describe(&st, &missing).unwrap_err().code(),
        "LoadBalancerNotFound"
    );
}

#[test]
fn certificate_files_and_alpn() {
    let cert = |arn: &str| crate::records::Certificate {
        certificate_arn: Some(arn.into()),
        is_default: None,
    };
    let missing = listeners::check_certificate_files(&[cert("file:///nonexistent/site.pem")]).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "Certificate 'file:///nonexistent/site.pem' not found"
    );
    // Any file that exists: this test's own binary.
    let me = std::env::current_exe().unwrap();
    listeners::check_certificate_files(&[cert(&format!("file://{}", me.display()))]).unwrap();
    assert!(listeners::check_certificate_files(&[cert("file://relative.pem")]).is_err());
    let mut st = State::default();
    let (_, tg, l) = alb(&mut st);
    let mut modify: ModifyListenerInput = decode("ListenerArn=x");
    modify.listener_arn = l;
    modify.alpn_policy = vec!["HTTP2Only".into()];
    assert_eq!(
        listeners::modify(&mut st, &modify).unwrap_err().code(),
        "ValidationError",
        "HTTP listener"
    );
    let nlb: CreateLoadBalancerInput = decode("Name=net&Type=network");
    let nlb = load_balancers::create(&mut st, &scope(), &nlb).unwrap();
    let tcp: CreateTargetGroupInput = decode("Name=tcp&Protocol=TCP&Port=80");
    let tcp = target_groups::create(&mut st, &scope(), &tcp).unwrap();
    let mut tls: CreateListenerInput = decode("Protocol=TLS&Port=443&LoadBalancerArn=x&DefaultActions=");
    tls.load_balancer_arn = nlb.arn;
    tls.default_actions = vec![forward(&tcp.arn)];
    tls.certificates = vec![cert("file:///etc/site.pem")];
    tls.alpn_policy = vec!["HTTP3".into()];
    assert_eq!(
        listeners::create(&mut st, &tls).unwrap_err().code(),
        "ALPNPolicyNotFound"
    );
    tls.alpn_policy = vec!["HTTP2Preferred".into()];
    assert_eq!(
        listeners::create(&mut st, &tls).unwrap().alpn_policy,
        vec!["HTTP2Preferred"]
    );
    let _ = tg;
}

#[test]
fn target_health_from_what_the_checks_found() {
    use berth_lb_proxy::{HealthState, Reason, TargetHealth, TargetHealthDescription};
    let mut st = State::default();
    let (_, tg, _) = alb(&mut st);
    let targets: Vec<TargetDescription> = vec![
        TargetDescription {
            id: "i-1".into(),
            port: Some(8001),
            availability_zone: None,
        },
        TargetDescription {
            id: "i-2".into(),
            port: Some(8002),
            availability_zone: None,
        },
    ];
    targets::register(&mut st, &tg, &targets, 0).unwrap();
    targets::deregister(&mut st, &tg, &targets[1..], 0).unwrap();
    let group = &st.tgs[&tg];
    let feed = crate::feed::Feed::default();
    // The data plane has not taken them yet.
    let found = targets::describe_health(group, &[], &feed, &[]);
    let states: Vec<(&str, &str)> = found
        .iter()
        .map(|d| (d.target.id.as_str(), d.target_health.state.as_str()))
        .collect();
    assert_eq!(states, vec![("i-1", "initial"), ("i-2", "draining")]);
    assert_eq!(
        found[0].target_health.reason.as_deref(),
        Some("Elb.RegistrationInProgress")
    );
    assert_eq!(found[0].health_check_port, "8001");
    // The checks found it failing: ELBv2's reason and description.
    let observed = vec![TargetHealthDescription {
        target: berth_lb_proxy::Target::new("127.0.0.1", 8001),
        health_check_port: 8001,
        health: TargetHealth::because(HealthState::Unhealthy, Reason::Timeout),
    }];
    let found = targets::describe_health(group, &[], &feed, &observed);
    assert_eq!(found[0].target_health.state, "unhealthy");
    assert_eq!(found[0].target_health.reason.as_deref(), Some("Target.Timeout"));
    assert_eq!(found[0].target_health.description.as_deref(), Some("Request timed out"));
    // Asked for: one registered (any port), one not.
    let asked = vec![
        TargetDescription {
            id: "i-1".into(),
            port: None,
            availability_zone: None,
        },
        TargetDescription {
            id: "i-9".into(),
            port: None,
            availability_zone: None,
        },
    ];
    let found = targets::describe_health(group, &asked, &feed, &observed);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].target.port, 8001);
    assert_eq!(
        (
            found[1].target.port,
            found[1].target_health.state.as_str(),
            found[1].target_health.reason.as_deref()
        ),
        (80, "unused", Some("Target.NotRegistered"))
    );
}

#[test]
fn a_write_is_undone_record_by_record() {
    let mut before = State::default();
    let (lb, _, listener) = alb(&mut before);
    let mut after = before.clone();
    listeners::delete(&mut after, &listener).unwrap();
    let mut l: CreateListenerInput = decode("Protocol=HTTP&Port=81&LoadBalancerArn=x&DefaultActions=");
    l.load_balancer_arn = lb.clone();
    l.default_actions = before.listeners[&listener].default_actions.clone();
    let added = listeners::create(&mut after, &l).unwrap();
    // Another write changed the load balancer since: it is kept.
    let mut now = after.clone();
    now.lbs.get_mut(&lb).unwrap().name = "renamed".into();
    now.undo(&before, &after);
    assert!(now.listeners.contains_key(&listener) && !now.listeners.contains_key(&added.arn));
    assert_eq!(now.lbs[&lb].name, "renamed");
}
