//! Requests through an HTTP listener: balancing, weights, rules, the
//! answers the load balancer makes itself, the forwarded headers, metrics.

use crate::support::*;
use berth_lb_proxy::*;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn round_robin_reaches_every_target_and_forwards_the_client_headers() {
    let backends = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ];
    let proxy = Proxy::new();
    let web = group("web", &backends.iter().collect::<Vec<_>>());
    proxy.apply(&alb(forward("web"), vec![], vec![web])).await.unwrap();
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);

    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        let got = get(port, "/", &[]).await;
        assert_eq!(got.status, 200);
        *seen.entry(got.body).or_default() += 1;
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|&n| n == 10), "round robin shares evenly: {seen:?}");

    let got = get(port, "/headers", &[("x-forwarded-for", "203.0.113.9")]).await;
    let lines: Vec<&str> = got.body.lines().collect();
    assert!(lines.contains(&"x-forwarded-for: 203.0.113.9, 127.0.0.1"), "{lines:?}");
    assert!(lines.contains(&"x-forwarded-proto: http"), "{lines:?}");
    assert!(
        lines.contains(&format!("x-forwarded-port: {port}").as_str()),
        "{lines:?}"
    );
    assert!(lines.contains(&"host: app.example.com"), "the Host is kept: {lines:?}");
    let trace = lines
        .iter()
        .find(|l| l.starts_with("x-amzn-trace-id: Root=1-"))
        .expect("a trace id");
    assert_eq!(trace.len(), "x-amzn-trace-id: Root=1-".len() + 8 + 1 + 24, "{trace}");

    let metrics = proxy.metrics();
    let lb = &metrics.load_balancers[0];
    assert_eq!(lb.request_count, 31);
    assert_eq!(lb.target_codes.xx2, 31);
    assert_eq!(lb.new_connection_count, 31);
    assert_eq!(lb.target_response_time.count, 31);
    let tg = &metrics.target_groups[0];
    assert_eq!(
        (tg.request_count, tg.healthy_host_count, tg.unhealthy_host_count),
        (31, 3, 0)
    );
    assert!((tg.request_count_per_target - 31.0 / 3.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_weighted_forward_shares_by_weight() {
    let (blue, green) = (Backend::start("blue").await, Backend::start("green").await);
    let proxy = Proxy::new();
    let action = Action::Forward(Forward {
        target_groups: vec![
            WeightedGroup {
                arn: tg_arn("blue"),
                weight: 80,
            },
            WeightedGroup {
                arn: tg_arn("green"),
                weight: 20,
            },
        ],
        stickiness: None,
    });
    let config = alb(action, vec![], vec![group("blue", &[&blue]), group("green", &[&green])]);
    proxy.apply(&config).await.unwrap();
    wait_state(&proxy, "blue", HealthState::Healthy).await;
    wait_state(&proxy, "green", HealthState::Healthy).await;
    let port = port(&proxy);
    let mut green_count = 0;
    for _ in 0..400 {
        if get(port, "/", &[]).await.body == "green" {
            green_count += 1;
        }
    }
    assert!(
        (40..=130).contains(&green_count),
        "20 % of 400 is 80, got {green_count}"
    );
}

#[tokio::test]
async fn path_and_host_rules_choose_the_target_group() {
    let (web, api, statics) = (
        Backend::start("web").await,
        Backend::start("api").await,
        Backend::start("static").await,
    );
    let proxy = Proxy::new();
    let rules = vec![
        rule(
            10,
            vec![Condition::HostHeader(vec!["api.example.com".into()])],
            forward("api"),
        ),
        rule(
            20,
            vec![Condition::PathPattern(vec!["/static/*".into()])],
            forward("static"),
        ),
    ];
    let groups = vec![
        group("web", &[&web]),
        group("api", &[&api]),
        group("static", &[&statics]),
    ];
    proxy.apply(&alb(forward("web"), rules, groups)).await.unwrap();
    for name in ["web", "api", "static"] {
        wait_state(&proxy, name, HealthState::Healthy).await;
    }
    let port = port(&proxy);
    assert_eq!(get(port, "/", &[]).await.body, "web");
    assert_eq!(get(port, "/static/app.js", &[]).await.body, "static");
    assert_eq!(
        get(port, "/Static/app.js", &[]).await.body,
        "web",
        "paths are case-sensitive"
    );
    assert_eq!(
        get(port, "/static/x", &[("host", "API.example.com:80")]).await.body,
        "api"
    );
}

#[tokio::test]
async fn fixed_response_and_redirect_answer_as_alb() {
    let proxy = Proxy::new();
    let rules = vec![
        rule(
            1,
            vec![Condition::PathPattern(vec!["/old/*".into()])],
            Action::Redirect(Redirect {
                protocol: Some("HTTPS".into()),
                host: None,
                port: Some("443".into()),
                path: Some("/new/#{path}".into()),
                query: None,
                status: RedirectStatus::Http301,
            }),
        ),
        rule(
            2,
            vec![Condition::HttpRequestMethod(vec!["GET".into()])],
            Action::FixedResponse(FixedResponse {
                status: 404,
                content_type: Some("application/json".into()),
                body: Some(r#"{"error":"no such page"}"#.into()),
            }),
        ),
    ];
    let default = Action::FixedResponse(FixedResponse {
        status: 200,
        content_type: None,
        body: None,
    });
    proxy.apply(&alb(default, rules, vec![])).await.unwrap();
    let port = port(&proxy);

    let got = get(port, "/old/page?x=1", &[]).await;
    assert_eq!(got.status, 301);
    assert_eq!(got.headers["location"], "https://app.example.com:443/new/old/page?x=1");
    assert_eq!(got.headers["server"], "awselb/2.0");
    assert!(
        got.body.contains("<title>301 Moved Permanently</title>"),
        "{}",
        got.body
    );

    let got = get(port, "/missing", &[]).await;
    assert_eq!(got.status, 404);
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.body, r#"{"error":"no such page"}"#);

    let elb = proxy.metrics().load_balancers[0].elb_codes;
    assert_eq!((elb.xx3, elb.xx4), (1, 1));
}

#[tokio::test]
async fn the_load_balancer_answers_502_503_and_504() {
    let hanging = Backend::start("hang").await;
    let closed_port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut refused = group("refused", &[]);
    refused.targets = vec![Target::new("127.0.0.1", closed_port)];
    refused.health_check.enabled = false;
    let mut slow = group("slow", &[&hanging]);
    slow.health_check.enabled = false;
    let rules = vec![
        rule(
            1,
            vec![Condition::PathPattern(vec!["/refused".into()])],
            forward("refused"),
        ),
        rule(2, vec![Condition::PathPattern(vec!["/hang".into()])], forward("slow")),
    ];
    let mut config = alb(forward("empty"), rules, vec![group("empty", &[]), refused, slow]);
    config.load_balancers[0].idle_timeout = Duration::from_millis(300);
    let proxy = Proxy::new();
    proxy.apply(&config).await.unwrap();
    let port = port(&proxy);

    let got = get(port, "/", &[]).await;
    assert_eq!(got.status, 503, "no registered target");
    assert!(
        got.body.contains("<title>503 Service Temporarily Unavailable</title>"),
        "{}",
        got.body
    );
    let got = get(port, "/refused", &[]).await;
    assert_eq!(got.status, 502, "the target refuses the connection");
    assert!(got.body.contains("<title>502 Bad Gateway</title>"), "{}", got.body);
    let got = get(port, "/hang", &[]).await;
    assert_eq!(got.status, 504, "no answer within the idle timeout");
    assert!(got.body.contains("<title>504 Gateway Time-out</title>"), "{}", got.body);

    let lb = &proxy.metrics().load_balancers[0];
    assert_eq!((lb.elb_502_count, lb.elb_503_count, lb.elb_504_count), (1, 1, 1));
    assert_eq!(lb.elb_codes.xx5, 3);
    let health = proxy.target_health(&tg_arn("slow")).unwrap();
    assert_eq!(health[0].health.state, HealthState::Unavailable);
    assert_eq!(health[0].health.reason, Some(Reason::HealthCheckDisabled));
}

#[tokio::test]
async fn lb_cookie_stickiness_keeps_a_client_on_one_target() {
    let backends = [Backend::start("a").await, Backend::start("b").await];
    let proxy = Proxy::new();
    let mut web = group("web", &backends.iter().collect::<Vec<_>>());
    web.attributes.stickiness = Some(Duration::from_secs(3600));
    proxy.apply(&alb(forward("web"), vec![], vec![web])).await.unwrap();
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);
    let first = get(port, "/", &[]).await;
    let cookies: Vec<&str> = first
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let awsalb = cookies
        .iter()
        .find(|c| c.starts_with("AWSALB="))
        .expect("an AWSALB cookie");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("AWSALBCORS=") && c.contains("SameSite=None"))
    );
    let pair = awsalb.split(';').next().unwrap().to_string();
    for _ in 0..6 {
        assert_eq!(get(port, "/", &[("cookie", &pair)]).await.body, first.body);
    }
}

