//! Actions in their normal form: a forward's ForwardConfig, weights and
//! their limits, one load balancer per target group, redirects' defaults,
//! and what Berth refuses.

use super::*;
use crate::records::{FixedResponseConfig, RedirectConfig, TargetGroup};

fn tg(arn: &str, protocol: &str) -> TargetGroup {
    TargetGroup {
        arn: arn.into(),
        id: "1".into(),
        name: arn.into(),
        protocol: protocol.into(),
        protocol_version: None,
        port: 80,
        vpc_id: None,
        target_type: "instance".into(),
        ip_address_type: "ipv4".into(),
        health_check: crate::health::new_health_check(protocol, &Default::default()).unwrap(),
        attributes: Default::default(),
        targets: Vec::new(),
        draining: Vec::new(),
        tags: Vec::new(),
    }
}

fn action(kind: &str) -> Action {
    Action {
        kind: kind.into(),
        target_group_arn: None,
        order: None,
        redirect_config: None,
        fixed_response_config: None,
        forward_config: None,
    }
}

fn state() -> State {
    let mut s = State::default();
    for (arn, p) in [("tg-http", "HTTP"), ("tg-tcp", "TCP"), ("tg-b", "HTTP")] {
        s.tgs.insert(arn.into(), tg(arn, p));
    }
    s
}

const ALB: Place<'static> = Place {
    lb_arn: "lb-1",
    lb_type: LbType::Application,
    protocol: "HTTP",
};

#[test]
fn a_forward_to_one_group_carries_its_forward_config() {
    let mut a = action("forward");
    a.target_group_arn = Some("tg-http".into());
    let out = check_actions(&state(), &ALB, &[a]).unwrap();
    let f = out[0].forward_config.as_ref().unwrap();
    assert_eq!(
        f.target_groups,
        vec![TargetGroupTuple {
            target_group_arn: Some("tg-http".into()),
            weight: Some(1)
        }]
    );
    assert_eq!(f.target_group_stickiness_config.as_ref().unwrap().enabled, Some(false));
}

#[test]
fn weighted_forwards_and_their_limits() {
    let weighted = |weights: &[(&str, i32)]| {
        let mut a = action("forward");
        a.forward_config = Some(ForwardConfig {
            target_groups: weights
                .iter()
                .map(|(arn, w)| TargetGroupTuple {
                    target_group_arn: Some(arn.to_string()),
                    weight: Some(*w),
                })
                .collect(),
            target_group_stickiness_config: None,
        });
        check_actions(&state(), &ALB, &[a])
    };
    let out = weighted(&[("tg-http", 90), ("tg-b", 10)]).unwrap();
    assert_eq!(out[0].target_group_arn, None);
    assert_eq!(weighted(&[("tg-http", 1000)]).unwrap_err().code(), "ValidationError");
    assert_eq!(weighted(&[("tg-tcp", 1)]).unwrap_err().code(), "IncompatibleProtocols");
    assert_eq!(weighted(&[("tg-none", 1)]).unwrap_err().code(), "TargetGroupNotFound");
    assert!(weighted(&[("tg-http", 1), ("tg-http", 2)]).is_err());
}

#[test]
fn a_group_serves_one_load_balancer() {
    let mut s = state();
    let mut a = action("forward");
    a.target_group_arn = Some("tg-http".into());
    s.listeners.insert(
        "l-other".into(),
        crate::records::Listener {
            arn: "l-other".into(),
            id: "x".into(),
            load_balancer_arn: "lb-2".into(),
            port: 80,
            protocol: "HTTP".into(),
            certificates: Vec::new(),
            ssl_policy: None,
            alpn_policy: Vec::new(),
            default_actions: vec![a.clone()],
            default_rule_id: "r".into(),
            attributes: Default::default(),
            tags: Vec::new(),
        },
    );
    assert_eq!(
        check_actions(&s, &ALB, &[a]).unwrap_err().code(),
        "TargetGroupAssociationLimit"
    );
}

#[test]
fn redirects_fixed_responses_and_what_is_refused() {
    let mut r = action("redirect");
    r.redirect_config = Some(RedirectConfig {
        protocol: Some("HTTPS".into()),
        port: None,
        host: None,
        path: None,
        query: None,
        status_code: "HTTP_301".into(),
    });
    let out = check_actions(&state(), &ALB, &[r.clone()]).unwrap();
    let rc = out[0].redirect_config.as_ref().unwrap();
    assert_eq!(
        (rc.port.as_deref(), rc.path.as_deref()),
        (Some("#{port}"), Some("/#{path}"))
    );
    let mut f = action("fixed-response");
    f.fixed_response_config = Some(FixedResponseConfig {
        message_body: Some("gone".into()),
        status_code: "410".into(),
        content_type: Some("text/csv".into()),
    });
    assert!(check_actions(&state(), &ALB, &[f]).is_err());
    let nlb = Place {
        lb_arn: "lb-n",
        lb_type: LbType::Network,
        protocol: "TCP",
    };
    assert_eq!(
        check_actions(&state(), &nlb, &[r.clone()]).unwrap_err().code(),
        "InvalidLoadBalancerAction"
    );
    assert_eq!(
        check_actions(&state(), &ALB, &[action("authenticate-oidc")])
            .unwrap_err()
            .code(),
        "InvalidLoadBalancerAction"
    );
    assert_eq!(
        check_actions(&state(), &ALB, &[r.clone(), r]).unwrap_err().code(),
        "TooManyActions"
    );
    assert!(check_actions(&state(), &ALB, &[]).is_err());
    assert!(compatible("TLS", "TCP") && !compatible("TCP", "HTTP"));
}
