use super::*;
use crate::validate::{ErrorStyle, Member, Operation, Shape};
use serde_json::json;

const fn shape(name: &'static str, kind: Kind) -> Shape {
    Shape {
        name,
        kind,
        min: None,
        max: None,
        pattern: None,
    }
}

// 0: the input/output structure; 1: string; 2: timestamp; 3: double;
// 4: list of 5; 5: a datum structure; 6: integer; 7: blob; 8: map 1 → 3; 9: list of 2
static SHAPES: &[Shape] = &[
    shape(
        "Top",
        Kind::Structure(&[
            Member {
                name: "Name",
                shape: 1,
                required: false,
            },
            Member {
                name: "When",
                shape: 2,
                required: false,
            },
            Member {
                name: "Data",
                shape: 4,
                required: false,
            },
            Member {
                name: "Count",
                shape: 6,
                required: false,
            },
            Member {
                name: "Blob",
                shape: 7,
                required: false,
            },
            Member {
                name: "Stats",
                shape: 8,
                required: false,
            },
            Member {
                name: "Times",
                shape: 9,
                required: false,
            },
        ]),
    ),
    shape("S", Kind::String),
    shape("T", Kind::Timestamp),
    shape("D", Kind::Double),
    shape("L", Kind::List(5)),
    shape(
        "Datum",
        Kind::Structure(&[
            Member {
                name: "Value",
                shape: 3,
                required: false,
            },
            Member {
                name: "Dims",
                shape: 4,
                required: false,
            },
        ]),
    ),
    shape("I", Kind::Integer),
    shape("B", Kind::Blob),
    shape("M", Kind::Map(1, 3)),
    shape("TL", Kind::List(2)),
];

static MODEL: ServiceModel = ServiceModel {
    operations: &[Operation {
        name: "Op",
        input: Some(0),
    }],
    shapes: SHAPES,
    style: ErrorStyle::Coral {
        code: "InvalidParameterValue",
    },
    left_to_handler: &[],
    extensions: &[],
};

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn cbor_input_reads_as_awsjson() {
    let cbor = Cbor::Map(vec![
        (
            Cbor::Text("When".into()),
            Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000.into()))),
        ),
        (Cbor::Text("Half".into()), Cbor::Tag(1, Box::new(Cbor::Float(1.5)))),
        (Cbor::Text("Blob".into()), Cbor::Bytes(b"hi".to_vec())),
        (
            Cbor::Text("List".into()),
            Cbor::Array(vec![Cbor::Bool(true), Cbor::Null]),
        ),
    ]);
    assert_eq!(
        cbor_to_json(cbor).unwrap(),
        json!({"When": 1_700_000_000, "Half": 1.5, "Blob": "aGk=", "List": [true, null]})
    );
    let e = cbor_to_json(Cbor::Float(f64::NAN)).unwrap_err();
    assert_eq!(e.code, "SerializationException");
    let e = cbor_to_json(Cbor::Map(vec![(Cbor::Integer(1.into()), Cbor::Null)])).unwrap_err();
    assert_eq!(e.message, "A map key in the request is not text");
}

#[test]
fn cbor_output_tags_timestamps_and_blobs_by_the_model() {
    let out = json!({"When": 1_700_000_000, "Blob": "aGk=", "Name": "n", "Times": [1.5],
                     "Data": [{"Value": 2}], "Stats": {"p99": 3}, "Other": 5});
    let cbor = json_to_cbor(&MODEL, Some(0), &out);
    let Cbor::Map(entries) = cbor else { panic!("a map") };
    let get = |k: &str| {
        entries
            .iter()
            .find(|(n, _)| n == &Cbor::Text(k.into()))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get("When"), Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000.into()))));
    assert_eq!(get("Blob"), Cbor::Bytes(b"hi".to_vec()));
    assert_eq!(get("Name"), Cbor::Text("n".into()));
    assert_eq!(
        get("Times"),
        Cbor::Array(vec![Cbor::Tag(1, Box::new(Cbor::Float(1.5)))])
    );
    // A double stays a float even when it is whole.
    assert_eq!(
        get("Data"),
        Cbor::Array(vec![Cbor::Map(vec![(Cbor::Text("Value".into()), Cbor::Float(2.0))])])
    );
    assert_eq!(
        get("Stats"),
        Cbor::Map(vec![(Cbor::Text("p99".into()), Cbor::Float(3.0))])
    );
    // A member the model does not know keeps its natural form.
    assert_eq!(get("Other"), Cbor::Integer(5.into()));
}

