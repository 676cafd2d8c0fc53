//! HTTP/1 clients as the proxy reads and answers them itself, through raw
//! sockets: pipelined requests, HTTP/1.0 and `Connection: close`, request
//! bodies split across writes, `Expect: 100-continue`, HEAD, an unwanted
//! body skipped, and ALB's 400 for a malformed head.

use crate::support::*;
use berth_lb_proxy::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer as the client read it.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one answer (Content-Length, chunked, or until close) from
/// `stream`, keeping what follows in `buf`; none at the end of the stream.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Option<Raw> {
    let (status, headers, len) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        if let httparse::Status::Complete(len) = parsed.parse(buf).unwrap() {
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            break (parsed.code.unwrap(), headers, len);
        }
        if !fill(stream, buf).await {
            return None;
        }
    };
    buf.drain(..len);
    let mut raw = Raw {
        status,
        headers,
        body: String::new(),
    };
    if head_only || status == 100 {
        return Some(raw);
    }
    if let Some(n) = raw.header("content-length").map(|v| v.parse::<usize>().unwrap()) {
        while buf.len() < n {
            assert!(fill(stream, buf).await, "the body was cut");
        }
        raw.body = String::from_utf8_lossy(&buf.drain(..n).collect::<Vec<_>>()).into_owned();
    } else if raw.header("transfer-encoding").is_some() {
        loop {
            let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                assert!(fill(stream, buf).await);
                continue;
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..eol]).unwrap(), 16).unwrap();
            while buf.len() < eol + 2 + size + 2 {
                assert!(fill(stream, buf).await);
            }
            raw.body
                .push_str(&String::from_utf8_lossy(&buf[eol + 2..eol + 2 + size]));
            buf.drain(..eol + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        while fill(stream, buf).await {}
        raw.body = String::from_utf8_lossy(&std::mem::take(buf)).into_owned();
    }
    Some(raw)
}

/// Reads more into `buf`; false at the end of the stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut more = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut more))
        .await
        .expect("an answer within 10 s")
        .unwrap_or(0);
    buf.extend_from_slice(&more[..n]);
    n > 0
}

/// Whether the proxy closed the connection (after what was read).
async fn closed(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.is_empty() && !fill(stream, buf).await
}

async fn listener_with(backend: &Backend, rules: Vec<Rule>) -> (Proxy, u16) {
    let proxy = Proxy::new();
    proxy
        .apply(&alb(forward("web"), rules, vec![group("web", &[backend])]))
        .await
        .unwrap();
    wait_state(&proxy, "web", HealthState::Healthy).await;
    let port = port(&proxy);
    (proxy, port)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_turn_on_one_connection() {
    let backend = Backend::start("a").await;
    let (_proxy, port) = listener_with(&backend, vec![]).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(
            b"GET /first HTTP/1.1\r\nHost: app\r\n\r\nPOST /echo HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhello\
              GET /headers HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 203.0.113.9\r\nX-Custom: Kept\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let first = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!((first.status, first.body.as_str()), (200, "a"));
    assert!(first.header("date").is_some(), "{first:?}");
    let echo = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!(echo.body, "hello");
    let headers = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert!(headers.body.contains("x-custom: Kept"), "{}", headers.body);
    assert!(
        headers.body.contains("x-forwarded-for: 203.0.113.9, 127.0.0.1"),
        "{}",
        headers.body
    );
    assert!(headers.body.contains("x-forwarded-proto: http"), "{}", headers.body);
    assert!(headers.body.contains("x-amzn-trace-id: Root=1-"), "{}", headers.body);
    // Still open.
    stream.write_all(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n").await.unwrap();
    assert_eq!(read_answer(&mut stream, &mut buf, false).await.unwrap().status, 200);
}

#[tokio::test]
async fn http_1_0_and_connection_close_end_the_connection_unless_asked_to_keep_it() {
    let backend = Backend::start("a").await;
    let (_proxy, port) = listener_with(&backend, vec![]).await;
    let mut buf = Vec::new();
    let mut old = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    old.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let answer = read_answer(&mut old, &mut buf, false).await.unwrap();
    assert_eq!((answer.status, answer.header("connection")), (200, Some("close")));
    assert!(closed(&mut old, &mut buf).await);

    let mut kept = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    for _ in 0..2 {
        kept.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut kept, &mut buf, false).await.unwrap();
        assert_eq!(answer.header("connection"), Some("keep-alive"));
        assert_eq!(answer.body, "a");
    }

    let mut closing = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    closing
        .write_all(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut closing, &mut buf, false).await.unwrap();
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(closed(&mut closing, &mut buf).await);
}

#[tokio::test]
async fn a_chunked_body_split_across_writes_and_an_expected_continue_reach_the_target() {
    let backend = Backend::start("a").await;
    let (_proxy, port) = listener_with(&backend, vec![]).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = Vec::new();
    for piece in [
        &b"POST /echo HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe"[..],
        b"llo\r\n6\r\n worl",
        b"d\r\n0\r\n\r\n",
    ] {
        stream.write_all(piece).await.unwrap();
        tokio::task::yield_now().await;
    }
    let echo = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!(echo.body, "hello world");

    stream
        .write_all(b"PUT /echo HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .await
        .unwrap();
    let interim = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!(interim.status, 100, "the proxy asks for the body");
    stream.write_all(b"body").await.unwrap();
    let echo = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!((echo.status, echo.body.as_str()), (200, "body"));
}

#[tokio::test]
async fn head_answers_have_no_body_and_an_unwanted_body_is_skipped() {
    let backend = Backend::start("a").await;
    let fixed = Action::FixedResponse(FixedResponse {
        status: 403,
        content_type: None,
        body: Some("no".into()),
    });
    let rules = vec![rule(1, vec![Condition::PathPattern(vec!["/deny".into()])], fixed)];
    let (_proxy, port) = listener_with(&backend, rules).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = Vec::new();
    stream
        .write_all(
            b"HEAD / HTTP/1.1\r\nHost: app\r\n\r\nPOST /deny HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\nabc\
              GET / HTTP/1.1\r\nHost: app\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_answer(&mut stream, &mut buf, true).await.unwrap();
    assert_eq!((head.status, head.header("content-length")), (200, Some("1")));
    let denied = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!((denied.status, denied.body.as_str()), (403, "no"));
    assert_eq!(denied.header("server"), Some("awselb/2.0"));
    let next = read_answer(&mut stream, &mut buf, false).await.unwrap();
    assert_eq!((next.status, next.body.as_str()), (200, "a"));
}

#[tokio::test]
async fn a_malformed_head_gets_alb_s_400_and_the_connection_closes() {
    let backend = Backend::start("a").await;
    let (proxy, port) = listener_with(&backend, vec![]).await;
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut buf = Vec::new();
        stream.write_all(bad).await.unwrap();
        let answer = read_answer(&mut stream, &mut buf, false).await.unwrap();
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(bad));
        assert_eq!(answer.header("server"), Some("awselb/2.0"));
        assert!(
            answer.body.contains("<title>400 Bad Request</title>"),
            "{}",
            answer.body
        );
        assert!(closed(&mut stream, &mut buf).await);
    }
    let counts = proxy.metrics();
    let lb = counts.load_balancers.iter().find(|l| l.arn == LB).unwrap();
    assert_eq!((lb.elb_codes.xx4, lb.request_count), (3, 0), "{lb:?}");
}
