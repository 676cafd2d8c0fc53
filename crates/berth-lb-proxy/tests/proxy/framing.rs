//! The proxy's own HTTP/1.1 to targets: response bodies framed by length,
//! by chunks or by the close of the connection, interim answers skipped,
//! and a request body of unknown length sent chunked.

use crate::support::*;
use berth_lb_proxy::*;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A target written by hand: it answers by the request's path, each
/// request on the same connection until an answer ends with a close.
async fn raw_target(accepted: Arc<AtomicU64>) -> u16 {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = socket.accept().await {
            accepted.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut more = [0u8; 4096];
                        match stream.read(&mut more).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&more[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("/");
                    let (answer, close): (&[u8], bool) = match path {
                        "/chunked" => (
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
                            false,
                        ),
                        "/until-close" => (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nstreamed", true),
                        "/interim" => (
                            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                            false,
                        ),
                        "/short" => (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", true),
                        _ => (b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx", false),
                    };
                    if stream.write_all(answer).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn raw_group(port: u16) -> TargetGroup {
    let mut g = group("raw", &[]);
    g.targets = vec![Target::new("127.0.0.1", port)];
    g.health_check.enabled = false;
    g
}

#[tokio::test]
async fn chunked_close_delimited_and_interim_answers_reach_the_client_and_keep_the_connection_when_they_can() {
    let accepted = Arc::new(AtomicU64::new(0));
    let target = raw_target(accepted.clone()).await;
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("raw"), vec![], vec![raw_group(target)]))
        .await
        .unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port(&proxy))).await.unwrap();
    let (mut client, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);

    for _ in 0..2 {
        let got = send(&mut client, "/chunked", &[]).await;
        assert_eq!((got.status.as_u16(), got.body.as_str()), (200, "abcde"));
    }
    assert_eq!(accepted.load(Relaxed), 1, "a chunked answer keeps its connection");
    let got = send(&mut client, "/interim", &[]).await;
    assert_eq!(
        (got.status.as_u16(), got.body.as_str()),
        (200, "ok"),
        "a 103 is skipped"
    );
    let got = send(&mut client, "/until-close", &[]).await;
    assert_eq!((got.status.as_u16(), got.body.as_str()), (200, "streamed"));
    assert_eq!(accepted.load(Relaxed), 1);
    let got = send(&mut client, "/", &[]).await;
    assert_eq!(got.body, "x");
    assert_eq!(
        accepted.load(Relaxed),
        2,
        "a close-delimited answer's connection is not kept"
    );
    let lb = &proxy.metrics().load_balancers[0];
    assert_eq!((lb.target_codes.xx2, lb.elb_codes.xx5), (5, 0));
}

#[tokio::test]
async fn a_body_cut_short_by_the_target_is_cut_short_to_the_client() {
    let accepted = Arc::new(AtomicU64::new(0));
    let target = raw_target(accepted.clone()).await;
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("raw"), vec![], vec![raw_group(target)]))
        .await
        .unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port(&proxy))).await.unwrap();
    let (mut client, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("/short")
        .header("host", "app.example.com")
        .body(Empty::new())
        .unwrap();
    // The head and the bytes that came may or may not be written before
    // the connection is cut; either way the client sees no whole answer.
    use http_body_util::BodyExt;
    let whole = match client.send_request(request).await {
        Ok(response) => response.into_body().collect().await.is_ok(),
        Err(_) => false,
    };
    assert!(!whole, "the client sees the body end early");
}

/// A request body of unknown length, in two frames.
struct TwoFrames(Vec<Bytes>);

impl Body for TwoFrames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop().map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[tokio::test]
async fn a_request_body_of_unknown_length_goes_chunked_and_whole() {
    let echo = Backend::start("echo").await;
    let mut g = group("echo", &[&echo]);
    g.health_check.enabled = false;
    let proxy = Proxy::new();
    proxy.apply(&alb(forward("echo"), vec![], vec![g])).await.unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port(&proxy))).await.unwrap();
    let (mut client, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..2 {
        let request = http::Request::post("/echo")
            .header("host", "app.example.com")
            .body(TwoFrames(vec![Bytes::from("-world"), Bytes::from("hello")]))
            .unwrap();
        let got = read(client.send_request(request).await.unwrap()).await;
        assert_eq!((got.status.as_u16(), got.body.as_str()), (200, "hello-world"));
    }
    assert_eq!(echo.accepted.load(Relaxed), 1, "one upstream connection for both");
}
