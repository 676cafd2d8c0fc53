//! The stored form of an [`Aggregate`] (the `agg` column of `points`): a
//! compact binary record, written and read without formatting or parsing a
//! number (a PutMetricData of 1,000 datums reads and writes back about as
//! many rows). Rows written by earlier versions hold the aggregate as JSON
//! text; they are read as such and become binary when next written (a
//! merge, a roll-up), so an upgrade keeps every datapoint. Pure.
//!
//! The record, little-endian: the format byte [`FORMAT`], count, sum,
//! minimum, maximum (f64 each), `exact_values` (one byte, 0 or 1), the
//! number of values (u32), then each `(value, count)` as two f64.

use crate::stats::Aggregate;
use rusqlite::types::ValueRef;

/// The first byte of a binary record (JSON text starts with `{`).
pub const FORMAT: u8 = 1;
/// The fixed part: format, four f64, the flag, the values' count.
const HEAD: usize = 1 + 4 * 8 + 1 + 4;

/// `agg` as its binary record.
pub fn encode(agg: &Aggregate) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD + agg.values.len() * 16);
    out.push(FORMAT);
    for f in [agg.count, agg.sum, agg.min, agg.max] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.push(u8::from(agg.exact_values));
    out.extend_from_slice(&(agg.values.len() as u32).to_le_bytes());
    for (v, c) in &agg.values {
        out.extend_from_slice(&v.to_le_bytes());
        out.extend_from_slice(&c.to_le_bytes());
    }
    out
}

/// The aggregate of a binary record (None: not one, or cut short).
fn decode_binary(b: &[u8]) -> Option<Aggregate> {
    if b.len() < HEAD || b[0] != FORMAT {
        return None;
    }
    let f = |at: usize| {
        b.get(at..at + 8)
            .map(|s| f64::from_le_bytes(s.try_into().unwrap_or_default()))
    };
    let exact_values = match b[33] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let n = u32::from_le_bytes(b[34..38].try_into().ok()?) as usize;
    if b.len() != HEAD + n.checked_mul(16)? {
        return None;
    }
    let values = (0..n)
        .map(|i| Some((f(HEAD + 16 * i)?, f(HEAD + 16 * i + 8)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Aggregate {
        count: f(1)?,
        sum: f(9)?,
        min: f(17)?,
        max: f(25)?,
        values,
        exact_values,
    })
}

/// The aggregate of a stored `agg` column: a binary record, or the JSON
/// text of an earlier version (None: neither, the row is skipped as before).
pub fn decode(column: ValueRef<'_>) -> Option<Aggregate> {
    match column {
        ValueRef::Blob(b) => decode_binary(b),
        ValueRef::Text(t) => serde_json::from_slice(t).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Aggregate {
        let mut a = Aggregate::value(2.5, 3.0);
        a.merge(&Aggregate::value(-1e300, 1.0));
        a
    }

    #[test]
    fn a_record_reads_back_as_written() {
        for agg in [
            sample(),
            Aggregate::value(0.0, 1.0),
            Aggregate::statistic_set(4.0, 10.0, 1.0, 5.0),
        ] {
            let b = encode(&agg);
            assert_eq!(b.len(), HEAD + 16 * agg.values.len());
            assert_eq!(decode(ValueRef::Blob(&b)), Some(agg));
        }
    }

    #[test]
    fn the_json_of_earlier_versions_reads() {
        let agg = sample();
        let json = serde_json::to_string(&agg).unwrap();
        assert_eq!(decode(ValueRef::Text(json.as_bytes())), Some(agg));
    }

    #[test]
    fn a_damaged_record_is_none() {
        let b = encode(&sample());
        assert_eq!(decode(ValueRef::Blob(&b[..b.len() - 1])), None);
        assert_eq!(decode(ValueRef::Blob(&b[..10])), None);
        let mut other = b.clone();
        other[0] = 2;
        assert_eq!(decode(ValueRef::Blob(&other)), None);
        let mut flag = b;
        flag[33] = 7;
        assert_eq!(decode(ValueRef::Blob(&flag)), None);
        assert_eq!(decode(ValueRef::Text(b"not json")), None);
        assert_eq!(decode(ValueRef::Integer(1)), None);
    }
}
