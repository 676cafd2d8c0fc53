//! Reading an API request body (`POST /`) into memory, within two limits:
//! the service's own body limit (10 MiB, 20 MiB for ECR's UploadLayerPart)
//! and a process-wide budget of body bytes held at once
//! ([`BODY_BUDGET_BYTES`]), so that many slow or large bodies cannot
//! exhaust memory. A request takes room in the budget for its declared
//! `Content-Length` before reading (or chunk by chunk without one) and
//! gives it back when the request is done. There is no queue: a body that
//! does not fit now is refused at once (the SDKs retry a throttled call),
//! so small calls are never stuck behind large waiting ones. Bodies of at
//! most [`SMALL_BODY_BYTES`] may also use a reserve of their own
//! ([`SMALL_BODY_RESERVE_BYTES`]): large bodies filling the budget do not
//! stop ordinary API calls. The body's SHA-256 is computed while reading;
//! a compressed body is decoded afterwards ([`decode`]).

use axum::body::{Body, Bytes};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub mod decode;
pub use decode::decode;

/// Bytes of API request bodies held in memory at once, across all requests.
pub const BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// A body this small may also draw on the reserve.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Room kept for small bodies when the budget is full.
pub const SMALL_BODY_RESERVE_BYTES: usize = 8 * 1024 * 1024;

/// The room bodies are read into.
pub struct Budget {
    all: Arc<Semaphore>,
    small: Arc<Semaphore>,
}

impl Budget {
    pub fn new(all_bytes: usize, small_reserve_bytes: usize) -> Self {
        Self {
            all: Arc::new(Semaphore::new(all_bytes)),
            small: Arc::new(Semaphore::new(small_reserve_bytes)),
        }
    }

    /// `n` more bytes of room for a body that will then hold `total` bytes.
    fn take(&self, n: usize, total: usize) -> Result<OwnedSemaphorePermit, BodyError> {
        let n = u32::try_from(n).map_err(|_| BodyError::Busy)?;
        if let Ok(p) = self.all.clone().try_acquire_many_owned(n) {
            return Ok(p);
        }
        if total <= SMALL_BODY_BYTES
            && let Ok(p) = self.small.clone().try_acquire_many_owned(n)
        {
            return Ok(p);
        }
        Err(BodyError::Busy)
    }
}

static BUDGET: LazyLock<Budget> = LazyLock::new(|| Budget::new(BODY_BUDGET_BYTES, SMALL_BODY_RESERVE_BYTES));

/// The process-wide body budget.
pub fn budget() -> &'static Budget {
    &BUDGET
}

/// A body read into memory, with its hash and its room in the budget
/// (released when this is dropped).
pub struct ReadBody {
    pub bytes: Bytes,
    pub sha256_hex: String,
    _room: Vec<OwnedSemaphorePermit>,
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (declared, or as it arrived).
    TooLarge(usize),
    /// No room in the budget now.
    Busy,
    /// The connection failed or the body ended early.
    Read(String),
    /// A `Content-Encoding` that is not known, or a body not in it.
    Encoding(String),
}

