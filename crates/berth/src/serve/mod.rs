//! Berth's own accept loop (instead of `axum::serve`): HTTP/1.1 and HTTP/2 on
//! hyper-util's auto builder, with the limits that keep one client from
//! starving the rest (docs/security/listener.md):
//!
//! - a cap on open connections ([`conns`]): at the cap the oldest connection
//!   that never sent a request (then the oldest idle keep-alive one) is
//!   closed to make room; when every slot is busy the loop stops accepting and
//!   the kernel backlog queues; EMFILE/ENFILE back off instead of spinning
//!   (and close a connection that holds a descriptor for nothing);
//! - a deadline for the first request (TLS handshake included) and hyper's
//!   header-read timeout for every next one; an idle timeout (no bytes either
//!   way and no request in flight) for HTTP/2; HTTP/2 keep-alive pings;
//! - a minimum request-body rate ([`body_rate`]), answered 408.
//!
//! Streams that carry their own traffic (agent sessions, `logs --follow`,
//! blob transfers) are requests in flight: no timeout here cuts them.

pub mod body_rate;
pub mod conns;
pub mod fdlimit;
mod io;
pub mod tls;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use berth_core::backoff::Backoff;
use body_rate::{MinRate, RateBody};
use bytes::Bytes;
use conns::{Conn, ConnState, Conns, InFlight};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// The listener's numbers (flags `--max-connections` etc., see main.rs).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// Per-IP share once more than half the slots are taken (0: off; loopback exempt).
    pub max_connections_per_ip: usize,
    /// The first request's headers (TLS handshake included) and each next
    /// request's headers on a keep-alive connection must arrive within it.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    pub body_min_rate: MinRate,
    /// HTTP/2 PING interval (a peer that does not answer within 20 s is dropped).
    pub h2_keepalive: Duration,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
}

/// How a request arrived; a request extension set by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub secure: bool,
}

/// aws:SecureTransport: whether the request came over TLS.
pub fn is_secure(extensions: &http::Extensions) -> bool {
    extensions.get::<Transport>().is_some_and(|t| t.secure)
}

/// Serves `app` on `listener` until `stop` resolves; then lets the open
/// connections finish (graceful shutdown, at most `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let table = Conns::new(limits.max_connections, limits.max_connections_per_ip);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.h2_keepalive)
        .keep_alive_timeout(Duration::from_secs(20));
    let shared = Arc::new(Shared {
        builder,
        app,
        tls,
        limits: limits.clone(),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut stop = pin!(stop);
    let mut backoff = accept_backoff();
    let mut last_warning: Option<Instant> = None;
    'accept: loop {
        // Backpressure: wait for a slot (evicting a connection that holds one for nothing).
        while !table.make_room() {
            tokio::select! {
                _ = &mut stop => break 'accept,
                _ = table.freed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(accepted) => { backoff.reset(); accepted }
                Err(e) if out_of_resources(&e) => {
                    // Out of descriptors below the cap: free some the way the cap would.
                    let evicted = (0..EVICT_ON_EMFILE).take_while(|_| table.evict_one()).count();
                    let delay = backoff.next_delay();
                    if last_warning.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(5)) {
                        last_warning = Some(Instant::now());
                        tracing::warn!(error = %e, open = table.len(), evicted, "cannot accept a connection; backing off (at most one warning per 5 s)");
                    }
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let slot = match table.register(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(%peer, ?why, "connection refused: this address holds its share");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            let conn = slot.conn.clone();
            serve_connection(stream, peer, conn, shared, shutdown).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    let deadline = Instant::now() + limits.shutdown_grace + Duration::from_secs(1);
    while table.len() > 0 && Instant::now() < deadline {
        tokio::select! {
            _ = table.freed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    if table.len() > 0 {
        tracing::warn!(
            open = table.len(),
            "connections still open after the shutdown grace period"
        );
    }
}

/// How many connections an EMFILE closes (the kernel backlog drains faster than one by one).
const EVICT_ON_EMFILE: usize = 32;

struct Shared {
    builder: auto::Builder<TokioExecutor>,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or the system is out of
/// something; accepting again at once would spin.
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12))
}

/// The pause after an accept error: 10 ms doubling to 1 s, no jitter (one
/// listener, nobody to spread out from).
fn accept_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(10), Duration::from_secs(1)).without_jitter()
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let io = io::Tracked::new(stream, conn.clone());
    match shared.tls.clone() {
        None => drive(io, peer, false, conn, &shared, shutdown).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(shared.limits.header_timeout, acceptor.accept(io));
            let tls = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                },
                _ = conn.evict.notified() => return,
                _ = shutdown.changed() => return,
            };
            drive(tls, peer, true, conn, &shared, shutdown).await
        }
    }
}

