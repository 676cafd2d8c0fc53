//! The registration table: every CloudWatch operation Berth routes, each a
//! type with its typed input, its IAM resources and its handler
//! ([`berth_proto::operation`]). AWS authorizes the metric operations on
//! `*` (the Service Authorization Reference lists no resource type for
//! them); PutMetricData carries the `cloudwatch:namespace` condition key.
//! The alarm operations ([`crate::alarms::ops`]) name their alarms' ARNs.
//! The action is `cloudwatch:<Operation>`, not the signing name's.

use crate::alarms::ops as alarm_ops;
use crate::authz::star;
use crate::inputs::{GetMetricDataInput, GetMetricStatisticsInput, ListMetricsInput, PutMetricDataInput};
use crate::{Metrics, TARGET_PREFIX, rules};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::operation::{Operation, OperationService, Table, entry};
use berth_proto::{AuthzResource, AwsError, JsonServiceInfo, RequestContext};
use serde_json::Value;

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Metrics> = Table(&[
    entry::<Metrics, PutMetricData>(),
    entry::<Metrics, GetMetricStatistics>(),
    entry::<Metrics, GetMetricData>(),
    entry::<Metrics, ListMetrics>(),
    entry::<Metrics, alarm_ops::PutMetricAlarm>(),
    entry::<Metrics, alarm_ops::DescribeAlarms>(),
    entry::<Metrics, alarm_ops::DescribeAlarmsForMetric>(),
    entry::<Metrics, alarm_ops::DescribeAlarmHistory>(),
    entry::<Metrics, alarm_ops::DeleteAlarms>(),
    entry::<Metrics, alarm_ops::SetAlarmState>(),
    entry::<Metrics, alarm_ops::EnableAlarmActions>(),
    entry::<Metrics, alarm_ops::DisableAlarmActions>(),
    entry::<Metrics, alarm_ops::TagResource>(),
    entry::<Metrics, alarm_ops::UntagResource>(),
    entry::<Metrics, alarm_ops::ListTagsForResource>(),
]);

#[async_trait]
impl JsonServiceInfo for Metrics {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        crate::SIGNING_NAME
    }

    fn content_type(&self) -> &'static str {
        "application/x-amz-json-1.0"
    }

    fn model(&self) -> Option<&'static berth_proto::validate::ServiceModel> {
        Some(&crate::model::MODEL)
    }

    /// CloudWatch is awsQuery-compatible: `__type` names the error's shape.
    fn error(&self, e: AwsError) -> AwsError {
        crate::model::WIRE.query_compatible(e)
    }
}

impl OperationService for Metrics {
    /// The region and account alarm ARNs are in.
    type Scope = Scope;

    fn scope(&self, _ctx: &RequestContext) -> Scope {
        Scope::new(&self.region, &self.account_id)
    }

    fn table() -> &'static Table<Metrics> {
        &OPERATIONS
    }
}

pub(crate) struct PutMetricData;

#[async_trait]
impl Operation<Metrics> for PutMetricData {
    const NAME: &'static str = "PutMetricData";
    type Input = PutMetricDataInput;

    /// A batch of up to 1,000 datums, read straight from its awsJson body
    /// when it holds only what the reader checks ([`crate::body`]).
    fn read_body(body: &[u8]) -> Option<(PutMetricDataInput, berth_proto::direct::Summary)> {
        crate::body::read(body)
    }

    fn resources(_: &Scope, input: &PutMetricDataInput) -> Vec<AuthzResource> {
        star(
            Self::NAME,
            vec![("cloudwatch:namespace".into(), input.namespace.clone())],
        )
    }

    async fn run(service: &Metrics, _ctx: &RequestContext, input: PutMetricDataInput) -> Result<Value, AwsError> {
        let mut samples = rules::samples(&input, service.now())?;
        if !service.time_scale.is_real() {
            // Scaled alarm periods are read from the per-second rows.
            for s in &mut samples {
                s.high_resolution = true;
            }
        }
        service.with_db(move |db| db.put(samples)).await?;
        Ok(Value::Object(Default::default()))
    }
}

pub(crate) struct GetMetricStatistics;

#[async_trait]
impl Operation<Metrics> for GetMetricStatistics {
    const NAME: &'static str = "GetMetricStatistics";
    type Input = GetMetricStatisticsInput;

    fn resources(_: &Scope, _: &GetMetricStatisticsInput) -> Vec<AuthzResource> {
        star(Self::NAME, Vec::new())
    }

    async fn run(service: &Metrics, _ctx: &RequestContext, input: GetMetricStatisticsInput) -> Result<Value, AwsError> {
        service.get_metric_statistics(input).await
    }
}

pub(crate) struct GetMetricData;

#[async_trait]
impl Operation<Metrics> for GetMetricData {
    const NAME: &'static str = "GetMetricData";
    type Input = GetMetricDataInput;

