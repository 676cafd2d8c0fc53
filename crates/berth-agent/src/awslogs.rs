//! The `awslogs` log driver: ships a container's stdout/stderr to the Berth
//! server's CloudWatch Logs API (`Logs_20140328.PutLogEvents`).
//!
//! The container itself is created with Docker's `json-file` driver, so its
//! output is buffered on the host's disk whatever happens to the server or
//! the agent: the container never blocks on logging and nothing is lost while
//! the server is away. For each such container the agent follows
//! `docker logs` (stdout and stderr, with timestamps) and ships events:
//!
//! * Stream names as ECS makes them: `<awslogs-stream-prefix>/<container
//!   name>/<task id>`, or the Docker container id without a prefix (Docker's
//!   own default); `awslogs-stream` names it explicitly.
//! * Batches of at most 10,000 events and 1 MiB (26 bytes counted per event,
//!   as CloudWatch does), sent after a 250 ms linger, sorted by timestamp;
//!   events longer than 262,118 bytes are split as Docker's driver does.
//! * No event twice and none lost: before a batch goes out the agent records
//!   it as *in flight* (its end position in the Docker log, its size and a
//!   digest) in `DATA_DIR/awslogs/<container id>.json`; after it was
//!   acknowledged the position becomes the committed cursor. When the answer
//!   is lost (transport error, server killed after its commit, agent
//!   restart), the agent reads the stream's last events (GetLogEvents,
//!   `startFromHead=false`) and compares them with the batch before sending
//!   it again. One agent writes each stream, in order, so this is sound.
//! * Docker positions: each log record is identified by its timestamp
//!   (nanoseconds) and its ordinal among the records with that timestamp; a
//!   restarted shipper asks Docker for the records since the cursor's second
//!   and skips those at or before the cursor.
//! * `awslogs-multiline-pattern` / `awslogs-datetime-format` group lines into
//!   events (a matching line starts a new event) exactly as Docker's driver;
//!   a pending event is sent after 1 s without a new line (or
//!   `awslogs-force-flush-interval-seconds`).
//! * `mode` and `max-buffer-size` are validated by Docker's rules. The json-file
//!   buffer on disk means a container never blocks in either mode; in
//!   `non-blocking` mode a batch held in memory is at most `max-buffer-size`
//!   bytes. Nothing is dropped in either mode.
//! * `awslogs-region` is accepted and ignored: a Berth server is one region
//!   and logs always go to the server the agent is connected to (as do
//!   `awslogs-endpoint` and `awslogs-credentials-endpoint`).
//!
//! Everything up to [`Shippers`] is pure and tested without IO.

use crate::client::{ApiClient, ApiError};
use crate::model::{ContainerDefinition, Task};
use crate::runtime::Runtime;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The label carrying a container's [`ShipSpec`] (JSON).
use crate::labels::LABEL_AWSLOGS;
/// CloudWatch counts this many bytes per event on top of the message.
pub const EVENT_OVERHEAD: usize = 26;
/// The largest message of one event (Docker's `maximumBytesPerEvent`).
pub const MAX_EVENT_BYTES: usize = 262_144 - EVENT_OVERHEAD;
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// How long the first event of a batch waits for company.
pub const LINGER: Duration = Duration::from_millis(250);
/// A pending multiline event goes out after this long without a new line.
pub const DEFAULT_MULTILINE_FLUSH: Duration = Duration::from_secs(1);
/// A batch may span at most 24 hours (PutLogEvents' rule).
const MAX_BATCH_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Docker's default `max-buffer-size` in non-blocking mode.
const DEFAULT_MAX_BUFFER: usize = 1_000_000;

const KNOWN_OPTIONS: &[&str] = &[
    "awslogs-region",
    "awslogs-group",
    "awslogs-stream-prefix",
    "awslogs-stream",
    "awslogs-create-group",
    "awslogs-create-stream",
    "awslogs-datetime-format",
    "awslogs-multiline-pattern",
    "awslogs-endpoint",
    "awslogs-credentials-endpoint",
    "awslogs-force-flush-interval-seconds",
    "awslogs-max-buffered-events",
    "awslogs-format",
    "tag",
    "mode",
    "max-buffer-size",
];

