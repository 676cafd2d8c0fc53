//! Reading an API request body (`POST /`) into memory, within two limits:
//! the service's own body limit (10 MiB, 20 MiB for ECR's UploadLayerPart)
//! and a process-wide budget of body bytes held at once
//! ([`BODY_BUDGET_BYTES`]), so that many slow or large bodies cannot
//! exhaust memory. A request takes room in the budget for its declared
//! `Content-Length` before reading (or chunk by chunk without one), waits up
//! to [`BUDGET_WAIT`] for it, and gives it back when the request is done.
//! The body's SHA-256 is computed while reading.

use axum::body::{Body, Bytes};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of API request bodies held in memory at once, across all requests.
pub const BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// How long a request waits for room in the budget before it is refused.
pub const BUDGET_WAIT: Duration = Duration::from_secs(10);

static BUDGET: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(BODY_BUDGET_BYTES)));

/// The process-wide body budget.
pub fn budget() -> &'static Arc<Semaphore> {
    &BUDGET
}

/// A body read into memory, with its hash and its room in the budget
/// (released when this is dropped).
pub struct ReadBody {
    pub bytes: Bytes,
    pub sha256_hex: String,
    _room: Option<OwnedSemaphorePermit>,
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (declared, or as it arrived).
    TooLarge(usize),
    /// No room in the budget within [`BUDGET_WAIT`].
    Busy,
    /// The connection failed or the body ended early.
    Read(String),
}

/// Reads `body` (at most `limit` bytes; `declared_len` is its
/// `Content-Length`, if any) within `budget`, waiting at most `wait` for room.
pub async fn read(
    body: Body,
    limit: usize,
    declared_len: Option<u64>,
    budget: &Arc<Semaphore>,
    wait: Duration,
) -> Result<ReadBody, BodyError> {
    if declared_len.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let declared = declared_len.map_or(0, |n| n as usize);
    let mut room = take(budget, declared, wait, None).await?;
    let mut reserved = declared;
    let mut buf = Vec::with_capacity(declared);
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let chunk = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        let needed = buf.len() + chunk.len();
        if needed > reserved {
            room = take(budget, needed - reserved, wait, room).await?;
            reserved = needed;
        }
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    Ok(ReadBody {
        bytes: Bytes::from(buf),
        sha256_hex: hex::encode(hasher.finalize()),
        _room: room,
    })
}

/// Takes `n` more bytes of room, added to `held`.
async fn take(
    budget: &Arc<Semaphore>,
    n: usize,
    wait: Duration,
    held: Option<OwnedSemaphorePermit>,
) -> Result<Option<OwnedSemaphorePermit>, BodyError> {
    if n == 0 {
        return Ok(held);
    }
    let n = u32::try_from(n).map_err(|_| BodyError::Busy)?;
    let permit = match tokio::time::timeout(wait, budget.clone().acquire_many_owned(n)).await {
        Ok(Ok(p)) => p,
        // Timed out, or the budget is smaller than the request: refused either way.
        _ => return Err(BodyError::Busy),
    };
    Ok(Some(match held {
        Some(mut h) => {
            h.merge(permit);
            h
        }
        None => permit,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(50);

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures::stream::iter(parts))
    }

    #[tokio::test]
    async fn reads_and_hashes_within_the_limit() {
        let budget = Arc::new(Semaphore::new(1024));
        let body = read(chunked(&[b"{\"a\":", b"1}"]), 100, None, &budget, WAIT)
            .await
            .unwrap();
        assert_eq!(&body.bytes[..], b"{\"a\":1}");
        assert_eq!(body.sha256_hex, hex::encode(Sha256::digest(b"{\"a\":1}")));
        assert_eq!(budget.available_permits(), 1024 - 7);
        drop(body);
        assert_eq!(budget.available_permits(), 1024);
    }

    #[tokio::test]
    async fn too_large_is_refused_before_and_while_reading() {
        let budget = Arc::new(Semaphore::new(1024));
        // Declared too large: refused without taking room or reading.
        assert_eq!(
            read(chunked(&[b"x"]), 10, Some(11), &budget, WAIT).await.err(),
            Some(BodyError::TooLarge(10))
        );
        assert_eq!(
            read(chunked(&[b"0123456", b"89ab"]), 10, None, &budget, WAIT)
                .await
                .err(),
            Some(BodyError::TooLarge(10))
        );
        assert_eq!(budget.available_permits(), 1024);
    }

    #[tokio::test]
    async fn a_full_budget_refuses_after_waiting_and_frees_room_when_done() {
        let budget = Arc::new(Semaphore::new(10));
        let first = read(chunked(&[b"12345678"]), 100, Some(8), &budget, WAIT)
            .await
            .unwrap();
        assert_eq!(budget.available_permits(), 2);
        // Declared or not, a second body that does not fit waits, then is refused.
        assert_eq!(
            read(chunked(&[b"abc"]), 100, Some(3), &budget, WAIT).await.err(),
            Some(BodyError::Busy)
        );
        assert_eq!(
            read(chunked(&[b"ab", b"cd"]), 100, None, &budget, WAIT).await.err(),
            Some(BodyError::Busy)
        );
        assert_eq!(budget.available_permits(), 2);
        drop(first);
        assert!(read(chunked(&[b"abc"]), 100, Some(3), &budget, WAIT).await.is_ok());
        // A body larger than the whole budget can never fit.
        assert_eq!(
            read(chunked(&[b"x"]), 100, Some(11), &budget, WAIT).await.err(),
            Some(BodyError::Busy)
        );
    }

    #[tokio::test]
    async fn a_short_body_with_a_larger_content_length_still_reads() {
        let budget = Arc::new(Semaphore::new(100));
        let body = read(chunked(&[b"abc"]), 100, Some(5), &budget, WAIT).await.unwrap();
        assert_eq!(&body.bytes[..], b"abc");
    }
}
