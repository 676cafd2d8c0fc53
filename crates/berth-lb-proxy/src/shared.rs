//! What the listeners of one load balancer share, below the listeners and
//! the HTTP proxy that both read it: the load balancer's counters and its
//! idle timeout (changed in place by `apply`).

use crate::metrics::LbMetrics;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What the listeners of one load balancer share: its counters and idle
/// timeout (changed in place by `apply`).
#[derive(Debug)]
pub(crate) struct LbShared {
    pub(crate) metrics: LbMetrics,
    idle_ms: AtomicU64,
}

impl LbShared {
    pub(crate) fn new(idle: Duration) -> LbShared {
        let shared = LbShared {
            metrics: LbMetrics::default(),
            idle_ms: AtomicU64::new(0),
        };
        shared.set_idle_timeout(idle);
        shared
    }

    pub(crate) fn set_idle_timeout(&self, idle: Duration) {
        self.idle_ms
            .store(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1), Relaxed);
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_ms.load(Relaxed))
    }
}
