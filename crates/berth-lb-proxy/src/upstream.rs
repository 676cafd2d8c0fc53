//! Connections to targets (HTTP/1.1, keep-alive) and the exchange on them,
//! written here rather than through an HTTP client: the request head is
//! serialised into the connection's reused buffer ([`crate::h1`]), the
//! body streamed after it, the response head parsed from the same read
//! buffer, and the response body read by the client connection's task as
//! it writes it to the client ([`TargetBody`]). No channel, no task per
//! upstream connection.
//!
//! Connections are owned where they are used: each client connection
//! keeps the idle upstream connections it opened, one per target it has
//! talked to ([`Upstreams`]), so a request takes its target's connection
//! without a pool lock or a hash lookup, as haproxy's `http-reuse` pairs
//! them. A target's own [`Pool`] is the fallback: a client connection that
//! ends hands its idle upstream connections to it, and a client connection
//! with none of its own for a target takes one there before opening a new
//! one.
//!
//! The target is chosen first, by the group's balancer (so draining,
//! health, slow start and least outstanding requests decide as before); a
//! kept connection is only ever used for the target just chosen, and the
//! ones to a target that left the group (draining or forgotten) are closed
//! rather than kept. [`TargetShared`], a target as the request path and
//! these connections hold it, lives here with its [`Pool`] (each holds the
//! other).
//!
//! A kept connection the target has closed meanwhile is found out either
//! before it is used (a connection from a target's pool, or one for a
//! request with a body, is checked for a pending close without waiting) or
//! by the exchange failing before any byte of the answer came: a request
//! without a body and with a safe method (GET, HEAD, OPTIONS, TRACE) is
//! then sent again on a new connection.

use crate::config::Target;
use crate::h1::{self, BodyFraming, Chunked, Decoded, ParseError, RequestFraming, ResponseHead};
use crate::striped::{Counter, Padded};
use crate::workers;
use bytes::{Bytes, BytesMut};
use http::Method;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    /// Requests sent and not yet answered (whole): read by every pick
    /// (least outstanding requests), alone on its cache line so the
    /// counting does not evict what the request path only reads.
    pub(crate) outstanding: Padded<AtomicU32>,
    /// Requests sent to it.
    pub(crate) requests: Counter,
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

/// How long a target may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle upstream connections one client connection keeps (HTTP/2 clients
/// can have several requests in flight to one target).
const LOCAL_MAX: usize = 8;
/// Idle connections a target's shared pool keeps.
const POOL_MAX: usize = 64;
/// How long a connection may wait unused in a target's shared pool.
const POOL_IDLE: Duration = Duration::from_secs(50);
/// The read buffer's growth step.
const READ_CHUNK: usize = 16 * 1024;

/// Why a request did not reach its target, or its answer not the client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("connecting to the target: {0}")]
    Connect(#[source] io::Error),
    #[error("connecting to the target timed out")]
    ConnectTimeout,
    #[error("talking to the target: {0}")]
    Io(#[from] io::Error),
    #[error("the target closed the connection before answering")]
    Closed,
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("reading the client's request body: {0}")]
    ClientBody(String),
}

/// An HTTP/1.1 connection to a target, between exchanges or in one.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    /// The worker thread whose event loop the socket is registered with.
    worker: Option<usize>,
    /// Bytes read and not yet used.
    buf: BytesMut,
    /// The request head being written (its allocation reused).
    out: BytesMut,
}

impl Conn {
    /// The connection registered with the caller's event loop: one from a
    /// target's pool may have been opened on another worker thread, whose
    /// event loop would then pass each of its wake-ups across threads.
    fn at_home(self) -> Option<Conn> {
        let here = workers::current();
        if self.worker == here {
            return Some(self);
        }
        let std_stream = self.stream.into_std().ok()?;
        let stream = TcpStream::from_std(std_stream).ok()?;
        Some(Conn {
            stream,
            worker: here,
            ..self
        })
    }

    /// Still open as far as can be told without waiting: a target that
    /// closed an idle connection (or wrote on it) made it readable.
    fn is_usable(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// The target's upgraded connection and the bytes it already sent.
    pub(crate) fn into_upgraded(self) -> (TcpStream, Bytes) {
        (self.stream, self.buf.freeze())
    }

    /// Writes the request (head in `out`, then the body) and reads the
    /// final response head (interim 1xx answers but 101 are skipped).
    async fn exchange<B: SendBody>(
        &mut self,
        body: &mut B,
        framing: Option<RequestFraming>,
    ) -> Result<ResponseHead, Failure> {
        let stale = |e: io::Error| match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                Failure::Stale(e.into())
            }
            _ => Failure::Other(e.into()),
        };
        self.stream.write_all(&self.out).await.map_err(stale)?;
        if let Some(framing) = framing {
            self.write_body(body, framing).await.map_err(Failure::Other)?;
        }
        loop {
            if let Some(head) = h1::parse_response_head(&mut self.buf).map_err(|e| Failure::Other(e.into()))? {
                if head.status.is_informational() && head.status != http::StatusCode::SWITCHING_PROTOCOLS {
                    continue;
                }
                return Ok(head);
            }
            let was_empty = self.buf.is_empty();
            self.buf.reserve(READ_CHUNK);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) if was_empty => return Err(Failure::Stale(UpstreamError::Closed)),
                Ok(0) => return Err(Failure::Other(UpstreamError::Closed)),
                Ok(_) => {}
                Err(e) if was_empty => return Err(stale(e)),
                Err(e) => return Err(Failure::Other(e.into())),
            }
        }
    }

    async fn write_body<B: SendBody>(&mut self, body: &mut B, framing: RequestFraming) -> Result<(), UpstreamError> {
        while let Some(data) = body.next_data().await {
            let data = data?;
            if framing == RequestFraming::Chunked {
                self.stream.write_all(&h1::chunk_prefix(data.len())).await?;
                self.stream.write_all(&data).await?;
                self.stream.write_all(b"\r\n").await?;
            } else {
                self.stream.write_all(&data).await?;
            }
        }
        if framing == RequestFraming::Chunked {
            self.stream.write_all(h1::LAST_CHUNK).await?;
        }
        Ok(())
    }
}