/// Reads `body` (at most `limit` bytes; `declared_len` is its
/// `Content-Length`, if any) within `budget`.
pub async fn read(body: Body, limit: usize, declared_len: Option<u64>, budget: &Budget) -> Result<ReadBody, BodyError> {
    if declared_len.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let declared = declared_len.map_or(0, |n| n as usize);
    let mut room = Vec::new();
    if declared > 0 {
        room.push(budget.take(declared, declared)?);
    }
    let mut reserved = declared;
    let mut buf = Vec::with_capacity(declared);
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let chunk = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let needed = buf.len() + chunk.len();
        if needed > limit {
            return Err(BodyError::TooLarge(limit));
        }
        if needed > reserved {
            room.push(budget.take(needed - reserved, needed)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures::stream::iter(parts))
    }

    fn free(b: &Budget) -> (usize, usize) {
        (b.all.available_permits(), b.small.available_permits())
    }

    #[tokio::test]
    async fn reads_and_hashes_within_the_limit() {
        let budget = Budget::new(1024, 0);
        let body = read(chunked(&[b"{\"a\":", b"1}"]), 100, None, &budget).await.unwrap();
        assert_eq!(&body.bytes[..], b"{\"a\":1}");
        assert_eq!(body.sha256_hex, hex::encode(Sha256::digest(b"{\"a\":1}")));
        assert_eq!(free(&budget), (1024 - 7, 0));
        drop(body);
        assert_eq!(free(&budget), (1024, 0));
        let empty = read(Body::empty(), 100, Some(0), &budget).await.unwrap();
        assert_eq!(empty.sha256_hex, hex::encode(Sha256::digest(b"")));
    }

    #[tokio::test]
    async fn too_large_is_refused_before_and_while_reading() {
        let budget = Budget::new(1024, 0);
        // Declared too large: refused without taking room or reading.
        assert_eq!(
            read(chunked(&[b"x"]), 10, Some(11), &budget).await.err(),
            Some(BodyError::TooLarge(10))
        );
        assert_eq!(
            read(chunked(&[b"0123456", b"89ab"]), 10, None, &budget).await.err(),
            Some(BodyError::TooLarge(10))
        );
        assert_eq!(free(&budget), (1024, 0));
    }

    #[tokio::test]
    async fn a_full_budget_refuses_at_once_and_frees_room_when_done() {
        let budget = Budget::new(10, 0);
        let first = read(chunked(&[b"12345678"]), 100, Some(8), &budget).await.unwrap();
        assert_eq!(free(&budget), (2, 0));
        // Declared or not, a second body that does not fit is refused.
        assert_eq!(
            read(chunked(&[b"abc"]), 100, Some(3), &budget).await.err(),
            Some(BodyError::Busy)
        );
        assert_eq!(
            read(chunked(&[b"ab", b"cd"]), 100, None, &budget).await.err(),
            Some(BodyError::Busy)
        );
        assert_eq!(free(&budget), (2, 0));
        drop(first);
        assert!(read(chunked(&[b"abc"]), 100, Some(3), &budget).await.is_ok());
        // A body larger than the whole budget never fits.
        assert_eq!(
            read(chunked(&[b"x"]), 100, Some(11), &budget).await.err(),
            Some(BodyError::Busy)
        );
    }

    #[tokio::test]
    async fn small_bodies_use_the_reserve_when_the_budget_is_full() {
        let budget = Budget::new(SMALL_BODY_BYTES + 1, 2 * SMALL_BODY_BYTES);
        static BIG: [u8; SMALL_BODY_BYTES + 1] = [b'x'; SMALL_BODY_BYTES + 1];
        let big = read(chunked(&[&BIG]), BIG.len(), Some(BIG.len() as u64), &budget)
            .await
            .unwrap();
        assert_eq!(free(&budget).0, 0);
        // An ordinary call still gets in; another large body does not.
        let small = read(chunked(&[b"{}"]), 100, Some(2), &budget).await.unwrap();
        assert_eq!(free(&budget).1, 2 * SMALL_BODY_BYTES - 2);
        assert_eq!(
            read(chunked(&[&BIG]), BIG.len(), Some(BIG.len() as u64), &budget)
                .await
                .err(),
            Some(BodyError::Busy)
        );
        // Without a Content-Length, a body that outgrows "small" stops drawing on the reserve.
        assert_eq!(
            read(chunked(&[&BIG[..SMALL_BODY_BYTES], b"y"]), BIG.len(), None, &budget)
                .await
                .err(),
            Some(BodyError::Busy)
        );
        drop((big, small));
        assert_eq!(free(&budget), (SMALL_BODY_BYTES + 1, 2 * SMALL_BODY_BYTES));
    }

    #[tokio::test]
    async fn a_short_body_with_a_larger_content_length_still_reads() {
        let budget = Budget::new(100, 0);
        let body = read(chunked(&[b"abc"]), 100, Some(5), &budget).await.unwrap();
        assert_eq!(&body.bytes[..], b"abc");
    }
}
