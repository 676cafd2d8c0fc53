//! Time as awsJson carries it: epoch seconds as a JSON number (fractional).

/// Seconds since the epoch, with millisecond precision.
pub fn now_epoch() -> f64 {
    let now = ::time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}
