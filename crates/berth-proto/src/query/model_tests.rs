//! A form read along a small hand-written model: constraints answered in
//! the service's form, with the member paths AWS shows.

use super::*;
use crate::validate::{ErrorStyle, Member, Operation, Shape};

// 0 Input { name (required), interval: 5..=300, kind: enum, items: [Item] }
// 1 String  2 Interval  3 Kind  4 Items  5 Item { id (required, max 3) }  6 Id
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
                name: "healthCheckIntervalSeconds",
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
        ]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "String",
        kind: Kind::String,
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Interval",
        kind: Kind::Integer,
        min: Some(5.0),
        max: Some(300.0),
        pattern: None,
    },
    Shape {
        name: "Kind",
        kind: Kind::Enum(&["application", "network"]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Items",
        kind: Kind::List(5),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Item",
        kind: Kind::Structure(&[Member {
            name: "id",
            shape: 6,
            required: true,
        }]),
        min: None,
        max: None,
        pattern: None,
    },
    Shape {
        name: "Id",
        kind: Kind::String,
        min: None,
        max: Some(3.0),
        pattern: None,
    },
];

static MODEL: ServiceModel = ServiceModel {
    operations: &[Operation {
        name: "Create",
        input: Some(0),
    }],
    shapes: SHAPES,
    style: ErrorStyle::Coral {
        code: "ValidationError",
    },
    left_to_handler: &[],
    extensions: &[],
};

fn check_form(form: &str) -> Result<(), AwsError> {
    check(&MODEL, "Create", &QueryInput::parse(form.as_bytes()).expect("a form"))
}

#[test]
fn a_valid_form_passes_and_an_unknown_action_is_not_checked() {
    check_form("Action=Create&Version=1&Name=a&HealthCheckIntervalSeconds=30&Kind=network&Items.member.1.Id=abc")
        .expect("valid");
    check(&MODEL, "Other", &QueryInput::parse(b"Action=Other").unwrap()).expect("not in the model");
}

#[test]
fn constraints_are_answered_in_the_services_form() {
    let e = check_form("Action=Create&Name=a&HealthCheckIntervalSeconds=0").unwrap_err();
    assert_eq!(e.code, "ValidationError");
    assert_eq!(
        e.message,
        "1 validation error detected: Value '0' at 'healthCheckIntervalSeconds' failed to satisfy constraint: \
         Member must have value greater than or equal to 5"
    );
    let e = check_form("Action=Create&Kind=classic&Items.member.1.Id=abcd").unwrap_err();
    assert_eq!(
        e.message,
        "3 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; \
         Value 'classic' at 'kind' failed to satisfy constraint: Member must satisfy enum value set: [application, network]; \
         Value 'abcd' at 'items.1.member.id' failed to satisfy constraint: Member must have length less than or equal to 3"
    );
}

#[test]
fn a_scalar_that_does_not_parse_is_left_to_the_decoding() {
    check_form("Action=Create&Name=a&HealthCheckIntervalSeconds=often").expect("left to the typed decoding");
}
