//! The rpcv2Cbor codec: paths, round trips, timestamps, blobs, errors.

use super::*;
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct PutMetricData {
    namespace: String,
    #[serde(default)]
    metric_data: Vec<Datum>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    metric_name: String,
    value: f64,
    timestamp: Option<EpochSeconds>,
    #[serde(with = "serde_bytes_like", default)]
    blob: Vec<u8>,
    dimensions: BTreeMap<String, String>,
}

/// A blob as a CBOR byte string.
mod serde_bytes_like {
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let v: ciborium::Value = serde::Deserialize::deserialize(d)?;
        v.into_bytes()
            .map_err(|_| serde::de::Error::custom("not a byte string"))
    }
}

#[test]
fn routes_from_the_path() {
    assert_eq!(
        route("/service/GraniteServiceVersion20100801/operation/PutMetricData"),
        Some(("GraniteServiceVersion20100801", "PutMetricData"))
    );
    assert_eq!(route("/prefix/service/S/operation/Op/"), Some(("S", "Op")));
    assert_eq!(route("/service/S/op/Op"), None);
    assert_eq!(route("/"), None);
    assert_eq!(route("/service//operation/Op"), None);
}

#[test]
fn round_trips_an_input() {
    let input = PutMetricData {
        namespace: "App".into(),
        metric_data: vec![Datum {
            metric_name: "Latency".into(),
            value: 1.5,
            timestamp: Some(EpochSeconds(1_700_000_000.0)),
            blob: vec![0, 1, 255],
            dimensions: BTreeMap::from([("Host".to_string(), "a".to_string())]),
        }],
    };
    let bytes = encode(&input).expect("encodes");
    let back: PutMetricData = decode(&bytes).expect("decodes");
    assert_eq!(back, input);
    // On the wire: the timestamp is tag 1 around an integer, the blob a byte string.
    let v: ciborium::Value = decode(&bytes).expect("a value");
    let datum = &v.as_map().expect("a map")[1].1.as_array().expect("a list")[0];
    let field = |name: &str| {
        datum
            .as_map()
            .expect("a map")
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v.clone())
            .expect("the field")
    };
    assert_eq!(
        field("Timestamp"),
        ciborium::Value::Tag(1, Box::new(ciborium::Value::Integer(1_700_000_000.into())))
    );
    assert_eq!(field("Blob"), ciborium::Value::Bytes(vec![0, 1, 255]));
}

#[test]
fn fractional_timestamps_and_empty_bodies() {
    let t = EpochSeconds(1.25);
    let back: EpochSeconds = decode(&encode(&t).expect("encodes")).expect("decodes");
    assert_eq!(back, t);
    #[derive(Deserialize, Debug, PartialEq, Default)]
    struct Empty {
        #[serde(default)]
        next_token: Option<String>,
    }
    assert_eq!(decode::<Empty>(b"").expect("an empty input"), Empty::default());
    let e = decode::<PutMetricData>(&[0xff, 0x00]).unwrap_err();
    assert_eq!((e.code.as_ref(), e.status), ("SerializationException", 400));
    let e = decode::<PutMetricData>(&encode(&BTreeMap::<String, String>::new()).expect("encodes")).unwrap_err();
    assert_eq!(e.code, "SerializationException", "a missing required member");
}

#[test]
fn errors_carry_type_and_message() {
    let body = AwsError::new("ResourceNotFound", 400, "no such alarm").to_cbor_body();
    let v: BTreeMap<String, String> = decode(&body).expect("a map of text");
    assert_eq!(v.len(), 2);
    assert_eq!(v["__type"], "ResourceNotFound");
    assert_eq!(v["message"], "no such alarm");
    let e = unknown_operation("Nope", "Op");
    assert_eq!((e.code.as_ref(), e.status), ("UnknownOperationException", 404));
}