    fn resources(_: &Scope, _: &GetMetricDataInput) -> Vec<AuthzResource> {
        star(Self::NAME, Vec::new())
    }

    async fn run(service: &Metrics, _ctx: &RequestContext, input: GetMetricDataInput) -> Result<Value, AwsError> {
        service.get_metric_data(input).await
    }
}

pub(crate) struct ListMetrics;

#[async_trait]
impl Operation<Metrics> for ListMetrics {
    const NAME: &'static str = "ListMetrics";
    type Input = ListMetricsInput;

    fn resources(_: &Scope, _: &ListMetricsInput) -> Vec<AuthzResource> {
        star(Self::NAME, Vec::new())
    }

    async fn run(service: &Metrics, _ctx: &RequestContext, input: ListMetricsInput) -> Result<Value, AwsError> {
        service.list_metrics(input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_routed_operation_is_mapped() {
        let scope = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            OPERATIONS.names(),
            [
                "PutMetricData",
                "GetMetricStatistics",
                "GetMetricData",
                "ListMetrics",
                "PutMetricAlarm",
                "DescribeAlarms",
                "DescribeAlarmsForMetric",
                "DescribeAlarmHistory",
                "DeleteAlarms",
                "SetAlarmState",
                "EnableAlarmActions",
                "DisableAlarmActions",
                "TagResource",
                "UntagResource",
                "ListTagsForResource",
            ]
        );
        let inputs = [
            ("PutMetricData", json!({"Namespace": "App"})),
            (
                "GetMetricStatistics",
                json!({"Namespace": "App", "MetricName": "m", "StartTime": 0, "EndTime": 60, "Period": 60}),
            ),
            (
                "GetMetricData",
                json!({"MetricDataQueries": [], "StartTime": 0, "EndTime": 60}),
            ),
            ("ListMetrics", json!({})),
            (
                "DescribeAlarmsForMetric",
                json!({"Namespace": "App", "MetricName": "m"}),
            ),
        ];
        for (op, input) in inputs {
            let r = OPERATIONS.resources_of(&scope, op, input).unwrap().unwrap();
            assert_eq!(r.len(), 1, "{op}");
            assert_eq!(r[0].arn, "*", "{op}");
            assert_eq!(r[0].action.as_deref(), Some(format!("cloudwatch:{op}").as_str()));
            let keys = if op == "PutMetricData" {
                vec![("cloudwatch:namespace".to_string(), "App".to_string())]
            } else {
                Vec::new()
            };
            assert_eq!(r[0].condition_keys, keys, "{op}");
        }
        let alarm = |n: &str| format!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:{n}");
        let every = alarm("*");
        let policy = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:resource/ecs/service/c/s:policyName/p";
        let scoped = [
            (
                "PutMetricAlarm",
                json!({"AlarmName": "a", "AlarmActions": [policy]}),
                vec![alarm("a")],
            ),
            ("DescribeAlarms", json!({}), vec![every.clone()]),
            (
                "DescribeAlarms",
                json!({"AlarmNames": ["a", "b"]}),
                vec![alarm("a"), alarm("b")],
            ),
            ("DescribeAlarmHistory", json!({}), vec![every.clone()]),
            ("DescribeAlarmHistory", json!({"AlarmName": "a"}), vec![alarm("a")]),
            (
                "DeleteAlarms",
                json!({"AlarmNames": ["a", "b"]}),
                vec![alarm("a"), alarm("b")],
            ),
            (
                "SetAlarmState",
                json!({"AlarmName": "a", "StateValue": "OK", "StateReason": "r"}),
                vec![alarm("a")],
            ),
            ("EnableAlarmActions", json!({"AlarmNames": ["a"]}), vec![alarm("a")]),
            ("DisableAlarmActions", json!({"AlarmNames": ["a"]}), vec![alarm("a")]),
            (
                "TagResource",
                json!({"ResourceARN": alarm("a"), "Tags": []}),
                vec![alarm("a")],
            ),
            (
                "UntagResource",
                json!({"ResourceARN": alarm("a"), "TagKeys": []}),
                vec![alarm("a")],
            ),
            (
                "ListTagsForResource",
                json!({"ResourceARN": alarm("a")}),
                vec![alarm("a")],
            ),
        ];
        for (op, input, arns) in scoped {
            let r = OPERATIONS.resources_of(&scope, op, input).unwrap().unwrap();
            assert_eq!(r.iter().map(|r| r.arn.clone()).collect::<Vec<_>>(), arns, "{op}");
            for one in &r {
                assert_eq!(one.action.as_deref(), Some(format!("cloudwatch:{op}").as_str()));
            }
            if op == "PutMetricAlarm" {
                assert_eq!(
                    r[0].condition_keys,
                    vec![("cloudwatch:AlarmActions".to_string(), policy.to_string())]
                );
            }
        }
        assert!(
            OPERATIONS
                .resources_of(&scope, "PutCompositeAlarm", json!({}))
                .is_none()
        );
    }
}
