use super::*;
use crate::model::MODEL;
use berth_proto::validate::{Kind, Shape, validate};
use serde_json::{Value, json};

/// What the general path makes of `body`: the typed input (Debug, which
/// tells -0.0 from 0.0) and the cleaned value, or its error.
fn general(body: &[u8]) -> Result<(String, Value), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?;
    if !v.is_object() {
        return Err("not an object".into());
    }
    let v = validate(Some(&MODEL), "PutMetricData", v).map_err(|e| format!("{}: {}", e.code, e.message))?;
    let input: PutMetricDataInput = berth_proto::json::decode(v.clone()).map_err(|e| e.message)?;
    Ok((format!("{input:?}"), v))
}

/// The reader's answer for `body` agrees with the general path: when it
/// reads the body, the same typed input, the length of the cleaned value
/// and its top-level members; when the general path refuses, it leaves.
fn agrees(body: &str) -> bool {
    let fast = read(body.as_bytes());
    match (general(body.as_bytes()), fast) {
        (Ok((typed, v)), Some((input, summary))) => {
            assert_eq!(format!("{input:?}"), typed, "{body}");
            assert_eq!(summary.json_len, v.to_string().len(), "{body}");
            let top: Vec<(&str, Top)> = v
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let t = match v {
                        Value::String(s) => Top::Text(s.clone()),
                        Value::Array(a) => Top::List(a.len()),
                        other => panic!("unexpected top-level {other}"),
                    };
                    (NAMES.iter().copied().find(|n| n == k).unwrap(), t)
                })
                .collect();
            assert_eq!(summary.top, top, "{body}");
            true
        }
        (Err(e), Some(_)) => panic!("the reader took a body the general path refuses ({e}): {body}"),
        (_, None) => false,
    }
}

fn datum(members: &str) -> String {
    format!(r#"{{"Namespace":"App/Web","MetricData":[{{{members}}}]}}"#)
}

#[test]
fn reads_what_sdks_send_as_the_general_path_decodes_it() {
    let read = [
        // botocore's awsJson and the JS SDK v3's forms.
        r#"{"Namespace":"App","MetricData":[{"MetricName":"Load","Dimensions":[{"Name":"Host","Value":"h-1"},{"Name":"Zone","Value":"z0"}],"Timestamp":1765000000,"Value":12.0,"Unit":"Percent"}]}"#,
        r#"{"MetricData":[{"MetricName":"Load","Value":1}],"Namespace":"App"}"#,
        r#" { "Namespace" : "App" , "MetricData" : [ { "MetricName" : "m" , "Value" : -3 } ] } "#,
        // Escapes and unicode, in names, values and member names.
        r#"{"Namespace":"App\/\u0057eb","MetricData":[{"MetricName":"l\u00e9 \"q\" \\ \t","Value":1,"Dimensions":[{"Name":"h\u00f4te","Value":"日本\u65e5"}]}]}"#,
        r#"{"Namesp\u0061ce":"App","MetricData":[{"Metric\u004eame":"m","Value":1}]}"#,
        // Numbers: exponents, fractions, negative zero, large integers.
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Value":1.5e3},{"MetricName":"m","Value":-2E-5},{"MetricName":"m","Value":-0},{"MetricName":"m","Value":18446744073709551615},{"MetricName":"m","Value":-9223372036854775808},{"MetricName":"m","Value":0.1}]}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Timestamp":1.7650000005e9,"Value":2},{"MetricName":"m","Timestamp":1765000000.25,"Value":2}]}"#,
        // StorageResolution, StatisticValues, Values with Counts, units.
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Value":1,"StorageResolution":1},{"MetricName":"m","Value":1,"StorageResolution":60,"Unit":"Bytes/Second"}]}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","StatisticValues":{"Sum":10,"SampleCount":4.0,"Minimum":1,"Maximum":4.5},"Unit":"Count"}]}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Values":[1,2.5,3e0],"Counts":[1,2,3]},{"MetricName":"m","Values":[],"Counts":[]}]}"#,
        // Rules of CloudWatch's own (the handler's, on the same typed input).
        r#"{"Namespace":"App","MetricData":[]}"#,
        r#"{"Namespace":"App"}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Value":1,"StorageResolution":7}]}"#,
        r#"{"Namespace":"AWS/EC2","MetricData":[{"MetricName":"m","Value":1}]}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m"}]}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Value":1,"StatisticValues":{"Sum":1,"SampleCount":1,"Minimum":1,"Maximum":1}}]}"#,
        r#"{"Namespace":"App","MetricData":[{"MetricName":"m","Value":1,"Timestamp":0}]}"#,
    ];
    for body in read {
        assert!(agrees(body), "not read: {body}");
    }
}

