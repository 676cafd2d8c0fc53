//! The alarm operations as typed operations: each names the alarm ARNs
//! (`arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`) it is authorized on,
//! as the Service Authorization Reference lists them — with the alarms'
//! tags for `aws:ResourceTag/…` (loaded once), PutMetricAlarm's
//! `cloudwatch:AlarmActions` — and `alarm:*` for the listings that name
//! none. DescribeAlarmsForMetric is not scoped by AWS: `*`.

use super::inputs::{
    AlarmNamesInput, DescribeAlarmHistoryInput, DescribeAlarmsForMetricInput, DescribeAlarmsInput,
    ListTagsForResourceInput, PutMetricAlarmInput, SetAlarmStateInput, TagResourceInput, UntagResourceInput,
};
use crate::Metrics;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::operation::Operation;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An input with the tags of the alarms it names (loaded before authorization).
#[derive(Debug)]
pub struct Loaded<T> {
    pub input: T,
    /// The tags of each named alarm, in the order [`Names::names`] gives them.
    pub tags: Vec<Vec<(String, String)>>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Loaded<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|input| Loaded {
            input,
            tags: Vec::new(),
        })
    }
}

/// The alarms an input names.
pub trait Names {
    fn names(&self) -> Vec<String>;
}

impl Names for PutMetricAlarmInput {
    fn names(&self) -> Vec<String> {
        vec![self.alarm_name.clone()]
    }
}

impl Names for AlarmNamesInput {
    fn names(&self) -> Vec<String> {
        self.alarm_names.clone()
    }
}

impl Names for SetAlarmStateInput {
    fn names(&self) -> Vec<String> {
        vec![self.alarm_name.clone()]
    }
}

impl Names for DescribeAlarmsInput {
    fn names(&self) -> Vec<String> {
        self.alarm_names.clone().unwrap_or_default()
    }
}

impl Names for DescribeAlarmHistoryInput {
    fn names(&self) -> Vec<String> {
        self.alarm_name.iter().cloned().collect()
    }
}

/// The alarm name of an ARN of `scope` (None: not such an alarm ARN).
fn name_in(scope: &Scope, arn: &str) -> Option<String> {
    let prefix = scope.arn("cloudwatch", "alarm:");
    arn.strip_prefix(&prefix).filter(|n| !n.is_empty()).map(str::to_string)
}

impl Names for TagResourceInput {
    fn names(&self) -> Vec<String> {
        alarm_of(&self.resource_arn)
    }
}

impl Names for UntagResourceInput {
    fn names(&self) -> Vec<String> {
        alarm_of(&self.resource_arn)
    }
}

impl Names for ListTagsForResourceInput {
    fn names(&self) -> Vec<String> {
        alarm_of(&self.resource_arn)
    }
}

fn alarm_of(arn: &str) -> Vec<String> {
    berth_core::arn::Arn::parse(arn)
        .and_then(|a| a.resource.strip_prefix("alarm:").map(str::to_string))
        .into_iter()
        .collect()
}

async fn load_tags<T: Names>(service: &Metrics, input: &mut Loaded<T>) {
    let names = input.input.names();
    if !names.is_empty() {
        input.tags = service.alarm_tags(names).await;
    }
}

/// `cloudwatch:<operation>` on each named alarm, with its tags.
fn on_alarms<T: Names>(scope: &Scope, operation: &str, input: &Loaded<T>) -> Vec<AuthzResource> {
    input
        .input
        .names()
        .iter()
        .enumerate()
        .map(|(i, name)| AuthzResource {
            arn: scope.arn("cloudwatch", format!("alarm:{name}")),
            tags: input.tags.get(i).cloned().unwrap_or_default(),
            action: Some(format!("cloudwatch:{operation}")),
            ..AuthzResource::default()
        })
        .collect()
}

/// `cloudwatch:<operation>` on every alarm of the region.
fn on_every_alarm(scope: &Scope, operation: &str) -> Vec<AuthzResource> {
    vec![AuthzResource {
        arn: scope.arn("cloudwatch", "alarm:*"),
        action: Some(format!("cloudwatch:{operation}")),
        ..AuthzResource::default()
    }]
}

/// `cloudwatch:<operation>` on the resource ARN given (an alarm's of this
/// region, with its tags, or what the caller named: the handler answers
/// it is not one).
fn on_arn<T: Names>(scope: &Scope, operation: &str, arn: &str, input: &Loaded<T>) -> Vec<AuthzResource> {
    let ours = name_in(scope, arn).is_some();
    vec![AuthzResource {
        arn: arn.to_string(),
        tags: if ours {
            input.tags.first().cloned().unwrap_or_default()
        } else {
            Vec::new()
        },
        action: Some(format!("cloudwatch:{operation}")),
        ..AuthzResource::default()
    }]
}

