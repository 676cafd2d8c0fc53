//! An HTTP/1 client connection served by the proxy itself, as the upstream
//! side is ([`crate::upstream`]): each request head parsed from the
//! connection's read buffer ([`crate::request`]), routed and forwarded by
//! what [`crate::http_proxy`] decides, its body read from the same buffer
//! as the target takes it (Content-Length or chunked), and the answer's
//! head written from the target's parsed head ([`crate::respond`]) with a
//! small body in the same write. Keep-alive as RFC 9112 says (HTTP/1.1
//! unless `Connection: close`; HTTP/1.0 when asked), pipelined requests
//! answered in turn (the bytes after one request stay in the buffer for
//! the next), `Expect: 100-continue` answered before a forwarded body is
//! read, an upgrade (WebSocket) the target accepts with 101 turned into a
//! tunnel ([`crate::upgrade`]). A malformed head gets ALB's 400 page (431
//! for too many fields) and the connection closes. A client that opens
//! with HTTP/2's connection preface (h2c with prior knowledge) is handed
//! to hyper's HTTP/2 server with the bytes already read.

use crate::alarm::{Alarm, IDLE};
use crate::answers::Page;
use crate::fields::Headers;
use crate::h1::{Chunked, Decoded, RequestFraming};
use crate::http_proxy::{self, ClientConn, Decision};
use crate::request::{BodyLength, RequestHead, parse_request_head};
use crate::respond::{self, ClientFraming, Connection};
use crate::rules::RequestView;
use crate::upgrade;
use crate::upstream::{Answer, SendBody, UpstreamError};
use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode, Version};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// HTTP/2's connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The read buffer's size, and what is kept free before a read.
const READ_SIZE: usize = 8 * 1024;
const READ_ROOM: usize = 2 * 1024;
/// An answer's body is written in the head's write up to this size.
const WITH_HEAD: usize = 16 * 1024;
/// A request body the load balancer answers without forwarding is read
/// and dropped up to this size (the connection then serves the next
/// request); a longer one closes the connection after the answer.
const DISCARD_MAX: u64 = 64 * 1024;

/// How an HTTP/1 connection ended.
pub(crate) enum Ended {
    /// Closed (by either side, or after an answer that closes it).
    Closed,
    /// The client spoke HTTP/2: these bytes were read already.
    Http2(Bytes),
}

/// A socket the connection reads and writes.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves the connection's HTTP/1 requests until it closes, or until the
/// alarm (idle timeout, the listener stopping) asks it to: between
/// requests it closes then; within one, after the answer (idle as long
/// again, it is dropped).
pub(crate) async fn serve<I: Io>(io: &mut I, conn: &ClientConn, alarm: &Alarm) -> Ended {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out = BytesMut::with_capacity(4 * 1024);
    let mut closing = false;
    let mut first = true;
    loop {
        let head = loop {
            if first && !buf.is_empty() {
                if buf.starts_with(PREFACE) {
                    return Ended::Http2(buf.split().freeze());
                }
                let prefix = buf.len().min(PREFACE.len());
                if buf.len() < PREFACE.len() && buf[..prefix] == PREFACE[..prefix] {
                    // Maybe HTTP/2: read on.
                } else {
                    first = false;
                }
            }
            if !first {
                match parse_request_head(&mut buf) {
                    Ok(Some(head)) => break head,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, peer = %conn.peer, "malformed request head");
                        let page = http_proxy::elb_error(&conn.routes().lb, e.status());
                        out.clear();
                        page.write_h1(&mut out, false, Connection::Close);
                        let _ = put(io, &out).await;
                        return Ended::Closed;
                    }
                }
            }
            if closing && buf.is_empty() {
                return Ended::Closed;
            }
            if buf.capacity() - buf.len() < READ_ROOM {
                buf.reserve(READ_SIZE);
            }
            tokio::select! {
                biased;
                read = io.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => return Ended::Closed,
                    Ok(_) => {}
                },
                raised = alarm.next() => {
                    if (raised & IDLE != 0 && closing) || buf.is_empty() {
                        return Ended::Closed;
                    }
                    closing = true;
                }
            }
        };
        first = false;
        let served = serve_one(io, &mut buf, &mut out, head, conn);
        tokio::pin!(served);
        let keep = loop {
            tokio::select! {
                biased;
                keep = &mut served => break keep,
                raised = alarm.next() => {
                    if raised & IDLE != 0 && closing {
                        // Idle again after being asked to close: dropped.
                        return Ended::Closed;
                    }
                    closing = true;
                }
            }
        };
        if !keep || closing {
            return Ended::Closed;
        }
    }
}