/// The driver's options, validated.
#[derive(Debug, Clone)]
pub struct AwslogsConfig {
    pub group: String,
    pub stream_prefix: Option<String>,
    pub stream: Option<String>,
    pub create_group: bool,
    pub multiline: Option<Regex>,
    pub flush_interval: Duration,
    /// `Some(max-buffer-size)` in non-blocking mode.
    pub non_blocking_buffer: Option<usize>,
}

impl AwslogsConfig {
    /// The most bytes one batch may hold in memory.
    pub fn batch_bytes(&self) -> usize {
        self.non_blocking_buffer.map_or(MAX_BATCH_BYTES, |b| {
            b.clamp(MAX_EVENT_BYTES + EVENT_OVERHEAD, MAX_BATCH_BYTES)
        })
    }
}

/// An awslogs option Docker's driver would refuse (its wording), or one the
/// Berth agent does not support. `Display` is the reason reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwslogsOptionError {
    #[error("unknown log opt '{0}' for awslogs log driver")]
    Unknown(String),
    #[error("must specify a value for log opt 'awslogs-group'")]
    MissingGroup,
    #[error("invalid value for log opt '{key}': '{value}' is not a boolean")]
    NotBoolean { key: &'static str, value: String },
    #[error("log opt 'awslogs-format' ('{0}', the embedded metric format) is not supported by the Berth agent")]
    FormatUnsupported(String),
    #[error("you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time")]
    DatetimeAndMultiline,
    #[error("awslogs could not parse datetime format '{format}': {error}")]
    DatetimeFormat { format: String, error: String },
    #[error("awslogs could not parse multiline pattern key '{pattern}': {error}")]
    MultilinePattern { pattern: String, error: String },
    #[error("invalid awslogs-force-flush-interval-seconds: {0}")]
    FlushInterval(String),
    #[error("invalid awslogs-max-buffered-events: {0}")]
    MaxBufferedEvents(String),
    #[error("logger: logging mode not supported: {0}")]
    Mode(String),
    #[error("logger: max-buffer-size option is only supported with 'mode=non-blocking'")]
    BufferSizeWithoutNonBlocking,
    #[error("invalid max-buffer-size: '{0}'")]
    BufferSize(String),
    #[error("awslogs-stream-prefix '{0}' may not contain ':' or '*'")]
    StreamPrefix(String),
}

fn parse_bool(key: &'static str, v: &str) -> Result<bool, AwslogsOptionError> {
    // Go's strconv.ParseBool, which Docker uses.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(AwslogsOptionError::NotBoolean {
            key,
            value: v.to_string(),
        }),
    }
}

/// Docker's `units.RAMInBytes`: `512`, `64k`, `4m`, `1g` (binary units,
/// optional `b`/`ib`, any case).
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult) as usize)
}