pub(crate) struct PutMetricAlarm;

#[async_trait]
impl Operation<Metrics> for PutMetricAlarm {
    const NAME: &'static str = "PutMetricAlarm";
    type Input = Loaded<PutMetricAlarmInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        let mut r = on_alarms(scope, Self::NAME, input);
        let i = &input.input;
        for arn in [&i.ok_actions, &i.alarm_actions, &i.insufficient_data_actions]
            .into_iter()
            .flatten()
            .flatten()
        {
            r[0].condition_keys
                .push(("cloudwatch:AlarmActions".into(), arn.clone()));
        }
        r
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.put_metric_alarm(input.input).await
    }
}

pub(crate) struct DescribeAlarms;

#[async_trait]
impl Operation<Metrics> for DescribeAlarms {
    const NAME: &'static str = "DescribeAlarms";
    type Input = Loaded<DescribeAlarmsInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        if input.input.alarm_names.is_some() {
            on_alarms(scope, Self::NAME, input)
        } else {
            on_every_alarm(scope, Self::NAME)
        }
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.describe_alarms(input.input).await
    }
}

pub(crate) struct DescribeAlarmsForMetric;

#[async_trait]
impl Operation<Metrics> for DescribeAlarmsForMetric {
    const NAME: &'static str = "DescribeAlarmsForMetric";
    type Input = DescribeAlarmsForMetricInput;

    fn resources(_: &Scope, _: &Self::Input) -> Vec<AuthzResource> {
        crate::authz::star(Self::NAME, Vec::new())
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.describe_alarms_for_metric(input).await
    }
}

pub(crate) struct DescribeAlarmHistory;

#[async_trait]
impl Operation<Metrics> for DescribeAlarmHistory {
    const NAME: &'static str = "DescribeAlarmHistory";
    type Input = Loaded<DescribeAlarmHistoryInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        if input.input.alarm_name.is_some() {
            on_alarms(scope, Self::NAME, input)
        } else {
            on_every_alarm(scope, Self::NAME)
        }
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.describe_alarm_history(input.input).await
    }
}

/// DeleteAlarms, EnableAlarmActions and DisableAlarmActions: on each alarm named.
macro_rules! on_named_alarms {
    ($name:ident, |$service:ident, $input:ident| $run:expr) => {
        pub(crate) struct $name;

        #[async_trait]
        impl Operation<Metrics> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = Loaded<AlarmNamesInput>;

            async fn load(service: &Metrics, input: &mut Self::Input) {
                load_tags(service, input).await;
            }

            fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
                on_alarms(scope, Self::NAME, input)
            }

            async fn run($service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
                let $input = input.input;
                $run.await
            }
        }
    };
}

on_named_alarms!(DeleteAlarms, |service, input| service.delete_alarms(input));
on_named_alarms!(EnableAlarmActions, |service, input| service
    .set_actions_enabled(input, true));
on_named_alarms!(DisableAlarmActions, |service, input| service
    .set_actions_enabled(input, false));

pub(crate) struct SetAlarmState;

#[async_trait]
impl Operation<Metrics> for SetAlarmState {
    const NAME: &'static str = "SetAlarmState";
    type Input = Loaded<SetAlarmStateInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        on_alarms(scope, Self::NAME, input)
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.set_alarm_state(input.input).await
    }
}

pub(crate) struct TagResource;

#[async_trait]
impl Operation<Metrics> for TagResource {
    const NAME: &'static str = "TagResource";
    type Input = Loaded<TagResourceInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        on_arn(scope, Self::NAME, &input.input.resource_arn, input)
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.tag_resource(input.input).await
    }
}

pub(crate) struct UntagResource;

#[async_trait]
impl Operation<Metrics> for UntagResource {
    const NAME: &'static str = "UntagResource";
    type Input = Loaded<UntagResourceInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        on_arn(scope, Self::NAME, &input.input.resource_arn, input)
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.untag_resource(input.input).await
    }
}

pub(crate) struct ListTagsForResource;

#[async_trait]
impl Operation<Metrics> for ListTagsForResource {
    const NAME: &'static str = "ListTagsForResource";
    type Input = Loaded<ListTagsForResourceInput>;

    async fn load(service: &Metrics, input: &mut Self::Input) {
        load_tags(service, input).await;
    }

    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        on_arn(scope, Self::NAME, &input.input.resource_arn, input)
    }

    async fn run(service: &Metrics, _: &RequestContext, input: Self::Input) -> Result<Value, AwsError> {
        service.list_tags_for_resource(input.input).await
    }
}
