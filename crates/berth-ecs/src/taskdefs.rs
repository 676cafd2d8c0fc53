//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions.
//!
//! Revisions are numbered per family by a compare-and-swap on the family key
//! (`keys::family`): the new revision and the family counter are written in
//! one transaction, so concurrent registrations never share a number and the
//! numbering has no gaps.

use crate::authz;
use crate::operation::Operation;
use crate::{Ecs, keys};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_core::time::now_epoch;
use berth_ecs_model::{
    StatusName, Tag, TaskDefinition, TaskDefinitionFamilyStatus, TaskDefinitionRecord, TaskDefinitionRef,
    TaskDefinitionStatus, parse_task_definition_ref, prepare_registration, validate_tags,
};
use berth_proto::json::{decode, encode};
use berth_proto::pagination::paginate_ordered;
use berth_proto::pagination::with_next_token;
use berth_proto::{AuthzResource, AwsError, RequestContext};
use berth_store::{Compare, Op, Revision, typed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Per-family bookkeeping: the last revision number handed out. Revisions are
/// never reused, even after their definitions are deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FamilyRecord {
    family: String,
    last_revision: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeInput {
    task_definition: String,
    #[serde(default)]
    include: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInput {
    family_prefix: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListFamiliesInput {
    family_prefix: Option<String>,
    status: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeregisterInput {
    task_definition: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteInput {
    task_definitions: Vec<String>,
}

/// The sort key of a revision: family, then revision number. A space sorts
/// before every character a family may contain, so "web" < "web-2".
fn revision_key(family: &str, revision: i64) -> String {
    format!("{family} {revision:010}")
}

fn not_found_for_describe() -> AwsError {
    AwsError::client("Unable to describe task definition.")
}

impl Ecs {
    /// Resolves a `taskDefinition` parameter (`family` for its latest ACTIVE
    /// revision, `family:revision`, or an ARN) to the stored record and its
    /// store key. `Ok(None)` when nothing matches.
    pub(crate) async fn find_task_definition(
        &self,
        ident: &str,
    ) -> Result<Option<(TaskDefinitionRecord, String, Revision)>, AwsError> {
        let (r, arn_scope) = parse_task_definition_ref(ident)?;
        if let Some((region, account)) = arn_scope
            && (region != self.scope.region || account != self.scope.account)
        {
            return Ok(None);
        }
        match r {
            TaskDefinitionRef::Revision(family, rev) => {
                let key = keys::task_definition(&family, rev);
                Ok(typed::get::<TaskDefinitionRecord>(&*self.store, &key)
                    .await
                    .map_err(AwsError::state_store)?
                    .map(|(rec, mr)| (rec, key, mr)))
            }
            TaskDefinitionRef::Family(family) => {
                let mut latest = None;
                for kv in self
                    .store
                    .range(&keys::task_definitions_of(&family), None, None)
                    .await
                    .map_err(AwsError::state_store)?
                {
                    let rec: TaskDefinitionRecord = typed::decode(&kv).map_err(AwsError::state_store)?;
                    if rec.task_definition.is_active() {
                        // Keys are zero-padded, so the last ACTIVE one is the latest.
                        latest = Some((rec, kv.key.clone(), kv.mod_revision));
                    }
                }
                Ok(latest)
            }
        }
    }

    /// The latest ACTIVE revision of `family` when it is the family's last
    /// revision: two gets instead of [`Ecs::find_task_definition`]'s scan of
    /// every revision (None: the last one is not ACTIVE, or unreadable; the
    /// scan then decides).
    pub(crate) async fn last_active_revision(
        &self,
        family: &str,
    ) -> Result<Option<(TaskDefinitionRecord, String, Revision)>, AwsError> {
        let last = match typed::get::<Value>(&*self.store, &keys::family(family)).await {
            Ok(Some((v, _))) => v.get("lastRevision").and_then(Value::as_i64),
            _ => None,
        };
        let Some(rev) = last else {
            return Ok(None);
        };
        let key = keys::task_definition(family, rev);
        Ok(typed::get::<TaskDefinitionRecord>(&*self.store, &key)
            .await
            .map_err(AwsError::state_store)?
            .filter(|(rec, _)| rec.task_definition.is_active())
            .map(|(rec, mr)| (rec, key, mr)))
    }

    pub(crate) async fn register_task_definition(&self, ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        let Value::Object(mut obj) = input else {
            return Err(AwsError::serialization("Invalid request: expected a JSON object"));
        };
        let tags: Vec<Tag> = match obj.remove("tags") {
            Some(Value::Null) | None => vec![],
            Some(t) => decode(t)?,
        };
        validate_tags(&tags)?;
        let def: TaskDefinition = decode(Value::Object(obj))?;
        let def = prepare_registration(def)?;
        let family = def.family_name().to_string();
        let family_key = keys::family(&family);
        let record = loop {
            let (last, family_rev) = match typed::get::<FamilyRecord>(&*self.store, &family_key)
                .await
                .map_err(AwsError::state_store)?
            {
                Some((f, rev)) => (f.last_revision, rev),
                None => (0, 0),
            };
            let revision = last + 1;
            let record = TaskDefinitionRecord {
                task_definition: def
                    .clone()
                    .registered(&self.scope, revision, now_epoch(), &ctx.principal.arn),
                tags: tags.clone(),
            };
            let td_key = keys::task_definition(&family, revision);
            let counter = FamilyRecord {
                family: family.clone(),
                last_revision: revision,
            };
            let res = self
                .store
                .txn(
                    vec![
                        Compare::ModRevision(family_key.clone(), family_rev),
                        Compare::Absent(td_key.clone()),
                    ],
                    vec![
                        Op::Put(
                            family_key.clone(),
                            typed::encode(&counter).map_err(AwsError::state_store)?,
                        ),
                        Op::Put(td_key, typed::encode(&record).map_err(AwsError::state_store)?),
                    ],
                )
                .await
                .map_err(AwsError::state_store)?;
            if res.succeeded {
                break record;
            }
        };
        tracing::info!(
            task_definition = record
                .task_definition
                .task_definition_arn
                .as_deref()
                .unwrap_or_default(),
            "task definition registered"
        );
        let mut out = json!({ "taskDefinition": encode(&record.task_definition)? });
        if !record.tags.is_empty() {
            out["tags"] = json!(record.tags);
        }
        Ok(out)
    }

    pub(crate) async fn describe_task_definition(
        &self,
        _ctx: &RequestContext,
        input: DescribeInput,
    ) -> Result<Value, AwsError> {
        for i in &input.include {
            if i != "TAGS" {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid include value '{i}'. The only valid value is TAGS."
                )));
            }
        }
        let (rec, _, _) = self
            .find_task_definition(&input.task_definition)
            .await
            .map_err(|e| {
                if e.code == "ClientException" {
                    not_found_for_describe()
                } else {
                    e
                }
            })?
            .ok_or_else(not_found_for_describe)?;
        let mut out = json!({ "taskDefinition": encode(&rec.task_definition)? });
        if !input.include.is_empty() {
            out["tags"] = json!(rec.tags);
        }
        Ok(out)
    }

    async fn all_task_definitions(&self, family: Option<&str>) -> Result<Vec<TaskDefinition>, AwsError> {
        let prefix = match family {
            Some(f) => keys::task_definitions_of(f),
            None => keys::TASK_DEFINITIONS.to_string(),
        };
        let records: Vec<TaskDefinitionRecord> = typed::list(&*self.store, &prefix)
            .await
            .map_err(AwsError::state_store)?;
        Ok(records.into_iter().map(|r| r.task_definition).collect())
    }

    pub(crate) async fn list_task_definitions(
        &self,
        _ctx: &RequestContext,
        input: ListInput,
    ) -> Result<Value, AwsError> {
        let status = match input.status.as_deref() {
            None => TaskDefinitionStatus::Active,
            Some(s) => TaskDefinitionStatus::parse(s).ok_or_else(|| {
                AwsError::invalid_parameter(format!(
                    "Invalid status '{s}'. Valid values are ACTIVE, INACTIVE and DELETE_IN_PROGRESS."
                ))
            })?,
        };
        let descending = match input.sort.as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid sort '{other}'. Valid values are ASC and DESC."
                )));
            }
        };
        // familyPrefix names one family in full, as in ECS.
        let family = input.family_prefix.as_deref().filter(|f| !f.is_empty());
        if let Some(f) = family
            && !berth_core::names::is_valid_ecs_name(f)
        {
            return Err(AwsError::invalid_parameter("family must match ^[a-zA-Z0-9\\-_]+$"));
        }
        let mut items: Vec<(String, String)> = self
            .all_task_definitions(family)
            .await?
            .into_iter()
            .filter(|d| d.status() == Some(status))
            .map(|d| {
                (
                    revision_key(d.family_name(), d.revision_number()),
                    d.task_definition_arn.unwrap_or_default(),
                )
            })
            .collect();
        items.sort();
        if descending {
            items.reverse();
        }
        let (page, next) = paginate_ordered(
            items,
            |(k, _)| k.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            100,
            descending,
        )?;
        let arns: Vec<String> = page.into_iter().map(|(_, a)| a).collect();
        Ok(with_next_token(json!({ "taskDefinitionArns": arns }), next))
    }

    pub(crate) async fn list_task_definition_families(
        &self,
        _ctx: &RequestContext,
        input: ListFamiliesInput,
    ) -> Result<Value, AwsError> {
        let status = match input.status.as_deref() {
            None => TaskDefinitionFamilyStatus::All,
            Some(s) => TaskDefinitionFamilyStatus::parse(s).ok_or_else(|| {
                AwsError::invalid_parameter(format!(
                    "Invalid status '{s}'. Valid values are ACTIVE, INACTIVE and ALL."
                ))
            })?,
        };
        let prefix = input.family_prefix.unwrap_or_default();
        // family -> whether it has an ACTIVE revision.
        let mut families: BTreeMap<String, bool> = BTreeMap::new();
        for d in self.all_task_definitions(None).await? {
            if !d.family_name().starts_with(&prefix) {
                continue;
            }
            let active = families.entry(d.family_name().to_string()).or_insert(false);
            *active |= d.is_active();
        }
        let names: Vec<String> = families
            .into_iter()
            .filter(|(_, active)| match status {
                TaskDefinitionFamilyStatus::Active => *active,
                TaskDefinitionFamilyStatus::Inactive => !*active,
                TaskDefinitionFamilyStatus::All => true,
            })
            .map(|(f, _)| f)
            .collect();
        let (page, next) = paginate_ordered(
            names,
            |f| f.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            100,
            false,
        )?;
        Ok(with_next_token(json!({ "families": page }), next))
    }

    /// Resolves an identifier that must name one revision to its store key.
    fn revision_key_of(&self, ident: &str) -> Result<Option<String>, AwsError> {
        let (r, arn_scope) = parse_task_definition_ref(ident)?;
        if let Some((region, account)) = arn_scope
            && (region != self.scope.region || account != self.scope.account)
        {
            return Ok(None);
        }
        match r {
            TaskDefinitionRef::Revision(family, rev) => Ok(Some(keys::task_definition(&family, rev))),
            TaskDefinitionRef::Family(family) => Err(AwsError::client(format!(
                "The task definition '{ident}' does not include a revision. Specify {family}:REVISION or the full task definition ARN."
            ))),
        }
    }

    pub(crate) async fn deregister_task_definition(
        &self,
        _ctx: &RequestContext,
        input: DeregisterInput,
    ) -> Result<Value, AwsError> {
        let missing = || AwsError::client("The specified task definition does not exist.");
        let key = self.revision_key_of(&input.task_definition)?.ok_or_else(missing)?;
        let now = now_epoch();
        let rec =
            typed::update_with::<TaskDefinitionRecord, AwsError, _>(AwsError::state_store, &*self.store, &key, |cur| {
                let mut rec = cur.ok_or_else(missing)?;
                if rec.task_definition.is_active() {
                    rec.task_definition.status = Some(TaskDefinitionStatus::Inactive.into());
                    rec.task_definition.deregistered_at = Some(now);
                }
                Ok(Some(rec))
            })
            .await?
            .ok_or_else(missing)?;
        tracing::info!(task_definition = %input.task_definition, "task definition deregistered");
        Ok(json!({ "taskDefinition": encode(&rec.task_definition)? }))
    }

    pub(crate) async fn delete_task_definitions(
        &self,
        _ctx: &RequestContext,
        input: DeleteInput,
    ) -> Result<Value, AwsError> {
        if input.task_definitions.is_empty() || input.task_definitions.len() > 10 {
            return Err(AwsError::invalid_parameter(
                "taskDefinitions must contain between 1 and 10 task definitions.",
            ));
        }
        let now = now_epoch();
        let mut deleted = vec![];
        let mut failures = vec![];
        for ident in &input.task_definitions {
            let failure = |reason: &str| json!({ "arn": ident, "reason": reason });
            let key = match self.revision_key_of(ident) {
                Ok(Some(k)) => k,
                Ok(None) => {
                    failures.push(failure("TASK_DEFINITION_NOT_FOUND"));
                    continue;
                }
                Err(e) => {
                    let mut f = failure("INVALID_TASK_DEFINITION");
                    f["detail"] = json!(e.message);
                    failures.push(f);
                    continue;
                }
            };
            let result = typed::update_with::<TaskDefinitionRecord, AwsError, _>(
                AwsError::state_store,
                &*self.store,
                &key,
                |cur| {
                    let mut rec = cur.ok_or_else(|| AwsError::client("TASK_DEFINITION_NOT_FOUND"))?;
                    match rec.task_definition.status() {
                        Some(TaskDefinitionStatus::Active) => Err(AwsError::client("TASK_DEFINITION_NOT_INACTIVE")),
                        Some(TaskDefinitionStatus::Inactive) => {
                            rec.task_definition.status = Some(TaskDefinitionStatus::DeleteInProgress.into());
                            rec.task_definition.delete_requested_at = Some(now);
                            Ok(Some(rec))
                        }
                        _ => Ok(Some(rec)),
                    }
                },
            )
            .await;
            match result {
                Ok(Some(rec)) => deleted.push(encode(&rec.task_definition)?),
                Ok(None) => failures.push(failure("TASK_DEFINITION_NOT_FOUND")),
                Err(e) if e.code == "ClientException" => {
                    let arn = match parse_task_definition_ref(ident) {
                        Ok((TaskDefinitionRef::Revision(f, r), _)) => self.scope.task_definition_arn(&f, r),
                        _ => ident.clone(),
                    };
                    let detail = if e.message == "TASK_DEFINITION_NOT_INACTIVE" {
                        "The task definition is ACTIVE. Deregister it (DeregisterTaskDefinition) before deleting it."
                    } else {
                        "The specified task definition does not exist."
                    };
                    failures.push(json!({ "arn": arn, "reason": e.message, "detail": detail }));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(json!({ "taskDefinitions": deleted, "failures": failures }))
    }
}

/// RegisterTaskDefinition: not resource-scoped; `iam:PassRole` on the task
/// and execution roles the definition names. Its input stays the JSON
/// object the handler validates and stores.
pub(crate) struct RegisterTaskDefinition;

#[async_trait]
impl Operation<Ecs> for RegisterTaskDefinition {
    const NAME: &'static str = "RegisterTaskDefinition";
    type Input = Value;

    fn resources(scope: &Scope, input: &Value) -> Vec<AuthzResource> {
        let role = |field: &str| input.get(field).and_then(Value::as_str);
        let mut out = authz::star();
        out.extend(
            authz::definition_roles(scope, role("taskRoleArn"), role("executionRoleArn"))
                .iter()
                .map(authz::PassedRole::authz_resource),
        );
        out
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: Value) -> Result<Value, AwsError> {
        ecs.register_task_definition(ctx, input).await
    }
}

/// DescribeTaskDefinition: not resource-scoped.
pub(crate) struct DescribeTaskDefinition;

#[async_trait]
impl Operation<Ecs> for DescribeTaskDefinition {
    const NAME: &'static str = "DescribeTaskDefinition";
    type Input = DescribeInput;

    fn resources(_scope: &Scope, _input: &DescribeInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DescribeInput) -> Result<Value, AwsError> {
        ecs.describe_task_definition(ctx, input).await
    }
}

/// ListTaskDefinitions: not resource-scoped.
pub(crate) struct ListTaskDefinitions;

#[async_trait]
impl Operation<Ecs> for ListTaskDefinitions {
    const NAME: &'static str = "ListTaskDefinitions";
    type Input = ListInput;

    fn resources(_scope: &Scope, _input: &ListInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListInput) -> Result<Value, AwsError> {
        ecs.list_task_definitions(ctx, input).await
    }
}

/// ListTaskDefinitionFamilies: not resource-scoped.
pub(crate) struct ListTaskDefinitionFamilies;

#[async_trait]
impl Operation<Ecs> for ListTaskDefinitionFamilies {
    const NAME: &'static str = "ListTaskDefinitionFamilies";
    type Input = ListFamiliesInput;

    fn resources(_scope: &Scope, _input: &ListFamiliesInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: ListFamiliesInput) -> Result<Value, AwsError> {
        ecs.list_task_definition_families(ctx, input).await
    }
}

/// DeregisterTaskDefinition: not resource-scoped.
pub(crate) struct DeregisterTaskDefinition;

#[async_trait]
impl Operation<Ecs> for DeregisterTaskDefinition {
    const NAME: &'static str = "DeregisterTaskDefinition";
    type Input = DeregisterInput;

    fn resources(_scope: &Scope, _input: &DeregisterInput) -> Vec<AuthzResource> {
        authz::star()
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DeregisterInput) -> Result<Value, AwsError> {
        ecs.deregister_task_definition(ctx, input).await
    }
}

/// DeleteTaskDefinitions: on each revision named.
pub(crate) struct DeleteTaskDefinitions;

#[async_trait]
impl Operation<Ecs> for DeleteTaskDefinitions {
    const NAME: &'static str = "DeleteTaskDefinitions";
    type Input = DeleteInput;

    fn resources(scope: &Scope, input: &DeleteInput) -> Vec<AuthzResource> {
        authz::resources_of(
            scope,
            input
                .task_definitions
                .iter()
                .map(|t| authz::task_definition_arn(scope, t)),
        )
    }

    async fn run(ecs: &Ecs, ctx: &RequestContext, input: DeleteInput) -> Result<Value, AwsError> {
        ecs.delete_task_definitions(ctx, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_keys_sort_by_family_then_revision() {
        let mut keys = vec![
            revision_key("web-2", 1),
            revision_key("web", 10),
            revision_key("web", 9),
            revision_key("api", 100),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                revision_key("api", 100),
                revision_key("web", 9),
                revision_key("web", 10),
                revision_key("web-2", 1)
            ]
        );
    }
}
