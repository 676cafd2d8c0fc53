//! Group commit: concurrent writers hand their items to whichever of them
//! is writing; it writes every item queued so far in one call (one
//! transaction, one WAL sync), and each writer returns only once the call
//! that held its item has returned, with that call's result. So a caller is
//! acknowledged only after its own data is durable, and N concurrent
//! requests cost one commit instead of N.
//!
//! The first caller to find no write in progress becomes the writer; the
//! others wait on a condition variable. When the write ends the writer
//! posts the results and, if items arrived meanwhile, the next caller to
//! wake writes them (its own among them).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

struct State<T> {
    queue: Vec<(u64, T)>,
    results: HashMap<u64, Result<(), String>>,
    writing: bool,
    next_id: u64,
}

/// See the module documentation.
pub struct GroupCommit<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                queue: Vec::new(),
                results: HashMap::new(),
                writing: false,
                next_id: 0,
            }),
            done: Condvar::new(),
        }
    }
}

impl<T> GroupCommit<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item` and returns once a call of `write` holding it has
    /// returned: that call's result (an error is every batched caller's).
    pub fn submit(&self, item: T, write: impl Fn(Vec<T>) -> Result<(), String>) -> Result<(), String> {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.queue.push((id, item));
        loop {
            if let Some(r) = st.results.remove(&id) {
                return r;
            }
            if !st.writing {
                st.writing = true;
                let batch = std::mem::take(&mut st.queue);
                drop(st);
                let ids: Vec<u64> = batch.iter().map(|(id, _)| *id).collect();
                let r = write(batch.into_iter().map(|(_, item)| item).collect());
                st = self.lock();
                st.writing = false;
                for id in ids {
                    st.results.insert(id, r.clone());
                }
                self.done.notify_all();
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
impl<T> GroupCommit<T> {
    fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    fn writing(&self) -> bool {
        self.lock().writing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_caller_writes_its_own_item() {
        let g = GroupCommit::default();
        let seen = Mutex::new(Vec::new());
        let r = g.submit(7, |items| {
            seen.lock().unwrap().extend(items);
            Ok(())
        });
        assert_eq!(r, Ok(()));
        assert_eq!(*seen.lock().unwrap(), [7]);
    }

    /// Polls `cond` until it holds (a deadline of 10 s).
    fn eventually(cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "condition not met in 10 s");
            std::thread::yield_now();
        }
    }

    #[test]
    fn callers_queued_during_a_write_are_written_together_in_the_next() {
        let g = Arc::new(GroupCommit::default());
        let written = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let spawn = |i: u32| {
            let (g, written, calls) = (g.clone(), written.clone(), calls.clone());
            std::thread::spawn(move || {
                let g2 = g.clone();
                g.submit(i, move |items| {
                    // The first write holds until the 15 others are queued.
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        eventually(|| g2.queued() == 15);
                    }
                    written.lock().unwrap().push(items);
                    Ok(())
                })
            })
        };
        let first = spawn(0);
        eventually(|| g.writing());
        let others: Vec<_> = (1..16).map(spawn).collect();
        for t in others.into_iter().chain([first]) {
            assert_eq!(t.join().unwrap(), Ok(()));
        }
        let batches = written.lock().unwrap().clone();
        assert_eq!(batches.len(), 2, "{batches:?}");
        assert_eq!(batches[0], [0]);
        let mut rest = batches[1].clone();
        rest.sort();
        assert_eq!(rest, (1..16).collect::<Vec<_>>());
    }

    #[test]
    fn a_failed_write_fails_every_item_it_held_and_no_other() {
        let g = GroupCommit::default();
        assert_eq!(
            g.submit(1, |_| Err("disk full".to_string())),
            Err("disk full".to_string())
        );
        assert_eq!(g.submit(2, |_| Ok(())), Ok(()));
    }
}
