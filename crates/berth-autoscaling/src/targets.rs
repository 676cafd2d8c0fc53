//! Scalable targets: RegisterScalableTarget (the ECS service must exist;
//! its desired count is brought into [min, max]), DescribeScalableTargets,
//! DeregisterScalableTarget (its policies, their alarms, its scheduled
//! actions and activities go with it), and the targets' tags.

use crate::inputs::{
    DescribeScalableTargetsInput, ListTagsForResourceInput, RegisterScalableTargetInput, TagResourceInput, TargetInput,
    UntagResourceInput,
};
use crate::records::TargetRecord;
use crate::resource::{ServiceId, validation};
use crate::resource::{check_namespace, new_target_id, no_target, service_linked_role, target_arn, target_of};
use crate::{Autoscaling, output, rules};
use berth_proto::AwsError;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const MAX_TAGS: usize = 50;

fn resource_not_found(arn: &str) -> AwsError {
    AwsError::new(
        "ResourceNotFoundException",
        400,
        format!("No scalable target found with ARN {arn}."),
    )
}

/// AWS's tag rules: at most 50, keys 1–128 characters, values up to 256.
fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
    if tags.len() > MAX_TAGS {
        return Err(AwsError::new(
            "TooManyTagsException",
            400,
            format!("A scalable target can have at most {MAX_TAGS} tags."),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 || k.starts_with("aws:") {
            return Err(validation(format!(
                "Invalid tag '{k}': keys are 1 to 128 characters and may not start with 'aws:', values up to 256."
            )));
        }
    }
    Ok(())
}

impl Autoscaling {
    pub(crate) async fn register_scalable_target(&self, i: RegisterScalableTargetInput) -> Result<Value, AwsError> {
        let id = target_of(&i.service_namespace, &i.resource_id, &i.scalable_dimension)?;
        let Some(service) = self.ecs.service(&id.cluster, &id.service).await? else {
            return Err(validation(format!("ECS service doesn't exist: {}", i.resource_id)));
        };
        if service.daemon {
            return Err(validation(format!(
                "ECS service {} uses the DAEMON scheduling strategy: it has no desired count to scale.",
                i.resource_id
            )));
        }
        if let Some(role) = &i.role_arn
            && berth_core::arn::Arn::parse(role).is_none_or(|a| a.service != "iam")
        {
            return Err(validation(format!("RoleARN {role} is not an IAM role ARN.")));
        }
        let tags = i.tags.clone().unwrap_or_default();
        check_tags(&tags)?;
        let now = self.now();
        let new_id = if i.loaded.new_id.is_empty() {
            new_target_id()
        } else {
            i.loaded.new_id.clone()
        };
        let arn = target_arn(&self.scope, &new_id);
        let role = service_linked_role(&self.scope.account);
        let written = self
            .update_target(&i.service_namespace, &i.scalable_dimension, &i.resource_id, |old| {
                let (min, max) =
                    rules::capacities(old.as_ref().map(|t| (t.min, t.max)), i.min_capacity, i.max_capacity)?;
                Ok(Some(match old {
                    Some(mut t) => {
                        t.min = min;
                        t.max = max;
                        t.suspended = rules::suspended(t.suspended, i.suspended_state.as_ref());
                        t
                    }
                    None => TargetRecord {
                        id: new_id.clone(),
                        arn: arn.clone(),
                        namespace: i.service_namespace.clone(),
                        resource_id: i.resource_id.clone(),
                        dimension: i.scalable_dimension.clone(),
                        min,
                        max,
                        // For ECS, Application Auto Scaling acts through its
                        // service-linked role whatever RoleARN says.
                        role_arn: role.clone(),
                        created: now,
                        suspended: rules::suspended(Default::default(), i.suspended_state.as_ref()),
                        tags: tags.clone(),
                        policies: Vec::new(),
                        scheduled: Vec::new(),
                        cooldown: Default::default(),
                    },
                }))
            })
            .await?
            .ok_or_else(|| AwsError::internal("the scalable target was not written"))?;
        self.clamp_into_range(&written, &id).await;
        Ok(json!({"ScalableTargetARN": written.arn}))
    }

    /// Brings the service's desired count into the target's [min, max], as
    /// a registration or a scheduled action does, recording the activity.
    pub(crate) async fn clamp_into_range(&self, t: &TargetRecord, id: &ServiceId) {
        let (min, max) = (t.min, t.max);
        let cause = move |before: i64, after: i64| {
            if after > before {
                format!("minimum capacity was set to {min}")
            } else {
                format!("maximum capacity was set to {max}")
            }
        };
        self.scale_to(
            t,
            id,
            &|s| {
                let c = crate::capacity::clamp(s.desired_count, min, max);
                (c != s.desired_count).then_some(c)
            },
            &cause,
        )
        .await;
    }

    pub(crate) async fn deregister_scalable_target(&self, i: TargetInput) -> Result<Value, AwsError> {
        target_of(&i.service_namespace, &i.resource_id, &i.scalable_dimension)?;
        let mut removed = None;
        self.update_target(&i.service_namespace, &i.scalable_dimension, &i.resource_id, |old| {
            removed = old;
            Ok(None)
        })
        .await?;
        let Some(t) = removed else {
            return Err(no_target(&i.service_namespace, &i.resource_id, &i.scalable_dimension));
        };
        let alarms: Vec<String> = t
            .policies
            .iter()
            .flat_map(|p| p.alarms.iter().map(|a| a.name.clone()))
            .collect();
        if !alarms.is_empty() {
            self.alarms.delete(alarms).await?;
        }
        self.delete_activities(&t).await?;
        Ok(json!({}))
    }

    pub(crate) async fn describe_scalable_targets(&self, i: DescribeScalableTargetsInput) -> Result<Value, AwsError> {
        check_namespace(&i.service_namespace)?;
        let targets: Vec<Value> = self
            .targets(&i.service_namespace)
            .await?
            .iter()
            .filter(|t| i.scalable_dimension.as_ref().is_none_or(|d| *d == t.dimension))
            .filter(|t| i.resource_ids.as_ref().is_none_or(|ids| ids.contains(&t.resource_id)))
            .map(output::target)
            .collect();
        let (page, next) = crate::ops::page(targets, i.max_results, i.next_token.as_deref())?;
        let mut out = json!({"ScalableTargets": page});
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok(out)
    }

    async fn update_tags(
        &self,
        arn: &str,
        loaded: Option<TargetRecord>,
        f: impl Fn(&mut BTreeMap<String, String>) -> Result<(), AwsError>,
    ) -> Result<Value, AwsError> {
        let t = loaded.ok_or_else(|| resource_not_found(arn))?;
        let written = self
            .update_target(&t.namespace, &t.dimension, &t.resource_id, |cur| {
                let Some(mut cur) = cur.filter(|c| c.arn == arn) else {
                    return Err(resource_not_found(arn));
                };
                f(&mut cur.tags)?;
                check_tags(&cur.tags)?;
                Ok(Some(cur))
            })
            .await?;
        written.ok_or_else(|| resource_not_found(arn))?;
        Ok(json!({}))
    }

    pub(crate) async fn tag_resource(&self, i: TagResourceInput) -> Result<Value, AwsError> {
        let tags = i.tags;
        self.update_tags(&i.resource_arn, i.loaded.target, move |t| {
            t.extend(tags.clone());
            Ok(())
        })
        .await
    }

    pub(crate) async fn untag_resource(&self, i: UntagResourceInput) -> Result<Value, AwsError> {
        let keys = i.tag_keys;
        self.update_tags(&i.resource_arn, i.loaded.target, move |t| {
            for k in &keys {
                t.remove(k);
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn list_tags_for_resource(&self, i: ListTagsForResourceInput) -> Result<Value, AwsError> {
        let t = i.loaded.target.ok_or_else(|| resource_not_found(&i.resource_arn))?;
        Ok(json!({"Tags": t.tags}))
    }
}
