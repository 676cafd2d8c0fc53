//! AddTags, RemoveTags, DescribeTags: on load balancers, target groups,
//! listeners and rules, by ARN (at most 20 per call); an unknown ARN
//! answers the not-found error of its kind.

use super::answer;
use crate::Elbv2;
use crate::errors::{LbError, invalid};
use crate::names::{merge_tags, pairs};
use crate::output::{self, TagOut};
use crate::records::Tag;
use crate::state::State;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{Members, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

/// The most resources one tag call names.
pub const MAX_RESOURCES: usize = 20;

/// The tags of the resource `arn`, to read or change.
fn tags_of<'a>(state: &'a mut State, arn: &str) -> Result<&'a mut Vec<Tag>, LbError> {
    if let Some(r) = state.lbs.get_mut(arn) {
        return Ok(&mut r.tags);
    }
    if let Some(r) = state.tgs.get_mut(arn) {
        return Ok(&mut r.tags);
    }
    if let Some(r) = state.listeners.get_mut(arn) {
        return Ok(&mut r.tags);
    }
    if let Some(r) = state.rules.get_mut(arn) {
        return Ok(&mut r.tags);
    }
    Err(not_found(arn))
}

/// The not-found error of the kind of resource `arn` names.
fn not_found(arn: &str) -> LbError {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    match resource.split('/').next() {
        Some("loadbalancer") => LbError::LoadBalancerNotFound,
        Some("targetgroup") => LbError::TargetGroupNotFound,
        Some("listener") => LbError::ListenerNotFound,
        Some("listener-rule") => LbError::RuleNotFound,
        _ => invalid(format!(
            "'{arn}' is not a valid load balancer, target group, listener or rule ARN"
        )),
    }
}

fn check_count(arns: &[String]) -> Result<(), LbError> {
    if arns.len() > MAX_RESOURCES {
        return Err(invalid(format!(
            "At most {MAX_RESOURCES} resource ARNs can be specified"
        )));
    }
    Ok(())
}

fn each_resource(arns: &[String]) -> Vec<AuthzResource> {
    arns.iter().cloned().map(AuthzResource::untagged).collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddTagsInput {
    pub resource_arns: Vec<String>,
    pub tags: Vec<Tag>,
}

pub fn add(state: &mut State, input: &AddTagsInput) -> Result<(), LbError> {
    check_count(&input.resource_arns)?;
    for arn in &input.resource_arns {
        let tags = tags_of(state, arn)?;
        *tags = merge_tags(tags, &input.tags)?;
    }
    Ok(())
}

pub struct AddTags;

#[async_trait]
impl QueryOperation<Elbv2> for AddTags {
    const NAME: &'static str = "AddTags";
    type Input = AddTagsInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        each_resource(&input.resource_arns)
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        pairs(&input.tags)
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| add(st, &input)).await?;
        Ok(QueryResult::no_members())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTagsInput {
    pub resource_arns: Vec<String>,
    pub tag_keys: Vec<String>,
}

pub fn remove(state: &mut State, input: &RemoveTagsInput) -> Result<(), LbError> {
    check_count(&input.resource_arns)?;
    for arn in &input.resource_arns {
        tags_of(state, arn)?.retain(|t| !input.tag_keys.contains(&t.key));
    }
    Ok(())
}

pub struct RemoveTags;

#[async_trait]
impl QueryOperation<Elbv2> for RemoveTags {
    const NAME: &'static str = "RemoveTags";
    type Input = RemoveTagsInput;
    fn resources(_scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        each_resource(&input.resource_arns)
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        svc.write(|st| remove(st, &input)).await?;
        Ok(QueryResult::no_members())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTagsInput {
    pub resource_arns: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagDescriptionOut {
    pub resource_arn: String,
    pub tags: Members<TagOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTagsOutput {
    pub tag_descriptions: Members<TagDescriptionOut>,
}

pub struct DescribeTags;

#[async_trait]
impl QueryOperation<Elbv2> for DescribeTags {
    const NAME: &'static str = "DescribeTags";
    type Input = DescribeTagsInput;
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        Vec::new()
    }
    async fn run(svc: &Elbv2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        check_count(&input.resource_arns)?;
        let mut state = svc.snapshot().await?;
        let mut out = Vec::new();
        for arn in &input.resource_arns {
            let tags = tags_of(&mut state, arn)?;
            out.push(TagDescriptionOut {
                resource_arn: arn.clone(),
                tags: output::tags(tags),
            });
        }
        answer(
            Self::NAME,
            &DescribeTagsOutput {
                tag_descriptions: Members(out),
            },
        )
    }
}
