//! Upstream connections: a client connection keeps its own keep-alive
//! connection to each target, hands them to the targets' pools when it
//! ends, and never sends to a target that left the group over one.

use crate::support::*;
use berth_lb_proxy::*;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::sync::atomic::Ordering::Relaxed;
use tokio::net::TcpStream;

/// A group without health checks (they would open connections of their
/// own): its targets take traffic at once.
fn unchecked(name: &str, targets: &[&Backend]) -> TargetGroup {
    let mut g = group(name, targets);
    g.health_check.enabled = false;
    g
}

async fn open(port: u16) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn no_client_connection(proxy: &Proxy) {
    eventually("the client connection is closed", || {
        let active = proxy.metrics().load_balancers[0].active_connection_count;
        async move { active == 0 }
    })
    .await;
}

#[tokio::test]
async fn a_client_connection_reuses_one_connection_per_target_and_hands_them_on() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("web"), vec![], vec![unchecked("web", &[&a, &b])]))
        .await
        .unwrap();
    let port = port(&proxy);

    let mut client = open(port).await;
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let got = send(&mut client, "/", &[]).await;
        assert_eq!(got.status, 200);
        bodies.push(got.body);
    }
    assert_eq!(bodies.iter().filter(|b| *b == "a").count(), 10, "{bodies:?}");
    assert_eq!(
        (a.accepted.load(Relaxed), b.accepted.load(Relaxed)),
        (1, 1),
        "one keep-alive connection to each target"
    );
    drop(client);
    no_client_connection(&proxy).await;

    // A new client connection takes the targets' pooled connections.
    for _ in 0..6 {
        assert_eq!(get(port, "/", &[]).await.status, 200);
    }
    assert_eq!((a.accepted.load(Relaxed), b.accepted.load(Relaxed)), (1, 1));
    assert_eq!(proxy.metrics().target_groups[0].request_count, 26);
}

#[tokio::test]
async fn a_deregistered_target_s_idle_connections_close_and_take_no_new_request() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("web"), vec![], vec![unchecked("web", &[&a, &b])]))
        .await
        .unwrap();
    let port = port(&proxy);
    let mut client = open(port).await;
    for _ in 0..4 {
        assert_eq!(send(&mut client, "/", &[]).await.status, 200);
    }
    // A second client connection's idle ones go to the targets' pools.
    assert_eq!(get(port, "/", &[]).await.status, 200);
    assert_eq!(get(port, "/", &[]).await.status, 200);
    assert_eq!(b.open.load(Relaxed), 2, "b: the client connection's and the pooled one");

    proxy
        .apply(&alb(forward("web"), vec![], vec![unchecked("web", &[&a])]))
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(send(&mut client, "/", &[]).await.body, "a", "b is draining");
    }
    eventually("b's idle connections are closed", || {
        let open = b.open.load(Relaxed);
        async move { open == 0 }
    })
    .await;
    assert_eq!(b.accepted.load(Relaxed), 2);
    let health = proxy.target_health(&tg_arn("web")).unwrap();
    let b_health = health.iter().find(|h| h.target.port == b.port).unwrap();
    assert_eq!(b_health.health.state, HealthState::Draining);
}

#[tokio::test]
async fn a_target_closing_its_connection_gets_the_next_request_on_a_new_one() {
    let a = Backend::start("a").await;
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("web"), vec![], vec![unchecked("web", &[&a])]))
        .await
        .unwrap();
    let port = port(&proxy);
    let mut client = open(port).await;
    for path in ["/close", "/", "/close", "/close", "/"] {
        let got = send(&mut client, path, &[]).await;
        assert_eq!((got.status.as_u16(), got.body.as_str()), (200, "a"), "{path}");
    }
    assert_eq!(a.accepted.load(Relaxed), 4, "a new connection after each close");
    let lb = &proxy.metrics().load_balancers[0];
    assert_eq!((lb.target_codes.xx2, lb.elb_codes.xx5), (5, 0));
}

#[tokio::test]
async fn an_http2_client_s_parallel_streams_each_get_their_answer() {
    use hyper_util::rt::TokioExecutor;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("web"), vec![], vec![unchecked("web", &[&a, &b])]))
        .await
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port(&proxy))).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..2 {
        let mut streams = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let mut sender = sender.clone();
            streams.spawn(async move {
                let request = http::Request::get("http://app.example.com/")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                read(sender.send_request(request).await.unwrap()).await
            });
        }
        let got: Vec<Got> = streams.join_all().await;
        assert!(got.iter().all(|g| g.status == 200), "{got:?}");
        assert_eq!(got.iter().filter(|g| g.body == "a").count(), 8, "{got:?}");
    }
    let opened = a.accepted.load(Relaxed) + b.accepted.load(Relaxed);
    assert!((2..=32).contains(&opened), "{opened} upstream connections");
    assert_eq!(proxy.metrics().target_groups[0].request_count, 32);
}
