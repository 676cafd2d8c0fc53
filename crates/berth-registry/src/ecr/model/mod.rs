//! The ECR API model as Berth validates inputs against it: the tables
//! generated from the AWS model (`tables.rs`, written by
//! scripts/gen_model.py) and ECR's error form.

#[rustfmt::skip]
mod tables;

use berth_proto::validate::{ErrorStyle, LeftToHandler, ServiceModel};

/// ECR answers a broken model constraint with `InvalidParameterException`
/// naming the first one: `Invalid parameter at 'imageIds' failed to satisfy
/// constraint: 'Member must have length less than or equal to 100'`
/// (docs/compatibility.md, "Input validation").
pub static MODEL: ServiceModel = ServiceModel {
    operations: tables::OPERATIONS,
    shapes: tables::SHAPES,
    style: ErrorStyle::Ecr {
        code: "InvalidParameterException",
    },
    left_to_handler: LEFT_TO_HANDLER,
    extensions: &[],
};

/// Constraints the handlers answer as ECR does, with their own words.
static LEFT_TO_HANDLER: &[LeftToHandler] = &[];

#[cfg(test)]
mod tests;