/// Answers one request; whether the connection may serve another.
async fn serve_one<I: Io>(
    io: &mut I,
    buf: &mut BytesMut,
    out: &mut BytesMut,
    head: RequestHead,
    conn: &ClientConn,
) -> bool {
    let routes = conn.routes();
    let view = RequestView {
        method: head.method.as_str(),
        path: head.path(),
        query: head.query(),
        host: head.host(),
        headers: Headers::Raw(head.fields()),
        source: conn.peer.ip(),
    };
    let head_only = head.method == Method::HEAD;
    let keep = head.keep_alive();
    let chosen = match http_proxy::decide(&routes, &view) {
        Decision::Answer(page) => {
            // The body was not wanted: read and dropped when short, else
            // the connection closes after the answer.
            // A client waiting for `100 Continue` sends no body: the
            // connection cannot tell where its next request starts.
            let waiting = head.expects_continue && head.body != BodyLength::None;
            let kept = keep && !waiting && discard_body(io, buf, head.body).await;
            return write_page(io, out, &page, head_only, &head, kept).await;
        }
        Decision::Forward(chosen) => chosen,
    };
    let upgrade = head.upgrade().map(<[u8]>::to_vec);
    if head.expects_continue
        && head.body != BodyLength::None
        && put(io, b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
    {
        return false;
    }
    let framing = match head.body {
        BodyLength::None => None,
        BodyLength::Length(_) => Some(RequestFraming::AsIs),
        BodyLength::Chunked => Some(RequestFraming::Chunked),
    };
    let extra = extra_lines(&head, &chosen, upgrade.as_deref());
    let write_head = |out: &mut BytesMut, framing: RequestFraming, forwarded: &crate::h1::Forwarded<'_>| {
        crate::h1::write_request_head(
            out,
            &head.method,
            head.path_and_query(),
            head.forwarded_fields(),
            &extra,
            framing,
            forwarded,
        );
    };
    let mut body = ClientBody::new(&mut *io, &mut *buf, head.body);
    let answer = http_proxy::exchange(
        conn,
        &routes,
        &chosen,
        &head.method,
        write_head,
        &mut body,
        framing,
        upgrade.is_none(),
    )
    .await;
    // The request's body was read whole: the next request's bytes follow.
    let body_read = body.is_done();
    let Answer {
        head: answer,
        body: mut target_body,
    } = match answer {
        Ok(answer) => answer,
        Err(page) => return write_page(io, out, &page, head_only, &head, keep && body_read).await,
    };
    if answer.status == StatusCode::SWITCHING_PROTOCOLS {
        let (Some(protocol), Some(target_conn)) = (upgrade, target_body.into_conn()) else {
            // A switch nobody asked for.
            let page = http_proxy::elb_error(&routes.lb, StatusCode::BAD_GATEWAY);
            return write_page(io, out, &page, head_only, &head, false).await;
        };
        out.clear();
        respond::write_answer_head(out, &answer, &[], ClientFraming::AsIs, Connection::Kept);
        // The hop-by-hop fields were left out: the switch says them again.
        out.truncate(out.len() - 2);
        out.extend_from_slice(b"connection: upgrade\r\nupgrade: ");
        out.extend_from_slice(&protocol);
        out.extend_from_slice(b"\r\n\r\n");
        if put(io, out).await.is_ok() {
            upgrade::tunnel(io, buf.split(), target_conn).await;
        }
        drop(chosen);
        return false;
    }
    let framing = if target_body.has_length() {
        ClientFraming::AsIs
    } else if head.version == Version::HTTP_11 {
        ClientFraming::Chunked
    } else {
        ClientFraming::UntilClose
    };
    let keep = keep && body_read && framing != ClientFraming::UntilClose;
    let connection = match (keep, head.version) {
        (false, _) => Connection::Close,
        (true, Version::HTTP_10) => Connection::KeptAsAsked,
        (true, _) => Connection::Kept,
    };
    out.clear();
    respond::write_answer_head(out, &answer, &http_proxy::cookies(&chosen), framing, connection);
    if framing == ClientFraming::AsIs
        && let Some(whole) = target_body.take_whole()
    {
        // The common small answer: head and body in one write.
        if whole.len() <= WITH_HEAD {
            out.extend_from_slice(&whole);
            return put(io, out).await.is_ok() && keep;
        }
        return put(io, out).await.is_ok() && put(io, &whole).await.is_ok() && keep;
    }
    if put(io, out).await.is_err() {
        return false;
    }
    while let Some(frame) = target_body.frame().await {
        let Ok(Ok(data)) = frame.map(|f| f.into_data()) else {
            // The target's body was cut short (or errored): so is the
            // client's, which sees no proper end.
            return false;
        };
        let written = if framing == ClientFraming::Chunked {
            out.clear();
            respond::write_chunk(out, &data);
            put(io, out).await
        } else {
            put(io, &data).await
        };
        if written.is_err() {
            return false;
        }
    }
    if framing == ClientFraming::Chunked && put(io, crate::h1::LAST_CHUNK).await.is_err() {
        return false;
    }
    drop(chosen);
    keep
}

