//! PutAttributes, DeleteAttributes, ListAttributes.
//!
//! Custom attributes of container instances are stored one per key under
//! `keys::attribute(cluster, "container-instance", instance_id, name)`. The
//! attributes the agent registered with the instance live in the instance
//! record's own `attributes` list; ListAttributes returns both.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Arn;
use berth_core::arn::Scope;
use berth_ecs_model::Attribute;
use berth_proto::pagination::paginate_ordered;
use berth_proto::pagination::with_next_token;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

pub(crate) const TARGET_CONTAINER_INSTANCE: &str = "container-instance";
/// Custom attributes per resource, and per call.
pub(crate) const MAX_CUSTOM_ATTRIBUTES: usize = 10;

/// Attribute names: 1–128 letters, digits, `-`, `_`, `.`, `/` and `\`.
pub(crate) fn validate_attribute(a: &Attribute) -> Result<(), AwsError> {
    let name_ok = !a.name.is_empty()
        && a.name.chars().count() <= 128
        && a.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '\\'));
    if !name_ok {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid attribute name '{}'. Names are 1-128 characters: letters, numbers, hyphens, underscores, periods, forward slashes and back slashes.",
            a.name
        )));
    }
    let lower = a.name.to_ascii_lowercase();
    if lower.starts_with("ecs.") || lower.starts_with("com.amazonaws.ecs.") {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid attribute name '{}'. Names starting with 'ecs.' or 'com.amazonaws.ecs.' are reserved for Amazon ECS.",
            a.name
        )));
    }
    if let Some(v) = &a.value {
        let value_ok = !v.is_empty()
            && v.chars().count() <= 128
            && !v.starts_with(' ')
            && !v.ends_with(' ')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '/' | '\\' | ':' | ' '));
        if !value_ok {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid value for attribute '{}'. Values are 1-128 characters: letters, numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons and spaces, not starting or ending with a space.",
                a.name
            )));
        }
    }
    if let Some(t) = &a.target_type
        && t != TARGET_CONTAINER_INSTANCE
    {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid targetType '{t}'. The only valid value is container-instance."
        )));
    }
    Ok(())
}

/// The container instance id a `targetId` names in `cluster`: a bare id, or
/// a `container-instance/[CLUSTER/]ID` ARN. `None` when an ARN names another
/// cluster, account or region.
pub(crate) fn target_instance_id(
    scope: &berth_core::arn::Scope,
    cluster: &str,
    target: &str,
) -> Result<Option<String>, AwsError> {
    let invalid = || AwsError::invalid_parameter(format!("Invalid targetId '{target}'."));
    if !target.starts_with("arn:") {
        if target.is_empty() || target.contains('/') {
            return Err(invalid());
        }
        return Ok(Some(target.to_string()));
    }
    let arn = Arn::parse(target).ok_or_else(invalid)?;
    let rest = arn.resource.strip_prefix("container-instance/").ok_or_else(|| {
        AwsError::invalid_parameter(format!(
            "Invalid targetId '{target}'. Attributes can be put only on container instances."
        ))
    })?;
    if arn.service != "ecs" || arn.region != scope.region || arn.account != scope.account {
        return Ok(None);
    }
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [c, id] if !id.is_empty() => Ok((*c == cluster).then(|| id.to_string())),
        [id] if !id.is_empty() => Ok(Some(id.to_string())),
        _ => Err(invalid()),
    }
}

