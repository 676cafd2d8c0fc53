//! The registration table: every CloudWatch metrics operation Berth routes,
//! each a type with its typed input, its IAM resources and its handler
//! ([`berth_proto::operation`]). AWS authorizes these actions on `*`
//! (the Service Authorization Reference lists no resource type for them);
//! PutMetricData carries the `cloudwatch:namespace` condition key. The
//! action is `cloudwatch:<Operation>`, not the signing name's.

use crate::inputs::{GetMetricDataInput, GetMetricStatisticsInput, ListMetricsInput, PutMetricDataInput};
use crate::{Metrics, TARGET_PREFIX, rules};
use async_trait::async_trait;
use berth_proto::operation::{Operation, OperationService, Table, entry};
use berth_proto::{AuthzResource, AwsError, JsonServiceInfo, RequestContext};
use serde_json::Value;

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Metrics> = Table(&[
    entry::<Metrics, PutMetricData>(),
    entry::<Metrics, GetMetricStatistics>(),
    entry::<Metrics, GetMetricData>(),
    entry::<Metrics, ListMetrics>(),
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
    /// The actions name no resource.
    type Scope = ();

    fn scope(&self, _ctx: &RequestContext) {}

    fn table() -> &'static Table<Metrics> {
        &OPERATIONS
    }
}

/// `*` for `cloudwatch:<operation>`, with the condition keys given.
fn star(operation: &str, condition_keys: Vec<(String, String)>) -> Vec<AuthzResource> {
    vec![AuthzResource {
        arn: "*".into(),
        action: Some(format!("cloudwatch:{operation}")),
        condition_keys,
        ..AuthzResource::default()
    }]
}

pub(crate) struct PutMetricData;

#[async_trait]
impl Operation<Metrics> for PutMetricData {
    const NAME: &'static str = "PutMetricData";
    type Input = PutMetricDataInput;

    fn resources(_: &(), input: &PutMetricDataInput) -> Vec<AuthzResource> {
        star(
            Self::NAME,
            vec![("cloudwatch:namespace".into(), input.namespace.clone())],
        )
    }

    async fn run(service: &Metrics, _ctx: &RequestContext, input: PutMetricDataInput) -> Result<Value, AwsError> {
        let samples = rules::samples(&input, service.now())?;
        service.with_db(move |db| db.put(&samples)).await?;
        Ok(Value::Object(Default::default()))
    }
}

pub(crate) struct GetMetricStatistics;

#[async_trait]
impl Operation<Metrics> for GetMetricStatistics {
    const NAME: &'static str = "GetMetricStatistics";
    type Input = GetMetricStatisticsInput;

    fn resources(_: &(), _: &GetMetricStatisticsInput) -> Vec<AuthzResource> {
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

    fn resources(_: &(), _: &GetMetricDataInput) -> Vec<AuthzResource> {
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

    fn resources(_: &(), _: &ListMetricsInput) -> Vec<AuthzResource> {
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
        assert_eq!(
            OPERATIONS.names(),
            ["PutMetricData", "GetMetricStatistics", "GetMetricData", "ListMetrics"]
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
        ];
        for (op, input) in inputs {
            let r = OPERATIONS.resources_of(&(), op, input).unwrap().unwrap();
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
        assert!(OPERATIONS.resources_of(&(), "PutMetricAlarm", json!({})).is_none());
    }
}
