//! Docker log records to CloudWatch events: the [`Cursor`] of a record, and
//! the [`Assembler`] that joins partial and multi-line records.

use super::config::{EVENT_OVERHEAD, MAX_EVENT_BYTES};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A Docker log record's place: its timestamp (ns) and its ordinal (from 1)
/// among the records with that timestamp. `Cursor::default()`: nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub ts_ns: i64,
    pub count: u32,
}

impl Cursor {
    /// Whether the record at `pos` is at or before this cursor.
    pub fn covers(&self, pos: Cursor) -> bool {
        pos.ts_ns < self.ts_ns || (pos.ts_ns == self.ts_ns && pos.count <= self.count)
    }
}

/// One event to ship.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub message: String,
    /// The position of the last Docker record the event holds: shipping it
    /// moves the cursor here.
    pub end: Cursor,
}

impl Event {
    pub fn size(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD
    }
}

/// Parses Docker's `RFC3339Nano` timestamp (`2024-01-02T03:04:05.123456789Z`,
/// or with an offset) into nanoseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let t = berth_core::time::parse_rfc3339(s)?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

/// Splits a message into pieces of at most [`MAX_EVENT_BYTES`] on UTF-8
/// boundaries.
pub fn split_message(msg: &str) -> Vec<String> {
    if msg.len() <= MAX_EVENT_BYTES {
        return vec![msg.to_string()];
    }
    let mut out = Vec::new();
    let mut rest = msg;
    while rest.len() > MAX_EVENT_BYTES {
        let mut cut = MAX_EVENT_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(rest[..cut].to_string());
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

#[derive(Debug, Default)]
struct Partial {
    ts_ns: i64,
    text: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    event: Event,
    last_line_ms: u64,
}

/// Turns Docker log frames into events: strips and reads the timestamps,
/// joins partial records (Docker splits lines over 16 KiB), skips what the
/// cursor covers, groups multiline events and splits oversized ones.
/// `now_ms` is any monotonic clock in milliseconds.
#[derive(Debug)]
pub struct Assembler {
    multiline: Option<Regex>,
    flush_after_ms: u64,
    /// Records at or before this position were shipped already.
    skip: Cursor,
    /// The last record read.
    last: Cursor,
    /// The end of the last line completed (events carry it).
    last_line_end: Cursor,
    partial: [Option<Partial>; 2],
    pending: Option<Pending>,
}

impl Assembler {
    pub fn new(multiline: Option<Regex>, flush_after: Duration, skip: Cursor) -> Self {
        Self {
            multiline,
            flush_after_ms: flush_after.as_millis() as u64,
            skip,
            last: Cursor::default(),
            last_line_end: skip,
            partial: [None, None],
            pending: None,
        }
    }

    /// Where a new read of the Docker log must start (at the latest): the
    /// records at or before it are skipped.
    pub fn resume_point(&self) -> Cursor {
        self.skip
    }

    /// A new read of the Docker log starts: everything read so far is
    /// skipped, and records are counted afresh (the read starts at least a
    /// second before the resume point, so the counts agree).
    pub fn restart(&mut self) {
        self.skip = self.skip.max(self.last);
        self.last = Cursor::default();
    }

    fn position(&mut self, ts_ns: i64) -> Cursor {
        let pos = if ts_ns == self.last.ts_ns {
            Cursor {
                ts_ns,
                count: self.last.count + 1,
            }
        } else {
            Cursor { ts_ns, count: 1 }
        };
        self.last = pos;
        pos
    }

    /// Feeds one Docker frame (`source` 0 = stdout, 1 = stderr).
    pub fn push_frame(&mut self, source: usize, frame: &[u8], now_ms: u64) -> Vec<Event> {
        let source = source.min(1);
        let mut out = Vec::new();
        for piece in frame.split_inclusive(|b| *b == b'\n') {
            let (ts, body) = match piece.iter().position(|b| *b == b' ') {
                Some(sp) => match std::str::from_utf8(&piece[..sp]).ok().and_then(parse_timestamp) {
                    Some(ts) => (Some(ts), &piece[sp + 1..]),
                    None => (None, piece),
                },
                None => (None, piece),
            };
            let ts = match ts {
                Some(ts) => ts,
                // A piece without a timestamp continues the partial record.
                None => match &self.partial[source] {
                    Some(p) => p.ts_ns,
                    None => self.last.ts_ns,
                },
            };
            let pos = self.position(ts);
            let complete = body.last() == Some(&b'\n');
            let body = if complete { &body[..body.len() - 1] } else { body };
            if self.skip.covers(pos) {
                if complete {
                    self.partial[source] = None;
                }
                continue;
            }
            let p = self.partial[source].get_or_insert_with(|| Partial {
                ts_ns: ts,
                text: Vec::new(),
            });
            p.text.extend_from_slice(body);
            if complete {
                let p = self.partial[source].take().unwrap_or_default();
                self.line(p, pos, now_ms, &mut out);
            }
        }
        out
    }

    fn line(&mut self, p: Partial, end: Cursor, now_ms: u64, out: &mut Vec<Event>) {
        let text = String::from_utf8_lossy(&p.text).into_owned();
        let ts_ms = p.ts_ns.div_euclid(1_000_000);
        let before = self.last_line_end;
        self.last_line_end = end;
        let Some(re) = &self.multiline else {
            let pieces = split_message(&text);
            let n = pieces.len();
            for (i, m) in pieces.into_iter().enumerate() {
                out.push(Event {
                    timestamp_ms: ts_ms,
                    message: m,
                    // Only the last piece completes the line.
                    end: if i + 1 == n { end } else { before },
                });
            }
            return;
        };
        let starts = re.is_match(&text);
        if let Some(pending) = &mut self.pending
            && !starts
            && pending.event.message.len() + 1 + text.len() <= MAX_EVENT_BYTES
        {
            pending.event.message.push('\n');
            pending.event.message.push_str(&text);
            pending.event.end = end;
            pending.last_line_ms = now_ms;
            return;
        }
        if let Some(p) = self.pending.take() {
            out.push(p.event);
        }
        let mut pieces = split_message(&text);
        let last = pieces.pop().unwrap_or_default();
        for m in pieces {
            out.push(Event {
                timestamp_ms: ts_ms,
                message: m,
                end: before,
            });
        }
        self.pending = Some(Pending {
            event: Event {
                timestamp_ms: ts_ms,
                message: last,
                end,
            },
            last_line_ms: now_ms,
        });
    }

    /// The pending multiline event, once no line came for the flush interval.
    pub fn flush_due(&mut self, now_ms: u64) -> Option<Event> {
        match &self.pending {
            Some(p) if now_ms.saturating_sub(p.last_line_ms) >= self.flush_after_ms => {
                self.pending.take().map(|p| p.event)
            }
            _ => None,
        }
    }

    /// When [`Self::flush_due`] has something next.
    pub fn next_flush_ms(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.last_line_ms + self.flush_after_ms)
    }

    /// The container ended: everything still held, partial lines included.
    pub fn finish(&mut self, now_ms: u64) -> Vec<Event> {
        let mut out = Vec::new();
        for source in 0..2 {
            if let Some(p) = self.partial[source].take() {
                let end = self.last;
                self.line(p, end, now_ms, &mut out);
            }
        }
        if let Some(p) = self.pending.take() {
            out.push(p.event);
        }
        out
    }
}
