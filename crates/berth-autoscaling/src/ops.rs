//! The registration table: every operation Berth routes, typed
//! ([`berth_proto::operation`]), with what it is authorized on.
//!
//! IAM (the Service Authorization Reference for Application Auto Scaling):
//! the write operations act on the `scalable-target` resource
//! (`arn:aws:application-autoscaling:REGION:ACCOUNT:scalable-target/ID`)
//! with the condition keys `application-autoscaling:service-namespace` and
//! `application-autoscaling:scalable-dimension`, and the target's tags. A
//! request naming a target not registered yet has no ARN to name: a new
//! registration is authorized on the ARN it will get; the others on
//! `scalable-target/*` (they then answer ObjectNotFoundException). The
//! Describe operations list no resource type in AWS: `*`, said here.

use crate::inputs::{
    DescribeScalableTargetsInput, DescribeScalingActivitiesInput, DescribeScalingPoliciesInput,
    DescribeScheduledActionsInput, ListTagsForResourceInput, Loaded, PolicyInput, PutScalingPolicyInput,
    PutScheduledActionInput, RegisterScalableTargetInput, ScheduledActionInput, TagResourceInput, TargetInput,
    UntagResourceInput,
};
use crate::resource::{any_target_arn, condition_keys, new_target_id, target_arn};
use crate::{Autoscaling, SIGNING_NAME, TARGET_PREFIX};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::operation::{Operation, OperationService, Table, entry};
use berth_proto::{AuthzResource, AwsError, JsonServiceInfo, RequestContext};
use serde_json::Value;

#[async_trait]
impl JsonServiceInfo for Autoscaling {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        SIGNING_NAME
    }

    fn model(&self) -> Option<&'static berth_proto::validate::ServiceModel> {
        Some(&crate::model::MODEL)
    }
}

impl OperationService for Autoscaling {
    type Scope = Scope;

    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope.clone()
    }

    fn table() -> &'static Table<Autoscaling> {
        &OPERATIONS
    }
}

/// Every operation Berth routes.
pub(crate) static OPERATIONS: Table<Autoscaling> = Table(&[
    entry::<Autoscaling, RegisterScalableTarget>(),
    entry::<Autoscaling, DescribeScalableTargets>(),
    entry::<Autoscaling, DeregisterScalableTarget>(),
    entry::<Autoscaling, PutScalingPolicy>(),
    entry::<Autoscaling, DescribeScalingPolicies>(),
    entry::<Autoscaling, DeleteScalingPolicy>(),
    entry::<Autoscaling, PutScheduledAction>(),
    entry::<Autoscaling, DescribeScheduledActions>(),
    entry::<Autoscaling, DeleteScheduledAction>(),
    entry::<Autoscaling, DescribeScalingActivities>(),
    entry::<Autoscaling, TagResource>(),
    entry::<Autoscaling, UntagResource>(),
    entry::<Autoscaling, ListTagsForResource>(),
]);

/// The target a request names, its tags and condition keys; `new_arn` for
/// one not registered (a registration's ARN to be, else every target).
fn target_resource(scope: &Scope, namespace: &str, dimension: &str, loaded: &Loaded) -> AuthzResource {
    let (arn, tags) = match &loaded.target {
        Some(t) => (t.arn.clone(), t.tags.clone().into_iter().collect()),
        None if !loaded.new_id.is_empty() => (target_arn(scope, &loaded.new_id), Vec::new()),
        None => (any_target_arn(scope), Vec::new()),
    };
    AuthzResource {
        arn,
        tags,
        condition_keys: condition_keys(namespace, dimension),
        ..AuthzResource::default()
    }
}

/// A tag operation's resource: the ARN given, with its target's tags.
fn arn_resource(arn: &str, loaded: &Loaded) -> AuthzResource {
    let mut r = AuthzResource::untagged(arn);
    if let Some(t) = &loaded.target {
        r.tags = t.tags.clone().into_iter().collect();
        r.condition_keys = condition_keys(&t.namespace, &t.dimension);
    }
    r
}

