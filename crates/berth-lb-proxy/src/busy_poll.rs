//! Busy polling of the worker threads ([`crate::workers`]) while traffic
//! is steady. A worker whose event loop has nothing to do blocks in
//! `epoll_wait`, and the next readable socket wakes it. Under load, that
//! happens tens of thousands of times a second. Each wake-up makes the
//! kernel's scheduler decide again whether the worker may run. A thread
//! that sleeps that often, beside the clients and targets it shares the
//! cores with, is often made to wait a whole slice of another thread
//! (milliseconds) before it runs, and every connection of that worker
//! waits with it. That is the tail latency measured in
//! `docs/performance.md`.
//!
//! With a busy-poll budget (`--lb-busy-poll-us`, 30 µs by default), a worker
//! whose last idle spell was short (traffic is steady) does not block at
//! once. For the whole budget it yields its core to any thread waiting
//! for it (the clients and targets it shares the cores with), then takes
//! in one turn what arrived meanwhile. It works as a batching delay, not
//! as a quicker look at the sockets: ended at the first readable socket,
//! it loses its effect (`docs/performance.md`, session 13). An idle or
//! lightly used worker blocks at once and spends nothing. haproxy's `busy-polling` (off by default
//! there) and Go's spinning scheduler threads work the same way. The price
//! is CPU: on a machine whose cores are all busy, what the worker spends
//! polling is taken from the other processes. At 30 µs the proxy still
//! spends less CPU per request than haproxy, and its p99 falls from 2–4×
//! haproxy's to about 1.1–1.2× on session 13's host (0.85–0.95× with the
//! short CPU slice of [`crate::cpu_slice`] on session 14's;
//! `docs/performance.md`); 0 turns it off.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The busy-poll budget when the server sets none, in microseconds.
pub const DEFAULT_BUDGET_US: u64 = 30;
/// The longest budget accepted, in microseconds.
pub const MAX_BUDGET_US: u64 = 1000;
/// The busy-poll budget when the server sets none.
pub const DEFAULT_BUDGET: Duration = Duration::from_micros(DEFAULT_BUDGET_US);
/// The longest budget accepted.
pub const MAX_BUDGET: Duration = Duration::from_micros(MAX_BUDGET_US);
/// An idle spell shorter than this means the traffic is steady.
const STEADY_GAP: Duration = Duration::from_micros(500);

/// The budget for worker threads started from now on, in microseconds.
static BUDGET_US: AtomicU64 = AtomicU64::new(DEFAULT_BUDGET_US);

/// Sets the busy-poll budget of the load balancer's worker threads
/// (`Duration::ZERO`: off; capped at [`MAX_BUDGET`]). Read when the
/// threads start, at the first connection: call it before serving.
pub fn set_budget(budget: Duration) {
    let micros = budget.min(MAX_BUDGET).as_micros();
    BUDGET_US.store(u64::try_from(micros).unwrap_or(0), Relaxed);
}

pub(crate) fn budget() -> Duration {
    Duration::from_micros(BUDGET_US.load(Relaxed))
}

/// What a worker thread knows of its own idling: when it last went idle,
/// and whether its last idle spell was short.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idling {
    idle_since: Option<Instant>,
    steady: bool,
}

impl Idling {
    /// A worker that has not been idle yet.
    pub(crate) const NEW: Idling = Idling {
        idle_since: None,
        steady: false,
    };

    /// The worker has work again, at `now`.
    #[must_use]
    pub(crate) fn woke_at(self, now: Instant) -> Idling {
        let steady = self
            .idle_since
            .is_some_and(|since| now.saturating_duration_since(since) < STEADY_GAP);
        Idling { steady, ..self }
    }

    /// The worker has nothing to do: how long to poll busily before it
    /// blocks (zero: block at once).
    pub(crate) fn going_idle(&self, budget: Duration) -> Duration {
        if self.steady { budget } else { Duration::ZERO }
    }

    /// It blocks (after any busy poll), at `now`.
    #[must_use]
    pub(crate) fn blocked_at(self, now: Instant) -> Idling {
        Idling {
            idle_since: Some(now),
            ..self
        }
    }
}

/// Gives the core to threads waiting for it for `budget`, so that the
/// worker does not sleep and its next turn takes what arrived meanwhile.
/// When nothing else waits for the core the yields return at once, and
/// this spins.
pub(crate) fn poll_busily(budget: Duration) {
    if budget.is_zero() {
        return;
    }
    let start = Instant::now();
    while start.elapsed() < budget {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_micros(50);

    #[test]
    fn a_worker_never_idle_before_blocks_at_once() {
        let idling = Idling::NEW.woke_at(Instant::now());
        assert_eq!(idling.going_idle(BUDGET), Duration::ZERO);
    }

    #[test]
    fn a_short_idle_spell_makes_the_next_one_poll_busily() {
        let t0 = Instant::now();
        let idling = Idling::NEW.blocked_at(t0).woke_at(t0 + Duration::from_micros(120));
        assert_eq!(idling.going_idle(BUDGET), BUDGET);
        assert_eq!(
            idling.going_idle(Duration::ZERO),
            Duration::ZERO,
            "a zero budget turns it off"
        );
    }

    #[test]
    fn a_long_idle_spell_blocks_at_once_again() {
        let t0 = Instant::now();
        let idling = Idling::NEW
            .blocked_at(t0)
            .woke_at(t0 + Duration::from_micros(100))
            .blocked_at(t0 + Duration::from_micros(200))
            .woke_at(t0 + Duration::from_millis(20));
        assert_eq!(idling.going_idle(BUDGET), Duration::ZERO);
    }

    #[test]
    fn the_budget_is_capped_and_zero_turns_it_off() {
        set_budget(Duration::from_secs(1));
        assert_eq!(budget(), MAX_BUDGET);
        set_budget(Duration::ZERO);
        assert_eq!(budget(), Duration::ZERO);
        let idling = Idling::NEW.blocked_at(Instant::now()).woke_at(Instant::now());
        assert_eq!(idling.going_idle(budget()), Duration::ZERO);
        set_budget(DEFAULT_BUDGET);
        assert_eq!(budget(), Duration::from_micros(30));
    }
}
