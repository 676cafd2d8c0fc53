//! PutMetricData's awsJson body read straight into its typed input
//! ([`berth_proto::operation::Operation::read_body`]): one pass of
//! serde_json's parser, no `Value` (whose `IndexMap`s were most of the
//! decoding's cost), no model walk over it, no second decoding.
//!
//! The reader accepts only an input that passes every constraint of the
//! model (`PutMetricDataInput` in [`crate::model`]: required members,
//! lengths, the `Namespace` pattern, the `StandardUnit` enum, the 32-bit
//! `StorageResolution` of at least 1) and holds nothing the model would
//! clean away (an unknown member, a null, a member given twice). It also
//! leaves `EntityMetricData`, `StrictEntityValidation`, a `Timestamp` or a
//! number sent as a string and any other JSON type a member does not take
//! to the general path. Leaving means answering None: the listener then
//! parses, checks and decodes the body as before, and every error is the
//! one it always gave. What is accepted decodes to exactly the input the
//! general path decodes (numbers and strings come from the same parser),
//! and its [`Summary`] counts the length the general path's `Value` has as
//! compact JSON, for the audit trail.
//!
//! CloudWatch's own rules (at most 1,000 datums, the datapoints' ages,
//! one of `Value`, `StatisticValues` and `Values`) stay with the handler
//! ([`crate::rules`]), which checks the typed input either way.

use crate::inputs::{Dimension, MetricDatum, PutMetricDataInput, StatisticSet};
use berth_proto::direct::{Summary, Top};
use berth_proto::json_len::{f64_len, i64_len, str_len, u64_len};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

/// `DeserializeSeed` for seeds that are their own [`Visitor`]: the
/// deserializer is asked for what `$how` names (a map, a string, any value).
macro_rules! seeds_visit_themselves {
    ($($seed:ident => $value:ty, $how:ident;)+) => {$(
        impl<'de> DeserializeSeed<'de> for $seed<'_> {
            type Value = $value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<$value, D::Error> {
                d.$how(self)
            }
        }
    )+};
}

seeds_visit_themselves! {
    Text => String, deserialize_str;
    Double => f64, deserialize_any;
    Resolution => i64, deserialize_any;
    Unit => String, deserialize_str;
    Datum => MetricDatum, deserialize_map;
    DimensionSeed => Dimension, deserialize_map;
    Statistics => StatisticSet, deserialize_map;
}

/// Every member name the reader takes, at any depth (for the audit trail:
/// none of them is one it hides).
pub(crate) const NAMES: &[&str] = &[
    "Namespace",
    "MetricData",
    "MetricName",
    "Dimensions",
    "Name",
    "Value",
    "Timestamp",
    "StatisticValues",
    "SampleCount",
    "Sum",
    "Minimum",
    "Maximum",
    "Values",
    "Counts",
    "Unit",
    "StorageResolution",
];

const TOP: &[&str] = &["Namespace", "MetricData"];
const DATUM: &[&str] = &[
    "MetricName",
    "Dimensions",
    "Timestamp",
    "Value",
    "StatisticValues",
    "Values",
    "Counts",
    "Unit",
    "StorageResolution",
];
const DIMENSION: &[&str] = &["Name", "Value"];
const STATISTIC_SET: &[&str] = &["SampleCount", "Sum", "Minimum", "Maximum"];

/// The model's bounds the reader checks, in characters (`min`, `max`).
pub(crate) const NAMESPACE_LEN: (usize, usize) = (1, 255);
pub(crate) const METRIC_NAME_LEN: (usize, usize) = (1, 255);
pub(crate) const DIMENSION_NAME_LEN: (usize, usize) = (1, 255);
pub(crate) const DIMENSION_VALUE_LEN: (usize, usize) = (1, 1024);
pub(crate) const MAX_DIMENSIONS: usize = 30;

/// PutMetricData's input and its summary, when `body` is an input the
/// reader fully checks; None sends it down the general path.
pub(crate) fn read(body: &[u8]) -> Option<(PutMetricDataInput, Summary)> {
    // The body's UTF-8 checked once, not string by string as the parser would.
    let mut de = serde_json::Deserializer::from_str(std::str::from_utf8(body).ok()?);
    let len = Cell::new(0);
    // Room for the datums a body of this size can hold (one is 18 bytes at
    // the least, an SDK's usually 100–200): the list is not regrown as it fills.
    let datums = (body.len() / 64).min(crate::rules::MAX_METRIC_DATA);
    let (input, top) = de.deserialize_map(InputVisitor { len: &len, datums }).ok()?;
    de.end().ok()?;
    Some((
        input,
        Summary {
            json_len: len.get(),
            top,
            names: NAMES,
        },
    ))
}

/// Why the reader leaves a body (the message is never shown: the general
/// path answers).
fn leave<E: de::Error>() -> E {
    E::custom("left to the general path")
}

