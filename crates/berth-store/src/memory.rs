//! The in-memory backend: the same contract as [`SqliteStore`](crate::SqliteStore)
//! (revisions, compare-and-swap, a change log for watches that replay and
//! catch up) with nothing on disk. For tests and throwaway servers: nothing
//! survives the process.

use crate::watch::{self, ChangeLog};
use crate::{Compare, Event, EventKind, KeyValue, Op, Result, Revision, Store, StoreError, TxnResult, WatchStream};
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

#[derive(Default)]
struct State {
    kv: BTreeMap<String, KeyValue>,
    /// Every change after `compacted`, in revision order.
    log: VecDeque<Event>,
    revision: Revision,
    /// The newest revision dropped from the log (0: nothing dropped).
    compacted: Revision,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<Vec<Event>>>,
    retention: Revision,
}

/// The in-memory store. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store keeping as much change log as the SQLite backend.
    pub fn new() -> Self {
        Self::with_retention(watch::LOG_RETENTION)
    }

    /// An empty store keeping `revisions` revisions of change log (the log
    /// is compacted every 1000 revisions, as SQLite's is).
    pub fn with_retention(revisions: Revision) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                events,
                retention: revisions,
            }),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.inner.state.lock().map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// The state, or `Closed`.
    fn open(&self) -> Result<MutexGuard<'_, State>> {
        let state = self.lock()?;
        if state.closed {
            return Err(StoreError::Closed);
        }
        Ok(state)
    }
}

fn mod_revision(state: &State, key: &str) -> Option<Revision> {
    state.kv.get(key).map(|kv| kv.mod_revision)
}

fn holds(state: &State, compare: &Compare) -> bool {
    match compare {
        Compare::ModRevision(key, rev) => mod_revision(state, key).unwrap_or(0) == *rev,
        Compare::Absent(key) => mod_revision(state, key).is_none(),
        Compare::Exists(key) => mod_revision(state, key).is_some(),
    }
}

/// Applies `ops` at the next revision; the events it logged.
fn apply(state: &mut State, ops: Vec<Op>, retention: Revision) -> Vec<Event> {
    let rev = state.revision + 1;
    let mut events = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Put(key, value) => {
                let kv = state.kv.entry(key.clone()).or_insert_with(|| KeyValue {
                    key: key.clone(),
                    value: vec![],
                    create_revision: rev,
                    mod_revision: rev,
                    version: 0,
                });
                kv.value = value.clone();
                kv.mod_revision = rev;
                kv.version += 1;
                events.push(Event {
                    kind: EventKind::Put,
                    key,
                    value,
                    revision: rev,
                });
            }
            Op::Delete(key) => {
                if state.kv.remove(&key).is_some() {
                    events.push(Event {
                        kind: EventKind::Delete,
                        key,
                        value: vec![],
                        revision: rev,
                    });
                }
            }
        }
    }
    state.revision = rev;
    state.log.extend(events.iter().cloned());
    if let Some(keep_from) = watch::compact_from(rev, retention) {
        let drop = state.log.partition_point(|e| e.revision < keep_from);
        state.log.drain(..drop);
        state.compacted = keep_from - 1;
    }
    events
}

impl ChangeLog for MemoryStore {
    async fn read_log(&self, prefix: String, from: Revision) -> Result<(Vec<Event>, Revision)> {
        let state = self.open()?;
        if from <= state.compacted && from > 0 {
            return Err(StoreError::Compacted {
                requested: from,
                oldest: state.compacted + 1,
            });
        }
        let first = state.log.partition_point(|e| e.revision < from);
        let events = state
            .log
            .range(first..)
            .filter(|e| e.key.starts_with(&prefix))
            .cloned()
            .collect();
        Ok((events, state.revision))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.open()?.kv.get(key).cloned())
    }

    async fn range(&self, prefix: &str, start_after: Option<&str>, limit: Option<usize>) -> Result<Vec<KeyValue>> {
        let state = self.open()?;
        let lo = match start_after {
            Some(s) if s >= prefix => Bound::Excluded(s),
            _ => Bound::Included(prefix),
        };
        Ok(state
            .kv
            .range::<str, _>((lo, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit.unwrap_or(usize::MAX))
            .map(|(_, kv)| kv.clone())
            .collect())
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResult> {
        let mut state = self.open()?;
        if !compares.iter().all(|c| holds(&state, c)) {
            return Ok(TxnResult {
                succeeded: false,
                revision: state.revision,
            });
        }
        if ops.is_empty() {
            return Ok(TxnResult {
                succeeded: true,
                revision: state.revision,
            });
        }
        let events = apply(&mut state, ops, self.inner.retention);
        if !events.is_empty() {
            // Sent while the state lock is held so watchers see revisions in order.
            let _ = self.inner.events.send(Arc::new(events));
        }
        Ok(TxnResult {
            succeeded: true,
            revision: state.revision,
        })
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.open()?.revision)
    }

    async fn watch(&self, prefix: &str, from_revision: Revision) -> Result<WatchStream> {
        let _state = self.open()?;
        // Subscribe before reading the log so no change falls between the two.
        let rx = self.inner.events.subscribe();
        Ok(watch::stream(self.clone(), prefix.to_string(), from_revision, rx))
    }

    /// Closing twice is fine, as it is for SQLite.
    async fn close(&self) -> Result<()> {
        self.lock()?.closed = true;
        Ok(())
    }
}
