//! HTTP/1.1 as the proxy speaks it to targets, pure: a request head
//! written into a reused buffer, a response head parsed (`httparse`) into
//! `http` parts sharing the read bytes, how the response's body is framed
//! (RFC 9112 §6.3), and the chunked coding both ways. The exchange itself
//! (sockets, timers) is [`crate::upstream`]'s.

use crate::fields::{Field, RawFields, text};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use std::mem::MaybeUninit;

/// Headers a target's response head may have.
const MAX_HEADERS: usize = 128;
/// The longest response head read.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Why a target's answer is not HTTP/1.1 the proxy can pass on (a 502).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ParseError {
    #[error("the response head is not HTTP/1.x: {0}")]
    Head(String),
    #[error("the response head is longer than {MAX_HEAD} bytes")]
    TooLong,
    #[error("the response has an invalid header")]
    Header,
    #[error("the response's Content-Length is invalid")]
    ContentLength,
    #[error("the chunked body is malformed")]
    Chunk,
}

/// How the request's body goes to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// No body (none, or its Content-Length header says how long it is).
    AsIs,
    /// A body of unknown length: `Transfer-Encoding: chunked` is added.
    Chunked,
}

/// The headers the load balancer sets on each request it forwards,
/// written after the request's own (which lose theirs): X-Forwarded-For
/// (the client's address appended to the request's), -Proto, -Port and
/// X-Amzn-Trace-Id (a new `Root`, or the request's with a `Self` added).
/// Written straight into the head: no header map entry, no value
/// allocated per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarded<'a> {
    /// The client's address as X-Forwarded-For writes it.
    pub(crate) client_ip: &'a [u8],
    /// `http` or `https`.
    pub(crate) proto: &'static str,
    /// The listener's port.
    pub(crate) port: u16,
    /// A new trace id (`1-` time `-` random).
    pub(crate) trace_id: &'a [u8],
}

