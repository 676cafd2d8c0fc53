//! CreateTags, DeleteTags, DescribeTags on VPCs, subnets and security
//! groups, by id; an id of another kind is `InvalidID`, an unknown one the
//! not-found error of its kind, and nothing is changed.

use super::{TagIn, answer, any, arn_of, check_tag, decode, resource_type};
use crate::Ec2;
use crate::errors::Ec2Error;
use crate::output::{Items, TRUE};
use crate::records::State;
use crate::rules::{self, Filter};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagsInput {
    #[serde(default, rename = "ResourceId")]
    pub resources: Vec<String>,
    #[serde(default, rename = "Tag")]
    pub tags: Vec<TagIn>,
}

fn decode_tags(input: &QueryInput, scope_check: bool) -> Result<TagsInput, AwsError> {
    let input: TagsInput = decode(input, &[])?;
    if input.resources.is_empty() {
        return Err(Ec2Error::MissingParameter("resourceIdSet".into()).into());
    }
    let scope = Scope::new("", "");
    for id in &input.resources {
        arn_of(&scope, id)?;
    }
    if scope_check && input.tags.is_empty() {
        return Err(Ec2Error::MissingParameter("tagSet".into()).into());
    }
    Ok(input)
}

fn each(scope: &Scope, input: &TagsInput) -> Vec<AuthzResource> {
    input
        .resources
        .iter()
        .filter_map(|id| arn_of(scope, id).ok())
        .map(AuthzResource::untagged)
        .collect()
}

fn not_found(id: &str) -> Ec2Error {
    match resource_type(id) {
        "vpc" => Ec2Error::VpcNotFound(id.to_string()),
        "subnet" => Ec2Error::SubnetNotFound(id.to_string()),
        _ => Ec2Error::GroupNotFound(id.to_string()),
    }
}

fn tags_of<'a>(st: &'a mut State, id: &str) -> Result<&'a mut crate::records::Tags, Ec2Error> {
    st.tags_mut(id).ok_or_else(|| not_found(id))
}

pub struct CreateTags;

#[async_trait]
impl QueryOperation<Ec2> for CreateTags {
    const NAME: &'static str = "CreateTags";
    type Input = TagsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_tags(input, true)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        each(scope, input)
    }
    fn request_tags(input: &Self::Input) -> Vec<(String, String)> {
        input
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
            .collect()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        for t in &input.tags {
            check_tag(t)?;
        }
        ec2.write(|st| {
            for id in &input.resources {
                let tags = tags_of(st, id)?;
                for t in &input.tags {
                    tags.insert(t.key.clone(), t.value.clone().unwrap_or_default());
                }
                if tags.len() > super::MAX_TAGS {
                    return Err(Ec2Error::InvalidParameterValue(format!(
                        "'{id}' would have more than {} tags",
                        super::MAX_TAGS
                    ))
                    .into());
                }
            }
            Ok(())
        })
        .await?;
        answer(Self::NAME, &TRUE)
    }
}

pub struct DeleteTags;

#[async_trait]
impl QueryOperation<Ec2> for DeleteTags {
    const NAME: &'static str = "DeleteTags";
    type Input = TagsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode_tags(input, false)
    }
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource> {
        each(scope, input)
    }
    /// No `Tag.N` removes every tag; a tag with a value is removed only
    /// when the value matches (an empty value given matches only empty).
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        ec2.write(|st| {
            for id in &input.resources {
                let tags = tags_of(st, id)?;
                if input.tags.is_empty() {
                    tags.clear();
                }
                for t in &input.tags {
                    let matches = t.value.as_ref().is_none_or(|v| tags.get(&t.key) == Some(v));
                    if matches {
                        tags.remove(&t.key);
                    }
                }
            }
            Ok(())
        })
        .await?;
        answer(Self::NAME, &TRUE)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTagsInput {
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TagDescription {
    resource_id: String,
    resource_type: &'static str,
    key: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeTagsOutput {
    tag_set: Items<TagDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub struct DescribeTags;

#[async_trait]
impl QueryOperation<Ec2> for DescribeTags {
    const NAME: &'static str = "DescribeTags";
    type Input = DescribeTagsInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        let all = state
            .vpcs
            .values()
            .map(|v| (&v.id, &v.tags))
            .chain(state.subnets.values().map(|s| (&s.id, &s.tags)))
            .chain(state.groups.values().map(|g| (&g.id, &g.tags)));
        let mut out = Vec::new();
        let none = crate::records::Tags::new();
        for (id, tags) in all {
            for (k, v) in tags {
                let keep = rules::matches(&input.filters, &none, |name| match name {
                    "resource-id" => Some(vec![id.clone()]),
                    "resource-type" => Some(vec![resource_type(id).to_string()]),
                    "key" => Some(vec![k.clone()]),
                    "value" => Some(vec![v.clone()]),
                    _ => None,
                })?;
                if keep {
                    out.push(TagDescription {
                        resource_id: id.clone(),
                        resource_type: resource_type(id),
                        key: k.clone(),
                        value: v.clone(),
                    });
                }
            }
        }
        let (tags, next_token) = super::page(out, input.next_token.as_deref(), input.max_results)?;
        answer(
            Self::NAME,
            &DescribeTagsOutput {
                tag_set: Items(tags),
                next_token,
            },
        )
    }
}
