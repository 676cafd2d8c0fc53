//! The EventBridge API model as Berth reads it: the tables generated from
//! the AWS model (`tables.rs`, written by scripts/gen_model.py) and
//! EventBridge's error form (`ValidationException`, every violation listed
//! in the generic AWS form).

#[rustfmt::skip]
mod tables;

use berth_proto::validate::{ErrorStyle, ServiceModel};

pub static MODEL: ServiceModel = ServiceModel {
    operations: tables::OPERATIONS,
    shapes: tables::SHAPES,
    style: ErrorStyle::Coral {
        code: "ValidationException",
    },
    left_to_handler: &[],
    extensions: &[],
};