async fn load_target(s: &Autoscaling, namespace: &str, dimension: &str, resource_id: &str) -> Loaded {
    Loaded {
        target: s.target(namespace, dimension, resource_id).await.ok().flatten(),
        new_id: String::new(),
    }
}

macro_rules! target_operation {
    ($name:ident, $input:ty, $handler:ident) => {
        pub(crate) struct $name;

        #[async_trait]
        impl Operation<Autoscaling> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = $input;

            async fn load(s: &Autoscaling, i: &mut $input) {
                i.loaded = load_target(s, &i.service_namespace, &i.scalable_dimension, &i.resource_id).await;
            }

            fn resources(scope: &Scope, i: &$input) -> Vec<AuthzResource> {
                vec![target_resource(
                    scope,
                    &i.service_namespace,
                    &i.scalable_dimension,
                    &i.loaded,
                )]
            }

            async fn run(s: &Autoscaling, _ctx: &RequestContext, i: $input) -> Result<Value, AwsError> {
                s.$handler(i).await
            }
        }
    };
}

macro_rules! unscoped_operation {
    ($name:ident, $input:ty, $handler:ident) => {
        pub(crate) struct $name;

        #[async_trait]
        impl Operation<Autoscaling> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = $input;

            /// No resource type in AWS: `*`.
            fn resources(_scope: &Scope, _i: &$input) -> Vec<AuthzResource> {
                vec![AuthzResource::untagged("*")]
            }

            async fn run(s: &Autoscaling, _ctx: &RequestContext, i: $input) -> Result<Value, AwsError> {
                s.$handler(i).await
            }
        }
    };
}

macro_rules! tag_operation {
    ($name:ident, $input:ty, $handler:ident) => {
        pub(crate) struct $name;

        #[async_trait]
        impl Operation<Autoscaling> for $name {
            const NAME: &'static str = stringify!($name);
            type Input = $input;

            async fn load(s: &Autoscaling, i: &mut $input) {
                i.loaded.target = s.target_by_arn(&i.resource_arn).await.ok().flatten();
            }

            fn resources(_scope: &Scope, i: &$input) -> Vec<AuthzResource> {
                vec![arn_resource(&i.resource_arn, &i.loaded)]
            }

            async fn run(s: &Autoscaling, _ctx: &RequestContext, i: $input) -> Result<Value, AwsError> {
                s.$handler(i).await
            }
        }
    };
}

/// RegisterScalableTarget: a new target is authorized on the ARN it will get.
pub(crate) struct RegisterScalableTarget;

#[async_trait]
impl Operation<Autoscaling> for RegisterScalableTarget {
    const NAME: &'static str = "RegisterScalableTarget";
    type Input = RegisterScalableTargetInput;

    async fn load(s: &Autoscaling, i: &mut RegisterScalableTargetInput) {
        i.loaded = load_target(s, &i.service_namespace, &i.scalable_dimension, &i.resource_id).await;
        if i.loaded.target.is_none() {
            i.loaded.new_id = new_target_id();
        }
    }

    fn resources(scope: &Scope, i: &RegisterScalableTargetInput) -> Vec<AuthzResource> {
        vec![target_resource(
            scope,
            &i.service_namespace,
            &i.scalable_dimension,
            &i.loaded,
        )]
    }

    async fn run(s: &Autoscaling, _ctx: &RequestContext, i: RegisterScalableTargetInput) -> Result<Value, AwsError> {
        s.register_scalable_target(i).await
    }
}

target_operation!(DeregisterScalableTarget, TargetInput, deregister_scalable_target);
target_operation!(PutScalingPolicy, PutScalingPolicyInput, put_scaling_policy);
target_operation!(DeleteScalingPolicy, PolicyInput, delete_scaling_policy);
target_operation!(PutScheduledAction, PutScheduledActionInput, put_scheduled_action);
target_operation!(DeleteScheduledAction, ScheduledActionInput, delete_scheduled_action);
unscoped_operation!(
    DescribeScalableTargets,
    DescribeScalableTargetsInput,
    describe_scalable_targets
);
unscoped_operation!(
    DescribeScalingPolicies,
    DescribeScalingPoliciesInput,
    describe_scaling_policies
);
unscoped_operation!(
    DescribeScheduledActions,
    DescribeScheduledActionsInput,
    describe_scheduled_actions
);
unscoped_operation!(
    DescribeScalingActivities,
    DescribeScalingActivitiesInput,
    describe_scaling_activities
);
tag_operation!(TagResource, TagResourceInput, tag_resource);
tag_operation!(UntagResource, UntagResourceInput, untag_resource);
tag_operation!(ListTagsForResource, ListTagsForResourceInput, list_tags_for_resource);

