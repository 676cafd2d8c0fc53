//! The body of a SigV4-signed `/v2/` request must hash to the
//! `x-amz-content-sha256` the signature covers. The body streams (blob
//! chunks go to disk as they arrive), so the hash is checked while
//! streaming: [`Verified`] passes the bytes through, and where the body
//! ends with another hash it yields an error *instead of* the end of the
//! stream. Every consumer (a chunk appended to an upload, a monolithic blob,
//! a manifest read into memory) treats a stream error as a failed body and
//! keeps nothing, so a replayed signed request carrying another body stores
//! nothing. The shared [`Mismatch`] flag lets the handler answer with the
//! SigV4 error rather than the consumer's own wording.

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// Set when a body did not hash to its signed value.
#[derive(Clone, Default)]
pub(crate) struct Mismatch(Arc<AtomicBool>);

impl Mismatch {
    pub(crate) fn happened(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The error a mismatching body ends with.
#[derive(Debug, thiserror::Error)]
#[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
pub(crate) struct ContentSha256Mismatch;

/// A byte stream checked against an expected SHA-256 (lowercase hex).
pub(crate) struct Verified<S> {
    inner: S,
    hasher: Option<Sha256>,
    expected: String,
    mismatch: Mismatch,
}

impl<S> Verified<S> {
    pub(crate) fn new(inner: S, expected_sha256_hex: &str, mismatch: Mismatch) -> Self {
        Self {
            inner,
            hasher: Some(Sha256::new()),
            expected: expected_sha256_hex.to_ascii_lowercase(),
            mismatch,
        }
    }
}

impl<S, E> Stream for Verified<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<std::io::Error>,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(hasher) = this.hasher.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                hasher.update(&bytes);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.hasher = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                let actual = hex::encode(this.hasher.take().map(Sha256::finalize).unwrap_or_default());
                if actual == this.expected {
                    Poll::Ready(None)
                } else {
                    this.mismatch.set();
                    Poll::Ready(Some(Err(std::io::Error::other(ContentSha256Mismatch))))
                }
            }
        }
    }
}

/// Wraps a request body so it fails at its end unless it hashes to `expected`.
pub(crate) fn verified_body(body: axum::body::Body, expected_sha256_hex: &str, mismatch: Mismatch) -> axum::body::Body {
    let stream = body.into_data_stream();
    axum::body::Body::from_stream(Verified::new(
        futures::TryStreamExt::map_err(stream, std::io::Error::other),
        expected_sha256_hex,
        mismatch,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn stream(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    async fn drain(s: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin) -> (Vec<u8>, Option<String>) {
        let mut s = s;
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn matching_bodies_pass_through() {
        let m = Mismatch::default();
        let expected = hex::encode(Sha256::digest(b"hello world"));
        let (bytes, err) = drain(Verified::new(
            stream(&[b"hello ", b"world"]),
            &expected.to_uppercase(),
            m.clone(),
        ))
        .await;
        assert_eq!((bytes.as_slice(), err), (&b"hello world"[..], None));
        assert!(!m.happened());
    }

    #[tokio::test]
    async fn another_body_ends_in_an_error_not_in_the_end_of_the_stream() {
        let m = Mismatch::default();
        let expected = hex::encode(Sha256::digest(b"the signed manifest"));
        let (_, err) = drain(Verified::new(stream(&[b"another ", b"manifest"]), &expected, m.clone())).await;
        assert_eq!(
            err.as_deref(),
            Some("The provided 'x-amz-content-sha256' header does not match what was computed.")
        );
        assert!(m.happened());
        // An empty body signed as empty is fine; a body signed as empty is not.
        let empty = hex::encode(Sha256::digest(b""));
        assert_eq!(
            drain(Verified::new(stream(&[]), &empty, Mismatch::default())).await.1,
            None
        );
        assert!(
            drain(Verified::new(stream(&[b"x"]), &empty, Mismatch::default()))
                .await
                .1
                .is_some()
        );
    }

    #[tokio::test]
    async fn stream_errors_pass_through_and_end_the_stream() {
        let m = Mismatch::default();
        let s = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"a")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let mut v = Verified::new(s, "00", m.clone());
        assert!(v.next().await.unwrap().is_ok());
        assert_eq!(v.next().await.unwrap().unwrap_err().to_string(), "connection reset");
        assert!(v.next().await.is_none());
        assert!(!m.happened());
    }
}
