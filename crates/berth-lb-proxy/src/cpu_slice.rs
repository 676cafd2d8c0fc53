//! The CPU slice the worker threads ([`crate::workers`]) ask of Linux's
//! fair scheduler (`--lb-slice-us`, 100 µs by default, the shortest Linux
//! grants; [`berth_sys::slice`]). On a machine whose cores the proxy
//! shares with its clients and targets, a worker made runnable (its
//! sockets became readable, or its busy poll yielded) waits for the
//! running thread's slice to end; with the kernel's default slice
//! (0.7 ms × (1 + log₂ CPUs): 1.4 ms on 2 cores) that wait is what a
//! slow request is made of, and every connection of the worker waits
//! with it. A shorter slice makes the worker's deadline fall sooner, so
//! it runs sooner, in shorter turns. Its share of the CPU is unchanged.
//! Measured on 2 cores with the busy poll on: p99 0.90–0.95× that of the
//! kernel's slice, requests/s within the noise (`docs/performance.md`,
//! session 14). Linux before 6.12 keeps its default slice; 0 leaves it
//! too.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The slice when the server sets none, in microseconds.
pub const DEFAULT_SLICE_US: u64 = 100;
/// The shortest slice Linux grants, in microseconds.
pub const MIN_SLICE_US: u64 = berth_sys::slice::MIN.as_micros() as u64;
/// The longest slice accepted, in microseconds (Linux's longest).
pub const MAX_SLICE_US: u64 = berth_sys::slice::MAX.as_micros() as u64;

/// The slice for worker threads started from now on, in microseconds.
static SLICE_US: AtomicU64 = AtomicU64::new(DEFAULT_SLICE_US);

/// Sets the CPU slice the load balancer's worker threads ask for
/// (`Duration::ZERO`: the kernel's default; raised to 100 µs and lowered
/// to 100 ms by Linux). Read when the threads start, at the first
/// connection: call it before serving.
pub fn set_slice(slice: Duration) {
    let micros = slice.min(Duration::from_micros(MAX_SLICE_US)).as_micros();
    SLICE_US.store(u64::try_from(micros).unwrap_or(0), Relaxed);
}

pub(crate) fn slice() -> Duration {
    Duration::from_micros(SLICE_US.load(Relaxed))
}

/// Asks for `slice` for the calling worker thread; a refusal is logged
/// and the thread keeps the kernel's slice.
pub(crate) fn apply(slice: Duration) {
    if slice.is_zero() {
        return;
    }
    if let Err(e) = berth_sys::slice::set_current_thread_slice(slice) {
        tracing::warn!(error = %e, slice_us = slice.as_micros(), "a load balancer worker thread keeps the kernel's CPU slice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slice_is_capped_and_zero_leaves_the_kernels() {
        set_slice(Duration::from_secs(1));
        assert_eq!(slice(), Duration::from_micros(MAX_SLICE_US));
        set_slice(Duration::ZERO);
        assert_eq!(slice(), Duration::ZERO);
        set_slice(Duration::from_micros(DEFAULT_SLICE_US));
        assert_eq!(slice(), Duration::from_micros(100));
        assert_eq!((MIN_SLICE_US, MAX_SLICE_US), (100, 100_000));
    }

    #[test]
    fn a_worker_thread_gets_the_slice_asked_for() {
        use berth_sys::slice::{current_thread_slice, kernel_grants_slices};
        let (before, after) = std::thread::spawn(|| {
            let before = current_thread_slice().expect("/proc/thread-self/sched");
            apply(Duration::from_micros(300));
            (before, current_thread_slice().expect("/proc/thread-self/sched"))
        })
        .join()
        .unwrap();
        if kernel_grants_slices() {
            assert_eq!(after, Some(Duration::from_micros(300)));
        } else {
            assert_eq!(after, before, "a kernel before 6.12 keeps its own slice");
        }
    }
}
