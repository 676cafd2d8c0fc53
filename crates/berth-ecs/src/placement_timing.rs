//! How long task placement takes (reading the cluster, placing, committing,
//! CAS retries included), for the server's `/metrics`
//! (`berth_placement_duration_seconds`). The server installs the observer
//! once per process; without one nothing is recorded.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Observer = Box<dyn Fn(Duration) + Send + Sync>;

static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Installs the observer of placement durations (the first one wins).
pub fn set_observer(f: impl Fn(Duration) + Send + Sync + 'static) {
    let _ = OBSERVER.set(Box::new(f));
}

/// Records the time from its creation to its drop.
pub(crate) struct PlacementTimer(Instant);

impl PlacementTimer {
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }
}

impl Drop for PlacementTimer {
    fn drop(&mut self) {
        if let Some(o) = OBSERVER.get() {
            o(self.0.elapsed());
        }
    }
}
