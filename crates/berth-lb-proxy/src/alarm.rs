//! What a client connection's watchdog ([`crate::listener`]) tells the
//! connection's task: it has been idle for the load balancer's idle
//! timeout, or its listener is stopping. An atomic and a waker of its own,
//! so the connection's task polls neither a timer nor the listener's
//! shared stop channel at each wake-up.

use futures::task::AtomicWaker;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::Poll;

/// The alarm's reasons.
pub(crate) const IDLE: u8 = 1;
pub(crate) const STOP: u8 = 2;

/// What a client connection's watchdog tells it: idle for the timeout,
/// or the listener stopping.
#[derive(Debug, Default)]
pub(crate) struct Alarm {
    raised: AtomicU8,
    waker: AtomicWaker,
}

impl Alarm {
    pub(crate) fn raise(&self, reason: u8) {
        self.raised.fetch_or(reason, AcqRel);
        self.waker.wake();
    }

    /// The reasons raised since the last time (none: waits).
    pub(crate) fn next(&self) -> impl Future<Output = u8> + '_ {
        std::future::poll_fn(|cx| {
            if self.raised.load(Acquire) == 0 {
                self.waker.register(cx.waker());
                if self.raised.load(Acquire) == 0 {
                    return Poll::Pending;
                }
            }
            Poll::Ready(self.raised.swap(0, AcqRel))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn reasons_gather_until_taken_and_nothing_raised_waits() {
        let alarm = Alarm::default();
        assert_eq!(alarm.next().now_or_never(), None, "nothing raised: it waits");
        alarm.raise(IDLE);
        alarm.raise(STOP);
        assert_eq!(alarm.next().now_or_never(), Some(IDLE | STOP));
        assert_eq!(alarm.next().now_or_never(), None, "taken once");
    }
}
