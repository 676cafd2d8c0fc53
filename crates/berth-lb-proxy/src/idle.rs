//! The idle timeout of client connections: the socket is wrapped so every
//! byte read or written marks the connection active (a flag, not a clock
//! read per socket operation), and [`expired`] looks at the mark eight
//! times per timeout: it resolves once no byte has moved either way for
//! the timeout (at most an eighth of it more).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Looks at the activity mark this many times per idle timeout.
const TICKS: u32 = 8;
/// The shortest look interval.
const MIN_TICK: Duration = Duration::from_millis(1);

/// Whether a connection moved a byte since [`expired`] last looked.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    moved: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::default()
    }

    pub(crate) fn touch(&self) {
        // Read first: the line is written once per look, not per byte.
        if !self.moved.load(Relaxed) {
            self.moved.store(true, Relaxed);
        }
    }

    /// Whether a byte moved since the last call.
    fn take(&self) -> bool {
        self.moved.load(Relaxed) && self.moved.swap(false, Relaxed)
    }
}

/// How long a connection has been quiet, counted in looks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quiet(Duration);

impl Quiet {
    /// After a look `tick` long: quiet again from zero if a byte moved.
    pub(crate) fn after(self, tick: Duration, moved: bool) -> Quiet {
        if moved { Quiet::default() } else { Quiet(self.0 + tick) }
    }

    pub(crate) fn reached(self, timeout: Duration) -> bool {
        self.0 >= timeout
    }
}

/// The interval between looks for an idle timeout.
pub(crate) fn tick(timeout: Duration) -> Duration {
    (timeout / TICKS).max(MIN_TICK)
}

/// Resolves when the connection has been idle for `timeout()` (read at
/// each look, so a changed idle timeout applies to open connections).
pub(crate) async fn expired(activity: &Activity, timeout: impl Fn() -> Duration) {
    let mut quiet = Quiet::default();
    loop {
        let timeout = timeout();
        if quiet.reached(timeout) {
            return;
        }
        let tick = tick(timeout);
        tokio::time::sleep(tick).await;
        quiet = quiet.after(tick, activity.take());
    }
}

/// A socket that stamps its [`Activity`].
#[derive(Debug)]
pub(crate) struct IdleIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> IdleIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> IdleIo<T> {
        IdleIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_after_the_timeout_of_quiet_looks() {
        let timeout = Duration::from_secs(60);
        let tick = tick(timeout);
        assert_eq!(tick, Duration::from_millis(7500));
        let mut quiet = Quiet::default();
        for _ in 0..7 {
            quiet = quiet.after(tick, false);
            assert!(!quiet.reached(timeout));
        }
        quiet = quiet.after(tick, false);
        assert!(quiet.reached(timeout), "eight quiet looks make the timeout");
    }

    #[test]
    fn a_byte_moved_starts_the_count_again() {
        let timeout = Duration::from_millis(800);
        let tick = tick(timeout);
        let mut quiet = Quiet::default();
        for _ in 0..7 {
            quiet = quiet.after(tick, false);
        }
        quiet = quiet.after(tick, true);
        assert_eq!(quiet, Quiet::default());
        assert!(!quiet.after(tick, false).reached(timeout));
    }

    #[test]
    fn the_mark_is_taken_once() {
        let activity = Activity::new();
        assert!(!activity.take());
        activity.touch();
        activity.touch();
        assert!(activity.take());
        assert!(!activity.take());
    }

    #[test]
    fn a_tiny_timeout_is_looked_at_every_millisecond() {
        assert_eq!(tick(Duration::from_millis(2)), MIN_TICK);
    }
}
