//! The ELBv2 API model as Berth checks forms against it: the tables
//! generated from the AWS model (`tables.rs`, written by
//! scripts/gen_model.py; members named as ELBv2's messages name them) and
//! ELBv2's error form: `ValidationError`, every violation listed (`1
//! validation error detected: Value '0' at 'healthCheckIntervalSeconds'
//! failed to satisfy constraint: Member must have value greater than or
//! equal to 5`).

#[rustfmt::skip]
mod tables;

use berth_proto::validate::{ErrorStyle, ServiceModel};

pub static MODEL: ServiceModel = ServiceModel {
    operations: tables::OPERATIONS,
    shapes: tables::SHAPES,
    style: ErrorStyle::Coral {
        code: "ValidationError",
    },
    left_to_handler: &[],
    extensions: &[],
};

#[cfg(test)]
mod tests {
    #[test]
    fn every_pattern_compiles() {
        berth_proto::validate::compile_all_patterns(&super::MODEL).expect("patterns");
    }
}
