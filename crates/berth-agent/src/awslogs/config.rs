//! The `awslogs` driver's options ([`AwslogsConfig`], checked as Docker does)
//! and the [`ShipSpec`] a container carries; CloudWatch's limits.

use crate::model::{ContainerDefinition, Task};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

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
pub(super) const MAX_BATCH_SPAN_MS: i64 = 24 * 3600 * 1000;
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
