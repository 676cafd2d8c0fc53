//! An HTTPS listener with a self-signed certificate (HTTP/1.1 and HTTP/2
//! by ALPN) and a Network Load Balancer's TCP listener.

use crate::support::*;
use berth_lb_proxy::*;
use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsConnector, rustls};

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["app.example.com".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.pem())
}

fn connector(cert_pem: &str, alpn: &[u8]) -> TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn an_https_listener_serves_http1_and_http2_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = self_signed(dir.path());
    let web = Backend::start("web").await;
    let proxy = Proxy::new();
    let mut config = alb(forward("web"), vec![], vec![group("web", &[&web])]);
    config.load_balancers[0].listeners[0].protocol = ListenerProtocol::Https { cert, key };
    proxy.apply(&config).await.unwrap();
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);
    let name = ServerName::try_from("app.example.com").unwrap();

    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = connector(&pem, b"http/1.1").connect(name.clone(), tcp).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let got = send(&mut sender, "/headers", &[]).await;
    assert!(
        got.body.lines().any(|l| l == "x-forwarded-proto: https"),
        "{}",
        got.body
    );

    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = connector(&pem, b"h2").connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("https://app.example.com/headers")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let got = read(sender.send_request(request).await.unwrap()).await;
    assert_eq!(got.status, 200);
    assert!(
        got.body.lines().any(|l| l == "host: app.example.com"),
        "the :authority becomes the Host: {}",
        got.body
    );
}

/// A TCP backend: says its id, then echoes.
async fn tcp_backend(id: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = socket.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = stream.write_all(format!("{id}\n").as_bytes()).await;
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_tcp_listener_spreads_connections_over_healthy_targets() {
    let (p1, _t1) = tcp_backend("one").await;
    let (p2, _t2) = tcp_backend("two").await;
    let tg = TargetGroup {
        arn: tg_arn("tcp"),
        protocol: TargetProtocol::Tcp,
        health_check: HealthCheck {
            interval: Duration::from_millis(50),
            healthy_threshold: 2,
            ..HealthCheck::tcp_default()
        },
        attributes: TargetGroupAttributes::default(),
        targets: vec![Target::new("127.0.0.1", p1), Target::new("127.0.0.1", p2)],
    };
    let config = LbConfig {
        load_balancers: vec![LoadBalancer {
            arn: LB.replace("/app/", "/net/"),
            kind: LbKind::Network,
            bind: "127.0.0.1".parse().unwrap(),
            idle_timeout: Duration::from_secs(350),
            listeners: vec![Listener {
                arn: LISTENER.into(),
                port: 0,
                protocol: ListenerProtocol::Tcp,
                default_action: forward("tcp"),
                rules: vec![],
            }],
        }],
        target_groups: vec![tg],
    };
    let proxy = Proxy::new();
    proxy.apply(&config).await.unwrap();
    wait_state(&proxy, "tcp", HealthState::Healthy).await;
    let port = port(&proxy);
    let mut seen = HashSet::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut hello = [0u8; 4];
        stream.read_exact(&mut hello).await.unwrap();
        seen.insert(String::from_utf8_lossy(&hello).trim().to_string());
        stream.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
    }
    assert_eq!(seen, HashSet::from(["one".to_string(), "two".to_string()]));
    let lb = &proxy.metrics().load_balancers[0];
    assert_eq!(lb.kind, LbKind::Network);
    assert_eq!(lb.new_connection_count, 4);
}

#[tokio::test]
async fn a_listener_changed_from_http_to_https_on_its_port_is_rebound() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = self_signed(dir.path());
    let web = Backend::start("web").await;
    let proxy = Proxy::new();
    let fixed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = alb(forward("web"), vec![], vec![group("web", &[&web])]);
    config.load_balancers[0].listeners[0].port = fixed_port;
    proxy.apply(&config).await.unwrap();
    config.load_balancers[0].listeners[0].protocol = ListenerProtocol::Https { cert, key };
    proxy
        .apply(&config)
        .await
        .expect("the old socket is closed before the port is bound again");
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let tcp = TcpStream::connect(("127.0.0.1", fixed_port)).await.unwrap();
    let name = ServerName::try_from("app.example.com").unwrap();
    let tls = connector(&pem, b"http/1.1").connect(name, tcp).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    assert_eq!(send(&mut sender, "/", &[]).await.body, "web");
}
