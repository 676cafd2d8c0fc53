//! TagResource, UntagResource, ListTagsForResource.
//!
//! Every taggable ECS resource is stored as a JSON record with a top-level
//! `tags` array; `references::parse_resource_arn` and `Ecs::tag_key` map a
//! resource ARN to that record's store key.

use crate::authz;
use crate::operation::Operation;
use crate::references::{TagTarget, parse_resource_arn, resource_not_found};
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_ecs_model::{BUILTIN_CAPACITY_PROVIDERS, Tag, merge_tags, validate_tags};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagInput {
    resource_arn: String,
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UntagInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListTagsInput {
    resource_arn: String,
}

/// Where a resource's record lives, and whether it may be created on first
/// tag (the built-in capacity providers have no record until tagged).
struct TagKey {
    key: String,
    builtin: Option<String>,
}

fn tags_of(v: &Value) -> Result<Vec<Tag>, AwsError> {
    match v.get("tags") {
        None | Some(Value::Null) => Ok(vec![]),
        Some(t) => serde_json::from_value(t.clone())
            .map_err(|e| AwsError::server(format!("stored resource has malformed tags: {e}"))),
    }
}

impl Ecs {
    /// Finds the key of a child resource (task, service, instance) in a named
    /// cluster, or in whichever cluster holds it for short ARNs.
    async fn child_key(
        &self,
        cluster: Option<&str>,
        id: &str,
        key_of: fn(&str, &str) -> String,
        root: &str,
    ) -> Result<String, AwsError> {
        match cluster {
            Some(c) => {
                if self
                    .store
                    .get(&keys::cluster(c))
                    .await
                    .map_err(AwsError::state_store)?
                    .is_none()
                {
                    return Err(AwsError::cluster_not_found("Cluster not found."));
                }
                let key = key_of(c, id);
                if self.store.get(&key).await.map_err(AwsError::state_store)?.is_none() {
                    return Err(resource_not_found());
                }
                Ok(key)
            }
            None => {
                let suffix = format!("/{id}");
                self.store
                    .range(root, None, None)
                    .await
                    .map_err(AwsError::state_store)?
                    .into_iter()
                    .map(|kv| kv.key)
                    .find(|k| k.ends_with(&suffix) && k[root.len()..].matches('/').count() == 1)
                    .ok_or_else(resource_not_found)
            }
        }
    }

    async fn tag_key(&self, target: &TagTarget) -> Result<TagKey, AwsError> {
        let existing = |key: String| TagKey { key, builtin: None };
        Ok(match target {
            TagTarget::Cluster(name) => {
                let key = keys::cluster(name);
                if self.store.get(&key).await.map_err(AwsError::state_store)?.is_none() {
                    return Err(AwsError::cluster_not_found("Cluster not found."));
                }
                existing(key)
            }
            TagTarget::TaskDefinition(family, rev) => {
                let key = keys::task_definition(family, *rev);
                if self.store.get(&key).await.map_err(AwsError::state_store)?.is_none() {
                    return Err(resource_not_found());
                }
                existing(key)
            }
            TagTarget::Task(c, id) => existing(self.child_key(c.as_deref(), id, keys::task, keys::TASKS).await?),
            TagTarget::Service(c, name) => existing(
                self.child_key(c.as_deref(), name, keys::service, keys::SERVICES)
                    .await?,
            ),
            TagTarget::ContainerInstance(c, id) => existing(
                self.child_key(c.as_deref(), id, keys::instance, keys::INSTANCES)
                    .await?,
            ),
            TagTarget::CapacityProvider(name) => {
                let key = keys::capacity_provider(name);
                if BUILTIN_CAPACITY_PROVIDERS.contains(&name.as_str()) {
                    TagKey {
                        key,
                        builtin: Some(name.clone()),
                    }
                } else {
                    if self.store.get(&key).await.map_err(AwsError::state_store)?.is_none() {
                        return Err(resource_not_found());
                    }
                    existing(key)
                }
            }
        })
    }

    /// The tags of the resource an ARN names.
    pub(crate) async fn resource_tags(&self, arn: &str) -> Result<Vec<Tag>, AwsError> {
        let target = parse_resource_arn(&self.scope, arn)?;
        let tk = self.tag_key(&target).await?;
        match self.store.get(&tk.key).await.map_err(AwsError::state_store)? {
            Some(kv) => tags_of(&typed::decode::<Value>(&kv).map_err(AwsError::state_store)?),
            None if tk.builtin.is_some() => Ok(vec![]),
            None => Err(resource_not_found()),
        }
    }

    pub(crate) async fn tag_resource(&self, _ctx: &RequestContext, input: TagInput) -> Result<Value, AwsError> {
        validate_tags(&input.tags)?;
        let target = parse_resource_arn(&self.scope, &input.resource_arn)?;
        let tk = self.tag_key(&target).await?;
        typed::update_with::<Value, AwsError, _>(AwsError::state_store, &*self.store, &tk.key, |cur| {
            let mut v = match (cur, &tk.builtin) {
                (Some(v), _) => v,
                (None, Some(name)) => json!({ "name": name }),
                (None, None) => return Err(resource_not_found()),
            };
            if !v.is_object() {
                return Err(AwsError::server("stored resource is not a JSON object"));
            }
            let mut tags = tags_of(&v)?;
            merge_tags(&mut tags, &input.tags);
            if tags.len() > 50 {
                return Err(AwsError::invalid_parameter(
                    "The number of tags exceeds the limit of 50 tags per resource.",
                ));
            }
            v["tags"] = json!(tags);
            Ok(Some(v))
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn untag_resource(&self, _ctx: &RequestContext, input: UntagInput) -> Result<Value, AwsError> {
        for k in &input.tag_keys {
            if k.is_empty() || k.chars().count() > 128 {
                return Err(AwsError::invalid_parameter(
                    "Tag keys must be between 1 and 128 characters.",
                ));
            }
            if k.to_ascii_lowercase().starts_with("aws:") {
                return Err(AwsError::invalid_parameter(
                    "Tag keys with the reserved prefix 'aws:' cannot be removed.",
                ));
            }
        }
        let target = parse_resource_arn(&self.scope, &input.resource_arn)?;
        let tk = self.tag_key(&target).await?;
        typed::update_with::<Value, AwsError, _>(AwsError::state_store, &*self.store, &tk.key, |cur| {
            let Some(mut v) = cur else {
                // A built-in provider without a record has no tags to remove.
                return if tk.builtin.is_some() {
                    Ok(None)
                } else {
                    Err(resource_not_found())
                };
            };
            if !v.is_object() {
                return Err(AwsError::server("stored resource is not a JSON object"));
            }
            let mut tags = tags_of(&v)?;
            tags.retain(|t| !input.tag_keys.contains(&t.key));
            if tk.builtin.is_some() && tags.is_empty() {
                return Ok(None);
            }
            v["tags"] = json!(tags);
            Ok(Some(v))
        })
        .await?;
        Ok(json!({}))
    }

    pub(crate) async fn list_tags_for_resource(
        &self,
        _ctx: &RequestContext,
        input: ListTagsInput,
    ) -> Result<Value, AwsError> {
        let tags = self.resource_tags(&input.resource_arn).await?;
        Ok(json!({ "tags": tags }))
    }
}

/// The resource a tagging operation names, by ARN (`*` for anything else:
/// the handler reports it).
fn tagged(scope: &Scope, arn: &str) -> Vec<AuthzResource> {
    if arn.starts_with("arn:") {
        authz::resources_of(scope, [arn.to_string()])
    } else {
        authz::star()
    }
}

/// TagResource: on the resource tagged.
pub(crate) struct TagResource;

#[async_trait]
impl Operation<Ecs> for TagResource {
    const NAME: &'static str = "TagResource";
    type Input = TagInput;

    fn resources(scope: &Scope, input: &TagInput) -> Vec<AuthzResource> {
        tagged(scope, &input.resource_arn)
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: TagInput) -> Result<Value, AwsError> {
        ecs.tag_resource(ctx, input).await
    }
}

/// UntagResource: on the resource untagged.
pub(crate) struct UntagResource;

#[async_trait]
impl Operation<Ecs> for UntagResource {
    const NAME: &'static str = "UntagResource";
    type Input = UntagInput;

    fn resources(scope: &Scope, input: &UntagInput) -> Vec<AuthzResource> {
        tagged(scope, &input.resource_arn)
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: UntagInput) -> Result<Value, AwsError> {
        ecs.untag_resource(ctx, input).await
    }
}

/// ListTagsForResource: on the resource named.
pub(crate) struct ListTagsForResource;

#[async_trait]
impl Operation<Ecs> for ListTagsForResource {
    const NAME: &'static str = "ListTagsForResource";
    type Input = ListTagsInput;

    fn resources(scope: &Scope, input: &ListTagsInput) -> Vec<AuthzResource> {
        tagged(scope, &input.resource_arn)
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListTagsInput) -> Result<Value, AwsError> {
        ecs.list_tags_for_resource(ctx, input).await
    }
}