/// A request's body as it goes to the target, a piece at a time.
pub(crate) trait SendBody {
    /// The next piece of data (never empty); none at the body's end.
    fn next_data(&mut self) -> impl Future<Output = Option<Result<Bytes, UpstreamError>>> + Send;
}

/// An HTTP/2 client's body, as hyper's server reads it.
impl SendBody for Incoming {
    async fn next_data(&mut self) -> Option<Result<Bytes, UpstreamError>> {
        loop {
            let frame = match self.frame().await? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(UpstreamError::ClientBody(e.to_string()))),
            };
            // Trailers are not passed on.
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
            {
                return Some(Ok(data));
            }
        }
    }
}

/// How an exchange failed: on a connection the target had closed before
/// answering (a safe request may go again on a new one), or otherwise.
enum Failure {
    Stale(UpstreamError),
    Other(UpstreamError),
}

/// A target's shared pool of idle connections.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<(Conn, Instant)>>,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Vec<(Conn, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, now: Instant) -> Option<Conn> {
        let mut idle = self.lock();
        while let Some((conn, since)) = idle.pop() {
            if now.saturating_duration_since(since) < POOL_IDLE && conn.is_usable() {
                return Some(conn);
            }
        }
        None
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn put(&self, conn: Conn, now: Instant) {
        let mut idle = self.lock();
        idle.retain(|(_, since)| now.saturating_duration_since(*since) < POOL_IDLE);
        if idle.len() < POOL_MAX {
            idle.push((conn, now));
        }
    }
}

/// The idle upstream connections of one client connection.
#[derive(Debug, Default)]
pub(crate) struct Upstreams {
    idle: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    conns: Vec<(Arc<TargetShared>, Conn)>,
    /// The client connection ended: connections go to their targets' pools.
    detached: bool,
}

/// A response head from a target and its body, to stream to the client.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) head: ResponseHead,
    pub(crate) body: TargetBody,
}

impl Upstreams {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This connection's idle connection to `target`; the ones to targets
    /// that left their group are dropped.
    /// With the kept reference to the target, which goes with the
    /// connection (moved, not cloned, per request).
    fn take(&self, target: &Arc<TargetShared>) -> Option<(Arc<TargetShared>, Conn)> {
        let mut kept = self.lock();
        kept.conns.retain(|(t, _)| !t.retired.load(Relaxed));
        let i = kept.conns.iter().position(|(t, _)| Arc::ptr_eq(t, target))?;
        Some(kept.conns.swap_remove(i))
    }

    /// Keeps a connection whose answer has been read whole, for the next
    /// request to `target`.
    fn put(&self, target: Arc<TargetShared>, conn: Conn) {
        if target.retired.load(Relaxed) || !conn.buf.is_empty() {
            return;
        }
        let mut kept = self.lock();
        if kept.conns.len() < LOCAL_MAX && !kept.detached {
            kept.conns.push((target, conn));
        } else {
            drop(kept);
            target.pool.put(conn, Instant::now());
        }
    }

    /// Sends a request to `target` over an idle connection (this client
    /// connection's, else the target's pool) or a new one — its head
    /// written by `write_head` for the body's framing (`framing`: none
    /// when it has no body), then `body` — and reads the response head. The
    /// body's connection comes back to this client connection once it has
    /// been read whole, when `reuse`.
    pub(crate) async fn send<B: SendBody>(
        self: &Arc<Self>,
        target: &Arc<TargetShared>,
        method: &Method,
        write_head: impl Fn(&mut BytesMut, RequestFraming),
        body: &mut B,
        framing: Option<RequestFraming>,
        reuse: bool,
    ) -> Result<Answer, UpstreamError> {
        let replayable = framing.is_none() && method.is_safe();
        let mut kept = self
            .take(target)
            .filter(|(_, c)| replayable || c.is_usable())
            .or_else(|| {
                let conn = target.pool.take(Instant::now())?.at_home()?;
                Some((target.clone(), conn))
            });
        loop {
            let (held, mut conn, reused) = match kept.take() {
                Some((held, conn)) => (held, conn, true),
                None => (target.clone(), connect(target).await?, false),
            };
            conn.out.clear();
            write_head(&mut conn.out, framing.unwrap_or(RequestFraming::AsIs));
            match conn.exchange(body, framing).await {
                Ok(head) => {
                    let framing = head.body_framing(method)?;
                    let keep_alive = reuse && head.keep_alive() && framing != BodyFraming::UntilClose;
                    let body = TargetBody {
                        conn: Some(conn),
                        state: BodyState::from(framing),
                        home: keep_alive.then(|| (self.clone(), held)),
                    };
                    return Ok(Answer { head, body });
                }
                Err(Failure::Stale(e)) if reused && replayable => {
                    tracing::debug!(target = %target.authority, error = %e, "kept connection closed: sending again");
                }
                Err(Failure::Stale(e) | Failure::Other(e)) => return Err(e),
            }
        }
    }

