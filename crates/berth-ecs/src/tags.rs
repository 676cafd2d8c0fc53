//! TagResource, UntagResource, ListTagsForResource.
//!
//! Every taggable ECS resource is stored as a JSON record with a top-level
//! `tags` array; [`parse_resource_arn`] and `Ecs::tag_key` map a resource ARN
//! to that record's store key.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::{Arn, Scope};
use berth_core::ecs::{BUILTIN_CAPACITY_PROVIDERS, Tag, merge_tags, validate_tags};
use berth_core::names::is_valid_ecs_name;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

/// A taggable resource, as named by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagTarget {
    Cluster(String),
    TaskDefinition(String, i64),
    /// Tasks, services and container instances; `cluster` is `None` for the
    /// old short ARN format (`task/ID`).
    Task(Option<String>, String),
    Service(Option<String>, String),
    ContainerInstance(Option<String>, String),
    CapacityProvider(String),
}

fn invalid_arn(arn: &str) -> AwsError {
    AwsError::invalid_parameter(format!(
        "Invalid resource ARN: {arn}. Specify the ARN of an ECS resource."
    ))
}

pub(crate) fn resource_not_found() -> AwsError {
    AwsError::resource_not_found("The specified resource could not be found.")
}

/// Parses an ECS resource ARN. Malformed ARNs and ARNs of resource types that
/// cannot be tagged are `InvalidParameterException`; ARNs of another account
/// or region name nothing here (`ResourceNotFoundException`).
pub(crate) fn parse_resource_arn(scope: &Scope, raw: &str) -> Result<TagTarget, AwsError> {
    let arn = Arn::parse(raw).ok_or_else(|| invalid_arn(raw))?;
    if arn.service != "ecs" {
        return Err(invalid_arn(raw));
    }
    let (kind, rest) = arn.resource_parts();
    let parts: Vec<&str> = rest.split('/').collect();
    let valid = |s: &str| {
        !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let target = match (kind, parts.as_slice()) {
        ("cluster", [name]) if is_valid_ecs_name(name) => TagTarget::Cluster(name.to_string()),
        ("task-definition", [body]) => {
            let (family, rev) = body.split_once(':').ok_or_else(|| {
                AwsError::invalid_parameter(format!(
                    "The task definition ARN {raw} must include a revision (task-definition/FAMILY:REVISION)."
                ))
            })?;
            let rev = rev
                .parse::<i64>()
                .ok()
                .filter(|r| *r >= 1)
                .ok_or_else(|| invalid_arn(raw))?;
            if !is_valid_ecs_name(family) {
                return Err(invalid_arn(raw));
            }
            TagTarget::TaskDefinition(family.to_string(), rev)
        }
        ("task", [cluster, id]) if valid(cluster) && valid(id) => {
            TagTarget::Task(Some(cluster.to_string()), id.to_string())
        }
        ("task", [id]) if valid(id) => TagTarget::Task(None, id.to_string()),
        ("service", [cluster, name]) if valid(cluster) && valid(name) => {
            TagTarget::Service(Some(cluster.to_string()), name.to_string())
        }
        ("service", [name]) if valid(name) => TagTarget::Service(None, name.to_string()),
        ("container-instance", [cluster, id]) if valid(cluster) && valid(id) => {
            TagTarget::ContainerInstance(Some(cluster.to_string()), id.to_string())
        }
        ("container-instance", [id]) if valid(id) => TagTarget::ContainerInstance(None, id.to_string()),
        ("capacity-provider", [name]) if valid(name) => TagTarget::CapacityProvider(name.to_string()),
        _ => return Err(invalid_arn(raw)),
    };
    if arn.region != scope.region || arn.account != scope.account {
        return Err(match target {
            TagTarget::Cluster(_) => AwsError::cluster_not_found("Cluster not found."),
            _ => resource_not_found(),
        });
    }
    Ok(target)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::new("us-east-1", "000000000000")
    }

    fn p(s: &str) -> Result<TagTarget, AwsError> {
        parse_resource_arn(&scope(), s)
    }

    #[test]
    fn arns_resolve_to_targets() {
        let a = "arn:aws:ecs:us-east-1:000000000000:";
        assert_eq!(p(&format!("{a}cluster/web")).unwrap(), TagTarget::Cluster("web".into()));
        assert_eq!(
            p(&format!("{a}task-definition/web:3")).unwrap(),
            TagTarget::TaskDefinition("web".into(), 3)
        );
        assert_eq!(
            p(&format!("{a}task/c1/abc")).unwrap(),
            TagTarget::Task(Some("c1".into()), "abc".into())
        );
        assert_eq!(p(&format!("{a}task/abc")).unwrap(), TagTarget::Task(None, "abc".into()));
        assert_eq!(
            p(&format!("{a}service/c1/svc")).unwrap(),
            TagTarget::Service(Some("c1".into()), "svc".into())
        );
        assert_eq!(
            p(&format!("{a}container-instance/c1/i1")).unwrap(),
            TagTarget::ContainerInstance(Some("c1".into()), "i1".into())
        );
        assert_eq!(
            p(&format!("{a}capacity-provider/FARGATE")).unwrap(),
            TagTarget::CapacityProvider("FARGATE".into())
        );
    }

    #[test]
    fn bad_arns_are_invalid_parameters() {
        for bad in [
            "not-an-arn",
            "arn:aws:s3:::bucket",
            "arn:aws:ecs:us-east-1:000000000000:widget/x",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web:x",
            "arn:aws:ecs:us-east-1:000000000000:cluster/a b",
            "arn:aws:ecs:us-east-1:000000000000:task/a/b/c",
        ] {
            assert_eq!(p(bad).unwrap_err().code, "InvalidParameterException", "{bad}");
        }
    }

    #[test]
    fn foreign_arns_are_not_found() {
        assert_eq!(
            p("arn:aws:ecs:eu-west-1:000000000000:cluster/web").unwrap_err().code,
            "ClusterNotFoundException"
        );
        assert_eq!(
            p("arn:aws:ecs:us-east-1:111111111111:task-definition/web:1")
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
    }
}
