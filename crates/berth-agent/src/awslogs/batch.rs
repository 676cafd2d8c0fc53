//! PutLogEvents batches ([`Batcher`]) and what a shipper keeps across a
//! restart ([`ShipState`]).

use super::config::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_BATCH_SPAN_MS};
use super::events::{Cursor, Event};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

/// Collects events into PutLogEvents batches.
#[derive(Debug)]
pub struct Batcher {
    events: VecDeque<Event>,
    bytes: usize,
    max_bytes: usize,
    first_at_ms: Option<u64>,
}

impl Batcher {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            events: VecDeque::new(),
            bytes: 0,
            max_bytes: max_bytes.min(MAX_BATCH_BYTES),
            first_at_ms: None,
        }
    }

    pub fn push(&mut self, e: Event, now_ms: u64) {
        self.bytes += e.size();
        self.events.push_back(e);
        self.first_at_ms.get_or_insert(now_ms);
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// A full batch is waiting, or the oldest event waited `linger`.
    pub fn due(&self, now_ms: u64, linger: Duration) -> bool {
        !self.events.is_empty()
            && (self.events.len() >= MAX_BATCH_EVENTS
                || self.bytes >= self.max_bytes
                || self
                    .first_at_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) >= linger.as_millis() as u64))
    }

    /// When the oldest event's linger ends.
    pub fn next_due_ms(&self, linger: Duration) -> Option<u64> {
        self.first_at_ms.map(|t| t + linger.as_millis() as u64)
    }

    /// The next batch (the oldest events that fit, in the order read),
    /// sorted by timestamp for sending; its end is the last event's end.
    pub fn take(&mut self, now_ms: u64) -> Option<Batch> {
        let first_ts = self.events.front()?.timestamp_ms;
        let mut n = 0;
        let mut bytes = 0;
        let (mut lo, mut hi) = (first_ts, first_ts);
        for e in &self.events {
            let (l, h) = (lo.min(e.timestamp_ms), hi.max(e.timestamp_ms));
            if n > 0 && (n >= MAX_BATCH_EVENTS || bytes + e.size() > self.max_bytes || h - l > MAX_BATCH_SPAN_MS) {
                break;
            }
            (lo, hi) = (l, h);
            n += 1;
            bytes += e.size();
        }
        let taken: Vec<Event> = self.events.drain(..n).collect();
        self.bytes -= bytes;
        self.first_at_ms = if self.events.is_empty() { None } else { Some(now_ms) };
        let end = taken.last().map(|e| e.end).unwrap_or_default();
        let mut events: Vec<(i64, String)> = taken.into_iter().map(|e| (e.timestamp_ms, e.message)).collect();
        events.sort_by_key(|e| e.0);
        Some(Batch { events, end })
    }
}

/// One PutLogEvents call's worth.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// (timestamp ms, message), chronological.
    pub events: Vec<(i64, String)>,
    pub end: Cursor,
}

impl Batch {
    pub fn digest(&self) -> u64 {
        digest(&self.events)
    }
}

/// FNV-1a over timestamps and messages: recognizes a batch among the
/// stream's last events.
pub fn digest(events: &[(i64, String)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (ts, m) in events {
        feed(&ts.to_le_bytes());
        feed(&(m.len() as u64).to_le_bytes());
        feed(m.as_bytes());
    }
    h
}

/// A batch sent whose answer was not seen yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub end: Cursor,
    pub events: usize,
    pub digest: u64,
}

/// Per-container shipping state, persisted in the agent's data dir.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipState {
    pub committed: Cursor,
    pub in_flight: Option<InFlight>,
    /// Everything the container printed is stored.
    pub done: bool,
}

impl ShipState {
    pub(super) fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(super) fn save(&self, path: &Path) {
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_vec(self).unwrap_or_default();
        if let Err(e) = std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, path)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the log shipping cursor");
        }
    }
}
