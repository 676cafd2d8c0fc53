//! Listener sockets: the accept loop of an HTTP(S) listener (each
//! connection served in HTTP/1 by the proxy itself, [`crate::serve_h1`],
//! or in HTTP/2 — ALPN h2 on HTTPS, the connection preface on HTTP — by
//! hyper's server; closed when idle for the load balancer's idle timeout
//! or when the listener goes) and of a TCP listener (each connection to one target,
//! bytes copied both ways). A listener's routing is read from a shared cell
//! at each request or connection, so `apply` swaps it without touching the
//! socket or the open connections.

use crate::alarm::{Alarm, IDLE, STOP};
use crate::http_proxy::{self, ClientConn, RoutesCell};
use crate::idle::{self, Activity, IdleIo};
use crate::serve_h1::{self, Ended, Rewind};
use crate::shared::LbShared;
use crate::tcp_proxy::{self, TcpCell};
use crate::workers;
use bytes::Bytes;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// The pause after a failed accept.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Counts a connection as active while it lives.
struct Active(Arc<LbShared>);

impl Active {
    fn open(lb: Arc<LbShared>) -> Active {
        lb.metrics.new_connections.fetch_add(1, Relaxed);
        lb.metrics.active_connections.fetch_add(1, Relaxed);
        Active(lb)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.metrics.active_connections.fetch_sub(1, Relaxed);
    }
}

/// Accepts HTTP(S) connections until `stop` turns true; then asks the open
/// connections to finish (in-flight requests complete).
pub(crate) async fn serve_http(
    socket: TcpListener,
    routes: RoutesCell,
    lb: Arc<LbShared>,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "load balancer listener: accept failed");
                    // Out of descriptors, say: pause before accepting again.
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let _ = stream.set_nodelay(true);
        let conn = HttpConn {
            client: Arc::new(ClientConn::new(routes.clone(), peer)),
            lb: lb.clone(),
            peer,
            stop: stop.clone(),
        };
        let tls = tls.clone();
        workers::spawn_conn(stream, move |stream| async move {
            let activity = Activity::new();
            let io = IdleIo::new(stream, activity.clone());
            match tls {
                None => conn.serve(io, activity, false).await,
                Some(acceptor) => {
                    let idle = conn.lb.idle_timeout();
                    match tokio::time::timeout(idle, acceptor.accept(io)).await {
                        Ok(Ok(tls_stream)) => {
                            let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            conn.serve(tls_stream, activity, h2).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

struct HttpConn {
    client: Arc<ClientConn>,
    lb: Arc<LbShared>,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
}

impl HttpConn {
    /// Serves the connection: HTTP/1 by the proxy itself, HTTP/2 (`h2`:
    /// negotiated by ALPN, or the preface the HTTP/1 path found) by hyper.
    async fn serve<I>(self, io: I, activity: Arc<Activity>, h2: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _active = Active::open(self.lb.clone());
        let upstreams = self.client.upstreams.clone();
        // The idle timeout and the listener's stop are watched by a task of
        // their own, which raises the connection's alarm: polling them
        // beside the connection would re-register the idle timer's waker
        // and take the stop channel's lock (which every connection of the
        // listener shares) at every wake-up of the connection.
        let alarm = Arc::new(Alarm::default());
        let _watchdog = AbortOnDrop(tokio::spawn(watchdog(
            alarm.clone(),
            activity.clone(),
            self.lb.clone(),
            self.stop.clone(),
        )));
        let mut io = io;
        let read = if h2 {
            Bytes::new()
        } else {
            match serve_h1::serve(&mut io, &self.client, &alarm).await {
                Ended::Closed => {
                    upstreams.detach();
                    return;
                }
                Ended::Http2(read) => read,
            }
        };
        self.serve_h2(Rewind::new(read, io), &alarm).await;
        upstreams.detach();
    }

    async fn serve_h2<I>(&self, io: I, alarm: &Alarm)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let client = self.client.clone();
        let peer = self.peer;
        let service = service_fn(move |request| {
            let client = client.clone();
            async move { http_proxy::handle(request, &client).await }
        });
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            tokio::select! {
                // The connection before its alarm: a 504 due at the same
                // tick as the idle timeout is answered, not cut.
                biased;
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "client connection ended with an error");
                    }
                    break;
                }
                raised = alarm.next() => {
                    if raised & IDLE != 0 && closing {
                        // Idle again after being asked to close (a head
                        // never finished, say): dropped.
                        break;
                    }
                    if !closing {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// Raises `alarm` each time the connection has been idle for the load
/// balancer's idle timeout (and gives it another timeout to close), and
/// once when the listener stops.
async fn watchdog(alarm: Arc<Alarm>, activity: Arc<Activity>, lb: Arc<LbShared>, mut stop: watch::Receiver<bool>) {
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = idle::expired(&activity, || lb.idle_timeout()) => {
                alarm.raise(IDLE);
                // A request still in flight (its 504 due at the same time)
                // gets another idle timeout to be answered.
                activity.touch();
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                alarm.raise(STOP);
            }
        }
    }
}

/// Ends a task when its owner goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts TCP connections until `stop` turns true; each is proxied to a
/// target chosen when it opens.
pub(crate) async fn serve_tcp(
    socket: TcpListener,
    routes: TcpCell,
    lb: Arc<LbShared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "load balancer listener: accept failed");
                    // Out of descriptors, say: pause before accepting again.
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let routes = routes.clone();
        let lb = lb.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _active = Active::open(lb.clone());
            serve_tcp_conn(stream, peer, routes, lb, stop).await;
        });
    }
}

async fn serve_tcp_conn(
    stream: TcpStream,
    peer: SocketAddr,
    routes: TcpCell,
    lb: Arc<LbShared>,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let client = IdleIo::new(stream, activity.clone());
    tokio::select! {
        () = tcp_proxy::proxy(client, peer, &routes) => {}
        () = idle::expired(&activity, || lb.idle_timeout()) => {}
        () = stopped(&mut stop) => {}
    }
}

/// Resolves once the listener is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