impl Forwarded<'_> {
    fn write(&self, out: &mut BytesMut, prior_for: Option<&[u8]>, prior_trace: Option<&[u8]>) {
        out.extend_from_slice(b"x-forwarded-for: ");
        if let Some(prior) = prior_for.filter(|p| !p.is_empty()) {
            out.extend_from_slice(prior);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(self.client_ip);
        out.extend_from_slice(b"\r\nx-forwarded-proto: ");
        out.extend_from_slice(self.proto.as_bytes());
        out.extend_from_slice(b"\r\nx-forwarded-port: ");
        out.extend_from_slice(itoa::Buffer::new().format(self.port).as_bytes());
        out.extend_from_slice(b"\r\nx-amzn-trace-id: ");
        match prior_trace.filter(|p| text(p).is_some_and(|p| p.contains("Root="))) {
            Some(prior) => {
                out.extend_from_slice(prior);
                out.extend_from_slice(b";Self=");
            }
            None => out.extend_from_slice(b"Root="),
        }
        out.extend_from_slice(self.trace_id);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes the request head: `METHOD path HTTP/1.1`, the fields (but the
/// ones `forwarded` sets; the caller has left out the hop-by-hop ones),
/// `extra` (whole header lines the caller adds: a Host, an upgrade),
/// `forwarded`'s, and `Transfer-Encoding: chunked` when the body is
/// chunked. Names are written as they came.
pub(crate) fn write_request_head<'h>(
    out: &mut BytesMut,
    method: &Method,
    path: &str,
    fields: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    extra: &[u8],
    framing: RequestFraming,
    forwarded: &Forwarded<'_>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut prior_for = None;
    let mut prior_trace = None;
    for (name, value) in fields {
        // The four share a prefix no other common header has: one
        // comparison for most headers.
        if name.len() > 2 && name[..2].eq_ignore_ascii_case(b"x-") {
            if name.eq_ignore_ascii_case(b"x-forwarded-for") {
                prior_for.get_or_insert(value);
                continue;
            }
            if name.eq_ignore_ascii_case(b"x-amzn-trace-id") {
                prior_trace.get_or_insert(value);
                continue;
            }
            if name.eq_ignore_ascii_case(b"x-forwarded-proto") || name.eq_ignore_ascii_case(b"x-forwarded-port") {
                continue;
            }
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(extra);
    forwarded.write(out, prior_for, prior_trace);
    if framing == RequestFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A header map's fields as [`write_request_head`] takes them.
pub(crate) fn map_fields(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
}

/// One chunk of a chunked body: its size line, then the data and CRLF.
pub(crate) fn chunk_prefix(len: usize) -> Bytes {
    Bytes::from(format!("{len:x}\r\n"))
}

/// The last chunk of a chunked body (no trailers).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A response head: its bytes and each field as spans of them (no header
/// map: the HTTP/1 path copies the fields to the client as they came; an
/// HTTP/2 client's answer builds one, [`ResponseHead::header_map`]). A
/// `Connection` field that only says `close` or `keep-alive` (most do) is
/// read into `connection` and not kept among the fields: it is
/// hop-by-hop.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    raw: Bytes,
    /// The reason phrase's span.
    reason: (u32, u32),
    fields: Vec<Field>,
    pub(crate) connection: ConnectionTokens,
}

/// The `close`, `keep-alive` and `upgrade` tokens of the `Connection`
/// headers read out of a head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConnectionTokens {
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    pub(crate) upgrade: bool,
}

impl ConnectionTokens {
    /// Adds a `Connection` value's tokens; false when it names anything
    /// else (a header to drop: the value is then kept among the fields).
    fn read(&mut self, value: &[u8]) -> bool {
        let mut only_these = true;
        for token in value.split(|&b| b == b',').map(trim) {
            if !self.read_token(token) && !token.is_empty() {
                only_these = false;
            }
        }
        only_these
    }

    /// Adds one token: false unless it is `close` or `keep-alive`.
    pub(crate) fn read_token(&mut self, token: &[u8]) -> bool {
        if token.eq_ignore_ascii_case(b"close") {
            self.close = true;
        } else if token.eq_ignore_ascii_case(b"keep-alive") {
            self.keep_alive = true;
        } else {
            return false;
        }
        true
    }
}

impl ResponseHead {
    /// Its fields (but a `Connection` of only close / keep-alive).
    pub(crate) fn fields(&self) -> RawFields<'_> {
        RawFields::new(&self.raw, &self.fields)
    }

    /// The reason phrase as the target wrote it.
    pub(crate) fn reason(&self) -> &[u8] {
        self.raw
            .get(self.reason.0 as usize..self.reason.1 as usize)
            .unwrap_or_default()
    }

    /// The fields as a header map (for hyper's HTTP/2 server), the values
    /// sharing the head's bytes.
    pub(crate) fn header_map(&self) -> Result<HeaderMap, ParseError> {
        let mut headers = HeaderMap::with_capacity(self.fields.len());
        for field in &self.fields {
            let name = HeaderName::from_bytes(field.name(&self.raw)).map_err(|_| ParseError::Header)?;
            let value = field.value(&self.raw);
            let start = value.as_ptr() as usize - self.raw.as_ptr() as usize;
            let value = HeaderValue::from_maybe_shared(self.raw.slice(start..start + value.len()))
                .map_err(|_| ParseError::Header)?;
            headers.append(name, value);
        }
        Ok(headers)
    }

    /// The connection stays open after this response's body.
    pub(crate) fn keep_alive(&self) -> bool {
        let mut tokens = self.connection;
        for value in self.fields().values("connection") {
            tokens.read(value);
        }
        if self.version == Version::HTTP_10 {
            tokens.keep_alive
        } else {
            !tokens.close
        }
    }

    /// How its body is framed (RFC 9112 §6.3), for a request with `method`.
    pub(crate) fn body_framing(&self, method: &Method) -> Result<BodyFraming, ParseError> {
        if method == Method::HEAD
            || self.status.is_informational()
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED
        {
            return Ok(BodyFraming::Length(0));
        }
        let fields = self.fields();
        if let Some(te) = fields.values("transfer-encoding").last() {
            let last = te.rsplit(|&b| b == b',').next().map(trim);
            return Ok(if last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
                BodyFraming::Chunked
            } else {
                BodyFraming::UntilClose
            });
        }
        let mut lengths = fields.values("content-length");
        match lengths.next() {
            None => Ok(BodyFraming::UntilClose),
            Some(first) => {
                let n = parse_length(first).ok_or(ParseError::ContentLength)?;
                // Repeated, every one must say the same.
                if lengths.all(|v| parse_length(v) == Some(n)) {
                    Ok(BodyFraming::Length(n))
                } else {
                    Err(ParseError::ContentLength)
                }
            }
        }
    }
}

pub(crate) fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// After this many bytes.
    Length(u64),
    /// At its last chunk.
    Chunked,
    /// When the target closes the connection (which is then not reused).
    UntilClose,
}

