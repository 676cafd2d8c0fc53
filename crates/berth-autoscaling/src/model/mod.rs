//! The Application Auto Scaling API model as Berth validates inputs against
//! it: the tables generated from the AWS model (`tables.rs`, written by
//! scripts/gen_model.py) and its error form.

#[rustfmt::skip]
mod tables;

use berth_proto::validate::{ErrorStyle, ServiceModel};

/// Application Auto Scaling answers a broken model constraint with
/// `ValidationException` in the generic AWS form (`1 validation error
/// detected: Value 'x' at 'serviceNamespace' failed to satisfy constraint: …`).
pub static MODEL: ServiceModel = ServiceModel {
    operations: tables::OPERATIONS,
    shapes: tables::SHAPES,
    style: ErrorStyle::Coral {
        code: "ValidationException",
    },
    left_to_handler: &[],
    extensions: &[],
};