/// The header lines the proxy adds to a forwarded request: a Host when
/// the client sent none (an absolute-form target's authority, else the
/// target's), and the upgrade it asks for.
fn extra_lines(head: &RequestHead, chosen: &http_proxy::Chosen<'_>, upgrade: Option<&[u8]>) -> Vec<u8> {
    let mut extra = Vec::new();
    if !head.has_host_field() {
        let host = head
            .host()
            .unwrap_or_else(|| chosen.in_flight.target().authority.as_str());
        extra.extend_from_slice(b"host: ");
        extra.extend_from_slice(host.as_bytes());
        extra.extend_from_slice(b"\r\n");
    }
    if let Some(protocol) = upgrade {
        extra.extend_from_slice(b"connection: upgrade\r\nupgrade: ");
        extra.extend_from_slice(protocol);
        extra.extend_from_slice(b"\r\n");
    }
    extra
}

/// Writes `bytes` to the client and flushes them (a TLS stream's records
/// go out; a plain socket's flush does nothing).
async fn put<I: Io>(io: &mut I, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// Writes one of the load balancer's pages; whether the connection may
/// serve another request.
async fn write_page<I: Io>(
    io: &mut I,
    out: &mut BytesMut,
    page: &Page,
    head_only: bool,
    head: &RequestHead,
    keep: bool,
) -> bool {
    let connection = match (keep, head.version) {
        (false, _) => Connection::Close,
        (true, Version::HTTP_10) => Connection::KeptAsAsked,
        (true, _) => Connection::Kept,
    };
    out.clear();
    page.write_h1(out, head_only, connection);
    put(io, out).await.is_ok() && keep
}

/// Reads and drops a request body the load balancer answers without;
/// false when it is too long for that (or cut short).
async fn discard_body<I: Io>(io: &mut I, buf: &mut BytesMut, length: BodyLength) -> bool {
    match length {
        BodyLength::None => true,
        BodyLength::Length(n) if n <= DISCARD_MAX => {
            let mut body = ClientBody::new(io, buf, length);
            while let Some(data) = body.next_data().await {
                if data.is_err() {
                    return false;
                }
            }
            true
        }
        _ => false,
    }
}

/// What is left of a request's body.
#[derive(Debug)]
enum Left {
    Length(u64),
    Chunked(Chunked),
    Done,
}

/// An HTTP/1 client's request body, read from its connection's buffer and
/// socket as the target takes it.
pub(crate) struct ClientBody<'c, I> {
    io: &'c mut I,
    buf: &'c mut BytesMut,
    left: Left,
}

impl<'c, I: Io> ClientBody<'c, I> {
    fn new(io: &'c mut I, buf: &'c mut BytesMut, length: BodyLength) -> ClientBody<'c, I> {
        let left = match length {
            BodyLength::None => Left::Done,
            BodyLength::Length(n) => Left::Length(n),
            BodyLength::Chunked => Left::Chunked(Chunked::Size),
        };
        ClientBody { io, buf, left }
    }

    /// Read whole.
    fn is_done(&self) -> bool {
        matches!(self.left, Left::Done | Left::Length(0))
    }
}

impl<I: Io> SendBody for ClientBody<'_, I> {
    async fn next_data(&mut self) -> Option<Result<Bytes, UpstreamError>> {
        loop {
            match &mut self.left {
                Left::Done | Left::Length(0) => {
                    self.left = Left::Done;
                    return None;
                }
                Left::Length(n) => {
                    if !self.buf.is_empty() {
                        let take = usize::try_from(*n).unwrap_or(usize::MAX).min(self.buf.len());
                        *n -= take as u64;
                        return Some(Ok(self.buf.split_to(take).freeze()));
                    }
                }
                Left::Chunked(chunked) => match chunked.decode(self.buf) {
                    Ok(Decoded::Data(data)) => return Some(Ok(data)),
                    Ok(Decoded::End) => {
                        self.left = Left::Done;
                        return None;
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => return Some(Err(UpstreamError::ClientBody(e.to_string()))),
                },
            }
            if self.buf.capacity() - self.buf.len() < READ_ROOM {
                self.buf.reserve(READ_SIZE);
            }
            match self.io.read_buf(self.buf).await {
                Ok(0) => {
                    return Some(Err(UpstreamError::ClientBody(
                        "the client closed the connection within the body".into(),
                    )));
                }
                Ok(_) => {}
                Err(e) => return Some(Err(UpstreamError::ClientBody(e.to_string()))),
            }
        }
    }
}

/// A socket with bytes already read from it put back in front.
#[derive(Debug)]
pub(crate) struct Rewind<I> {
    prefix: Bytes,
    inner: I,
}

impl<I> Rewind<I> {
    pub(crate) fn new(prefix: Bytes, inner: I) -> Rewind<I> {
        Rewind { prefix, inner }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let first = self.prefix.split_to(n);
            buf.put_slice(&first);
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
