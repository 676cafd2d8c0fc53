//! Connections to targets (HTTP/1.1, keep-alive), owned where they are
//! used: each client connection keeps the idle upstream connections it
//! opened, one per target it has talked to ([`Upstreams`]), so a request
//! takes its target's connection without a pool lock or a hash lookup, as
//! haproxy's `http-reuse` pairs them; and the client connection's task
//! drives their protocol ([`Upstreams::drive`]), so a request and its
//! answer do not hop between tasks. A target's own [`Pool`] is the
//! fallback: a client connection that ends hands its idle upstream
//! connections to it (each then driven by a task of its own), and a client
//! connection with none of its own for a target takes one there before
//! opening a new one.
//!
//! The target is chosen first, by the group's balancer (so draining,
//! health, slow start and least outstanding requests decide as before); a
//! cached connection is only ever used for the target just chosen, and the
//! ones to a target that left the group (draining or forgotten) are closed
//! rather than kept. [`TargetShared`], a target as the request path and
//! these connections hold it, lives here with its [`Pool`] (each holds the
//! other).

use crate::config::Target;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// What the request path holds of a target while it forwards to it.
#[derive(Debug)]
pub(crate) struct TargetShared {
    pub(crate) target: Target,
    /// `host:port` of its traffic port.
    pub(crate) authority: String,
    /// The same, parsed for request URIs (none if it is not a valid one).
    pub(crate) uri_authority: Option<http::uri::Authority>,
    /// Its `AWSALB` cookie value.
    pub(crate) cookie: String,
    /// The traffic port's address when the id is an IP address (else it
    /// is resolved at each connection).
    pub(crate) addr: Option<std::net::SocketAddr>,
    pub(crate) outstanding: AtomicU32,
    pub(crate) requests: AtomicU64,
    /// Deregistered (draining, then forgotten): its idle connections are
    /// closed, not reused.
    pub(crate) retired: AtomicBool,
    /// Its idle connections no client connection holds.
    pub(crate) pool: Pool,
}

impl TargetShared {
    /// Deregistered: no request is sent on its idle connections any more;
    /// the pooled ones close now, the ones client connections hold when
    /// they next look.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Relaxed);
        self.pool.clear();
    }
}

type Sender = SendRequest<Incoming>;
/// A connection's protocol (hyper's, with upgrades), to be polled.
type Connection = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// How long a target may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle upstream connections one client connection keeps (HTTP/2 clients
/// can have several requests in flight to one target).
const LOCAL_MAX: usize = 8;
/// Idle connections a target's shared pool keeps.
const POOL_MAX: usize = 64;
/// How long a connection may wait unused in a target's shared pool.
const POOL_IDLE: Duration = Duration::from_secs(50);

/// Why a request did not reach its target.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("connecting to the target: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connecting to the target timed out")]
    ConnectTimeout,
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// A target's shared pool of idle connections.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<(Sender, Instant)>>,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Vec<(Sender, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, now: Instant) -> Option<Sender> {
        let mut idle = self.lock();
        while let Some((sender, since)) = idle.pop() {
            if !sender.is_closed() && now.saturating_duration_since(since) < POOL_IDLE {
                return Some(sender);
            }
        }
        None
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn put(&self, sender: Sender, now: Instant) {
        let mut idle = self.lock();
        idle.retain(|(s, since)| !s.is_closed() && now.saturating_duration_since(*since) < POOL_IDLE);
        if idle.len() < POOL_MAX {
            idle.push((sender, now));
        }
    }
}

/// The upstream connections of one client connection: the idle ones, and
/// the protocol of each, driven by the client connection's task.
#[derive(Debug, Default)]
pub(crate) struct Upstreams {
    idle: Mutex<Vec<(Arc<TargetShared>, Sender)>>,
    driven: Mutex<Driven>,
}

#[derive(Default)]
struct Driven {
    conns: Vec<Connection>,
    /// The task that drives them.
    waker: Option<Waker>,
    /// The client connection ended: new connections get a task each.
    detached: bool,
}

impl std::fmt::Debug for Driven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driven")
            .field("conns", &self.conns.len())
            .field("detached", &self.detached)
            .finish()
    }
}

impl Upstreams {
    fn lock(&self) -> MutexGuard<'_, Vec<(Arc<TargetShared>, Sender)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This connection's idle connection to `target`; the ones to targets
    /// that left their group, or that the target closed, are dropped.
    fn take(&self, target: &Arc<TargetShared>) -> Option<Sender> {
        let mut idle = self.lock();
        idle.retain(|(t, s)| !t.retired.load(Relaxed) && !s.is_closed());
        let i = idle.iter().position(|(t, _)| Arc::ptr_eq(t, target))?;
        Some(idle.swap_remove(i).1)
    }