#[test]
fn form_reads_through_the_input_shape() {
    let params = form(&[
        ("Name", "cpu"),
        ("When", "2023-11-14T22:13:20Z"),
        ("Count", "7"),
        ("Data.member.2.Value", "2.5"),
        ("Data.member.10.Value", "10"),
        ("Data.member.1.Value", "1"),
        ("Data.member.1.Dims.member.1.Value", "9"),
        ("Stats.entry.1.key", "p50"),
        ("Stats.entry.1.value", "4"),
        ("Times", ""),
        ("Unknown", "x"),
    ]);
    let json = form_to_json(&MODEL, 0, &params, "InvalidParameterValue").unwrap();
    assert_eq!(
        json,
        json!({"Name": "cpu", "When": 1_700_000_000.0, "Data": [
            {"Value": 1.0, "Dims": [{"Value": 9.0}]}, {"Value": 2.5}, {"Value": 10.0}],
            "Count": 7, "Stats": {"p50": 4.0}, "Times": []})
    );
    assert_eq!(form_to_json(&MODEL, 0, &form(&[]), "X").unwrap(), json!({}));
    let e = form_to_json(&MODEL, 0, &form(&[("Count", "many")]), "InvalidParameterValue").unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    assert_eq!(e.message, "Value 'many' for parameter Count is not a valid integer.");
    let e = form_to_json(&MODEL, 0, &form(&[("When", "yesterday")]), "InvalidParameterValue").unwrap_err();
    assert_eq!(
        e.message,
        "Value 'yesterday' for parameter When is not a valid timestamp."
    );
}

#[test]
fn timestamps_read_and_write_as_iso8601() {
    assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
    assert_eq!(parse_timestamp("2023-11-14T22:13:20.500Z"), Some(1_700_000_000.5));
    assert_eq!(parse_timestamp("2023-11-14T22:13:20"), Some(1_700_000_000.0));
    assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000.0));
    assert_eq!(parse_timestamp("soon"), None);
    assert_eq!(format_timestamp(1_700_000_000.0), "2023-11-14T22:13:20Z");
    assert_eq!(format_timestamp(1_700_000_000.25), "2023-11-14T22:13:20.250Z");
}

#[test]
fn xml_tree_has_member_lists_entries_and_iso_timestamps() {
    let out = json!({"Data": [{"Value": 1.5}], "When": 1_700_000_000, "Stats": {"p50": 4.0},
                     "Times": [], "Name": null});
    let tree = json_to_xml_tree(&MODEL, Some(0), &out);
    assert_eq!(
        tree,
        json!({"When": "2023-11-14T22:13:20Z", "Data": {"member": [{"Value": 1.5}]},
               "Stats": {"entry": [{"key": "p50", "value": 4.0}]}, "Times": ""})
    );
    let xml = crate::query::QueryResult::of("Op", &tree)
        .unwrap()
        .as_xml("Op")
        .unwrap();
    assert_eq!(
        xml,
        "<OpResult><When>2023-11-14T22:13:20Z</When><Data><member><Value>1.5</Value></member></Data>\
         <Stats><entry><key>p50</key><value>4</value></entry></Stats><Times/></OpResult>"
    );
}

#[test]
fn query_compatible_errors_name_their_shape() {
    static WIRE: crate::bridge::WireModel = crate::bridge::WireModel {
        model: &MODEL,
        outputs: &[],
        cbor_service_name: "S",
        query_version: "1",
        xml_namespace: "urn:s",
        invalid_value_code: "InvalidParameterValue",
        iam_prefix: "s",
        errors: &[
            ("InvalidParameterValue", "InvalidParameterValueException"),
            ("MissingParameter", "MissingRequiredParameterException"),
        ],
    };
    let e = WIRE.query_compatible(AwsError::new("MissingParameter", 400, "m"));
    assert_eq!(e.json_type(), "MissingRequiredParameterException");
    assert_eq!(e.code, "MissingParameter");
    assert_eq!(e.query_error_header().as_deref(), Some("MissingParameter;Sender"));
    let other = WIRE.query_compatible(AwsError::serialization("x"));
    assert_eq!(other.json_type(), "SerializationException");
    assert_eq!(other.query_error_header(), None);
    let body: serde_json::Value = serde_json::from_slice(&e.to_json_body()).unwrap();
    assert_eq!(
        body,
        json!({"__type": "MissingRequiredParameterException", "message": "m"})
    );
}
