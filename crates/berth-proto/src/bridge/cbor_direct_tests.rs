use super::*;
use crate::bridge::convert::cbor_to_json;
use ciborium::Value as Cbor;

fn encoded(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// The reference: decoded as a `ciborium::Value`, then converted.
fn reference(body: &[u8]) -> Option<Value> {
    let raw: Cbor = crate::cbor::decode(body).ok()?;
    cbor_to_json(raw).ok()
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.into())
}

/// Read here, and as the reference reads it.
fn reads(body: &[u8]) {
    let direct = read(body).unwrap_or_else(|| panic!("not read directly: {body:02x?}"));
    assert_eq!(Some(direct), reference(body), "{body:02x?}");
}

/// Left to the general reader.
fn left(body: &[u8]) {
    assert_eq!(read(body), None, "{body:02x?}");
}

#[test]
fn the_common_form_reads_as_the_reference_reads_it() {
    let datum = |i: i64| {
        Cbor::Map(vec![
            (text("MetricName"), text(&format!("m{i}é"))),
            (
                text("Dimensions"),
                Cbor::Array(vec![Cbor::Map(vec![
                    (text("Name"), text("Host")),
                    (text("Value"), text("h")),
                ])]),
            ),
            (
                text("Timestamp"),
                Cbor::Tag(1, Box::new(Cbor::Integer((1_700_000_000 + i).into()))),
            ),
            (text("Float time"), Cbor::Tag(1, Box::new(Cbor::Float(1.7e9 + 0.25)))),
            (text("Value"), Cbor::Float(i as f64 * 0.1)),
            (text("Unit"), text("Count")),
            (text("Blob"), Cbor::Bytes(vec![0, 1, 2, 255])),
            (
                text("Flags"),
                Cbor::Array(vec![Cbor::Bool(true), Cbor::Bool(false), Cbor::Null]),
            ),
            (text("Neg"), Cbor::Integer((-i - 1).into())),
        ])
    };
    let body = Cbor::Map(vec![
        (text("Namespace"), text("App")),
        (text("MetricData"), Cbor::Array((0..300).map(datum).collect())),
        (text("Empty"), Cbor::Map(vec![])),
        (text("Long"), text(&"x".repeat(70_000))),
    ]);
    reads(&encoded(&body));
    for i in [
        0i128,
        23,
        24,
        255,
        256,
        65_536,
        i64::MAX as i128,
        i64::MIN as i128,
        u64::MAX as i128,
        -(1i128 << 64),
    ] {
        reads(&encoded(&Cbor::Map(vec![(
            text("I"),
            Cbor::Integer(i.try_into().unwrap()),
        )])));
    }
    reads(&encoded(&Cbor::Array(vec![text("top"), Cbor::Float(2.5)])));
    // Duplicate keys: the last value, at the first key's place.
    reads(&encoded(&Cbor::Map(vec![
        (text("Dup"), Cbor::Integer(1.into())),
        (text("Other"), Cbor::Integer(2.into())),
        (text("Dup"), Cbor::Integer(3.into())),
    ])));
}

#[test]
fn floats_of_every_width_and_lengths_in_every_form_read_exactly() {
    // {"F": half 1.5}, half −0, a subnormal half, single 0.1, double 0.1.
    reads(&[0xa1, 0x61, b'F', 0xf9, 0x3e, 0x00]);
    reads(&[0xa1, 0x61, b'F', 0xf9, 0x80, 0x00]);
    reads(&[0xa1, 0x61, b'F', 0xf9, 0x00, 0x01]);
    reads(&[0xa1, 0x61, b'F', 0xf9, 0x7b, 0xff]);
    reads(&[0xa1, 0x61, b'F', 0xfa, 0x3d, 0xcc, 0xcc, 0xcd]);
    reads(&[0xa1, 0x61, b'F', 0xfb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]);
    // Lengths and integers not in their shortest form; an indefinite array.
    reads(&[0xb8, 0x01, 0x78, 0x01, b'K', 0x19, 0x00, 0x05]);
    reads(&[0xa1, 0x61, b'A', 0x9f, 0x01, 0x02, 0xff]);
}

#[test]
fn anything_else_is_left_to_the_general_reader() {
    let nan = encoded(&Cbor::Map(vec![(text("N"), Cbor::Float(f64::NAN))]));
    left(&nan);
    left(&[0xa1, 0x61, b'F', 0xf9, 0x7c, 0x00]); // half infinity
    left(&encoded(&Cbor::Map(vec![(Cbor::Integer(1.into()), Cbor::Null)])));
    left(&encoded(&Cbor::Map(vec![(
        Cbor::Tag(1, Box::new(text("k"))),
        Cbor::Null,
    )])));
    left(&[0xc2, 0x41, 0x01]); // a bignum
    left(&[0xa1, 0x61, b'U', 0xf7]); // undefined
    left(&[0xa1, 0x61, b'S', 0xf8, 0x14]); // false in the two-byte form
    left(&[0xbf, 0x61, b'A', 0x01, 0xff]); // an indefinite map
    left(&[0xa1, 0x61, b'T', 0x7f, 0x61, b'a', 0xff]); // an indefinite text
    left(&[0xa1, 0x61, b'A', 0x01, 0x00]); // a byte after the item
    left(&[0xa2, 0x61, b'A', 0x01]); // cut short
    left(&[0xa1, 0x62, 0xff, 0xfe, 0x01]); // a key that is not UTF-8
    left(&[0x9f, 0x01]); // an indefinite array without its break
    left(&[0x1c]); // a reserved length
    left(b"");
    let mut deep = vec![0x81; 100];
    deep.push(0x01);
    left(&deep);
    left(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // a length beyond the body
}