/// The values of the model's `StandardUnit` enum.
fn units() -> &'static [&'static str] {
    static UNITS: OnceLock<&'static [&'static str]> = OnceLock::new();
    UNITS.get_or_init(|| {
        crate::model::MODEL
            .shapes
            .iter()
            .find(|s| s.name == "StandardUnit")
            .and_then(|s| match s.kind {
                berth_proto::validate::Kind::Enum(values) => Some(values),
                _ => None,
            })
            .unwrap_or(&[])
    })
}

/// Adds `n` bytes to the JSON length.
fn add(len: &Cell<usize>, n: usize) {
    len.set(len.get() + n);
}

/// Whether `s` is within `(min, max)` characters. A character is one to
/// four bytes: they are counted only when the bytes do not answer.
fn length_ok(s: &str, (min, max): (usize, usize)) -> bool {
    let chars = || s.chars().count();
    (s.len() <= max || chars() <= max) && (s.len() >= 4 * min || chars() >= min)
}

/// The model's `Namespace` pattern, `[^:].*`, on the whole value: not
/// starting with a colon, no line feed after the first character (`.`).
fn namespace_pattern_ok(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c != ':') && !chars.as_str().contains('\n')
}

/// The members of one object, counted into the JSON length as they come:
/// the braces, the commas, each name with its colon; a name given twice
/// or not in `names` leaves the body.
struct Members<'a> {
    names: &'static [&'static str],
    seen: u32,
    len: &'a Cell<usize>,
}

impl<'a> Members<'a> {
    fn new(names: &'static [&'static str], len: &'a Cell<usize>) -> Self {
        add(len, 2);
        Self { names, seen: 0, len }
    }

    /// The next member's index in `names`, or None at the end.
    fn next<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<Option<usize>, A::Error> {
        let Some(i) = map.next_key_seed(Name(self.names))? else {
            return Ok(None);
        };
        if self.seen & (1 << i) != 0 {
            return Err(leave());
        }
        if self.seen != 0 {
            add(self.len, 1);
        }
        self.seen |= 1 << i;
        // A name needs no escape (`body_tests.rs`): its quotes and the colon.
        add(self.len, self.names[i].len() + 3);
        Ok(Some(i))
    }

    fn has(&self, i: usize) -> bool {
        self.seen & (1 << i) != 0
    }
}

/// A member name, as its index in the names an object may hold.
struct Name(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Name {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Name {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        // By length first: most names are then not compared.
        self.0
            .iter()
            .position(|n| n.len() == v.len() && *n == v)
            .ok_or_else(leave)
    }
}

/// The top-level object; room for `datums` datums.
struct InputVisitor<'a> {
    len: &'a Cell<usize>,
    datums: usize,
}

impl<'de> Visitor<'de> for InputVisitor<'_> {
    type Value = (PutMetricDataInput, Vec<(&'static str, Top)>);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a PutMetricData input")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut m = Members::new(TOP, self.len);
        let (mut namespace, mut metric_data) = (None, Vec::new());
        let mut top = Vec::with_capacity(2);
        while let Some(i) = m.next(&mut map)? {
            match i {
                0 => {
                    let s = map.next_value_seed(Text {
                        len: m.len,
                        bounds: NAMESPACE_LEN,
                    })?;
                    if !namespace_pattern_ok(&s) {
                        return Err(leave());
                    }
                    top.push(("Namespace", Top::Text(s.clone())));
                    namespace = Some(s);
                }
                _ => {
                    metric_data = map.next_value_seed(List {
                        len: m.len,
                        item: Datum { len: m.len },
                        room: self.datums,
                    })?;
                    top.push(("MetricData", Top::List(metric_data.len())));
                }
            }
        }
        let namespace = namespace.ok_or_else(leave)?;
        Ok((
            PutMetricDataInput {
                namespace,
                metric_data,
                entity_metric_data: Vec::new(),
            },
            top,
        ))
    }
}

/// A JSON array, each item read by a copy of `item`, with room for `room`.
struct List<'a, S> {
    len: &'a Cell<usize>,
    item: S,
    room: usize,
}

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for List<'_, S> {
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for List<'_, S> {
    type Value = Vec<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        add(self.len, 2);
        let mut out = Vec::with_capacity(self.room);
        while let Some(v) = seq.next_element_seed(self.item)? {
            out.push(v);
        }
        add(self.len, out.len().saturating_sub(1));
        Ok(out)
    }
}

/// A string within the model's length bounds.
struct Text<'a> {
    len: &'a Cell<usize>,
    bounds: (usize, usize),
}

impl Visitor<'_> for Text<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if !length_ok(v, self.bounds) {
            return Err(leave());
        }
        add(self.len, str_len(v));
        Ok(v.to_owned())
    }
    /// A string the body holds without an escape has nothing to escape
    /// either (JSON text holds no raw control character): its length and
    /// its quotes.
    fn visit_borrowed_str<E: de::Error>(self, v: &'_ str) -> Result<String, E> {
        if !length_ok(v, self.bounds) {
            return Err(leave());
        }
        add(self.len, v.len() + 2);
        Ok(v.to_owned())
    }
}

