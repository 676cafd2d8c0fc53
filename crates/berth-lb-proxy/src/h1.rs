//! HTTP/1.1 as the proxy speaks it to targets, pure: a request head
//! written into a reused buffer, a response head parsed (`httparse`) into
//! `http` parts sharing the read bytes, how the response's body is framed
//! (RFC 9112 §6.3), and the chunked coding both ways. The exchange itself
//! (sockets, timers) is [`crate::upstream`]'s.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
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

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

impl Forwarded<'_> {
    fn write(&self, out: &mut BytesMut, prior_for: Option<&HeaderValue>, prior_trace: Option<&HeaderValue>) {
        out.extend_from_slice(b"x-forwarded-for: ");
        if let Some(prior) = prior_for.filter(|p| !p.is_empty()) {
            out.extend_from_slice(prior.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(self.client_ip);
        out.extend_from_slice(b"\r\nx-forwarded-proto: ");
        out.extend_from_slice(self.proto.as_bytes());
        out.extend_from_slice(b"\r\nx-forwarded-port: ");
        push_decimal(out, self.port);
        out.extend_from_slice(b"\r\nx-amzn-trace-id: ");
        match prior_trace.filter(|p| p.to_str().is_ok_and(|p| p.contains("Root="))) {
            Some(prior) => {
                out.extend_from_slice(prior.as_bytes());
                out.extend_from_slice(b";Self=");
            }
            None => out.extend_from_slice(b"Root="),
        }
        out.extend_from_slice(self.trace_id);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_decimal(out: &mut BytesMut, n: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Writes the request head: `METHOD path HTTP/1.1`, the headers (but the
/// ones `forwarded` sets), `forwarded`'s, and `Transfer-Encoding: chunked`
/// when the body is chunked.
pub(crate) fn write_request_head(
    out: &mut BytesMut,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
    forwarded: &Forwarded<'_>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut prior_for = None;
    let mut prior_trace = None;
    for (name, value) in headers {
        // The four share a prefix no other common header has: one
        // comparison for most headers.
        if name.as_str().starts_with("x-") {
            if *name == X_FORWARDED_FOR {
                prior_for.get_or_insert(value);
                continue;
            }
            if *name == X_AMZN_TRACE_ID {
                prior_trace.get_or_insert(value);
                continue;
            }
            if *name == X_FORWARDED_PROTO || *name == X_FORWARDED_PORT {
                continue;
            }
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    forwarded.write(out, prior_for, prior_trace);
    if framing == RequestFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// One chunk of a chunked body: its size line, then the data and CRLF.
pub(crate) fn chunk_prefix(len: usize) -> Bytes {
    Bytes::from(format!("{len:x}\r\n"))
}

/// The last chunk of a chunked body (no trailers).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A response head. A `Connection` header that only says `close` or
/// `keep-alive` (most do) is read into `connection` and not kept among
/// the headers: it is hop-by-hop, and dropping it from the map after
/// would cost a pass of lookups per response.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) connection: ConnectionTokens,
}

/// The `close` and `keep-alive` tokens of the `Connection` headers read
/// out of a response head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConnectionTokens {
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
}

impl ConnectionTokens {
    /// Adds a `Connection` value's tokens; false when it names anything
    /// else (a header to drop: the value is then kept in the map).
    fn read(&mut self, value: &[u8]) -> bool {
        let mut only_these = true;
        for token in value.split(|&b| b == b',').map(trim) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if !token.is_empty() {
                only_these = false;
            }
        }
        only_these
    }
}

impl ResponseHead {
    /// The connection stays open after this response's body.
    pub(crate) fn keep_alive(&self) -> bool {
        let mut tokens = self.connection;
        for value in self.headers.get_all(header::CONNECTION) {
            tokens.read(value.as_bytes());
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
        if let Some(te) = self.headers.get_all(header::TRANSFER_ENCODING).iter().next_back() {
            let last = te.to_str().ok().and_then(|v| v.rsplit(',').next()).map(str::trim);
            return Ok(if last.is_some_and(|c| c.eq_ignore_ascii_case("chunked")) {
                BodyFraming::Chunked
            } else {
                BodyFraming::UntilClose
            });
        }
        let mut lengths = self.headers.get_all(header::CONTENT_LENGTH).iter();
        match lengths.next() {
            None => Ok(BodyFraming::UntilClose),
            Some(first) => {
                let n = parse_length(first.as_bytes()).ok_or(ParseError::ContentLength)?;
                // Repeated, every one must say the same.
                if lengths.all(|v| parse_length(v.as_bytes()) == Some(n)) {
                    Ok(BodyFraming::Length(n))
                } else {
                    Err(ParseError::ContentLength)
                }
            }
        }
    }
}

fn parse_length(v: &[u8]) -> Option<u64> {
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
/// header values sharing them).
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
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ParseError::Head("no status code".into()))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = buf.as_ptr() as usize;
    let mut connection = ConnectionTokens::default();
    // Where each header's name and value are in the head's bytes.
    let spans: Vec<(HeaderName, usize, usize)> = parsed
        .headers
        .iter()
        .filter(|h| !(h.name.eq_ignore_ascii_case("connection") && connection.read(h.value)))
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ParseError::Header)?;
            let start = h.value.as_ptr() as usize - base;
            Ok((name, start, start + h.value.len()))
        })
        .collect::<Result<_, ParseError>>()?;
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(spans.len());
    for (name, start, end) in spans {
        let value = HeaderValue::from_maybe_shared(head.slice(start..end)).map_err(|_| ParseError::Header)?;
        headers.append(name, value);
    }
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
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
