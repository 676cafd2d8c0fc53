//! An rpcv2Cbor request body read straight into the service's awsJson
//! input, in one pass: the same answer as decoding a `ciborium::Value` and
//! converting it ([`super::convert::cbor_to_json`], the reference), without
//! building the intermediate tree (a PutMetricData body of 1,000 datums is
//! ~10,000 CBOR items; the tree and its conversion were a tenth of the
//! request's cost).
//!
//! The rules are the reference's: tag 1 (epoch seconds) and every other tag
//! → what it wraps, a byte string → base64 text, an integer outside `i64`
//! → a float, a bignum beyond 64 bits → base64 of its magnitude's bytes (as
//! the reference sees it: a tag around a byte string); a NaN or infinite
//! float or a map key that is not text is a `SerializationException` with
//! the reference's message. A body that is not valid CBOR is refused first
//! (the reference decodes the whole body before converting); of several
//! conversion errors, the first in document order is answered.

use crate::AwsError;
use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The awsJson input of an rpcv2Cbor body (an empty body is an empty map):
/// the common form read directly ([`super::cbor_direct`]), anything else
/// through ciborium's decoder.
pub fn cbor_body_to_json(body: &[u8]) -> Result<Value, AwsError> {
    if let Some(v) = super::cbor_direct::read(body) {
        return Ok(v);
    }
    general(body)
}

/// [`cbor_body_to_json`] through ciborium's decoder, for every body.
fn general(body: &[u8]) -> Result<Value, AwsError> {
    let Converted(out) = crate::cbor::decode(body)?;
    out.map_err(AwsError::serialization)
}

/// The body converted, or the first conversion error (a body that does not
/// decode is the decoder's error instead).
struct Converted(Result<Value, String>);

impl<'de> de::Deserialize<'de> for Converted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let error = RefCell::new(None);
        let value = Item { error: &error }.deserialize(d)?;
        Ok(Converted(match error.into_inner() {
            Some(message) => Err(message),
            None => Ok(value),
        }))
    }
}

/// One CBOR item: decoded to the end whatever it holds, its first
/// conversion error recorded (the value built then does not matter).
#[derive(Clone, Copy)]
struct Item<'e> {
    error: &'e RefCell<Option<String>>,
}

impl Item<'_> {
    fn fail(&self, message: String) -> Value {
        self.error.borrow_mut().get_or_insert(message);
        Value::Null
    }

    fn integer(&self, i: i128) -> Value {
        match i64::try_from(i) {
            Ok(i) => Value::from(i),
            Err(_) => self.float(i as f64),
        }
    }

    fn float(&self, f: f64) -> Value {
        match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => self.fail(format!("{f} is not a number the API takes")),
        }
    }

    /// A bignum beyond ciborium's integers, as the reference reads its tag:
    /// the base64 of the magnitude's big-endian bytes, leading zeros cut.
    fn bignum(raw: u128) -> Value {
        let bytes = raw.to_be_bytes();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Value::String(B64.encode(&bytes[start..]))
    }
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// ciborium's integers: −2⁶⁴ ..= 2⁶⁴ − 1.
const CBOR_INT_MIN: i128 = -(1i128 << 64);
const CBOR_INT_MAX: i128 = u64::MAX as i128;

impl<'de> Visitor<'de> for Item<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a valid CBOR item")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(self.integer(i128::from(v)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(match v {
            CBOR_INT_MIN..=CBOR_INT_MAX => self.integer(v),
            _ if v < 0 => Self::bignum(v as u128 ^ !0),
            _ => Self::bignum(v as u128),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(match u64::try_from(v) {
            Ok(v) => self.integer(i128::from(v)),
            Err(_) => Self::bignum(v),
        })
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Value, E> {
        Ok(self.float(f64::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(self.float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(B64.encode(v)))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            // The reference checks a key before converting its value.
            let key = key.unwrap_or_else(|| {
                self.fail("A map key in the request is not text".into());
                String::new()
            });
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    /// A tag (ciborium hands it over as an enum's tuple variant): what it wraps.
    fn visit_enum<A: de::EnumAccess<'de>>(self, tagged: A) -> Result<Value, A::Error> {
        use de::VariantAccess;
        let (_, wrapped): (de::IgnoredAny, _) = tagged.variant()?;
        wrapped.tuple_variant(2, Tagged(self))
    }
}

/// A tag's number and the item it wraps.
struct Tagged<'e>(Item<'e>);

impl<'de> Visitor<'de> for Tagged<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tagged CBOR item")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let _tag: u64 = seq.next_element()?.ok_or_else(|| de::Error::custom("expected tag"))?;
        seq.next_element_seed(self.0)?
            .ok_or_else(|| de::Error::custom("expected val"))
    }
}

/// A map key: its text, or None for any other item (a tag around text
/// included, as the reference refuses every key but a text one), which is
/// decoded all the same (what it holds is not converted: its own
/// conversion errors do not count).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Decodes a key that is not text with a scratch error record.
fn skipped<T, E>(decode: impl FnOnce(Item<'_>) -> Result<T, E>) -> Result<Option<String>, E> {
    let scratch = RefCell::new(None);
    decode(Item { error: &scratch }).map(|_| None)
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a valid CBOR item")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Option<String>, E> {
        Ok(Some(v))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        skipped(|item| d.deserialize_any(item))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        skipped(|item| d.deserialize_any(item))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<String>, A::Error> {
        skipped(|item| item.visit_seq(seq))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<String>, A::Error> {
        skipped(|item| item.visit_map(map))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, tagged: A) -> Result<Option<String>, A::Error> {
        skipped(|item| item.visit_enum(tagged))
    }
}

#[cfg(test)]
#[path = "cbor_input_tests.rs"]
mod tests;
