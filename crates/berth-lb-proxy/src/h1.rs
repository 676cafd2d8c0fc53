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

/// Writes the request head: `METHOD path HTTP/1.1`, the headers, and
/// `Transfer-Encoding: chunked` when the body is chunked.
pub(crate) fn write_request_head(
    out: &mut BytesMut,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
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

/// A response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
}

impl ResponseHead {
    /// The connection stays open after this response's body.
    pub(crate) fn keep_alive(&self) -> bool {
        let tokens = || {
            self.headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
        };
        if self.version == Version::HTTP_10 {
            tokens().any(|t| t.eq_ignore_ascii_case("keep-alive"))
        } else {
            !tokens().any(|t| t.eq_ignore_ascii_case("close"))
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
    // Where each header's name and value are in the head's bytes.
    let spans: Vec<(HeaderName, usize, usize)> = parsed
        .headers
        .iter()
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
