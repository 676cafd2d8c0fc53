//! `apply` is incremental: an unchanged listener keeps its socket and its
//! open connections; a changed port rebinds; a port in use is reported.

use crate::support::*;
use berth_lb_proxy::*;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[tokio::test]
async fn a_changed_config_keeps_an_open_keep_alive_connection_working() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    let groups = vec![group("a", &[&a]), group("b", &[&b])];
    proxy.apply(&alb(forward("a"), vec![], groups.clone())).await.unwrap();
    wait_state(&proxy, "a", HealthState::Healthy).await;
    let port = port(&proxy);

    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    assert_eq!(send(&mut sender, "/", &[]).await.body, "a");

    let rules = vec![rule(5, vec![Condition::PathPattern(vec!["/b/*".into()])], forward("b"))];
    let changed = alb(forward("a"), rules, groups);
    proxy.apply(&changed).await.unwrap();
    proxy.apply(&changed).await.unwrap();
    assert_eq!(proxy.bound_port(LISTENER), Some(port), "the socket is kept");
    wait_state(&proxy, "b", HealthState::Healthy).await;
    assert_eq!(
        send(&mut sender, "/", &[]).await.body,
        "a",
        "the same connection still works"
    );
    assert_eq!(send(&mut sender, "/b/x", &[]).await.body, "b", "and sees the new rule");
    let lb = &proxy.metrics().load_balancers[0];
    assert_eq!(lb.new_connection_count, 1);
    assert_eq!(lb.active_connection_count, 1);
}

#[tokio::test]
async fn a_port_in_use_is_reported_and_the_rest_applied() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let proxy = Proxy::new();
    let fixed = Action::FixedResponse(FixedResponse {
        status: 200,
        content_type: None,
        body: Some("ok".into()),
    });
    let mut config = alb(fixed.clone(), vec![], vec![]);
    config.load_balancers[0].listeners.push(Listener {
        arn: format!("{LISTENER}-2"),
        port: taken_port,
        protocol: ListenerProtocol::Http,
        default_action: fixed,
        rules: vec![],
    });
    let err = proxy.apply(&config).await.unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].0, format!("{LISTENER}-2"));
    assert!(matches!(err.0[0].1, ListenerError::Bind { .. }), "{err}");
    assert_eq!(get(port(&proxy), "/", &[]).await.body, "ok");
    assert_eq!(proxy.bound_port(&format!("{LISTENER}-2")), None);

    config.load_balancers.clear();
    proxy.apply(&config).await.unwrap();
    assert_eq!(
        proxy.bound_port(LISTENER),
        None,
        "a removed load balancer's listeners close"
    );
}

#[tokio::test]
async fn an_idle_client_connection_is_closed_after_the_idle_timeout() {
    let proxy = Proxy::new();
    let fixed = Action::FixedResponse(FixedResponse {
        status: 200,
        content_type: None,
        body: Some("ok".into()),
    });
    let mut config = alb(fixed, vec![], vec![]);
    config.load_balancers[0].idle_timeout = std::time::Duration::from_millis(200);
    proxy.apply(&config).await.unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port(&proxy))).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    assert_eq!(send(&mut sender, "/", &[]).await.body, "ok");
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), conn).await;
    assert!(closed.is_ok(), "the load balancer closes the idle connection");
    eventually("no connection is active", || {
        let active = proxy.metrics().load_balancers[0].active_connection_count;
        async move { active == 0 }
    })
    .await;
}

#[tokio::test]
async fn a_changed_port_rebinds_the_listener() {
    let proxy = Proxy::new();
    let fixed = Action::FixedResponse(FixedResponse {
        status: 200,
        content_type: None,
        body: Some("ok".into()),
    });
    let mut config = alb(fixed, vec![], vec![]);
    proxy.apply(&config).await.unwrap();
    let first = port(&proxy);
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.load_balancers[0].listeners[0].port = free;
    proxy.apply(&config).await.unwrap();
    assert_eq!(proxy.bound_port(LISTENER), Some(free));
    assert_eq!(get(free, "/", &[]).await.body, "ok");
    assert!(
        TcpStream::connect(("127.0.0.1", first)).await.is_err(),
        "the old port is closed"
    );
}

#[tokio::test]
async fn a_client_that_stops_within_a_request_head_is_closed_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = Proxy::new();
    let fixed = Action::FixedResponse(FixedResponse {
        status: 200,
        content_type: None,
        body: Some("ok".into()),
    });
    let mut config = alb(fixed, vec![], vec![]);
    config.load_balancers[0].idle_timeout = std::time::Duration::from_millis(200);
    proxy.apply(&config).await.unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port(&proxy))).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: app").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the load balancer closes the connection");
    eventually("no connection is active", || {
        let active = proxy.metrics().load_balancers[0].active_connection_count;
        async move { active == 0 }
    })
    .await;
}