/// The page of `items` a `NextToken` (an offset) and `MaxResults` (1–50,
/// default 50) select, and the next token.
pub(crate) fn page<T>(
    items: Vec<T>,
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let max = match max_results {
        None => 50,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(n) => {
            return Err(crate::resource::validation(format!(
                "MaxResults must be between 1 and 50, got {n}."
            )));
        }
    };
    let start = match next_token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= items.len())
            .ok_or_else(|| AwsError::new("InvalidNextTokenException", 400, "Invalid NextToken."))?,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items.into_iter().skip(start).take(end - start).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_routed_operation_is_mapped() {
        let scope = Scope::new("us-east-1", "000000000000");
        let target = json!({"ServiceNamespace": "ecs", "ResourceId": "service/c/s",
            "ScalableDimension": "ecs:service:DesiredCount"});
        let with = |extra: Value| {
            let mut v = target.clone();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let any = "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/*";
        let arn = "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/abc";
        let cases = [
            ("RegisterScalableTarget", target.clone(), any),
            ("DescribeScalableTargets", json!({"ServiceNamespace": "ecs"}), "*"),
            ("DeregisterScalableTarget", target.clone(), any),
            ("PutScalingPolicy", with(json!({"PolicyName": "p"})), any),
            ("DescribeScalingPolicies", json!({"ServiceNamespace": "ecs"}), "*"),
            ("DeleteScalingPolicy", with(json!({"PolicyName": "p"})), any),
            ("PutScheduledAction", with(json!({"ScheduledActionName": "a"})), any),
            ("DescribeScheduledActions", json!({"ServiceNamespace": "ecs"}), "*"),
            ("DeleteScheduledAction", with(json!({"ScheduledActionName": "a"})), any),
            ("DescribeScalingActivities", json!({"ServiceNamespace": "ecs"}), "*"),
            ("TagResource", json!({"ResourceARN": arn, "Tags": {"k": "v"}}), arn),
            ("UntagResource", json!({"ResourceARN": arn, "TagKeys": ["k"]}), arn),
            ("ListTagsForResource", json!({"ResourceARN": arn}), arn),
        ];
        assert_eq!(OPERATIONS.names(), cases.iter().map(|(n, _, _)| *n).collect::<Vec<_>>());
        for (op, input, want) in cases {
            let r = OPERATIONS.resources_of(&scope, op, input).unwrap().unwrap();
            assert_eq!(r.len(), 1, "{op}");
            assert_eq!(r[0].arn, want, "{op}");
            if want == any {
                assert!(
                    r[0].condition_keys
                        .contains(&("application-autoscaling:service-namespace".into(), "ecs".into())),
                    "{op}"
                );
            }
        }
        assert!(
            OPERATIONS
                .resources_of(&scope, "GetPredictiveScalingForecast", json!({}))
                .is_none()
        );
    }

    #[test]
    fn pages() {
        let (p, next) = page((0..120).collect::<Vec<_>>(), None, None).unwrap();
        assert_eq!((p.len(), next.as_deref()), (50, Some("50")));
        let (p, next) = page((0..120).collect::<Vec<_>>(), Some(50), Some("100")).unwrap();
        assert_eq!((p, next), ((100..120).collect::<Vec<_>>(), None));
        assert_eq!(
            page(vec![1], None, Some("x")).unwrap_err().code,
            "InvalidNextTokenException"
        );
        assert!(page(vec![1], Some(51), None).is_err());
    }
}