/// A number, as a double (`Value`, `Timestamp`, the statistics, `Values`,
/// `Counts`); its length as serde_json writes what it parsed.
#[derive(Clone, Copy)]
struct Double<'a> {
    len: &'a Cell<usize>,
}

impl Visitor<'_> for Double<'_> {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        add(self.len, u64_len(v));
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        add(self.len, i64_len(v));
        Ok(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        add(self.len, f64_len(v));
        Ok(v)
    }
}

/// `StorageResolution`: a 32-bit integer of at least 1.
struct Resolution<'a> {
    len: &'a Cell<usize>,
}

impl Visitor<'_> for Resolution<'_> {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        let v = i32::try_from(v).ok().filter(|v| *v >= 1).ok_or_else(leave)?;
        add(self.len, u64_len(v as u64));
        Ok(i64::from(v))
    }
}

/// `Unit`: one of the model's `StandardUnit` values.
struct Unit<'a> {
    len: &'a Cell<usize>,
}

impl Visitor<'_> for Unit<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a unit")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        let unit = units()
            .iter()
            .find(|u| u.len() == v.len() && **u == v)
            .ok_or_else(leave)?;
        // A unit needs no escape (`body_tests.rs`).
        add(self.len, unit.len() + 2);
        Ok((*unit).to_owned())
    }
}

/// One `MetricDatum`.
#[derive(Clone, Copy)]
struct Datum<'a> {
    len: &'a Cell<usize>,
}

impl<'de> Visitor<'de> for Datum<'_> {
    type Value = MetricDatum;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MetricDatum")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetricDatum, A::Error> {
        let mut m = Members::new(DATUM, self.len);
        let mut d = MetricDatum {
            metric_name: String::new(),
            dimensions: Vec::new(),
            timestamp: None,
            value: None,
            statistic_values: None,
            values: None,
            counts: None,
            unit: None,
            storage_resolution: None,
        };
        while let Some(i) = m.next(&mut map)? {
            let len = m.len;
            match i {
                0 => {
                    d.metric_name = map.next_value_seed(Text {
                        len,
                        bounds: METRIC_NAME_LEN,
                    })?
                }
                1 => {
                    d.dimensions = map.next_value_seed(List {
                        len,
                        item: DimensionSeed { len },
                        room: 0,
                    })?;
                    if d.dimensions.len() > MAX_DIMENSIONS {
                        return Err(leave());
                    }
                }
                2 => d.timestamp = Some(map.next_value_seed(Double { len })?),
                3 => d.value = Some(map.next_value_seed(Double { len })?),
                4 => d.statistic_values = Some(map.next_value_seed(Statistics { len })?),
                5 => {
                    d.values = Some(map.next_value_seed(List {
                        len,
                        item: Double { len },
                        room: 0,
                    })?)
                }
                6 => {
                    d.counts = Some(map.next_value_seed(List {
                        len,
                        item: Double { len },
                        room: 0,
                    })?)
                }
                7 => d.unit = Some(map.next_value_seed(Unit { len })?),
                _ => d.storage_resolution = Some(map.next_value_seed(Resolution { len })?),
            }
        }
        if !m.has(0) {
            return Err(leave());
        }
        Ok(d)
    }
}

/// One `Dimension`: both members required.
#[derive(Clone, Copy)]
struct DimensionSeed<'a> {
    len: &'a Cell<usize>,
}

impl<'de> Visitor<'de> for DimensionSeed<'_> {
    type Value = Dimension;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Dimension")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dimension, A::Error> {
        let mut m = Members::new(DIMENSION, self.len);
        let (mut name, mut value) = (None, None);
        while let Some(i) = m.next(&mut map)? {
            let len = m.len;
            if i == 0 {
                name = Some(map.next_value_seed(Text {
                    len,
                    bounds: DIMENSION_NAME_LEN,
                })?);
            } else {
                value = Some(map.next_value_seed(Text {
                    len,
                    bounds: DIMENSION_VALUE_LEN,
                })?);
            }
        }
        match (name, value) {
            (Some(name), Some(value)) => Ok(Dimension { name, value }),
            _ => Err(leave()),
        }
    }
}

/// `StatisticValues`: all four members required.
struct Statistics<'a> {
    len: &'a Cell<usize>,
}

impl<'de> Visitor<'de> for Statistics<'_> {
    type Value = StatisticSet;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a StatisticSet")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StatisticSet, A::Error> {
        let mut m = Members::new(STATISTIC_SET, self.len);
        let mut v = [0.0; 4];
        while let Some(i) = m.next(&mut map)? {
            v[i] = map.next_value_seed(Double { len: m.len })?;
        }
        if m.seen != 0b1111 {
            return Err(leave());
        }
        Ok(StatisticSet {
            sample_count: v[0],
            sum: v[1],
            minimum: v[2],
            maximum: v[3],
        })
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
