//! The controller on a real store: records written by an API that has no
//! data plane of its own (as another replica's) reach the proxy through
//! the store watch — the listener binds and answers, the load balancer is
//! active — a draining entry is dropped from the records when its
//! deregistration delay ends, and a listener whose port is taken leaves its
//! load balancer `failed`, with why.

use berth_core::arn::Scope;
use berth_lb::Elbv2;
use berth_lb::controller::{DataPlane, LbState};
use berth_lb::feed::Feed;
use berth_proto::query::{QueryInput, QueryService};
use berth_testkit::ecs::{ACCOUNT, REGION, root_ctx};
use berth_testkit::{eventually, memory_store};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn form(action: &str, params: &[(&str, &str)]) -> QueryInput {
    let mut pairs = vec![("Action", action), ("Version", "2015-12-01")];
    pairs.extend_from_slice(params);
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
        .collect();
    QueryInput::parse(body.join("&").as_bytes()).expect("a form")
}

/// Runs `action` as root as the listener does; its error, if any.
async fn try_call(svc: &Elbv2, action: &str, params: &[(&str, &str)]) -> Result<String, berth_proto::AwsError> {
    let ctx = root_ctx();
    let input = form(action, params);
    let result = svc.prepare(&ctx, action, &input).await?.run().await?;
    Ok(berth_proto::query::xml::response(
        action,
        berth_proto::query::XmlStyle::query(berth_lb::XML_NS),
        &result,
        "req-1",
    ))
}

async fn call(svc: &Elbv2, action: &str, params: &[(&str, &str)]) -> String {
    try_call(svc, action, params)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e:?}"))
}

fn between<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).expect(tag) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).expect(tag);
    &xml[start..start + end]
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    socket.local_addr().expect("its address").port()
}

#[tokio::test]
async fn the_watch_feeds_the_proxy_and_drops_expired_draining() {
    let store = memory_store();
    let api = Elbv2::new(store.clone(), Scope::new(REGION, ACCOUNT));
    let plane = DataPlane::new(Feed::default());
    tokio::spawn(plane.clone().run(store.clone()));

    let lb = call(&api, "CreateLoadBalancer", &[("Name", "web")]).await;
    let lb_arn = between(&lb, "LoadBalancerArn").to_string();
    let port = free_port().to_string();
    let listener = call(
        &api,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Protocol", "HTTP"),
            ("Port", &port),
            ("DefaultActions.member.1.Type", "fixed-response"),
            ("DefaultActions.member.1.FixedResponseConfig.StatusCode", "200"),
            (
                "DefaultActions.member.1.FixedResponseConfig.MessageBody",
                "from the watch",
            ),
        ],
    )
    .await;
    let listener_arn = between(&listener, "ListenerArn").to_string();
    let bound = eventually(Duration::from_secs(10), "the listener bound", || async {
        plane.bound_port(&listener_arn)
    })
    .await;
    assert_eq!(bound.to_string(), port);
    let records = api.snapshot().await.expect("records");
    assert_eq!(plane.lb_state(&records, &lb_arn), LbState::Active);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", bound))
        .await
        .expect("connected");
    conn.write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("from the watch"), "{answer}");

    // A target group in use, a deregistration delay of 1 s.
    let tg = call(
        &api,
        "CreateTargetGroup",
        &[("Name", "tg"), ("Protocol", "HTTP"), ("Port", "80")],
    )
    .await;
    let tg_arn = between(&tg, "TargetGroupArn").to_string();
    call(
        &api,
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Attributes.member.1.Key", "deregistration_delay.timeout_seconds"),
            ("Attributes.member.1.Value", "1"),
        ],
    )
    .await;
    call(
        &api,
        "ModifyListener",
        &[
            ("ListenerArn", &listener_arn),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg_arn),
        ],
    )
    .await;
    let target = [
        ("TargetGroupArn", tg_arn.as_str()),
        ("Targets.member.1.Id", "i-1"),
        ("Targets.member.1.Port", "1"),
    ];
    call(&api, "RegisterTargets", &target).await;
    call(&api, "DeregisterTargets", &target).await;
    let draining = api.snapshot().await.expect("records").tgs[&tg_arn].draining.len();
    assert_eq!(draining, 1);
    eventually(Duration::from_secs(10), "the draining entry dropped", || async {
        let records = api.snapshot().await.ok()?;
        records.tgs[&tg_arn].draining.is_empty().then_some(())
    })
    .await;

    // Another program holds a port; a listener stored for it (by a writer
    // without a data plane to refuse it) cannot be served.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken_port = taken.local_addr().expect("its address").port().to_string();
    call(
        &api,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Protocol", "HTTP"),
            ("Port", &taken_port),
            ("DefaultActions.member.1.Type", "fixed-response"),
            ("DefaultActions.member.1.FixedResponseConfig.StatusCode", "200"),
        ],
    )
    .await;
    let failed = eventually(Duration::from_secs(10), "the load balancer failed", || async {
        let records = api.snapshot().await.ok()?;
        match plane.lb_state(&records, &lb_arn) {
            LbState::Failed(why) => Some(why),
            _ => None,
        }
    })
    .await;
    assert!(
        failed.starts_with(&format!(
            "listener on port {taken_port}: cannot bind 127.0.0.1:{taken_port}"
        )),
        "{failed}"
    );
    // The other listener still serves.
    assert_eq!(plane.bound_port(&listener_arn), Some(bound));
}

#[tokio::test]
async fn a_write_the_proxy_cannot_serve_is_refused_and_undone() {
    let store = memory_store();
    let plane = DataPlane::new(Feed::default());
    let api = Elbv2::new(store.clone(), Scope::new(REGION, ACCOUNT)).with_data_plane(plane.clone());
    let lb = call(&api, "CreateLoadBalancer", &[("Name", "web")]).await;
    let lb_arn = between(&lb, "LoadBalancerArn").to_string();
    // Answered once applied: no listener to bind, so active.
    assert_eq!(between(&lb, "Code"), "active");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let e = try_call(
        &api,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Protocol", "HTTP"),
            ("Port", &port),
            ("DefaultActions.member.1.Type", "fixed-response"),
            ("DefaultActions.member.1.FixedResponseConfig.StatusCode", "200"),
        ],
    )
    .await
    .expect_err("the port is taken");
    assert_eq!(e.code, "InvalidConfigurationRequest");
    assert!(
        e.message.starts_with(&format!(
            "The listener on port {port} cannot be served: cannot bind 127.0.0.1:{port}"
        )),
        "{}",
        e.message
    );
    let records = api.snapshot().await.expect("records");
    assert!(records.listeners.is_empty(), "nothing stored");
    assert_eq!(plane.lb_state(&records, &lb_arn), LbState::Active);
    drop(taken);
}