#[tokio::test]
async fn group_stickiness_keeps_a_client_on_its_target_group() {
    let (blue, green) = (Backend::start("blue").await, Backend::start("green").await);
    let proxy = Proxy::new();
    let action = Action::Forward(Forward {
        target_groups: vec![
            WeightedGroup {
                arn: tg_arn("blue"),
                weight: 50,
            },
            WeightedGroup {
                arn: tg_arn("green"),
                weight: 50,
            },
        ],
        stickiness: Some(Duration::from_secs(600)),
    });
    proxy
        .apply(&alb(
            action,
            vec![],
            vec![group("blue", &[&blue]), group("green", &[&green])],
        ))
        .await
        .unwrap();
    wait_state(&proxy, "blue", HealthState::Healthy).await;
    wait_state(&proxy, "green", HealthState::Healthy).await;
    let port = port(&proxy);
    let first = get(port, "/", &[]).await;
    let tg_cookie = first
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("AWSALBTG="))
        .expect("an AWSALBTG cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    for _ in 0..10 {
        assert_eq!(get(port, "/", &[("cookie", &tg_cookie)]).await.body, first.body);
    }
}

#[tokio::test]
async fn an_upgrade_becomes_a_tunnel_to_the_target() {
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ws = Backend::start("ws").await;
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("ws"), vec![], vec![group("ws", &[&ws])]))
        .await
        .unwrap();
    wait_state(&proxy, "ws", HealthState::Healthy).await;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port(&proxy)))
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let request = http::Request::get("/ws")
        .header("host", "app.example.com")
        .header("connection", "Upgrade")
        .header("upgrade", "echo")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["upgrade"], "echo");
    let mut io = TokioIo::new(hyper::upgrade::on(response).await.unwrap());
    io.write_all(b"hello").await.unwrap();
    let mut got = [0u8; 8];
    io.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ws:hello");
}