/// Serves one connection, watching its deadlines.
async fn drive<I>(
    io: I,
    peer: SocketAddr,
    secure: bool,
    conn: Arc<Conn>,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let svc = {
        let (app, conn, rate) = (shared.app.clone(), conn.clone(), limits.body_min_rate);
        hyper::service::service_fn(move |req: Request<Incoming>| {
            call(app.clone(), conn.clone(), req, peer, secure, rate)
        })
    };
    let served = shared.builder.serve_connection(TokioIo::new(io), svc);
    let mut served = pin!(served);
    let tick = (limits.header_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    // Set once a graceful close has begun: the time by which it must be done.
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            _ = conn.evict.notified(), if closing.is_none() => {
                if conn.state() == ConnState::Fresh {
                    return;
                }
                served.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + Duration::from_secs(5));
            }
            r = shutdown.changed(), if closing.is_none() => {
                if r.is_err() || *shutdown.borrow() {
                    served.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + limits.shutdown_grace);
                }
            }
            _ = tokio::time::sleep(tick) => {
                if let Some(deadline) = closing {
                    if Instant::now() >= deadline {
                        return;
                    }
                    continue;
                }
                match watchdog(&conn, limits) {
                    Verdict::Keep => {}
                    Verdict::Drop => return,
                    Verdict::Close => {
                        served.as_mut().graceful_shutdown();
                        closing = Some(Instant::now() + Duration::from_secs(5));
                    }
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// No request within the header timeout: drop the socket.
    Drop,
    /// Idle too long: close it gracefully (HTTP/2 GOAWAY).
    Close,
}

fn watchdog(conn: &Conn, limits: &Limits) -> Verdict {
    decide(conn.state(), conn.requests(), conn.age(), conn.quiet_for(), limits)
}

/// The pure deadline rules of one connection.
fn decide(state: ConnState, requests: u64, age: Duration, quiet: Duration, limits: &Limits) -> Verdict {
    if requests == 0 && age >= limits.header_timeout {
        Verdict::Drop
    } else if state == ConnState::Idle && quiet >= limits.idle_timeout {
        Verdict::Close
    } else {
        Verdict::Keep
    }
}

/// One request: the extensions handlers rely on, the body under the
/// minimum rate, the connection's in-flight count held until the response
/// body is done.
async fn call(
    app: Router,
    conn: Arc<Conn>,
    req: Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
    rate: MinRate,
) -> Result<Response<Body>, std::convert::Infallible> {
    use tower::ServiceExt;
    let in_flight = conn.begin_request();
    let tripped = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    parts.extensions.insert(Transport { secure });
    let req = Request::from_parts(parts, Body::new(RateBody::new(body, rate, tripped.clone())));
    let resp = match app.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    if tripped.load(Ordering::Acquire) {
        return Ok(request_timeout(rate));
    }
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(
        parts,
        Body::new(Guarded {
            inner: body,
            _in_flight: in_flight,
        }),
    ))
}

/// 408 for a body cut by the minimum rate; the connection closes after it.
fn request_timeout(rate: MinRate) -> Response<Body> {
    let body = serde_json::json!({
        "__type": "RequestTimeout",
        "message": format!(
            "Your socket connection to the server was not read from or written to within the timeout period: \
             the request body arrived slower than {} bytes/s for {} s.",
            rate.min_bytes_per_sec,
            rate.window.as_secs()
        ),
    });
    Response::builder()
        .status(StatusCode::REQUEST_TIMEOUT)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONNECTION, "close")
        .header("x-amzn-ErrorType", "RequestTimeout")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request in flight until it is done.
    struct Guarded {
        #[pin]
        inner: Body,
        _in_flight: InFlight,
    }
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 10,
            max_connections_per_ip: 0,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_min_rate: MinRate {
                min_bytes_per_sec: 1024,
                window: Duration::from_secs(10),
            },
            h2_keepalive: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    #[test]
    fn deadlines() {
        let l = limits();
        let s = Duration::from_secs;
        assert_eq!(decide(ConnState::Fresh, 0, s(9), s(9), &l), Verdict::Keep);
        assert_eq!(
            decide(ConnState::Fresh, 0, s(10), s(0), &l),
            Verdict::Drop,
            "bytes do not extend it"
        );
        assert_eq!(
            decide(ConnState::Active, 1, s(3600), s(3600), &l),
            Verdict::Keep,
            "a stream in flight"
        );
        assert_eq!(decide(ConnState::Idle, 5, s(3600), s(59), &l), Verdict::Keep);
        assert_eq!(decide(ConnState::Idle, 5, s(3600), s(60), &l), Verdict::Close);
    }

    #[test]
    fn accept_errors_back_off_up_to_a_second() {
        let mut b = accept_backoff();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        assert_eq!(b.next_delay(), Duration::from_millis(20));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
        assert_eq!(b.next_delay(), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        assert!(out_of_resources(&std::io::Error::from_raw_os_error(24)));
        assert!(!out_of_resources(&std::io::Error::from_raw_os_error(103)));
    }
}
