//! CloudWatch Logs rules, pure: names, PutLogEvents batch rules, retention
//! values and the GetLogEvents/FilterLogEvents tokens.

use berth_proto::AwsError;

/// A PutLogEvents batch: at most this many events…
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// …and at most this many bytes, counting each message's UTF-8 length plus 26.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD: usize = 26;
/// One event's message may be at most 256 KiB including the overhead.
pub const MAX_EVENT_BYTES: usize = 262_144 - EVENT_OVERHEAD;
/// Events older than this (or the group's retention) are rejected.
pub const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
/// Events further in the future than this are rejected.
pub const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;
/// One batch may not span more than this.
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
pub const DAY_MS: i64 = 24 * 3600 * 1000;

pub const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

fn pattern_error(field: &str, value: &str, pattern: &str) -> AwsError {
    AwsError::invalid_parameter(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: {pattern}"
    ))
}

fn length_error(field: &str, value: &str) -> AwsError {
    AwsError::invalid_parameter(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: \
         Member must have length between 1 and 512"
    ))
}

pub fn validate_group_name(name: &str) -> Result<(), AwsError> {
    if name.is_empty() || name.len() > 512 {
        return Err(length_error("logGroupName", name));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b'#'))
    {
        return Err(pattern_error("logGroupName", name, r"[\.\-_/#A-Za-z0-9]+"));
    }
    if name.starts_with("aws/") {
        return Err(AwsError::invalid_parameter(
            "Log group names starting with 'aws/' are reserved for AWS services.",
        ));
    }
    Ok(())
}

pub fn validate_stream_name(name: &str) -> Result<(), AwsError> {
    if name.is_empty() || name.len() > 512 {
        return Err(length_error("logStreamName", name));
    }
    if name.contains([':', '*']) {
        return Err(pattern_error("logStreamName", name, "[^:*]*"));
    }
    Ok(())
}

pub fn validate_retention(days: i64) -> Result<(), AwsError> {
    if RETENTION_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: \
             Member must satisfy enum value set: {RETENTION_DAYS:?}"
        )))
    }
}

/// What PutLogEvents keeps of a batch: `events[accept]`, and the
/// `rejectedLogEventsInfo` indexes for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchVerdict {
    pub accept: std::ops::Range<usize>,
    /// Events `[0, n)` are older than 14 days.
    pub too_old_end: Option<usize>,
    /// Events `[n, len)` are more than 2 hours in the future.
    pub too_new_start: Option<usize>,
    /// Events `[0, n)` are older than the group's retention.
    pub expired_end: Option<usize>,
}

