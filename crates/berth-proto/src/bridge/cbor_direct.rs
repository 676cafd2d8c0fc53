//! The common rpcv2Cbor body read straight from its bytes into the awsJson
//! input, without a CBOR library's generic layers (ciborium's header
//! decoding and serde dispatch were a fifth of a PutMetricData's cost).
//!
//! It reads what SDKs send: definite-length maps with text keys, arrays
//! (definite or not), text and byte strings of definite length, integers
//! that fit 64 bits, half, single and double floats that are finite,
//! booleans, null, and tags around any of these (tag 1, epoch seconds,
//! included). It answers exactly what [`super::cbor_input`] answers for
//! such a body. Anything else — a body that is not valid CBOR, a bignum, a
//! NaN, a key that is not text, an indefinite-length string or map,
//! `undefined`, bytes after the item, nesting deeper than [`MAX_DEPTH`] —
//! is not read here (`None`): the caller then reads it the general way,
//! which gives the reference's answer and error messages.

use base64::Engine;
use serde_json::{Map, Number, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Deeper bodies are left to the general reader (and its limit).
const MAX_DEPTH: usize = 64;

/// The awsJson value of `body`, or None when it is not of the common form.
pub fn read(body: &[u8]) -> Option<Value> {
    let mut r = Reader { b: body, at: 0 };
    let v = r.item(0)?;
    (r.at == body.len()).then_some(v)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

/// An item's head: major type and argument, or the start of an
/// indefinite length / a break.
enum Head {
    Arg(u8, u64),
    Indefinite(u8),
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.b.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn head(&mut self) -> Option<Head> {
        let first = self.byte()?;
        let (major, info) = (first >> 5, first & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            27 => u64::from_be_bytes(self.take(8)?.try_into().ok()?),
            31 => return Some(Head::Indefinite(major)),
            _ => return None,
        };
        Some(Head::Arg(major, arg))
    }

    fn peek_break(&self) -> bool {
        self.b.get(self.at) == Some(&0xff)
    }

    fn item(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let first = *self.b.get(self.at)?;
        match self.head()? {
            Head::Arg(0, n) => Some(integer(i128::from(n))),
            Head::Arg(1, n) => Some(integer(-1 - i128::from(n))),
            Head::Arg(2, n) => Some(Value::String(B64.encode(self.take(usize::try_from(n).ok()?)?))),
            Head::Arg(3, n) => {
                let s = std::str::from_utf8(self.take(usize::try_from(n).ok()?)?).ok()?;
                Some(Value::String(s.to_owned()))
            }
            Head::Arg(4, n) => {
                let n = usize::try_from(n).ok()?;
                // Each item takes at least a byte: a length beyond the body is not believed.
                let mut items = Vec::with_capacity(n.min(self.b.len() - self.at));
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Some(Value::Array(items))
            }
            Head::Indefinite(4) => {
                let mut items = Vec::new();
                while !self.peek_break() {
                    items.push(self.item(depth + 1)?);
                }
                self.at += 1;
                Some(Value::Array(items))
            }
            Head::Arg(5, n) => {
                let mut out = Map::new();
                for _ in 0..n {
                    let Head::Arg(3, len) = self.head()? else {
                        return None;
                    };
                    let key = std::str::from_utf8(self.take(usize::try_from(len).ok()?)?).ok()?;
                    let value = self.item(depth + 1)?;
                    out.insert(key.to_owned(), value);
                }
                Some(Value::Object(out))
            }
            // Bignums (2, 3) are left to the general reader; any other tag is what it wraps.
            Head::Arg(6, 2 | 3) => None,
            Head::Arg(6, _) => self.item(depth + 1),
            // Major type 7 by its first byte: the simple values in their one-byte form only.
            Head::Arg(7, arg) => match first {
                0xf4 => Some(Value::Bool(false)),
                0xf5 => Some(Value::Bool(true)),
                0xf6 => Some(Value::Null),
                0xf9 => float(half(u16::try_from(arg).ok()?)),
                0xfa => float(f64::from(f32::from_bits(u32::try_from(arg).ok()?))),
                0xfb => float(f64::from_bits(arg)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// An integer as the reference converts it: an `i64`, else a float.
fn integer(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(i) => Value::from(i),
        Err(_) => Value::Number(Number::from_f64(i as f64).expect("finite")),
    }
}

/// A finite float (a NaN or an infinity is the general reader's error).
fn float(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// An IEEE 754 half-precision float, exactly.
fn half(h: u16) -> f64 {
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(exp - 25),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

#[cfg(test)]
#[path = "cbor_direct_tests.rs"]
mod tests;