fn target_not_found(target: &str, cluster: &str) -> AwsError {
    AwsError::new(
        "TargetNotFoundException",
        400,
        format!("Could not find target {target} in cluster {cluster}."),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttributesInput {
    cluster: Option<String>,
    attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInput {
    cluster: Option<String>,
    target_type: String,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// One container instance a call touches.
struct Target {
    id: String,
    arn: String,
    instance_key: String,
}

impl Ecs {
    /// Validates a Put/DeleteAttributes request and groups its attributes by
    /// the existing container instance they target.
    async fn attribute_targets(
        &self,
        cluster: &str,
        attributes: &[Attribute],
    ) -> Result<Vec<(Target, Vec<Attribute>)>, AwsError> {
        if attributes.is_empty() || attributes.len() > MAX_CUSTOM_ATTRIBUTES {
            return Err(AwsError::invalid_parameter(format!(
                "attributes must contain between 1 and {MAX_CUSTOM_ATTRIBUTES} attributes."
            )));
        }
        let mut grouped: BTreeMap<String, (Target, Vec<Attribute>)> = BTreeMap::new();
        for a in attributes {
            validate_attribute(a)?;
            let raw = a
                .target_id
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| AwsError::invalid_parameter(format!("Attribute '{}' needs a targetId.", a.name)))?;
            if !raw.starts_with("arn:") && a.target_type.is_none() {
                return Err(AwsError::invalid_parameter(format!(
                    "Attribute '{}' needs a targetType when targetId is not an ARN.",
                    a.name
                )));
            }
            let id = target_instance_id(&self.scope, cluster, raw)?.ok_or_else(|| target_not_found(raw, cluster))?;
            if !grouped.contains_key(&id) {
                let instance_key = keys::instance(cluster, &id);
                let Some((record, _)) = typed::get::<Value>(&*self.store, &instance_key)
                    .await
                    .map_err(AwsError::state_store)?
                else {
                    return Err(target_not_found(raw, cluster));
                };
                let arn = record
                    .get("containerInstanceArn")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| self.scope.container_instance_arn(cluster, &id));
                grouped.insert(
                    id.clone(),
                    (
                        Target {
                            id: id.clone(),
                            arn,
                            instance_key,
                        },
                        vec![],
                    ),
                );
            }
            let (target, list) = grouped.get_mut(&id).expect("inserted above");
            let normalized = Attribute {
                name: a.name.clone(),
                value: a.value.clone(),
                target_type: Some(TARGET_CONTAINER_INSTANCE.into()),
                target_id: Some(target.arn.clone()),
            };
            // The last occurrence of a name in one call wins.
            list.retain(|x| x.name != normalized.name);
            list.push(normalized);
        }
        Ok(grouped.into_values().collect())
    }

    /// The custom attributes of one container instance.
    pub(crate) async fn custom_attributes(&self, cluster: &str, instance_id: &str) -> Result<Vec<Attribute>, AwsError> {
        let prefix = keys::attribute(cluster, TARGET_CONTAINER_INSTANCE, instance_id, "");
        typed::list(&*self.store, &prefix).await.map_err(AwsError::state_store)
    }

    pub(crate) async fn put_attributes(
        &self,
        _ctx: &RequestContext,
        input: AttributesInput,
    ) -> Result<Value, AwsError> {
        let cluster = self.active_cluster(input.cluster.as_deref()).await?.cluster_name;
        let targets = self.attribute_targets(&cluster, &input.attributes).await?;
        let mut compares = vec![];
        let mut ops = vec![];
        let mut out = vec![];
        for (target, attrs) in targets {
            let existing: Vec<String> = self
                .custom_attributes(&cluster, &target.id)
                .await?
                .into_iter()
                .map(|a| a.name)
                .collect();
            let new_names = attrs.iter().filter(|a| !existing.contains(&a.name)).count();
            if existing.len() + new_names > MAX_CUSTOM_ATTRIBUTES {
                return Err(AwsError::new(
                    "AttributeLimitExceededException",
                    400,
                    format!(
                        "Container instance {} would have more than {MAX_CUSTOM_ATTRIBUTES} custom attributes.",
                        target.arn
                    ),
                ));
            }
            compares.push(Compare::Exists(target.instance_key.clone()));
            for a in attrs {
                let key = keys::attribute(&cluster, TARGET_CONTAINER_INSTANCE, &target.id, &a.name);
                ops.push(Op::Put(key, typed::encode(&a).map_err(AwsError::state_store)?));
                out.push(a);
            }
        }
        let res = self.store.txn(compares, ops).await.map_err(AwsError::state_store)?;
        if !res.succeeded {
            return Err(target_not_found(
                "(container instance deregistered meanwhile)",
                &cluster,
            ));
        }
        Ok(json!({ "attributes": out }))
    }

    pub(crate) async fn delete_attributes(
        &self,
        _ctx: &RequestContext,
        input: AttributesInput,
    ) -> Result<Value, AwsError> {
        let cluster = self.active_cluster(input.cluster.as_deref()).await?.cluster_name;
        let targets = self.attribute_targets(&cluster, &input.attributes).await?;
        let mut ops = vec![];
        let mut out = vec![];
        for (target, attrs) in targets {
            for a in attrs {
                ops.push(Op::Delete(keys::attribute(
                    &cluster,
                    TARGET_CONTAINER_INSTANCE,
                    &target.id,
                    &a.name,
                )));
                out.push(a);
            }
        }
        self.store.txn(vec![], ops).await.map_err(AwsError::state_store)?;
        Ok(json!({ "attributes": out }))
    }

    pub(crate) async fn list_attributes(&self, _ctx: &RequestContext, input: ListInput) -> Result<Value, AwsError> {
        if input.target_type != TARGET_CONTAINER_INSTANCE {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid targetType '{}'. The only valid value is container-instance.",
                input.target_type
            )));
        }
        if input.attribute_value.is_some() && input.attribute_name.is_none() {
            return Err(AwsError::invalid_parameter(
                "To filter attributes by value, also specify attributeName.",
            ));
        }
        let cluster = self.active_cluster(input.cluster.as_deref()).await?.cluster_name;
        // (targetId, name) -> attribute; custom attributes override registered ones.
        let mut all: HashMap<(String, String), Attribute> = HashMap::new();
        for kv in self
            .store
            .range(&keys::instances_of(&cluster), None, None)
            .await
            .map_err(AwsError::state_store)?
        {
            let record: Value = typed::decode(&kv).map_err(AwsError::state_store)?;
            let Some(arn) = record.get("containerInstanceArn").and_then(Value::as_str) else {
                continue;
            };
            let registered: Vec<Attribute> = record
                .get("attributes")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| AwsError::server(format!("malformed container instance attributes: {e}")))?
                .unwrap_or_default();
            for mut a in registered {
                a.target_type = Some(TARGET_CONTAINER_INSTANCE.into());
                a.target_id = Some(arn.to_string());
                all.insert((arn.to_string(), a.name.clone()), a);
            }
        }
        let prefix = format!("{}{TARGET_CONTAINER_INSTANCE}/", keys::attributes_of_cluster(&cluster));
        for a in typed::list::<Attribute>(&*self.store, &prefix)
            .await
            .map_err(AwsError::state_store)?
        {
            all.insert((a.target_id.clone().unwrap_or_default(), a.name.clone()), a);
        }
        let mut items: Vec<((String, String), Attribute)> = all
            .into_iter()
            .filter(|(_, a)| input.attribute_name.as_deref().is_none_or(|n| n == a.name))
            .filter(|(_, a)| {
                input
                    .attribute_value
                    .as_deref()
                    .is_none_or(|v| a.value.as_deref() == Some(v))
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let (page, next) = paginate_ordered(
            items,
            |((target, name), _)| format!("{target} {name}"),
            input.next_token.as_deref(),
            input.max_results,
            100,
            100,
            false,
        )?;
        let attributes: Vec<Attribute> = page.into_iter().map(|(_, a)| a).collect();
        Ok(with_next_token(json!({ "attributes": attributes }), next))
    }
}