/// Parses a response head at the start of `buf`: none while it is
/// incomplete; when complete, the head (its bytes taken from `buf`, the
/// fields spans of them).
pub(crate) fn parse_response_head(buf: &mut BytesMut) -> Result<Option<ResponseHead>, ParseError> {
    // Uninitialised slots: the parser writes those it uses (initialising
    // 128 of them was a 4 KiB write per response).
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut parsed, buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(ParseError::TooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ParseError::Head(e.to_string())),
    };
    if len > MAX_HEAD {
        return Err(ParseError::TooLong);
    }
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ParseError::Head("no status code".into()))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let head: &[u8] = buf;
    let reason = parsed.reason.map_or((0, 0), |r| {
        let start = r.as_ptr() as usize - head.as_ptr() as usize;
        (start as u32, (start + r.len()) as u32)
    });
    let mut connection = ConnectionTokens::default();
    let fields: Vec<Field> = parsed
        .headers
        .iter()
        .filter(|h| !(h.name.eq_ignore_ascii_case("connection") && connection.read(h.value)))
        .map(|h| Field::within(head, h.name.as_bytes(), h.value))
        .collect();
    let raw = buf.split_to(len).freeze();
    Ok(Some(ResponseHead {
        status,
        version,
        raw,
        reason,
        fields,
        connection,
    }))
}

/// Decodes a chunked body from a read buffer, one piece of data at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Expecting a chunk's size line.
    Size,
    /// Within a chunk: this many data bytes left, then CRLF.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// The body ended.
    Done,
}

/// What [`Chunked::decode`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Body data.
    Data(Bytes),
    /// More bytes are needed.
    NeedMore,
    /// The body ended.
    End,
}

impl Chunked {
    /// Takes from `buf` the next piece of data, or what framing it can.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        loop {
            match *self {
                Chunked::Done => return Ok(Decoded::End),
                Chunked::Size => {
                    let Some(eol) = find_crlf(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let line = &buf[..eol];
                    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
                    let digits = trim(digits);
                    if digits.is_empty() || digits.len() > 15 {
                        return Err(ParseError::Chunk);
                    }
                    let size = digits.iter().try_fold(0u64, |n, &d| {
                        let v = (d as char).to_digit(16).ok_or(ParseError::Chunk)?;
                        Ok::<u64, ParseError>(n * 16 + u64::from(v))
                    })?;
                    buf.advance(eol + 2);
                    *self = if size == 0 {
                        Chunked::Trailers
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    *self = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                Chunked::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ParseError::Chunk);
                    }
                    buf.advance(2);
                    *self = Chunked::Size;
                }
                Chunked::Trailers => {
                    let Some(eol) = find_crlf(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    buf.advance(eol + 2);
                    if eol == 0 {
                        *self = Chunked::Done;
                    }
                }
            }
        }
    }
}

/// The end of the line at the start of `buf`; an error when a line is
/// longer than a head may be.
fn find_crlf(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some(i)),
        None if buf.len() > MAX_HEAD => Err(ParseError::Chunk),
        None => Ok(None),
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests;