/// Validates the options by Docker's awslogs rules (plus ECS's
/// `awslogs-stream-prefix`); the error is the reason to report.
pub fn parse_options(opts: &BTreeMap<String, String>) -> Result<AwslogsConfig, AwslogsOptionError> {
    for k in opts.keys() {
        if !KNOWN_OPTIONS.contains(&k.as_str()) {
            return Err(AwslogsOptionError::Unknown(k.clone()));
        }
    }
    let group = opts
        .get("awslogs-group")
        .filter(|g| !g.is_empty())
        .ok_or(AwslogsOptionError::MissingGroup)?
        .clone();
    let create_group = match opts.get("awslogs-create-group") {
        Some(v) => parse_bool("awslogs-create-group", v)?,
        None => false,
    };
    if let Some(v) = opts.get("awslogs-create-stream") {
        parse_bool("awslogs-create-stream", v)?;
    }
    if let Some(f) = opts.get("awslogs-format") {
        return Err(AwslogsOptionError::FormatUnsupported(f.clone()));
    }
    let multiline =
        match (
            opts.get("awslogs-datetime-format"),
            opts.get("awslogs-multiline-pattern"),
        ) {
            (Some(_), Some(_)) => {
                return Err(AwslogsOptionError::DatetimeAndMultiline);
            }
            (Some(f), None) => Some(Regex::new(&format!("^{}", strftime_to_regex(f))).map_err(|e| {
                AwslogsOptionError::DatetimeFormat {
                    format: f.clone(),
                    error: e.to_string(),
                }
            })?),
            (None, Some(p)) => Some(Regex::new(p).map_err(|e| AwslogsOptionError::MultilinePattern {
                pattern: p.clone(),
                error: e.to_string(),
            })?),
            (None, None) => None,
        };
    let flush_interval = match opts.get("awslogs-force-flush-interval-seconds") {
        Some(v) => match v.parse::<u64>() {
            Ok(s) if s > 0 => Duration::from_secs(s),
            _ => return Err(AwslogsOptionError::FlushInterval(v.clone())),
        },
        None => DEFAULT_MULTILINE_FLUSH,
    };
    if let Some(v) = opts.get("awslogs-max-buffered-events")
        && !v.parse::<u64>().is_ok_and(|n| n > 0)
    {
        return Err(AwslogsOptionError::MaxBufferedEvents(v.clone()));
    }
    let non_blocking = match opts.get("mode").map(String::as_str) {
        None | Some("") | Some("blocking") => false,
        Some("non-blocking") => true,
        Some(other) => return Err(AwslogsOptionError::Mode(other.to_string())),
    };
    let non_blocking_buffer = match (non_blocking, opts.get("max-buffer-size")) {
        (false, Some(_)) => {
            return Err(AwslogsOptionError::BufferSizeWithoutNonBlocking);
        }
        (true, Some(v)) => Some(parse_size(v).ok_or_else(|| AwslogsOptionError::BufferSize(v.clone()))?),
        (true, None) => Some(DEFAULT_MAX_BUFFER),
        (false, None) => None,
    };
    if let Some(p) = opts.get("awslogs-stream-prefix")
        && (p.contains(':') || p.contains('*'))
    {
        return Err(AwslogsOptionError::StreamPrefix(p.clone()));
    }
    Ok(AwslogsConfig {
        group,
        stream_prefix: opts.get("awslogs-stream-prefix").filter(|p| !p.is_empty()).cloned(),
        stream: opts.get("awslogs-stream").filter(|p| !p.is_empty()).cloned(),
        create_group,
        multiline,
        flush_interval,
        non_blocking_buffer,
    })
}

/// Docker's conversion of `awslogs-datetime-format` (strftime-like) to a regex.
pub fn strftime_to_regex(format: &str) -> String {
    const TABLE: &[(&str, &str)] = &[
        ("%a", "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"),
        ("%A", "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"),
        ("%w", "[0-6]"),
        ("%d", "(?:0[1-9]|[1,2][0-9]|3[0,1])"),
        ("%b", "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"),
        (
            "%B",
            "(?:January|February|March|April|May|June|July|August|September|October|November|December)",
        ),
        ("%m", "(?:0[1-9]|1[0-2])"),
        ("%Y", "\\d{4}"),
        ("%y", "\\d{2}"),
        ("%H", "(?:[0,1][0-9]|2[0-3])"),
        ("%I", "(?:0[0-9]|1[0-2])"),
        ("%p", "[A,P]M"),
        ("%M", "[0-5][0-9]"),
        ("%S", "[0-5][0-9]"),
        ("%f", "\\d{6}"),
        ("%z", "[+-]\\d{4}"),
        ("%Z", "[A-Z]{1,4}T"),
        ("%j", "(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])"),
        ("%L", "\\.\\d{3}"),
    ];
    let mut out = String::with_capacity(format.len() * 4);
    let mut rest = format;
    'outer: while !rest.is_empty() {
        for (k, v) in TABLE {
            if let Some(r) = rest.strip_prefix(k) {
                out.push_str(v);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// What a container's shipper needs, kept on the container as the
/// [`LABEL_AWSLOGS`] label so a restarted agent finds it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipSpec {
    pub options: BTreeMap<String, String>,
    /// The stream; `None`: the Docker container id.
    pub stream: Option<String>,
}

impl ShipSpec {
    pub fn stream_for(&self, container_id: &str) -> String {
        self.stream.clone().unwrap_or_else(|| container_id.to_string())
    }
}

pub fn is_awslogs(def: &ContainerDefinition) -> bool {
    def.log_configuration
        .as_ref()
        .is_some_and(|l| l.log_driver == "awslogs")
}

/// The stream name as ECS makes it: `prefix/container/task-id`; without a
/// prefix, `None` (Docker names it after the container id).
pub fn stream_name(cfg: &AwslogsConfig, container: &str, task_id: &str) -> Option<String> {
    if let Some(s) = &cfg.stream {
        return Some(s.clone());
    }
    cfg.stream_prefix.as_ref().map(|p| format!("{p}/{container}/{task_id}"))
}

/// The ship spec of a container whose definition says awslogs.
pub fn spec_for(task: &Task, def: &ContainerDefinition) -> Option<Result<ShipSpec, AwslogsOptionError>> {
    if !is_awslogs(def) {
        return None;
    }
    let options = def
        .log_configuration
        .as_ref()
        .and_then(|l| l.options.clone())
        .unwrap_or_default();
    Some(parse_options(&options).map(|cfg| ShipSpec {
        stream: stream_name(&cfg, def.name(), task.id()),
        options,
    }))
}

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
    fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, path: &Path) {
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_vec(self).unwrap_or_default();
        if let Err(e) = std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, path)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the log shipping cursor");
        }
    }
}