    fn driven(&self) -> MutexGuard<'_, Driven> {
        self.driven.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a connection whose answer has been read whole, for the next
    /// request to `target`.
    pub(crate) fn put(&self, target: &Arc<TargetShared>, sender: Sender) {
        if target.retired.load(Relaxed) || sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < LOCAL_MAX && !self.driven().detached {
            idle.push((target.clone(), sender));
        } else {
            drop(idle);
            target.pool.put(sender, Instant::now());
        }
    }

    /// Sends `request` to `target` over an idle connection (this client
    /// connection's, else the target's pool) or a new one. Answers the
    /// response and the connection, to [`Upstreams::put`] back once the
    /// response's body has been read whole.
    pub(crate) async fn send(
        &self,
        target: &Arc<TargetShared>,
        mut request: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Sender), UpstreamError> {
        let reused = match self.take(target) {
            Some(sender) => Some(sender),
            None => target.pool.take(Instant::now()),
        };
        if let Some(mut sender) = reused {
            // An HTTP/1.1 connection takes its next request once the last
            // answer was read; a closed one answers an error here.
            if sender.ready().await.is_ok() {
                match sender.try_send_request(request).await {
                    Ok(response) => return Ok((response, sender)),
                    // The connection closed before the request was
                    // written: it goes on a new one.
                    Err(mut e) => match e.take_message() {
                        Some(back) => request = back,
                        None => return Err(e.into_error().into()),
                    },
                }
            }
        }
        let (mut sender, conn) = connect(target).await?;
        self.adopt(conn);
        let response = sender.send_request(request).await?;
        Ok((response, sender))
    }

    /// Takes a new connection's protocol into the client connection's task
    /// (a task of its own once that has ended).
    fn adopt(&self, conn: Connection) {
        let mut driven = self.driven();
        if driven.detached {
            drop(driven);
            spawn(conn);
            return;
        }
        driven.conns.push(conn);
        if let Some(waker) = &driven.waker {
            waker.wake_by_ref();
        }
    }

    /// Drives the protocol of this client connection's upstream
    /// connections; never resolves. The client connection's task polls it
    /// beside the client connection.
    pub(crate) fn drive(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx: &mut Context<'_>| {
            let mut driven = self.driven();
            if !driven.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                driven.waker = Some(cx.waker().clone());
            }
            driven.conns.retain_mut(|conn| match conn.as_mut().poll(cx) {
                Poll::Pending => true,
                Poll::Ready(result) => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "target connection ended with an error");
                    }
                    false
                }
            });
            Poll::Pending
        })
    }

    /// The client connection ended: its upstream connections still busy
    /// get a task each, its idle ones go to their targets' pools.
    pub(crate) fn detach(&self) {
        let conns = {
            let mut driven = self.driven();
            driven.detached = true;
            driven.waker = None;
            std::mem::take(&mut driven.conns)
        };
        conns.into_iter().for_each(spawn);
        let idle = std::mem::take(&mut *self.lock());
        to_pools(idle);
    }
}

fn to_pools(idle: Vec<(Arc<TargetShared>, Sender)>) {
    let now = Instant::now();
    for (target, sender) in idle {
        if !target.retired.load(Relaxed) && !sender.is_closed() {
            target.pool.put(sender, now);
        }
    }
}

fn spawn(conn: Connection) {
    // Not when the runtime is going away: the connection just closes.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "target connection ended with an error");
            }
        });
    }
}

impl Drop for Upstreams {
    /// The last holder went without [`Upstreams::detach`] (a client
    /// connection's task cut short): its connections are not cut.
    fn drop(&mut self) {
        let driven = std::mem::take(self.driven.get_mut().unwrap_or_else(|p| p.into_inner()));
        driven.conns.into_iter().for_each(spawn);
        to_pools(std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner())));
    }
}

/// A new connection to `target`.
async fn connect(target: &TargetShared) -> Result<(Sender, Connection), UpstreamError> {
    let connecting = async {
        match target.addr {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect(target.authority.as_str()).await,
        }
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| UpstreamError::ConnectTimeout)?
        .map_err(UpstreamError::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
    Ok((sender, Box::pin(conn.with_upgrades())))
}