#[tokio::test]
async fn least_outstanding_requests_avoids_a_busy_target_and_bodies_go_through() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let proxy = Proxy::new();
    let mut web = group("web", &[&a, &b]);
    web.attributes.algorithm = Algorithm::LeastOutstandingRequests;
    proxy.apply(&alb(forward("web"), vec![], vec![web])).await.unwrap();
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);

    let slow = tokio::spawn(get(port, "/slow", &[]));
    eventually("the slow request reached a target", || {
        let n = a.slow_arrived.load(std::sync::atomic::Ordering::Relaxed)
            + b.slow_arrived.load(std::sync::atomic::Ordering::Relaxed);
        async move { n == 1 }
    })
    .await;
    let busy = if a.slow_arrived.load(std::sync::atomic::Ordering::Relaxed) == 1 {
        &a
    } else {
        &b
    };
    let idle = if busy.port == a.port { "b" } else { "a" };
    for _ in 0..5 {
        assert_eq!(
            get(port, "/", &[]).await.body,
            idle,
            "the target with a request outstanding is avoided"
        );
    }
    busy.release_slow();
    assert_eq!(slow.await.unwrap().status, 200);

    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = "x".repeat(100_000);
    let request = http::Request::post("/echo")
        .header("host", "app.example.com")
        .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
        .unwrap();
    let got = read(sender.send_request(request).await.unwrap()).await;
    assert_eq!(got.body.len(), body.len(), "a request body reaches the target whole");
}

#[tokio::test]
async fn a_target_answering_garbage_is_a_502() {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_port = socket.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = socket.accept().await {
            let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
        }
    });
    let mut bad = group("bad", &[]);
    bad.targets = vec![Target::new("127.0.0.1", garbage_port)];
    bad.health_check.enabled = false;
    let proxy = Proxy::new();
    proxy.apply(&alb(forward("bad"), vec![], vec![bad])).await.unwrap();
    assert_eq!(get(port(&proxy), "/", &[]).await.status, 502);
    assert_eq!(proxy.metrics().load_balancers[0].elb_502_count, 1);
}
