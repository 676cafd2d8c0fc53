//! Fixtures: tiny in-process backends on 127.0.0.1 ephemeral ports (each
//! answers its own id; `/health` answers the code the test sets; `/slow`
//! waits until the test releases it; `/hang` never answers; `/close`
//! answers and closes the connection; `/headers`
//! echoes the request's headers; `/ws` switches to an echo protocol; `/echo` answers the body), config builders, a one-request client
//! and `eventually`.

use berth_lb_proxy::*;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef";
pub const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/0123456789abcdef/1";

pub fn tg_arn(name: &str) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/{name}/0123456789abcdef")
}

/// A backend answering its id.
pub struct Backend {
    pub port: u16,
    /// The code `/health` answers.
    pub health: Arc<AtomicU16>,
    /// Requests that reached `/slow`.
    pub slow_arrived: Arc<AtomicU64>,
    /// Connections accepted.
    pub accepted: Arc<AtomicU64>,
    /// Connections open now.
    pub open: Arc<AtomicU64>,
    slow_release: Arc<Semaphore>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start(id: &str) -> Backend {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let health = Arc::new(AtomicU16::new(200));
        let slow_arrived = Arc::new(AtomicU64::new(0));
        let slow_release = Arc::new(Semaphore::new(0));
        let (accepted, open) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let counts = (accepted.clone(), open.clone());
        let state = (
            id.to_string(),
            health.clone(),
            slow_arrived.clone(),
            slow_release.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = socket.accept().await else { return };
                let state = state.clone();
                let open = counts.1.clone();
                counts.0.fetch_add(1, Relaxed);
                open.fetch_add(1, Relaxed);
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(req, &state).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                    open.fetch_sub(1, Relaxed);
                });
            }
        });
        Backend {
            port,
            health,
            slow_arrived,
            accepted,
            open,
            slow_release,
            task,
        }
    }

    pub fn target(&self) -> Target {
        Target::new("127.0.0.1", self.port)
    }

    /// Lets one `/slow` request answer.
    pub fn release_slow(&self) {
        self.slow_release.add_permits(1);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type State = (String, Arc<AtomicU16>, Arc<AtomicU64>, Arc<Semaphore>);

async fn answer(mut req: Request<Incoming>, (id, health, arrived, release): &State) -> Response<Full<Bytes>> {
    let text = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    match req.uri().path() {
        "/health" => text(health.load(Relaxed), id.clone()),
        "/slow" => {
            arrived.fetch_add(1, Relaxed);
            let _ = release.acquire().await.map(|p| p.forget());
            text(200, id.clone())
        }
        "/hang" => std::future::pending().await,
        "/close" => Response::builder()
            .header("connection", "close")
            .body(Full::new(Bytes::from(id.clone())))
            .unwrap(),
        "/ws" => {
            let upgraded = hyper::upgrade::on(&mut req);
            let id = id.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(upgraded) = upgraded.await else { return };
                let mut io = TokioIo::new(upgraded);
                let _ = io.write_all(format!("{id}:").as_bytes()).await;
                let mut buf = [0u8; 64];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "echo")
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        "/echo" => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::new(Full::new(body))
        }
        "/headers" => {
            let mut lines: Vec<String> = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
                .collect();
            lines.sort();
            text(200, lines.join("\n"))
        }
        _ => text(200, id.clone()),
    }
}

/// A target group whose health checks run every 50 ms.
pub fn group(name: &str, targets: &[&Backend]) -> TargetGroup {
    TargetGroup {
        arn: tg_arn(name),
        protocol: TargetProtocol::Http,
        health_check: HealthCheck {
            path: "/health".into(),
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            ..HealthCheck::http_default()
        },
        attributes: TargetGroupAttributes {
            deregistration_delay: Duration::from_secs(30),
            ..Default::default()
        },
        targets: targets.iter().map(|b| b.target()).collect(),
    }
}

/// An ALB with one HTTP listener on an ephemeral port.
pub fn alb(default_action: Action, rules: Vec<Rule>, groups: Vec<TargetGroup>) -> LbConfig {
    LbConfig {
        load_balancers: vec![LoadBalancer {
            arn: LB.into(),
            kind: LbKind::Application,
            bind: "127.0.0.1".parse().unwrap(),
            idle_timeout: Duration::from_secs(60),
            listeners: vec![Listener {
                arn: LISTENER.into(),
                port: 0,
                protocol: ListenerProtocol::Http,
                default_action,
                rules,
            }],
        }],
        target_groups: groups,
    }
}

pub fn forward(name: &str) -> Action {
    Action::Forward(Forward::to(&tg_arn(name)))
}

pub fn rule(priority: u32, conditions: Vec<Condition>, action: Action) -> Rule {
    Rule {
        arn: format!("{LISTENER}/rule/{priority}"),
        priority,
        conditions,
        action,
    }
}

/// What one request got.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// One request on a new connection to the listener.
pub async fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Got {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send(&mut sender, path, headers).await
}

/// One request on an open HTTP/1.1 connection.
pub async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    path: &str,
    headers: &[(&str, &str)],
) -> Got {
    let mut request = Request::get(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request = request.header("host", "app.example.com");
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = sender.send_request(request.body(Empty::new()).unwrap()).await.unwrap();
    read(response).await
}

pub async fn read(response: Response<Incoming>) -> Got {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Got {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Polls `check` until it holds, for at most 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every target of the group is in `state`.
pub async fn wait_state(proxy: &Proxy, group: &str, state: HealthState) {
    let arn = tg_arn(group);
    eventually(&format!("{group}'s targets are {state}"), || {
        let health = proxy.target_health(&arn).unwrap_or_default();
        async move { !health.is_empty() && health.iter().all(|h| h.health.state == state) }
    })
    .await;
}

/// The port of the test listener.
pub fn port(proxy: &Proxy) -> u16 {
    proxy.bound_port(LISTENER).expect("the listener is bound")
}
