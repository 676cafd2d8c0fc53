//! The dates SigV4 reads and writes: `X-Amz-Date` (`20150830T123600Z`) and
//! the HTTP `Date` header.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `yyyymmddThhmmssZ` in UTC (sub-seconds dropped).
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses exactly `yyyymmddThhmmssZ`.
pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    build_datetime(
        parse_digits(&b[0..4])?,
        parse_digits(&b[4..6])?,
        parse_digits(&b[6..8])?,
        parse_digits(&b[9..11])?,
        parse_digits(&b[11..13])?,
        parse_digits(&b[13..15])?,
    )
}

/// Parses an HTTP `Date` in IMF-fixdate form: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(super) fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.trim().as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || &b[25..] != b" GMT" {
        return None;
    }
    if b[19] != b':' || b[22] != b':' {
        return None;
    }
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == &b[8..11])? as u64 + 1;
    build_datetime(
        parse_digits(&b[12..16])?,
        month,
        parse_digits(&b[5..7])?,
        parse_digits(&b[17..19])?,
        parse_digits(&b[20..22])?,
        parse_digits(&b[23..25])?,
    )
}

fn build_datetime(year: u64, month: u64, day: u64, hour: u64, minute: u64, second: u64) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// A non-empty run of ASCII digits (at most 19, so it fits a `u64`).
pub(super) fn parse_digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
}