/// Applies the PutLogEvents batch rules to `(timestamp, message)` pairs.
/// Whole-batch violations are errors; per-event window violations are
/// reported in the verdict (the rest is accepted).
pub fn check_batch(events: &[(i64, &str)], now_ms: i64, retention_days: Option<i64>) -> Result<BatchVerdict, AwsError> {
    if events.is_empty() {
        return Err(AwsError::invalid_parameter(
            "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: \
             Member must have length greater than or equal to 1",
        ));
    }
    if events.len() > MAX_BATCH_EVENTS {
        return Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_BATCH_EVENTS} (got {})",
            events.len()
        )));
    }
    let mut total = 0usize;
    for (i, (_, msg)) in events.iter().enumerate() {
        if msg.is_empty() {
            return Err(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '' at 'logEvents.{}.member.message' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1",
                i + 1
            )));
        }
        if msg.len() > MAX_EVENT_BYTES {
            return Err(AwsError::invalid_parameter(format!(
                "Log event too large: event {i} is {} bytes; the maximum is {MAX_EVENT_BYTES} bytes",
                msg.len()
            )));
        }
        total += msg.len() + EVENT_OVERHEAD;
    }
    if total > MAX_BATCH_BYTES {
        return Err(AwsError::invalid_parameter(format!(
            "Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES} \
             (each event counts its UTF-8 message length plus {EVENT_OVERHEAD} bytes)"
        )));
    }
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(AwsError::invalid_parameter(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let (first, last) = (events[0].0, events[events.len() - 1].0);
    if last - first > MAX_SPAN_MS {
        return Err(AwsError::invalid_parameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let too_old = events.partition_point(|(ts, _)| *ts < now_ms - MAX_AGE_MS);
    let expired = match retention_days {
        Some(d) => events.partition_point(|(ts, _)| *ts < now_ms - d * DAY_MS),
        None => 0,
    };
    let too_new = events.partition_point(|(ts, _)| *ts <= now_ms + MAX_FUTURE_MS);
    let start = too_old.max(expired).min(too_new);
    Ok(BatchVerdict {
        accept: start..too_new,
        too_old_end: (too_old > 0).then_some(too_old),
        too_new_start: (too_new < events.len()).then_some(too_new),
        expired_end: (expired > 0).then_some(expired),
    })
}

/// A position in a stream: events are ordered by `(timestamp, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub ts: i64,
    pub id: i64,
}

impl Position {
    /// Before every event.
    pub const START: Position = Position { ts: i64::MIN, id: 0 };
    /// After every event.
    pub const END: Position = Position {
        ts: i64::MAX,
        id: i64::MAX,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `f/…`: the events strictly after the position.
    Forward,
    /// `b/…`: the events strictly before the position.
    Backward,
}

/// `f/` or `b/` then 40 digits (timestamp offset, event id), as opaque to
/// clients as AWS's own tokens.
pub fn encode_stream_token(dir: Direction, pos: Position) -> String {
    let p = if dir == Direction::Forward { 'f' } else { 'b' };
    // Shift the signed timestamp into an unsigned range so digits sort.
    let ts = (pos.ts as i128 - i64::MIN as i128) as u128;
    format!("{p}/{ts:020}{:020}", pos.id)
}

pub fn decode_stream_token(token: &str) -> Result<(Direction, Position), AwsError> {
    let bad = || AwsError::invalid_parameter("The specified nextToken is invalid.");
    let (dir, digits) = match token.split_once('/') {
        Some(("f", d)) => (Direction::Forward, d),
        Some(("b", d)) => (Direction::Backward, d),
        _ => return Err(bad()),
    };
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let ts: u128 = digits[..20].parse().map_err(|_| bad())?;
    let id: i64 = digits[20..].parse().map_err(|_| bad())?;
    let ts = i64::try_from(ts as i128 + i64::MIN as i128).map_err(|_| bad())?;
    Ok((dir, Position { ts, id }))
}

/// FilterLogEvents' token: the last `(timestamp, id)` returned.
pub fn encode_filter_token(pos: Position) -> String {
    format!("{}:{}", pos.ts, pos.id)
}

pub fn decode_filter_token(token: &str) -> Result<Position, AwsError> {
    let bad = || AwsError::invalid_parameter("The specified nextToken is invalid.");
    let (ts, id) = token.split_once(':').ok_or_else(bad)?;
    Ok(Position {
        ts: ts.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn names() {
        assert!(validate_group_name("/ecs/app-1_x.y#z").is_ok());
        assert!(validate_group_name("").is_err());
        assert!(validate_group_name("bad name").is_err());
        assert!(validate_group_name(&"a".repeat(513)).is_err());
        assert!(validate_stream_name("prefix/app/abc").is_ok());
        assert!(validate_stream_name("a:b").is_err());
        assert!(validate_stream_name("a*").is_err());
        assert!(validate_retention(7).is_ok());
        assert!(validate_retention(8).is_err());
    }

    #[test]
    fn batch_limits() {
        let e = check_batch(&[], NOW, None).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let many: Vec<(i64, &str)> = (0..10_001).map(|i| (NOW + i, "x")).collect();
        assert!(check_batch(&many, NOW, None).is_err());
        assert!(check_batch(&many[..10_000], NOW, None).is_ok());
        // 1 MiB counting 26 bytes per event: exactly at the limit passes.
        let big = "x".repeat(MAX_BATCH_BYTES / 4 - EVENT_OVERHEAD);
        let four: Vec<(i64, &str)> = (0..4).map(|i| (NOW + i, big.as_str())).collect();
        assert!(check_batch(&four, NOW, None).is_ok());
        let mut five = four.clone();
        five.push((NOW + 5, "x"));
        assert!(
            check_batch(&five, NOW, None)
                .unwrap_err()
                .message
                .contains("Upload too large")
        );
        assert!(check_batch(&[(NOW, "")], NOW, None).is_err());
    }

    #[test]
    fn chronological_and_span() {
        let e = check_batch(&[(NOW, "a"), (NOW - 1, "b")], NOW, None).unwrap_err();
        assert!(e.message.contains("chronological"));
        let e = check_batch(&[(NOW - 2 * DAY_MS, "a"), (NOW, "b")], NOW, None).unwrap_err();
        assert!(e.message.contains("24 hours"));
        assert!(check_batch(&[(NOW, "a"), (NOW, "b")], NOW, None).is_ok());
    }

    #[test]
    fn windows() {
        let old = NOW - MAX_AGE_MS - 1;
        let v = check_batch(&[(old, "a"), (old + 2, "b")], NOW, None).unwrap();
        assert_eq!(v.too_old_end, Some(1));
        assert_eq!(v.accept, 1..2);
        let v = check_batch(&[(NOW, "a"), (NOW + MAX_FUTURE_MS + 1, "b")], NOW, None).unwrap();
        assert_eq!(v.too_new_start, Some(1));
        assert_eq!(v.accept, 0..1);
        let v = check_batch(&[(NOW - 2 * DAY_MS, "a"), (NOW - 10, "b")], NOW, Some(1));
        assert!(v.is_err(), "spans more than 24h");
        let v = check_batch(&[(NOW - DAY_MS - 5, "a"), (NOW - 10, "b")], NOW, Some(1)).unwrap();
        assert_eq!(v.expired_end, Some(1));
        assert_eq!(v.too_old_end, None);
        assert_eq!(v.accept, 1..2);
        let v = check_batch(&[(NOW, "a")], NOW, None).unwrap();
        assert_eq!(
            v,
            BatchVerdict {
                accept: 0..1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn stream_tokens_round_trip_and_order() {
        for pos in [Position::START, Position { ts: NOW, id: 42 }, Position { ts: 0, id: 1 }] {
            for dir in [Direction::Forward, Direction::Backward] {
                let t = encode_stream_token(dir, pos);
                assert_eq!(decode_stream_token(&t).unwrap(), (dir, pos));
            }
        }
        let a = encode_stream_token(Direction::Forward, Position { ts: 5, id: 9 });
        let b = encode_stream_token(Direction::Forward, Position { ts: 6, id: 1 });
        assert!(a < b);
        assert!(a.starts_with("f/"));
        for bad in ["", "x/1", "f/12", "f/abcdefghijabcdefghijabcdefghijabcdefghij"] {
            assert!(decode_stream_token(bad).is_err());
        }
        let p = Position { ts: NOW, id: 7 };
        assert_eq!(decode_filter_token(&encode_filter_token(p)).unwrap(), p);
        assert!(decode_filter_token("nope").is_err());
    }
}
