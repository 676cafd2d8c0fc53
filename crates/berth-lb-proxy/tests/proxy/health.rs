//! Active health checks and draining through real sockets.

use crate::support::*;
use berth_lb_proxy::*;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[tokio::test]
async fn a_target_failing_its_health_checks_leaves_the_rotation() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("web"), vec![], vec![group("web", &[&a, &b])]))
        .await
        .unwrap();
    let initial = proxy.target_health(&tg_arn("web")).unwrap();
    assert!(
        initial.iter().all(|h| h.health.state == HealthState::Initial),
        "{initial:?}"
    );
    assert_eq!(
        initial[0].health.reason.map(|r| r.code()),
        Some("Elb.InitialHealthChecking")
    );
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);

    b.health.store(500, Relaxed);
    let arn = tg_arn("web");
    eventually("b is unhealthy", || {
        let health = proxy.target_health(&arn).unwrap();
        async move {
            health
                .iter()
                .any(|h| h.target.port == b.port && h.health.state == HealthState::Unhealthy)
        }
    })
    .await;
    let health = proxy.target_health(&arn).unwrap();
    let b_health = &health.iter().find(|h| h.target.port == b.port).unwrap().health;
    assert_eq!(b_health.reason.map(|r| r.code()), Some("Target.ResponseCodeMismatch"));
    assert_eq!(
        b_health.description.as_deref(),
        Some("Health checks failed with these codes: [500]")
    );
    for _ in 0..10 {
        assert_eq!(get(port, "/", &[]).await.body, "a");
    }
    let tg = &proxy.metrics().target_groups[0];
    assert_eq!((tg.healthy_host_count, tg.unhealthy_host_count), (1, 1));

    // Every target unhealthy: ALB fails open and sends to all of them.
    a.health.store(404, Relaxed);
    wait_state(&proxy, "web", HealthState::Unhealthy).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        seen.insert(get(port, "/", &[]).await.body);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    b.health.store(200, Relaxed);
    eventually("b is healthy again", || {
        let health = proxy.target_health(&arn).unwrap();
        async move {
            health
                .iter()
                .any(|h| h.target.port == b.port && h.health.state == HealthState::Healthy)
        }
    })
    .await;
}

#[tokio::test]
async fn a_deregistered_target_finishes_its_in_flight_request_while_new_ones_go_elsewhere() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    let mut web = group("web", &[&b]);
    web.attributes.deregistration_delay = Duration::from_secs(2);
    proxy
        .apply(&alb(forward("web"), vec![], vec![web.clone()]))
        .await
        .unwrap();
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);

    let slow = tokio::spawn(get(port, "/slow", &[]));
    eventually("the slow request reached b", || {
        let n = b.slow_arrived.load(Relaxed);
        async move { n == 1 }
    })
    .await;

    web.targets = vec![a.target()];
    proxy.apply(&alb(forward("web"), vec![], vec![web])).await.unwrap();
    let arn = tg_arn("web");
    let health = proxy.target_health(&arn).unwrap();
    let draining = health.iter().find(|h| h.target.port == b.port).unwrap();
    assert_eq!(draining.health.state, HealthState::Draining);
    assert_eq!(
        draining.health.description.as_deref(),
        Some("Target deregistration is in progress")
    );
    for _ in 0..5 {
        assert_eq!(
            get(port, "/", &[]).await.body,
            "a",
            "new requests avoid the draining target"
        );
    }

    b.release_slow();
    let done = slow.await.unwrap();
    assert_eq!((done.status.as_u16(), done.body.as_str()), (200, "b"));
    eventually("b is gone after the deregistration delay", || {
        let health = proxy.target_health(&arn).unwrap();
        async move { health.len() == 1 && health[0].target.port == a.port }
    })
    .await;
}

#[tokio::test]
async fn a_target_group_used_by_no_listener_has_unused_targets() {
    let a = Backend::start("a").await;
    let proxy = Proxy::new();
    let default = Action::FixedResponse(FixedResponse {
        status: 200,
        content_type: None,
        body: None,
    });
    proxy
        .apply(&alb(default, vec![], vec![group("idle", &[&a])]))
        .await
        .unwrap();
    let health = proxy.target_health(&tg_arn("idle")).unwrap();
    assert_eq!(health[0].health.state, HealthState::Unused);
    assert_eq!(health[0].health.reason.map(|r| r.code()), Some("Target.NotInUse"));
    assert_eq!(health[0].health_check_port, a.port);
    assert!(proxy.target_health(&tg_arn("nope")).is_none());
}
