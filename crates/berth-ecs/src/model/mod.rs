//! The ECS API model as Berth validates inputs against it: the tables
//! generated from the AWS model (`tables.rs`, written by
//! scripts/gen_model.py), ECS's error form, the constraints its handlers
//! answer themselves and the Berth extensions its agent sends.

#[rustfmt::skip]
mod tables;

use berth_proto::validate::{Constraint, ErrorStyle, Extension, LeftToHandler, ServiceModel};

/// ECS answers a broken model constraint with `InvalidParameterException`
/// in the generic AWS form (docs/compatibility.md, "Input validation").
pub static MODEL: ServiceModel = ServiceModel {
    operations: tables::OPERATIONS,
    shapes: tables::SHAPES,
    style: ErrorStyle::Coral {
        code: "InvalidParameterException",
    },
    left_to_handler: LEFT_TO_HANDLER,
    extensions: EXTENSIONS,
};

/// Constraints the handlers answer as ECS does, with their own code and words.
static LEFT_TO_HANDLER: &[LeftToHandler] = &[
    // ECS: `ClientException: Family can not be blank.` (aws/aws-sdk-go#132:
    // a request without `family` got exactly that).
    LeftToHandler {
        operation: "RegisterTaskDefinition",
        path: "family",
        constraint: Constraint::Required,
    },
];

/// The members Berth's agent adds to ECS's state-change bodies
/// (docs/agent-protocol.md §4): kept, not removed as unknown.
static EXTENSIONS: &[Extension] = &[
    Extension {
        operation: "SubmitTaskStateChange",
        path: "healthStatus",
    },
    Extension {
        operation: "SubmitTaskStateChange",
        path: "stopCode",
    },
    Extension {
        operation: "SubmitTaskStateChange",
        path: "containers[].healthStatus",
    },
    // The awsvpc task's interface (docs/architecture.md "awsvpc").
    Extension {
        operation: "SubmitTaskStateChange",
        path: "networkInterface",
    },
    Extension {
        operation: "SubmitContainerStateChange",
        path: "healthStatus",
    },
];

#[cfg(test)]
mod tests;
