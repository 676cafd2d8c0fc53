//! The walk on a small hand-written model: cleaning, type errors, each
//! constraint in both error forms, exemptions and extensions.

use super::*;
use serde_json::json;

// 0 Input { name (required, 1..=5, [a-z]+), count: Count, kind: Kind, items: [Item], tags: {Key: String}, flag, big: Long, ratio, doc, MaxCount: Count }
// 1 Name  2 Count (1..=10)  3 Kind enum  4 Items (list, max 2)  5 Item { id (required) }  6 Tags (map)  7 Key (max 3)
// 8 Boolean  9 Long  10 Double (0..=1)  11 Doc
static SHAPES: &[Shape] = &[
    Shape {
        name: "Input",
        kind: Kind::Structure(&[
            Member {
                name: "name",
                shape: 1,
                required: true,
            },
            Member {
                name: "count",
                shape: 2,
                required: false,
            },
            Member {
                name: "kind",
                shape: 3,
                required: false,
            },
            Member {
                name: "items",
                shape: 4,
                required: false,
            },
            Member {
                name: "tags",
                shape: 6,
                required: false,
            },
            Member {
                name: "flag",
                shape: 8,
                required: false,
            },
            Member {
                name: "big",
                shape: 9,
                required: false,
            },
            Member {
                name: "ratio",
                shape: 10,
                required: false,
            },
            Member {
                name: "doc",
                shape: 11,
                required: false,
            },
            Member {
                name: "MaxCount",
                shape: 2,
                required: false,
            },
        ]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Name",
        kind: Kind::String,
        min: Some(1.0),
        max: Some(5.0),
        pattern: Some("[a-z]+"),
    },
    Shape {
        name: "Count",
        kind: Kind::Integer,
        min: Some(1.0),
        max: Some(10.0),
        pattern: None,
    },
    Shape {
        name: "Kind",
        kind: Kind::Enum(&["EC2", "FARGATE"]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Items",
        kind: Kind::List(5),
        min: None,
        max: Some(2.0),
        pattern: None,
    },
    Shape {
        name: "Item",
        kind: Kind::Structure(&[Member {
            name: "id",
            shape: 1,
            required: true,
        }]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Tags",
        kind: Kind::Map(7, 1),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Key",
        kind: Kind::String,
        min: None,
        max: Some(3.0),
        pattern: None,
    },
    Shape {
        name: "Boolean",
        kind: Kind::Boolean,
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Long",
        kind: Kind::Long,
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Ratio",
        kind: Kind::Double,
        min: Some(0.0),
        max: Some(1.0),
        pattern: None,
    },
    Shape {
        name: "Doc",
        kind: Kind::Document,
        min: None,
        max: None,
        pattern: None,
    },
];

static OPERATIONS: &[Operation] = &[
    Operation {
        name: "Do",
        input: Some(0),
    },
    Operation {
        name: "NoInput",
        input: None,
    },
];

fn model(style: ErrorStyle) -> ServiceModel {
    ServiceModel {
        operations: OPERATIONS,
        shapes: SHAPES,
        style,
        left_to_handler: &[LeftToHandler {
            operation: "Do",
            path: "items[].id",
            constraint: Constraint::Pattern,
        }],
        extensions: &[Extension {
            operation: "Do",
            path: "items[].note",
        }],
    }
}

const CORAL: ErrorStyle = ErrorStyle::Coral {
    code: "InvalidParameterException",
};
const ECR: ErrorStyle = ErrorStyle::Ecr {
    code: "InvalidParameterException",
};

fn run(style: ErrorStyle, input: Value) -> Result<Value, AwsError> {
    validate(Some(&model(style)), "Do", input)
}

fn message(style: ErrorStyle, input: Value) -> String {
    let e = run(style, input).expect_err("refused");
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(e.status, 400);
    e.message
}

fn serialization(input: Value) -> String {
    let e = run(CORAL, input).expect_err("refused");
    assert_eq!(e.code, "SerializationException");
    e.message
}

#[test]
fn unknown_members_and_nulls_are_removed_at_every_depth() {
    let out = run(
        CORAL,
        json!({"name": "ab", "memroy": 128, "kind": null, "items": [{"id": "x", "extra": 1}, null],
               "tags": {"k": "v", "n": null}, "doc": {"any": {"thing": [1]}}}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"name": "ab", "items": [{"id": "x"}], "tags": {"k": "v"}, "doc": {"any": {"thing": [1]}}})
    );
}

#[test]
fn extensions_are_kept_and_unknown_operations_pass_through() {
    let out = run(CORAL, json!({"name": "ab", "items": [{"id": "x", "note": {"a": 1}}]})).unwrap();
    assert_eq!(out["items"][0]["note"], json!({"a": 1}));
    let raw = json!({"anything": [1, 2]});
    assert_eq!(
        validate(Some(&model(CORAL)), "BerthHeartbeat", raw.clone()).unwrap(),
        raw
    );
    assert_eq!(validate(None, "Do", raw.clone()).unwrap(), raw);
    assert_eq!(validate(Some(&model(CORAL)), "NoInput", raw).unwrap(), json!({}));
}

#[test]
fn wrong_json_types_are_serialization_errors() {
    assert_eq!(
        serialization(json!({"name": 5})),
        "NUMBER_VALUE can not be converted to a String"
    );
    assert_eq!(
        serialization(json!({"name": "a", "count": "5"})),
        "STRING_VALUE can not be converted to an Integer"
    );
    assert_eq!(
        serialization(json!({"name": "a", "count": 2147483648u64})),
        "NUMBER_VALUE can not be converted to an Integer"
    );
    assert_eq!(
        serialization(json!({"name": "a", "count": 1.5})),
        "NUMBER_VALUE can not be converted to an Integer"
    );
    assert_eq!(
        serialization(json!({"name": "a", "big": 18446744073709551615u64})),
        "NUMBER_VALUE can not be converted to a Long"
    );
    assert_eq!(
        serialization(json!({"name": "a", "flag": "true"})),
        "STRING_VALUE can not be converted to a Boolean"
    );
    assert_eq!(
        serialization(json!({"name": "a", "items": {"id": "x"}})),
        "Start of structure or map found where not expected."
    );
    assert_eq!(
        serialization(json!({"name": ["a"]})),
        "Start of list found where not expected"
    );
    assert_eq!(
        serialization(json!({"name": "a", "items": [true]})),
        "BOOLEAN_VALUE can not be converted to a Structure"
    );
    // The largest Integer and Long pass.
    assert!(run(CORAL, json!({"name": "a", "big": i64::MAX})).is_ok());
}

#[test]
fn constraints_in_the_coral_form() {
    assert_eq!(
        message(CORAL, json!({})),
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        message(CORAL, json!({"name": "a", "kind": "FOO"})),
        "1 validation error detected: Value 'FOO' at 'kind' failed to satisfy constraint: \
         Member must satisfy enum value set: [EC2, FARGATE]"
    );
    assert_eq!(
        message(CORAL, json!({"name": "a", "count": 11, "ratio": -0.5})),
        "2 validation errors detected: Value '11' at 'count' failed to satisfy constraint: \
         Member must have value less than or equal to 10; Value '-0.5' at 'ratio' failed to satisfy constraint: \
         Member must have value greater than or equal to 0.0"
    );
    assert_eq!(
        message(CORAL, json!({"name": "abcdef"})),
        "1 validation error detected: Value 'abcdef' at 'name' failed to satisfy constraint: \
         Member must have length less than or equal to 5"
    );
    assert_eq!(
        message(CORAL, json!({"name": "AB"})),
        "1 validation error detected: Value 'AB' at 'name' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-z]+"
    );
    // A member whose wire name is upper camel case (awsJson 1.1, awsQuery)
    // is named in lower camel case, as AWS names it (`serviceNamespace`).
    assert_eq!(
        message(CORAL, json!({"name": "a", "MaxCount": 0})),
        "1 validation error detected: Value '0' at 'maxCount' failed to satisfy constraint: \
         Member must have value greater than or equal to 1"
    );
    // List items and map entries are named as AWS names them.
    assert_eq!(
        message(CORAL, json!({"name": "a", "items": [{"id": "x"}, {}]})),
        "1 validation error detected: Value null at 'items.2.member.id' failed to satisfy constraint: \
         Member must not be null"
    );
    assert_eq!(
        message(
            CORAL,
            json!({"name": "a", "items": [{"id": "x"}, {"id": "y"}, {"id": "z"}]})
        ),
        "1 validation error detected: Value at 'items' failed to satisfy constraint: \
         Member must have length less than or equal to 2"
    );
    assert_eq!(
        message(CORAL, json!({"name": "a", "tags": {"long": "v"}})),
        "1 validation error detected: Value 'long' at 'tags.long' failed to satisfy constraint: \
         Member must have length less than or equal to 3"
    );
}

#[test]
fn constraints_in_the_ecr_form_name_the_first_only() {
    assert_eq!(
        message(ECR, json!({"count": 0, "kind": "FOO"})),
        "Invalid parameter at 'name' failed to satisfy constraint: 'Member must not be null'"
    );
    assert_eq!(
        message(ECR, json!({"name": "a", "count": 11})),
        "Invalid parameter at 'count' failed to satisfy constraint: 'Member must have value less than or equal to 10'"
    );
    assert_eq!(
        message(ECR, json!({"name": "A"})),
        "Invalid parameter at 'name' failed to satisfy constraint: 'must satisfy regular expression '[a-z]+''"
    );
}

#[test]
fn a_constraint_left_to_the_handler_is_not_checked_here() {
    // items[].id's pattern is exempt; its length is not.
    assert!(run(CORAL, json!({"name": "a", "items": [{"id": "UPPER"}]})).is_ok());
    assert!(run(CORAL, json!({"name": "a", "items": [{"id": "toolong"}]})).is_err());
}

#[test]
fn probes_of_the_small_model_get_what_they_expect() {
    let ran = probe::check_every_probe(&model(CORAL), |path, _, _, e| {
        e.code == "InvalidParameterException" && e.message.contains(&format!("at '{path}'"))
    });
    assert!(ran > 15, "{ran}");
}
