//! The length of JSON values as serde_json writes them in compact form,
//! counted without writing them: what the audit trail's size bound reads
//! (`berth_audit::redact`), from a `Value` or while a body is read
//! straight into its typed input ([`crate::direct`]).

use serde_json::Number;

/// A string's serialized length, as serde_json escapes it: `"` and `\` as
/// two bytes, the control characters as `\n`-style pairs or `\u00XX`,
/// nothing else.
pub fn str_len(s: &str) -> usize {
    2 + s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 1,
                0..0x20 => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// A non-negative integer's length in decimal.
pub fn u64_len(u: u64) -> usize {
    u.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// An integer's length in decimal, its sign included.
pub fn i64_len(i: i64) -> usize {
    usize::from(i < 0) + u64_len(i.unsigned_abs())
}

/// A finite float's length in its shortest form (serde_json's own
/// formatter, `zmij`).
pub fn f64_len(f: f64) -> usize {
    zmij::Buffer::new().format_finite(f).len()
}

/// A number's length as serde_json writes it: integers in decimal, floats
/// in their shortest form.
pub fn number_len(n: &Number) -> usize {
    if let Some(u) = n.as_u64() {
        u64_len(u)
    } else if let Some(i) = n.as_i64() {
        i64_len(i)
    } else {
        // A JSON number is finite: what is left is a float.
        f64_len(n.as_f64().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn lengths_are_those_serde_json_writes() {
        for v in [
            json!(0),
            json!(7),
            json!(10),
            json!(u64::MAX),
            json!(-1),
            json!(-10),
            json!(i64::MIN),
            json!(0.5),
            json!(-0.0),
            json!(1e300),
            json!(1.5e-7),
            json!(12.0),
            json!(123456789.125),
        ] {
            let Value::Number(n) = &v else { unreachable!() };
            assert_eq!(number_len(n), v.to_string().len(), "{v}");
        }
        for s in [
            "",
            "a",
            "é",
            "a\"b\\c",
            "\n\t\r\u{8}\u{c}",
            "\u{1}\u{1f}",
            "\u{7f}",
            "日本",
        ] {
            assert_eq!(str_len(s), Value::from(s).to_string().len(), "{s:?}");
        }
    }
}
