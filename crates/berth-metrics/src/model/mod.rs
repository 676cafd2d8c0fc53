//! The CloudWatch API model as Berth reads it: the tables generated from the
//! AWS model (`tables.rs`, written by scripts/gen_model.py, with the output
//! shapes the rpcv2Cbor and awsQuery bridges write answers by), CloudWatch's
//! error form, and the constraints its handlers word themselves.

#[rustfmt::skip]
mod tables;

use berth_proto::bridge::WireModel;
use berth_proto::validate::{Constraint, ErrorStyle, LeftToHandler, ServiceModel};

/// CloudWatch's awsJson target prefix, which is also its smithy service
/// name in rpcv2Cbor paths.
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
/// CloudWatch's SigV4 signing name.
pub const SIGNING_NAME: &str = "monitoring";

/// CloudWatch answers a broken model constraint with `InvalidParameterValue`
/// in the generic AWS form; the lengths and counts it words itself
/// (`The parameter MetricData.member.1.MetricName must be shorter than 256
/// characters.`) are left to the handlers ([`crate::rules`]).
pub static MODEL: ServiceModel = ServiceModel {
    operations: tables::OPERATIONS,
    shapes: tables::SHAPES,
    style: ErrorStyle::Coral {
        code: "InvalidParameterValue",
    },
    left_to_handler: LEFT_TO_HANDLER,
    extensions: &[],
};

/// CloudWatch on each of its three protocols.
pub static WIRE: WireModel = WireModel {
    model: &MODEL,
    outputs: tables::OUTPUTS,
    cbor_service_name: TARGET_PREFIX,
    query_version: "2010-08-01",
    xml_namespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
    invalid_value_code: "InvalidParameterValue",
    iam_prefix: "cloudwatch",
    errors: tables::ERRORS,
};

const fn left(operation: &'static str, path: &'static str, constraint: Constraint) -> LeftToHandler {
    LeftToHandler {
        operation,
        path,
        constraint,
    }
}

/// The constraints the handlers answer in CloudWatch's own words.
static LEFT_TO_HANDLER: &[LeftToHandler] = &[
    left("PutMetricData", "Namespace", Constraint::Length),
    left("PutMetricData", "MetricData[].MetricName", Constraint::Length),
    left("PutMetricData", "MetricData[].Dimensions", Constraint::Length),
    left("PutMetricData", "MetricData[].Dimensions[].Name", Constraint::Length),
    left("PutMetricData", "MetricData[].Dimensions[].Value", Constraint::Length),
    left("PutMetricData", "MetricData[].StorageResolution", Constraint::Range),
    left(
        "PutMetricData",
        "EntityMetricData[].MetricData[].MetricName",
        Constraint::Length,
    ),
    left(
        "PutMetricData",
        "EntityMetricData[].MetricData[].Dimensions",
        Constraint::Length,
    ),
    left(
        "PutMetricData",
        "EntityMetricData[].MetricData[].Dimensions[].Name",
        Constraint::Length,
    ),
    left(
        "PutMetricData",
        "EntityMetricData[].MetricData[].Dimensions[].Value",
        Constraint::Length,
    ),
    left(
        "PutMetricData",
        "EntityMetricData[].MetricData[].StorageResolution",
        Constraint::Range,
    ),
    left("GetMetricStatistics", "Period", Constraint::Range),
    left(
        "GetMetricData",
        "MetricDataQueries[].MetricStat.Period",
        Constraint::Range,
    ),
    left("GetMetricData", "MetricDataQueries[].Period", Constraint::Range),
];
