//! Time as awsJson carries it: epoch seconds as a JSON number (fractional).

/// Seconds since the epoch, with millisecond precision.
pub fn now_epoch() -> f64 {
    let now = ::time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), as IAM, STS and the
/// container credentials endpoint write dates.
pub fn iso8601(t: ::time::OffsetDateTime) -> String {
    let t = t.to_offset(::time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// [`iso8601`] of epoch seconds (fractions dropped).
pub fn iso8601_epoch(epoch: f64) -> String {
    iso8601(::time::OffsetDateTime::from_unix_timestamp(epoch as i64).unwrap_or(::time::OffsetDateTime::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_is_utc_to_the_second() {
        assert_eq!(super::iso8601_epoch(0.9), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601_epoch(1_700_000_000.0), "2023-11-14T22:13:20Z");
    }
}