    /// The client connection ended: its idle connections go to their
    /// targets' pools, and so do the ones still reading an answer when
    /// they are done.
    pub(crate) fn detach(&self) {
        let idle = {
            let mut kept = self.lock();
            kept.detached = true;
            std::mem::take(&mut kept.conns)
        };
        to_pools(idle);
    }
}

fn to_pools(idle: Vec<(Arc<TargetShared>, Conn)>) {
    let now = Instant::now();
    for (target, conn) in idle {
        if !target.retired.load(Relaxed) {
            target.pool.put(conn, now);
        }
    }
}

impl Drop for Upstreams {
    /// The last holder went without [`Upstreams::detach`] (a client
    /// connection's task cut short): its idle connections are not cut.
    fn drop(&mut self) {
        let kept = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        to_pools(kept.conns);
    }
}

/// A new connection to `target`.
async fn connect(target: &TargetShared) -> Result<Conn, UpstreamError> {
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
    Ok(Conn {
        stream,
        worker: workers::current(),
        buf: BytesMut::with_capacity(READ_CHUNK),
        out: BytesMut::with_capacity(1024),
    })
}

#[derive(Debug)]
enum BodyState {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

impl From<BodyFraming> for BodyState {
    fn from(framing: BodyFraming) -> BodyState {
        match framing {
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(Chunked::Size),
            BodyFraming::UntilClose => BodyState::UntilClose,
        }
    }
}

/// A target's response body, read from its connection as the client takes
/// it; the connection goes back to its client connection once the body
/// has been read whole (or closes, if it is dropped before).
#[derive(Debug)]
pub(crate) struct TargetBody {
    conn: Option<Conn>,
    state: BodyState,
    /// Where the connection goes once the body is read whole (none: it
    /// closes).
    home: Option<(Arc<Upstreams>, Arc<TargetShared>)>,
}

impl TargetBody {
    /// The whole body when it has a length and all of it has been read
    /// already (the connection then goes home): the common small answer,
    /// written with its head in one piece.
    pub(crate) fn take_whole(&mut self) -> Option<Bytes> {
        let BodyState::Length(n) = self.state else {
            return None;
        };
        let conn = self.conn.as_mut()?;
        let n = usize::try_from(n).ok().filter(|&n| n <= conn.buf.len())?;
        let data = conn.buf.split_to(n).freeze();
        self.state = BodyState::Length(0);
        self.finish();
        Some(data)
    }

    /// How the client should be sent the body: with its length, or not.
    pub(crate) fn has_length(&self) -> bool {
        matches!(self.state, BodyState::Length(_))
    }

    /// The connection, for a tunnel (after a 101).
    pub(crate) fn into_conn(mut self) -> Option<Conn> {
        self.home = None;
        self.conn.take()
    }

    fn at_end(&self) -> bool {
        matches!(self.state, BodyState::Length(0) | BodyState::Chunked(Chunked::Done))
    }

    /// The body was read whole: its connection goes home.
    fn finish(&mut self) {
        if let (Some(conn), Some((upstreams, target))) = (self.conn.take(), self.home.take()) {
            upstreams.put(target, conn);
        }
    }
}

impl Drop for TargetBody {
    fn drop(&mut self) {
        // A body hyper knew was empty is never polled.
        if self.at_end() {
            self.finish();
        }
    }
}

impl Body for TargetBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.state {
                BodyState::Length(0) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                BodyState::Length(left) => {
                    if !conn.buf.is_empty() {
                        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(conn.buf.len());
                        *left -= take as u64;
                        let data = conn.buf.split_to(take).freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                BodyState::Chunked(chunked) => match chunked.decode(&mut conn.buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::End) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))));
                    }
                },
                BodyState::UntilClose => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
            // More bytes from the target.
            let read = loop {
                if let Err(e) = ready!(conn.stream.poll_read_ready(cx)) {
                    break Err(e);
                }
                conn.buf.reserve(READ_CHUNK);
                match conn.stream.try_read_buf(&mut conn.buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => break other,
                }
            };
            match read {
                Ok(0) if matches!(this.state, BodyState::UntilClose) => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the target closed the connection within the body",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.at_end()
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            BodyState::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}
