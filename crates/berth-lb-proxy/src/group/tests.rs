use super::*;
use crate::config::{Algorithm, TargetProtocol};

fn config(targets: &[u16]) -> TargetGroup {
    TargetGroup {
        arn: "tg".into(),
        protocol: TargetProtocol::Http,
        health_check: HealthCheck {
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            ..HealthCheck::http_default()
        },
        attributes: TargetGroupAttributes {
            deregistration_delay: Duration::from_secs(10),
            ..Default::default()
        },
        targets: targets.iter().map(|&p| Target::new("127.0.0.1", p)).collect(),
    }
}

fn picked(group: &Group, now: Instant) -> Option<u16> {
    match group.pick(None, now) {
        Pick::Target(t, _) => Some(t.target.port),
        Pick::NoTargets => None,
    }
}

fn make_healthy(group: &Group, port: u16, now: Instant) {
    let t = Target::new("127.0.0.1", port);
    group.record(&t, CheckOutcome::Passed, now);
    group.record(&t, CheckOutcome::Passed, now);
}

#[test]
fn new_targets_are_initial_and_taken_only_failing_open() {
    let now = Instant::now();
    let g = Group::new(&config(&[1, 2]), true, now);
    let health = g.health();
    assert!(health.iter().all(|h| h.health.state == HealthState::Initial));
    assert!(
        picked(&g, now).is_some(),
        "no healthy target: fail open over the initial ones"
    );
    make_healthy(&g, 2, now);
    for _ in 0..4 {
        assert_eq!(picked(&g, now), Some(2));
    }
}

#[test]
fn a_deregistered_target_drains_then_goes() {
    let now = Instant::now();
    let g = Group::new(&config(&[1, 2]), true, now);
    make_healthy(&g, 1, now);
    make_healthy(&g, 2, now);
    g.update(&config(&[2]), true, now);
    let one = g.health().into_iter().find(|h| h.target.port == 1).unwrap();
    assert_eq!(one.health.state, HealthState::Draining);
    assert_eq!(one.health.reason, Some(Reason::DeregistrationInProgress));
    for _ in 0..4 {
        assert_eq!(picked(&g, now), Some(2), "no new request goes to a draining target");
    }
    assert_eq!(
        g.reap(now + Duration::from_secs(5)),
        Some(now + Duration::from_secs(10))
    );
    assert_eq!(g.health().len(), 2);
    assert_eq!(g.reap(now + Duration::from_secs(10)), None);
    assert_eq!(g.health().len(), 1);
    g.update(&config(&[]), true, now);
    g.reap(now + Duration::from_secs(30));
    assert!(matches!(g.pick(None, now), Pick::NoTargets));
}

#[test]
fn an_unused_group_reports_not_in_use_and_is_not_checked() {
    let now = Instant::now();
    let g = Group::new(&config(&[1]), false, now);
    let h = &g.health()[0].health;
    assert_eq!((h.state, h.reason), (HealthState::Unused, Some(Reason::NotInUse)));
    let (jobs, _, active) = g.check_jobs();
    assert!(jobs.is_empty() && !active);
}

#[test]
fn stickiness_keeps_a_client_on_its_healthy_target() {
    let now = Instant::now();
    let mut c = config(&[1, 2, 3]);
    c.attributes.stickiness = Some(Duration::from_secs(60));
    c.attributes.algorithm = Algorithm::RoundRobin;
    let g = Group::new(&c, true, now);
    for p in [1, 2, 3] {
        make_healthy(&g, p, now);
    }
    let cookie = sticky::target_value("127.0.0.1", 3);
    for _ in 0..5 {
        match g.pick(Some(&cookie), now) {
            Pick::Target(t, Some(life)) => {
                assert_eq!(t.target.port, 3);
                assert_eq!(life, Duration::from_secs(60));
            }
            other => panic!("{other:?}"),
        }
    }
    let t3 = Target::new("127.0.0.1", 3);
    g.record(&t3, CheckOutcome::Failed, now);
    g.record(&t3, CheckOutcome::Failed, now);
    for _ in 0..5 {
        assert_ne!(
            match g.pick(Some(&cookie), now) {
                Pick::Target(t, _) => t.target.port,
                Pick::NoTargets => 0,
            },
            3,
            "an unhealthy sticky target is left"
        );
    }
}

#[test]
fn a_target_healthy_beside_others_ramps_up_in_slow_start() {
    let now = Instant::now();
    let mut c = config(&[1]);
    c.attributes.slow_start = Duration::from_secs(100);
    let g = Group::new(&c, true, now);
    make_healthy(&g, 1, now);
    let joined = now + Duration::from_secs(1);
    c.targets.push(Target::new("127.0.0.1", 2));
    g.update(&c, true, joined);
    make_healthy(&g, 2, joined);
    let count = |at: Instant| (0..1000).filter(|_| picked(&g, at) == Some(2)).count();
    let early = count(joined + Duration::from_secs(10));
    assert!(
        (80..=100).contains(&early),
        "10 % into slow start: ~1 in 11 picks, got {early}"
    );
    let done = count(joined + Duration::from_secs(200));
    assert_eq!(done, 500, "after slow start: an equal share");
}

#[test]
fn targets_registered_into_an_empty_group_do_not_slow_start() {
    let now = Instant::now();
    let mut c = config(&[1, 2]);
    c.attributes.slow_start = Duration::from_secs(100);
    let g = Group::new(&c, true, now);
    make_healthy(&g, 1, now);
    make_healthy(&g, 2, now + Duration::from_secs(1));
    let at = now + Duration::from_secs(2);
    let ones = (0..1000).filter(|_| picked(&g, at) == Some(1)).count();
    assert_eq!(ones, 500, "both take their full share at once");

    let later = now + Duration::from_secs(10);
    c.targets.push(Target::new("127.0.0.1", 3));
    g.update(&c, true, later);
    make_healthy(&g, 3, later);
    let at = later + Duration::from_secs(50);
    let threes = (0..1000).filter(|_| picked(&g, at) == Some(3)).count();
    assert_eq!(
        threes, 200,
        "registered beside healthy targets: half weight halfway through"
    );
}
