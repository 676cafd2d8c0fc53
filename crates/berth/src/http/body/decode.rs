//! Undoing a request's `Content-Encoding` (`gzip`, as botocore sends large
//! CloudWatch `PutMetricData` bodies under Smithy's `requestCompression`)
//! after the signature over the bytes as sent has been checked. The decoder
//! is streamed with a cap: the service's body limit applies to the
//! decompressed size, and the decompressed bytes take their own room in the
//! body budget as they grow, so a small body that inflates far is refused
//! without being held whole.

use super::{BodyError, Budget, ReadBody};
use axum::body::Bytes;
use std::io::Read;

/// Bytes inflated at a time (and room taken in the budget per step).
const STEP: usize = 64 * 1024;

/// The codings of a `Content-Encoding` header, in the order they were
/// applied; `identity` (and an empty list) means none.
pub fn codings(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect()
}

/// `read` with the codings of `content_encoding` undone (the last applied
/// first), at most `limit` bytes once decoded. The hash stays that of the
/// bytes as sent (what the signature covers).
pub fn decode(read: ReadBody, content_encoding: &str, limit: usize, budget: &Budget) -> Result<ReadBody, BodyError> {
    let mut read = read;
    for coding in codings(content_encoding).iter().rev() {
        match coding.as_str() {
            "gzip" | "x-gzip" => read = gunzip(read, limit, budget)?,
            other => {
                return Err(BodyError::Encoding(format!(
                    "Content-Encoding {other} is not supported (only gzip)."
                )));
            }
        }
    }
    Ok(read)
}

/// Inflates a gzip body (one or more members), at most `limit` bytes.
fn gunzip(read: ReadBody, limit: usize, budget: &Budget) -> Result<ReadBody, BodyError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(&read.bytes[..]);
    let mut out: Vec<u8> = Vec::new();
    let mut room = Vec::new();
    let mut reserved = 0;
    loop {
        if out.len() == limit {
            // Full: anything more is over the limit.
            let mut probe = [0u8; 1];
            return match decoder.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => Err(BodyError::TooLarge(limit)),
                Err(e) => Err(not_gzip(&e)),
            };
        }
        let step = STEP.min(limit - out.len());
        let start = out.len();
        if start + step > reserved {
            room.push(budget.take(start + step - reserved, start + step)?);
            reserved = start + step;
        }
        out.resize(start + step, 0);
        let n = decoder.read(&mut out[start..]).map_err(|e| not_gzip(&e))?;
        out.truncate(start + n);
        if n == 0 {
            break;
        }
    }
    // The compressed bytes are dropped here; their room goes with them.
    let ReadBody { sha256_hex, .. } = read;
    Ok(ReadBody {
        bytes: Bytes::from(out),
        sha256_hex,
        _room: room,
    })
}

fn not_gzip(e: &std::io::Error) -> BodyError {
    BodyError::Encoding(format!("The request body is not valid gzip: {e}"))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
