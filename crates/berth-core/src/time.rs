//! Time as Berth writes and reads it: epoch seconds as awsJson carries them
//! (a JSON number, fractional), and ISO 8601 / RFC 3339 text as IAM, STS,
//! CloudTrail and the container credentials endpoint write dates. The one
//! place that knows these formats; built on the `time` crate.

use ::time::format_description::BorrowedFormatItem;
use ::time::format_description::well_known::Rfc3339;
use ::time::macros::format_description;
use ::time::{OffsetDateTime, UtcOffset};

/// `YYYY-MM-DDTHH:MM:SSZ`: UTC, whole seconds.
const ISO8601_SECONDS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Seconds since the epoch, with millisecond precision.
pub fn now_epoch() -> f64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), as IAM, STS, CloudTrail and
/// the container credentials endpoint write dates.
pub fn iso8601(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(ISO8601_SECONDS).unwrap_or_default()
}

/// [`iso8601`] of epoch seconds (fractions dropped).
pub fn iso8601_epoch(epoch: f64) -> String {
    iso8601(OffsetDateTime::from_unix_timestamp(epoch as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// [`iso8601`] of epoch milliseconds (fractions dropped).
pub fn iso8601_epoch_millis(ms: i64) -> String {
    iso8601(OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Parses RFC 3339 (`2024-01-02T03:04:05Z`, fractions and offsets allowed,
/// as Docker and AWS write timestamps).
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_is_utc_to_the_second() {
        assert_eq!(super::iso8601_epoch(0.9), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601_epoch(1_700_000_000.0), "2023-11-14T22:13:20Z");
        assert_eq!(super::iso8601_epoch_millis(1_700_000_000_999), "2023-11-14T22:13:20Z");
        let offset = super::parse_rfc3339("2023-11-15T00:13:20.5+02:00").unwrap();
        assert_eq!(super::iso8601(offset), "2023-11-14T22:13:20Z");
        assert!(super::parse_rfc3339("yesterday").is_none());
    }
}
