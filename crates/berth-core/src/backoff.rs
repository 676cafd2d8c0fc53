//! Exponential backoff, the one copy: the delay doubles from a base up to a
//! cap, optionally with jitter. The agent paces its reconnects and retries
//! with it, the server its accept-error pauses.

use std::time::Duration;

use rand::Rng;

/// Delays that double from `base` up to `cap`. With jitter (the default),
/// each delay is drawn from the upper half `[d/2, d]`, so many clients that
/// failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: bool,
    attempt: u32,
}

impl Backoff {
    /// Doubling from `base`, capped at `cap`, with jitter.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: true,
            attempt: 0,
        }
    }

    /// The same delays without jitter (exactly `base`, `2·base`, … `cap`).
    pub const fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The longest delay.
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let doubled = self.base.saturating_mul(1u32 << self.attempt.min(31));
        self.attempt = self.attempt.saturating_add(1);
        let capped = doubled.min(self.cap);
        if !self.jitter {
            return capped;
        }
        let ms = capped.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
    }

    /// Starts over from `base` (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1)).without_jitter();
        let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        for _ in 0..100 {
            assert_eq!(b.next_delay(), Duration::from_secs(1));
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        for want in [100, 200, 400, 400] {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(want / 2) && d <= Duration::from_millis(want),
                "{d:?}"
            );
        }
    }
}
