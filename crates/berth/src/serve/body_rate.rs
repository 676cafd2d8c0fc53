//! The request-body minimum rate: a body that arrives slower than
//! `min_bytes_per_sec` is cut, and the request is answered 408.
//!
//! Only the time spent waiting on the client counts: a handler that is slow
//! to consume (writing a blob to disk) never makes its client look slow. The
//! clock is checked every `window` of waiting: the bytes received during
//! that window of waiting must be at least `min_bytes_per_sec × window`.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

/// The minimum rate and the window it is measured over.
#[derive(Debug, Clone, Copy)]
pub struct MinRate {
    pub min_bytes_per_sec: u64,
    pub window: Duration,
}

impl MinRate {
    fn min_bytes_per_window(&self) -> u64 {
        (self.min_bytes_per_sec as f64 * self.window.as_secs_f64()) as u64
    }
}

/// The pure accounting: bytes and waiting time in the current window.
#[derive(Debug, Default)]
pub struct RateMeter {
    waited: Duration,
    bytes: u64,
}

impl RateMeter {
    /// Records `bytes` received after waiting `waited`; false when a full
    /// window of waiting brought fewer bytes than the minimum.
    pub fn record(&mut self, rate: &MinRate, waited: Duration, bytes: u64) -> bool {
        self.waited += waited;
        self.bytes += bytes;
        if self.waited < rate.window {
            return true;
        }
        let ok = self.bytes >= rate.min_bytes_per_window();
        self.waited = Duration::ZERO;
        self.bytes = 0;
        ok
    }

    /// How much waiting is left in this window.
    pub fn remaining(&self, rate: &MinRate) -> Duration {
        rate.window.saturating_sub(self.waited)
    }
}

/// The error a cut body yields to its reader.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {0} bytes/s")]
pub struct TooSlow(pub u64);

pin_project_lite::pin_project! {
    /// A request body under the minimum rate. `tripped` is set when it was cut.
    pub struct RateBody<B> {
        #[pin]
        inner: B,
        rate: MinRate,
        meter: RateMeter,
        waiting_since: Option<Instant>,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        tripped: Arc<AtomicBool>,
        done: bool,
    }
}

impl<B> RateBody<B> {
    pub fn new(inner: B, rate: MinRate, tripped: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            rate,
            meter: RateMeter::default(),
            waiting_since: None,
            sleep: None,
            tripped,
            done: false,
        }
    }
}

impl<B> Body for RateBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(Some(Err(Box::new(TooSlow(this.rate.min_bytes_per_sec)))));
        }
        let started = *this.waiting_since.get_or_insert_with(Instant::now);
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.waiting_since = None;
                *this.sleep = None;
                let bytes = match &frame {
                    Some(Ok(f)) => f.data_ref().map_or(0, |d| d.len() as u64),
                    _ => 0,
                };
                if frame.is_some() && !this.meter.record(this.rate, started.elapsed(), bytes) {
                    return Poll::Ready(Some(Err(cut(this.tripped, this.done, this.rate))));
                }
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let mut started = started;
                loop {
                    let deadline = started + this.meter.remaining(this.rate);
                    if Instant::now() >= deadline {
                        // A full window of waiting: judge it, then start the next.
                        if !this.meter.record(this.rate, started.elapsed(), 0) {
                            return Poll::Ready(Some(Err(cut(this.tripped, this.done, this.rate))));
                        }
                        started = Instant::now();
                        *this.waiting_since = Some(started);
                        continue;
                    }
                    let deadline = tokio::time::Instant::from_std(deadline);
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    if sleep.deadline() != deadline {
                        sleep.as_mut().reset(deadline);
                    }
                    ready!(sleep.as_mut().poll(cx));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn cut(tripped: &Arc<AtomicBool>, done: &mut bool, rate: &MinRate) -> Box<dyn std::error::Error + Send + Sync> {
    tripped.store(true, Ordering::Release);
    *done = true;
    Box::new(TooSlow(rate.min_bytes_per_sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: MinRate = MinRate {
        min_bytes_per_sec: 1024,
        window: Duration::from_secs(10),
    };

    #[test]
    fn a_fast_body_passes_and_a_trickle_is_cut_after_a_window_of_waiting() {
        let mut m = RateMeter::default();
        // 1 MiB after 100 ms of waiting, then nothing for 9.8 s: still in the first window.
        assert!(m.record(&RATE, Duration::from_millis(100), 1 << 20));
        assert!(m.record(&RATE, Duration::from_millis(9800), 0));
        // The window closes with plenty received: passes, and the next one starts empty.
        assert!(m.record(&RATE, Duration::from_millis(200), 0));
        // One byte every 3 s: 4 bytes in a 12 s window < 10 KiB.
        let mut m = RateMeter::default();
        assert!(m.record(&RATE, Duration::from_secs(3), 1));
        assert!(m.record(&RATE, Duration::from_secs(3), 1));
        assert!(m.record(&RATE, Duration::from_secs(3), 1));
        assert!(!m.record(&RATE, Duration::from_secs(3), 1));
    }

    #[test]
    fn time_the_reader_spends_elsewhere_does_not_count() {
        // Only waiting is recorded: a body read in bursts with long pauses
        // on the server side never fills a window.
        let mut m = RateMeter::default();
        for _ in 0..1000 {
            assert!(m.record(&RATE, Duration::from_millis(1), 64 * 1024));
        }
        assert_eq!(m.remaining(&RATE), Duration::from_secs(9));
    }

    #[tokio::test]
    async fn a_stalled_body_is_cut_and_flags_the_request() {
        const RATE: MinRate = MinRate {
            min_bytes_per_sec: 1024,
            window: Duration::from_millis(200),
        };
        use http_body_util::BodyExt;
        let (mut tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
        let inner = http_body_util::StreamBody::new(tokio_stream_from(rx));
        let tripped = Arc::new(AtomicBool::new(false));
        let mut body = RateBody::new(inner, RATE, tripped.clone());
        tx.send(Ok(Frame::data(Bytes::from(vec![0u8; 100])))).await.unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap().len(), 100);
        // Nothing more: after a window of waiting, 100 bytes < 204.
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("1024 bytes/s"), "{err}");
        assert!(tripped.load(Ordering::Acquire));
        let _ = &mut tx;
    }

    fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
