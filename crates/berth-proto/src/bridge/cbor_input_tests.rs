use super::*;
use crate::bridge::convert::cbor_to_json;
use ciborium::Value as Cbor;

fn encoded(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// What the reference answers for a body: decoded as a `ciborium::Value`,
/// then converted.
fn reference(body: &[u8]) -> Result<Value, AwsError> {
    let raw: Cbor = crate::cbor::decode(body)?;
    cbor_to_json(raw)
}

fn same_answer(body: &[u8]) {
    match (cbor_body_to_json(body), reference(body)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{body:02x?}"),
        (Err(a), Err(b)) => {
            assert_eq!((a.code, a.status), (b.code, b.status), "{body:02x?}");
            assert_eq!(a.message, b.message, "{body:02x?}");
        }
        (a, b) => panic!("{body:02x?}: one pass {a:?}, reference {b:?}"),
    }
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.into())
}

fn int(i: i128) -> Cbor {
    Cbor::Integer(i.try_into().unwrap())
}

fn map(entries: Vec<(Cbor, Cbor)>) -> Cbor {
    Cbor::Map(entries)
}

/// A PutMetricData body as botocore writes it: timestamps tag 1, values
/// floats, dimensions lists of maps, a statistic set, counts as integers.
fn put_metric_data() -> Cbor {
    let datum = |i: i128| {
        map(vec![
            (text("MetricName"), text(&format!("m{i}"))),
            (
                text("Dimensions"),
                Cbor::Array(vec![map(vec![
                    (text("Name"), text("Host")),
                    (text("Value"), text("h")),
                ])]),
            ),
            (text("Timestamp"), Cbor::Tag(1, Box::new(int(1_700_000_000 + i)))),
            (text("Value"), Cbor::Float(i as f64 + 0.5)),
            (text("Unit"), text("Count")),
            (text("StorageResolution"), int(60)),
            (
                text("StatisticValues"),
                map(vec![
                    (text("SampleCount"), Cbor::Float(3.0)),
                    (text("Sum"), Cbor::Float(-1.25)),
                ]),
            ),
            (text("Values"), Cbor::Array(vec![Cbor::Float(1.0), Cbor::Float(2.5)])),
        ])
    };
    map(vec![
        (text("Namespace"), text("App/é")),
        (text("MetricData"), Cbor::Array((0..50).map(datum).collect())),
    ])
}

#[test]
fn reads_what_the_reference_reads() {
    let long = "x".repeat(5_000); // beyond ciborium's 4 KiB scratch: read as an owned string
    let cases = vec![
        put_metric_data(),
        map(vec![]),
        map(vec![(text("Float"), Cbor::Tag(1, Box::new(Cbor::Float(1.7e9 + 0.25))))]),
        map(vec![(
            text("Nested tags"),
            Cbor::Tag(55_799, Box::new(Cbor::Tag(1, Box::new(int(5))))),
        )]),
        map(vec![(text("Blob"), Cbor::Bytes(b"hi there".to_vec()))]),
        map(vec![
            (text("Long"), text(&long)),
            (text("LongBlob"), Cbor::Bytes(long.clone().into_bytes())),
        ]),
        map(vec![
            (text("Null"), Cbor::Null),
            (text("Bool"), Cbor::Bool(false)),
            (text("Neg"), int(-7)),
            (text("I64 max"), int(i64::MAX as i128)),
            (text("I64 min"), int(i64::MIN as i128)),
            (text("Beyond i64"), int(u64::MAX as i128)),
            (text("Below i64"), int(-(1i128 << 64))),
        ]),
        map(vec![
            (text("Dup"), int(1)),
            (text("Other"), int(2)),
            (text("Dup"), int(3)),
        ]),
        Cbor::Array(vec![int(1), text("two")]),
        text("a top-level string"),
        int(3),
    ];
    for case in &cases {
        same_answer(&encoded(case));
    }
    same_answer(b"");
}

#[test]
fn refuses_what_the_reference_refuses_with_its_message() {
    let cases = vec![
        map(vec![(text("NaN"), Cbor::Float(f64::NAN))]),
        map(vec![(text("Inf"), Cbor::Array(vec![Cbor::Float(f64::NEG_INFINITY)]))]),
        map(vec![(int(1), Cbor::Null)]),
        map(vec![(Cbor::Bytes(b"k".to_vec()), Cbor::Null)]),
        map(vec![(Cbor::Tag(1, Box::new(text("k"))), Cbor::Null)]),
        map(vec![(Cbor::Array(vec![Cbor::Float(f64::NAN)]), Cbor::Null)]),
        map(vec![(map(vec![]), Cbor::Null)]),
        // The first error in document order is the answer.
        map(vec![(text("A"), Cbor::Float(f64::INFINITY)), (int(2), Cbor::Null)]),
        map(vec![(int(2), Cbor::Float(f64::INFINITY))]),
        map(vec![
            (text("A"), map(vec![(Cbor::Bool(true), int(1))])),
            (text("B"), Cbor::Float(f64::NAN)),
        ]),
    ];
    for case in &cases {
        let body = encoded(case);
        assert!(reference(&body).is_err(), "{case:?}");
        same_answer(&body);
    }
}

#[test]
fn bignums_and_bodies_that_do_not_decode_answer_as_the_reference() {
    let bodies: Vec<Vec<u8>> = vec![
        // Bignums: tag 2/3 around up to 16 bytes (ciborium's integers and beyond).
        vec![0xa1, 0x61, b'b', 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0xa1, 0x61, b'b', 0xc3, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![
            0xa1, 0x61, b'b', 0xc2, 0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        vec![
            0xa1, 0x61, b'b', 0xc3, 0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        vec![0xa1, 0x61, b'b', 0xc2, 0x42, 0, 5],
        // A half-precision float and undefined.
        vec![0xa2, 0x61, b'h', 0xf9, 0x3e, 0x00, 0x61, b'u', 0xf7],
        // Indefinite-length text, array and map.
        vec![0xbf, 0x7f, 0x61, b'a', 0x61, b'b', 0xff, 0x9f, 0x01, 0xff, 0xff],
        // Truncated; a break where an item belongs; an unknown simple value;
        // text that is not UTF-8; trailing bytes after the item.
        vec![0xa1, 0x61, b'a'],
        vec![0xa1, 0x61, b'a', 0xff],
        vec![0xa1, 0x61, b'a', 0xf0],
        vec![0xa1, 0x61, b'a', 0x62, 0xff, 0xfe],
        vec![0xa0, 0x01],
        // A syntax error after a conversion error: the decoding's answer.
        vec![0xa2, 0x01, 0xf6, 0x61, b'a'],
    ];
    for body in &bodies {
        same_answer(body);
    }
}