#[test]
fn leaves_what_the_model_cleans_or_refuses_and_what_it_does_not_read() {
    let long = "x".repeat(256);
    let dims: Vec<String> = (0..31).map(|i| format!(r#"{{"Name":"n{i}","Value":"v"}}"#)).collect();
    let left = [
        // Not an object, not JSON, bytes after it.
        String::new(),
        "  ".into(),
        "[]".into(),
        "null".into(),
        r#"{"Namespace":"App""#.into(),
        r#"{"Namespace":"App","MetricData":[]} x"#.into(),
        // Unknown members, nulls, a member twice: the model cleans these.
        r#"{"Namespace":"App","MetricData":[],"Extra":1}"#.into(),
        datum(r#""MetricName":"m","Value":1,"Extra":{}"#),
        datum(r#""MetricName":"m","Value":null"#),
        r#"{"Namespace":"App","MetricData":[null]}"#.into(),
        datum(r#""MetricName":"m","Values":[1,null]"#),
        datum(r#""MetricName":"m","Value":1,"Value":2"#),
        r#"{"Namespace":"A","Namespace":"B","MetricData":[]}"#.into(),
        r#"{"Namespace":null,"MetricData":[]}"#.into(),
        // What the reader does not take.
        r#"{"Namespace":"App","EntityMetricData":[]}"#.into(),
        r#"{"Namespace":"App","MetricData":[],"StrictEntityValidation":true}"#.into(),
        datum(r#""MetricName":"m","Value":1,"Timestamp":"2026-12-06T10:00:00Z""#),
        datum(r#""MetricName":"m","Value":1,"Timestamp":"1765000000""#),
        datum(r#""MetricName":"m","Value":"NaN""#),
        datum(r#""MetricName":"m","Value":"1""#),
        // Wrong types (SerializationException on the general path).
        datum(r#""MetricName":"m","Value":true"#),
        datum(r#""MetricName":7,"Value":1"#),
        datum(r#""MetricName":"m","Dimensions":{}"#),
        r#"{"Namespace":"App","MetricData":{}}"#.into(),
        datum(r#""MetricName":"m","Value":1,"StorageResolution":1.0"#),
        datum(r#""MetricName":"m","Value":1,"StorageResolution":2147483648"#),
        // The model's constraints.
        r#"{"MetricData":[]}"#.into(),
        r#"{"Namespace":"","MetricData":[]}"#.into(),
        r#"{"Namespace":":App","MetricData":[]}"#.into(),
        r#"{"Namespace":"A\npp","MetricData":[]}"#.into(),
        format!(r#"{{"Namespace":"{long}","MetricData":[]}}"#),
        datum(r#""Value":1"#),
        datum(r#""MetricName":"","Value":1"#),
        datum(&format!(r#""MetricName":"{long}","Value":1"#)),
        datum(&format!(
            r#""MetricName":"m","Value":1,"Dimensions":[{}]"#,
            dims.join(",")
        )),
        datum(r#""MetricName":"m","Value":1,"Dimensions":[{"Name":"n"}]"#),
        datum(r#""MetricName":"m","Value":1,"Dimensions":[{"Name":"","Value":"v"}]"#),
        datum(r#""MetricName":"m","Value":1,"Unit":"Parsecs""#),
        datum(r#""MetricName":"m","Value":1,"StorageResolution":0"#),
        datum(r#""MetricName":"m","Value":1,"StorageResolution":-1"#),
        datum(r#""MetricName":"m","StatisticValues":{"Sum":1,"SampleCount":1,"Minimum":1}"#),
    ];
    for body in &left {
        assert!(!agrees(body), "read: {body}");
    }
}

#[test]
fn the_lengths_the_reader_checks_are_in_characters() {
    // 255 two-byte characters: 510 bytes, within the bound.
    let name = "é".repeat(255);
    assert!(agrees(&datum(&format!(r#""MetricName":"{name}","Value":1"#))));
    assert!(!agrees(&datum(&format!(r#""MetricName":"{name}é","Value":1"#))));
    assert!(agrees(&datum(r#""MetricName":"日","Value":1"#)));
}

#[test]
fn a_large_batch_is_read_with_its_length_counted() {
    let data: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"MetricName": "Load", "Dimensions": [{"Name": "Host", "Value": format!("h{}", i % 4)}],
                   "Timestamp": 1_765_000_000 + i * 60, "Value": f64::from(i) / 8.0, "Unit": "Percent"})
        })
        .collect();
    let body = json!({"Namespace": "Bench", "MetricData": data}).to_string();
    assert!(agrees(&body));
}

fn shape(name: &str) -> &'static Shape {
    MODEL
        .shapes
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name}"))
}

fn members(name: &str) -> Vec<(&'static str, &'static str, bool)> {
    match shape(name).kind {
        Kind::Structure(ms) => ms
            .iter()
            .map(|m| (m.name, MODEL.shapes[m.shape].name, m.required))
            .collect(),
        _ => panic!("{name} is not a structure"),
    }
}

/// The reader checks what the model says: if the generated tables change,
/// this fails and the reader is brought up to date.
#[test]
fn the_reader_checks_what_the_model_says() {
    assert_eq!(
        members("PutMetricDataInput"),
        [
            ("Namespace", "Namespace", true),
            ("MetricData", "MetricData", false),
            ("EntityMetricData", "EntityMetricDataList", false),
            ("StrictEntityValidation", "StrictEntityValidation", false),
        ]
    );
    assert_eq!(
        members("MetricDatum"),
        [
            ("MetricName", "MetricName", true),
            ("Dimensions", "Dimensions", false),
            ("Timestamp", "Timestamp", false),
            ("Value", "DatapointValue", false),
            ("StatisticValues", "StatisticSet", false),
            ("Values", "Values", false),
            ("Counts", "Counts", false),
            ("Unit", "StandardUnit", false),
            ("StorageResolution", "StorageResolution", false),
        ]
    );
    let names: Vec<_> = members("MetricDatum").iter().map(|m| m.0).collect();
    assert_eq!(names, DATUM);
    assert_eq!(
        members("Dimension"),
        [("Name", "DimensionName", true), ("Value", "DimensionValue", true)]
    );
    assert_eq!(
        members("StatisticSet"),
        STATISTIC_SET
            .iter()
            .map(|n| (*n, "DatapointValue", true))
            .collect::<Vec<_>>()
    );
    let bounds = |name: &str| {
        let s = shape(name);
        assert!(matches!(s.kind, Kind::String), "{name}");
        (s.min.unwrap() as usize, s.max.unwrap() as usize)
    };
    assert_eq!(bounds("Namespace"), NAMESPACE_LEN);
    assert_eq!(shape("Namespace").pattern, Some("[^:].*"));
    assert_eq!(bounds("MetricName"), METRIC_NAME_LEN);
    assert_eq!(shape("MetricName").pattern, None);
    assert_eq!(bounds("DimensionName"), DIMENSION_NAME_LEN);
    assert_eq!(bounds("DimensionValue"), DIMENSION_VALUE_LEN);
    assert_eq!(shape("Dimensions").max, Some(MAX_DIMENSIONS as f64));
    for list in ["MetricData", "Values", "Counts"] {
        let s = shape(list);
        assert!(s.min.is_none() && s.max.is_none(), "{list}");
    }
    let value = shape("DatapointValue");
    assert!(matches!(value.kind, Kind::Double) && value.min.is_none() && value.max.is_none());
    assert!(matches!(shape("Timestamp").kind, Kind::Timestamp));
    let resolution = shape("StorageResolution");
    assert!(matches!(resolution.kind, Kind::Integer));
    assert_eq!((resolution.min, resolution.max), (Some(1.0), None));
    assert!(units().contains(&"Percent") && units().contains(&"None"));
}

#[test]
fn namespace_pattern_is_the_models() {
    let re = regex::Regex::new("^(?:[^:].*)$").unwrap();
    for s in ["a", ":", "a:", "\n", "a\n", "\na", "a\r", "é", "", "::", "a\u{2028}"] {
        assert_eq!(namespace_pattern_ok(s), re.is_match(s), "{s:?}");
    }
}

#[test]
fn names_and_units_need_no_escape() {
    for name in NAMES.iter().chain(units()) {
        assert_eq!(str_len(name), name.len() + 2, "{name}");
    }
    for names in [TOP, DATUM, DIMENSION, STATISTIC_SET] {
        assert!(names.iter().all(|n| NAMES.contains(n)));
    }
}

#[test]
fn a_body_that_is_not_utf8_is_left() {
    let mut body = datum(r#""MetricName":"m","Value":1"#).into_bytes();
    let at = body.iter().position(|b| *b == b'm').unwrap();
    body[at] = 0xff;
    assert!(read(&body).is_none());
    // Control characters are escaped in JSON text; raw, the body is not JSON.
    assert!(read(datum("\"MetricName\":\"a\u{1}b\",\"Value\":1").as_bytes()).is_none());
    assert!(agrees(&datum(r#""MetricName":"a\u0001b","Value":1"#)));
}

mod differential {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// A JSON string literal: plain, escaped, unicode, empty, long, or not a string.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            24 => "[a-zA-Z0-9/_.-]{1,12}".prop_map(|s| format!("\"{s}\"")),
            4 => Just(r#""\u00e9t\u00e9 \"q\" \\ \/""#.to_string()),
            4 => Just("\"日本 é\"".to_string()),
            1 => Just(r#""a\nb""#.to_string()),
            1 => Just(":x".to_string()).prop_map(|s| format!("\"{s}\"")),
            1 => Just("\"\"".to_string()),
            1 => (250usize..260).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
            1 => Just("7".to_string()),
            1 => Just("null".to_string()),
        ]
    }

    /// A JSON number in the forms clients write, or something that is not one.
    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (0u32..100_000).prop_map(|n| n.to_string()),
            4 => (-1000i32..0).prop_map(|n| n.to_string()),
            8 => (-1e6f64..1e6).prop_map(|f| format!("{f}")),
            4 => (1u32..99, -9i32..9).prop_map(|(m, e)| format!("{m}.5e{e}")),
            4 => Just("1765000000".to_string()),
            2 => Just("-0".to_string()),
            2 => Just("1E2".to_string()),
            1 => Just("\"1\"".to_string()),
            1 => Just("\"NaN\"".to_string()),
            1 => Just("true".to_string()),
            1 => Just("null".to_string()),
        ]
    }

    fn list(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        prop::collection::vec(item, 0..3).prop_map(|v| format!("[{}]", v.join(",")))
    }

    /// An object of some of `members` (name, value), in any order, maybe one twice.
    fn object(members: Vec<BoxedStrategy<(String, String)>>) -> impl Strategy<Value = String> {
        (members, prop::bool::weighted(0.03), any::<prop::sample::Index>()).prop_flat_map(|(ms, twice, at)| {
            let mut ms: Vec<(String, String)> = ms.into_iter().filter(|(k, _)| !k.is_empty()).collect();
            if twice && !ms.is_empty() {
                let again = ms[at.index(ms.len())].clone();
                ms.push(again);
            }
            Just(ms).prop_shuffle().prop_map(|ms| {
                let body: Vec<String> = ms.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            })
        })
    }

    /// A member present with its value, or absent (an empty name), in
    /// the proportion `present` to `absent`.
    fn member(
        name: &'static str,
        value: impl Strategy<Value = String> + 'static,
        present: u32,
        absent: u32,
    ) -> BoxedStrategy<(String, String)> {
        prop_oneof![
            present => value.prop_map(move |v| (name.to_string(), v)),
            absent => Just((String::new(), String::new())),
        ]
        .boxed()
    }

    fn datum() -> impl Strategy<Value = String> {
        let dimension = object(vec![member("Name", text(), 30, 1), member("Value", text(), 30, 1)]);
        let stats = object(vec![
            member("SampleCount", number(), 30, 1),
            member("Sum", number(), 30, 1),
            member("Minimum", number(), 30, 1),
            member("Maximum", number(), 30, 1),
        ]);
        let unit = prop_oneof![
            6 => Just("\"Percent\"".to_string()),
            6 => Just("\"Bytes/Second\"".to_string()),
            1 => Just("\"Parsecs\"".to_string()),
            1 => Just("null".to_string()),
        ];
        let resolution = prop_oneof![
            6 => Just("1".to_string()),
            6 => Just("60".to_string()),
            1 => Just("0".to_string()),
            1 => Just("1.0".to_string()),
            1 => Just("2147483648".to_string()),
        ];
        object(vec![
            member("MetricName", text(), 30, 1),
            member("Dimensions", list(dimension), 1, 1),
            member("Timestamp", number(), 1, 1),
            member("Value", number(), 2, 1),
            member("StatisticValues", stats, 1, 4),
            member("Values", list(number()), 1, 4),
            member("Counts", list(number()), 1, 4),
            member("Unit", unit, 1, 1),
            member("StorageResolution", resolution, 1, 3),
            member("Extra", Just("{}".to_string()), 1, 30),
        ])
    }

    fn input() -> impl Strategy<Value = String> {
        object(vec![
            member("Namespace", text(), 30, 1),
            member("MetricData", list(datum()), 8, 1),
            member("StrictEntityValidation", Just("true".to_string()), 1, 30),
        ])
    }

    /// Whatever the reader takes, the general path takes too and decodes
    /// to the same input, length and top-level members (`agrees` panics
    /// otherwise); and the reader takes a fair share of the bodies (the
    /// generator is not all refusals).
    #[test]
    fn the_reader_agrees_with_the_general_path() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut read, cases) = (0, 3000);
        for _ in 0..cases {
            let body = input().new_tree(&mut runner).unwrap().current();
            read += usize::from(agrees(&body));
        }
        assert!(read * 10 > cases, "the reader took {read} of {cases} bodies");
    }
}