/// The container instances attributes target (by id in the request's
/// cluster, or ARN), each once.
fn targets(scope: &Scope, input: &AttributesInput) -> Vec<AuthzResource> {
    let mut arns: Vec<String> = vec![];
    for t in input.attributes.iter().filter_map(|a| a.target_id.as_deref()) {
        let arn = authz::arn_in_cluster(scope, input.cluster.as_deref(), Some(t), Scope::container_instance_arn);
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    authz::resources_of(scope, arns)
}

/// PutAttributes: on each container instance targeted.
pub(crate) struct PutAttributes;

#[async_trait]
impl Operation<Ecs> for PutAttributes {
    const NAME: &'static str = "PutAttributes";
    type Input = AttributesInput;

    fn resources(scope: &Scope, input: &AttributesInput) -> Vec<AuthzResource> {
        targets(scope, input)
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: AttributesInput) -> Result<Value, AwsError> {
        ecs.put_attributes(ctx, input).await
    }
}

/// DeleteAttributes: on each container instance targeted.
pub(crate) struct DeleteAttributes;

#[async_trait]
impl Operation<Ecs> for DeleteAttributes {
    const NAME: &'static str = "DeleteAttributes";
    type Input = AttributesInput;

    fn resources(scope: &Scope, input: &AttributesInput) -> Vec<AuthzResource> {
        targets(scope, input)
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: AttributesInput) -> Result<Value, AwsError> {
        ecs.delete_attributes(ctx, input).await
    }
}

/// ListAttributes: on its cluster.
pub(crate) struct ListAttributes;

#[async_trait]
impl Operation<Ecs> for ListAttributes {
    const NAME: &'static str = "ListAttributes";
    type Input = ListInput;

    fn resources(scope: &Scope, input: &ListInput) -> Vec<AuthzResource> {
        vec![authz::cluster_resource(scope, input.cluster.as_deref())]
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListInput) -> Result<Value, AwsError> {
        ecs.list_attributes(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::arn::Scope;

    fn attr(name: &str, value: Option<&str>) -> Attribute {
        Attribute {
            name: name.into(),
            value: value.map(str::to_string),
            target_type: None,
            target_id: None,
        }
    }

    #[test]
    fn names_and_values() {
        assert!(validate_attribute(&attr("stack", Some("production"))).is_ok());
        assert!(validate_attribute(&attr("team/a.b_c-d\\e", None)).is_ok());
        assert!(validate_attribute(&attr("", None)).is_err());
        assert!(validate_attribute(&attr("has space", None)).is_err());
        assert!(validate_attribute(&attr(&"a".repeat(129), None)).is_err());
        assert!(validate_attribute(&attr("ecs.os-type", Some("linux"))).is_err());
        assert!(validate_attribute(&attr("a", Some("user@host:/path x"))).is_ok());
        assert!(validate_attribute(&attr("a", Some(" leading"))).is_err());
        assert!(validate_attribute(&attr("a", Some("trailing "))).is_err());
        assert!(validate_attribute(&attr("a", Some(""))).is_err());
        assert!(validate_attribute(&attr("a", Some(&"v".repeat(129)))).is_err());
        assert!(validate_attribute(&attr("a", Some("semi;colon"))).is_err());
        let mut t = attr("a", None);
        t.target_type = Some("task".into());
        assert!(validate_attribute(&t).is_err());
    }

    #[test]
    fn targets_resolve_in_their_cluster() {
        let s = Scope::new("us-east-1", "000000000000");
        let arn = "arn:aws:ecs:us-east-1:000000000000:container-instance/web/abc";
        assert_eq!(target_instance_id(&s, "web", arn).unwrap(), Some("abc".into()));
        assert_eq!(target_instance_id(&s, "other", arn).unwrap(), None);
        assert_eq!(target_instance_id(&s, "web", "abc").unwrap(), Some("abc".into()));
        assert_eq!(
            target_instance_id(&s, "web", "arn:aws:ecs:us-east-1:000000000000:container-instance/abc").unwrap(),
            Some("abc".into())
        );
        assert_eq!(
            target_instance_id(
                &s,
                "web",
                "arn:aws:ecs:eu-west-1:000000000000:container-instance/web/abc"
            )
            .unwrap(),
            None
        );
        assert!(target_instance_id(&s, "web", "arn:aws:ecs:us-east-1:000000000000:task/web/abc").is_err());
        assert!(target_instance_id(&s, "web", "a/b").is_err());
    }
}