/// Why the log group or stream could not be set up; `Display` is Docker's
/// wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Options(#[from] AwslogsOptionError),
    #[error("failed to initialize logging driver: failed to create Cloudwatch log {what}: {detail}")]
    Create { what: &'static str, detail: String },
}

/// Creates the group (with `awslogs-create-group`) and the stream before the
/// container starts, as Docker's driver does; the error is Docker's.
pub async fn prepare(api: &ApiClient, spec: &ShipSpec, container_id: &str) -> Result<(), PrepareError> {
    let cfg = parse_options(&spec.options)?;
    let stream = spec.stream_for(container_id);
    let mut backoff = crate::client::retry_backoff();
    let mut attempts = 0;
    let call = |op: &'static str, body: Value| async move {
        match api.call_logs(op, &body).await {
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => Ok(()),
            other => other.map(|_| ()),
        }
    };
    loop {
        let mut result = Ok(());
        if cfg.create_group {
            result = call("CreateLogGroup", json!({"logGroupName": cfg.group}))
                .await
                .map_err(|e| ("group", e));
        }
        if result.is_ok() {
            result = call(
                "CreateLogStream",
                json!({"logGroupName": cfg.group, "logStreamName": stream}),
            )
            .await
            .map_err(|e| ("stream", e));
        }
        match result {
            Ok(()) => return Ok(()),
            Err((what, e)) => {
                attempts += 1;
                if e.is_permanent() || attempts >= 5 {
                    let detail = match &e {
                        ApiError::Aws { code, message, .. } => format!("{code}: {message}"),
                        other => other.to_string(),
                    };
                    return Err(PrepareError::Create { what, detail });
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// The agent's log shippers: one tokio task per container, each running
/// until the container has exited and all its output is stored.
pub struct Shippers {
    api: ApiClient,
    runtime: Runtime,
    dir: PathBuf,
    active: Mutex<HashSet<String>>,
    epoch: Instant,
}

impl Shippers {
    pub fn new(api: ApiClient, runtime: Runtime, dir: PathBuf) -> Arc<Self> {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the log shipping dir");
        }
        Arc::new(Self {
            api,
            runtime,
            dir,
            active: Mutex::new(HashSet::new()),
            epoch: Instant::now(),
        })
    }

    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn state_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Ships a started container's output (once: a shipper already running
    /// or finished for it is left alone).
    pub fn ship(self: &Arc<Self>, container_id: &str, spec: ShipSpec) {
        {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            if !active.insert(container_id.to_string()) {
                return;
            }
        }
        let me = self.clone();
        let id = container_id.to_string();
        tokio::spawn(async move {
            me.run_one(&id, &spec).await;
            me.active.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    /// After an agent start: ships what the containers of this instance
    /// printed while the agent was away, and forgets containers that are gone.
    pub async fn resume(self: &Arc<Self>, instance_arn: &str) {
        let found = match self
            .runtime
            .list(&[(crate::labels::LABEL_INSTANCE, instance_arn)])
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers to resume log shipping");
                return;
            }
        };
        let mut known = HashSet::new();
        for c in found {
            let (Some(id), Some(labels)) = (c.id.as_ref(), c.labels.as_ref()) else {
                continue;
            };
            known.insert(id.clone());
            let Some(spec) = labels
                .get(LABEL_AWSLOGS)
                .and_then(|l| serde_json::from_str::<ShipSpec>(l).ok())
            else {
                continue;
            };
            // Never started: nothing printed (its engine ships it once started).
            if c.state.as_ref().is_some_and(|s| s.to_string() == "created") {
                continue;
            }
            if !ShipState::load(&self.state_path(id)).done {
                tracing::info!(container = %id, "resuming log shipping");
                self.ship(id, spec);
            }
        }
        if let Ok(dir) = std::fs::read_dir(&self.dir) {
            for f in dir.flatten() {
                let name = f.file_name().to_string_lossy().to_string();
                let Some(id) = name.strip_suffix(".json") else { continue };
                if !known.contains(id) && matches!(self.runtime.inspect(id).await, Ok(None)) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
    }

    async fn run_one(&self, id: &str, spec: &ShipSpec) {
        let cfg = match parse_options(&spec.options) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "invalid awslogs options; not shipping");
                return;
            }
        };
        let stream = spec.stream_for(id);
        let path = self.state_path(id);
        let mut state = ShipState::load(&path);
        if state.done {
            return;
        }
        if let Some(f) = state.in_flight.take() {
            if Self::stored(&self.api, &cfg.group, &stream, f.events, f.digest).await {
                state.committed = f.end;
            }
            state.save(&path);
        }
        let mut asm = Assembler::new(cfg.multiline.clone(), cfg.flush_interval, state.committed);
        let mut batcher = Batcher::new(cfg.batch_bytes());
        let mut shipped = 0usize;
        tracing::info!(container = %id, group = %cfg.group, %stream, "shipping logs");
        let mut follow = true;
        loop {
            asm.restart();
            let since = (asm.resume_point().ts_ns.div_euclid(1_000_000_000) - 1).max(0);
            let opts = bollard::query_parameters::LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                since: i32::try_from(since).unwrap_or(0),
                until: 0,
                timestamps: true,
                tail: "all".into(),
            };
            let mut logs = Box::pin(self.runtime.docker().logs(id, Some(opts)));
            loop {
                let now = self.now_ms();
                let wake = [batcher.next_due_ms(LINGER), asm.next_flush_ms()]
                    .into_iter()
                    .flatten()
                    .min()
                    .map_or(Duration::from_secs(5), |t| Duration::from_millis(t.saturating_sub(now)));
                let ended = tokio::select! {
                    item = futures::StreamExt::next(&mut logs) => match item {
                        Some(Ok(out)) => {
                            use bollard::container::LogOutput;
                            let (src, bytes) = match out {
                                LogOutput::StdOut { message } | LogOutput::Console { message } => (0, message),
                                LogOutput::StdErr { message } => (1, message),
                                LogOutput::StdIn { .. } => continue,
                            };
                            let now = self.now_ms();
                            for e in asm.push_frame(src, &bytes, now) {
                                batcher.push(e, now);
                            }
                            false
                        }
                        Some(Err(e)) => {
                            tracing::debug!(container = %id, error = %e, "the log stream broke");
                            true
                        }
                        None => true,
                    },
                    _ = tokio::time::sleep(wake) => false,
                };
                let now = self.now_ms();
                if let Some(e) = asm.flush_due(now) {
                    batcher.push(e, now);
                }
                while batcher.due(self.now_ms(), LINGER) {
                    if let Some(b) = batcher.take(self.now_ms()) {
                        shipped += b.events.len();
                        Self::put(&self.api, &cfg, &stream, b, &mut state, &path).await;
                    }
                }
                if ended {
                    break;
                }
            }
            // The stream ended: the container stopped (or Docker cut the
            // follow). Read once more without following, then decide.
            if !follow {
                let running = match self.runtime.inspect(id).await {
                    Ok(Some(info)) => info.state.and_then(|s| s.running).unwrap_or(false),
                    Ok(None) => false,
                    Err(_) => true,
                };
                if running {
                    follow = true;
                    continue;
                }
                break;
            }
            follow = false;
        }
        let now = self.now_ms();
        for e in asm.finish(now) {
            batcher.push(e, now);
        }
        while let Some(b) = batcher.take(self.now_ms()) {
            shipped += b.events.len();
            Self::put(&self.api, &cfg, &stream, b, &mut state, &path).await;
        }
        state.done = true;
        state.save(&path);
        tracing::info!(container = %id, events = shipped, "log shipping finished");
    }

    /// Sends one batch until it is stored (or refused for good).
    async fn put(api: &ApiClient, cfg: &AwslogsConfig, stream: &str, batch: Batch, state: &mut ShipState, path: &Path) {
        let flight = InFlight {
            end: batch.end,
            events: batch.events.len(),
            digest: batch.digest(),
        };
        state.in_flight = Some(flight);
        state.save(path);
        let body = json!({
            "logGroupName": cfg.group,
            "logStreamName": stream,
            "logEvents": batch.events.iter().map(|(t, m)| json!({"timestamp": t, "message": m})).collect::<Vec<_>>(),
        });
        let mut backoff = crate::client::retry_backoff();
        loop {
            match api.call_logs("PutLogEvents", &body).await {
                Ok(v) => {
                    if let Some(r) = v.get("rejectedLogEventsInfo") {
                        tracing::warn!(%stream, rejected = %r, "CloudWatch Logs rejected some events");
                    }
                    break;
                }
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    tracing::warn!(%stream, error = %e, "the log stream is gone; creating it again");
                    let spec = ShipSpec {
                        options: BTreeMap::from([
                            ("awslogs-group".to_string(), cfg.group.clone()),
                            ("awslogs-create-group".to_string(), cfg.create_group.to_string()),
                        ]),
                        stream: Some(stream.to_string()),
                    };
                    if let Err(e) = prepare(api, &spec, stream).await {
                        tracing::warn!(%stream, error = %e, "cannot create the log stream; dropping a batch");
                        break;
                    }
                }
                Err(e) if e.is_permanent() => {
                    tracing::warn!(%stream, error = %e, events = flight.events, "PutLogEvents refused a batch; dropping it");
                    break;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::debug!(%stream, error = %e, retry_in = ?delay, "PutLogEvents failed; retrying");
                    tokio::time::sleep(delay).await;
                    // The server may have stored the batch before the answer was lost.
                    if Self::stored(api, &cfg.group, stream, flight.events, flight.digest).await {
                        tracing::info!(%stream, "the batch was stored before the answer was lost");
                        break;
                    }
                }
            }
        }
        state.committed = flight.end;
        state.in_flight = None;
        state.save(path);
    }

    /// Whether the stream's last `n` events are the batch with `digest`
    /// (retries until the server answers).
    async fn stored(api: &ApiClient, group: &str, stream: &str, n: usize, want: u64) -> bool {
        let mut backoff = crate::client::retry_backoff();
        let body = json!({
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": false,
            "limit": n.clamp(1, MAX_BATCH_EVENTS),
        });
        loop {
            match api.call_logs("GetLogEvents", &body).await {
                Ok(v) => {
                    let events: Vec<(i64, String)> = v["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| {
                            (
                                e["timestamp"].as_i64().unwrap_or_default(),
                                e["message"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    return events.len() == n && digest(&events) == want;
                }
                Err(e) if e.is_permanent() => return false,
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::debug!(%stream, error = %e, retry_in = ?delay, "cannot read the stream back yet");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
