//! Counters every request adds to, striped by thread: each worker thread
//! adds to a stripe of its own (its own cache line), and a reader sums
//! the stripes. A counter that both worker threads add to in one place
//! moves its cache line between the cores on every request; striped, the
//! line stays in the core that writes it. The sums are exact (every add is
//! an atomic add to some stripe); two threads that happen to share a
//! stripe only share its line again.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Stripes per counter set: more than the worker threads a proxy runs.
const STRIPES: usize = 8;

/// A value alone on its cache line(s) (128 bytes: adjacent-line
/// prefetching pairs 64-byte lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// One `T` per stripe.
#[derive(Debug)]
pub(crate) struct Striped<T> {
    stripes: [Padded<T>; STRIPES],
}

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        Striped {
            stripes: std::array::from_fn(|_| Padded(T::default())),
        }
    }
}

impl<T> Striped<T> {
    /// The calling thread's stripe.
    pub(crate) fn local(&self) -> &T {
        &self.stripes[stripe()].0
    }

    /// Every stripe, to sum.
    pub(crate) fn all(&self) -> impl Iterator<Item = &T> {
        self.stripes.iter().map(|p| &p.0)
    }
}

/// A striped count.
pub(crate) type Counter = Striped<AtomicU64>;

impl Striped<AtomicU64> {
    pub(crate) fn add(&self, n: u64) {
        self.local().fetch_add(n, Relaxed);
    }

    /// The count now.
    pub(crate) fn sum(&self) -> u64 {
        self.all().map(|c| c.load(Relaxed)).sum()
    }
}

/// The calling thread's stripe: threads take stripes in turn the first
/// time they count.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_are_exact_across_threads() {
        let counter = Arc::new(Counter::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.sum(), 12_000);
    }

    #[test]
    fn threads_take_different_stripes() {
        let counter = Arc::new(Counter::default());
        let other = counter.clone();
        counter.add(1);
        std::thread::spawn(move || other.add(1)).join().unwrap();
        // The stripes are taken in turn, so two threads in a row differ.
        assert_eq!(counter.all().filter(|c| c.load(Relaxed) > 0).count(), 2);
        assert_eq!(counter.sum(), 2);
    }

    #[test]
    fn a_stripe_is_alone_on_its_lines() {
        assert_eq!(std::mem::align_of::<Padded<AtomicU64>>(), 128);
        assert_eq!(std::mem::size_of::<Counter>(), 128 * STRIPES);
    }
}
