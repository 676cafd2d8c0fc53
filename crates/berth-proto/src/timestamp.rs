//! Timestamps as the protocols write them: awsQuery's ISO 8601 text and
//! awsJson's epoch seconds, read and written by the bridge and the model
//! validation alike.

/// An awsQuery timestamp: ISO 8601 (`2024-01-02T03:04:05Z`, fractions and
/// offsets allowed) or epoch seconds, as epoch seconds.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    use time::format_description::well_known::Iso8601;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos() as f64 / 1e9);
    }
    // A date and time without an offset is UTC.
    if let Ok(t) = time::PrimitiveDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos() as f64 / 1e9);
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// ISO 8601 text of epoch seconds, as awsQuery writes timestamps
/// (`2024-01-02T03:04:05Z`, or `…05.250Z` with a fraction).
pub fn format_timestamp(epoch: f64) -> String {
    use time::macros::format_description;
    let nanos = (epoch * 1e3).round() as i128 * 1_000_000;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return epoch.to_string();
    };
    let format = if t.millisecond() == 0 {
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")
    } else {
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z")
    };
    t.format(format).unwrap_or_default()
}
