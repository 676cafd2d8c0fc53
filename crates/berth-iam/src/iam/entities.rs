//! What users, roles and groups alike carry: attached managed policies and
//! inline policies, typed. One implementation serves the three kinds; the
//! action names the kind ([`Kind`]) and its name member.

use super::shapes::{
    AttachPolicyInput, AttachedPolicy, EntityName, EntityNameOutput, InlinePolicyInput, InlinePolicyResult,
    ListAttachedPoliciesResult, ListEntityPoliciesInput, ListPolicyNamesResult, PutInlinePolicyInput,
};
use super::{
    Entity, Iam, Kind, check_name, invalid_input, malformed, no_group, no_role, no_such_entity, no_user, paginate,
};
use crate::directory::{Directory, GROUPS, ROLES, USERS};
use crate::policy::{PolicyDocument, PolicyKind};
use berth_proto::AwsError;
use berth_proto::query::{QueryResult, UrlEncoded};
use berth_store::{Compare, Op, typed};

impl EntityName {
    /// The name member of `kind` (`UserName`, `RoleName`, `GroupName`),
    /// required as IAM requires it.
    fn of(&self, kind: Kind) -> Result<&str, AwsError> {
        let (member, field) = match kind {
            Kind::User => (&self.user_name, "userName"),
            Kind::Role => (&self.role_name, "roleName"),
            Kind::Group => (&self.group_name, "groupName"),
        };
        member.as_deref().ok_or_else(|| {
            super::validation(format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not \
                 be null"
            ))
        })
    }
}

impl Iam {
    /// Reads a user, role or group, to write it back with [`Iam::save`].
    fn principal_entity(&self, dir: &Directory, names: &EntityName, kind: Kind) -> Result<Entity, AwsError> {
        let name = names.of(kind)?;
        match kind {
            Kind::User => dir
                .users
                .get(name)
                .map(|u| Entity::User(u.clone()))
                .ok_or_else(|| no_user(name)),
            Kind::Role => dir
                .roles
                .get(name)
                .map(|r| Entity::Role(r.clone()))
                .ok_or_else(|| no_role(name)),
            Kind::Group => dir
                .groups
                .get(name)
                .map(|g| Entity::Group(g.clone()))
                .ok_or_else(|| no_group(name)),
        }
    }

    async fn save(&self, entity: &Entity) -> Result<QueryResult, AwsError> {
        let (key, value) = match entity {
            Entity::User(u) => (
                format!("{USERS}{}", u.name),
                typed::encode(u).map_err(AwsError::state_store)?,
            ),
            Entity::Role(r) => (
                format!("{ROLES}{}", r.name),
                typed::encode(r).map_err(AwsError::state_store)?,
            ),
            Entity::Group(g) => (
                format!("{GROUPS}{}", g.name),
                typed::encode(g).map_err(AwsError::state_store)?,
            ),
        };
        self.commit(vec![Compare::Exists(key.clone())], vec![Op::Put(key, value)])
            .await?;
        Ok(QueryResult::empty())
    }

    pub(super) async fn attach(
        &self,
        input: AttachPolicyInput,
        kind: Kind,
        attach: bool,
    ) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, &input.entity(), kind)?;
        if attach {
            if !arn.starts_with("arn:aws:iam::") {
                return Err(invalid_input(format!("ARN {arn} is not valid.")));
            }
            self.policy_of(&dir, arn)?;
            let attached = e.attached_mut();
            if !attached.iter().any(|a| a == arn) {
                attached.push(arn.to_string());
            }
        } else {
            let attached = e.attached_mut();
            let before = attached.len();
            attached.retain(|a| a != arn);
            if attached.len() == before {
                return Err(no_such_entity(format!("Policy {arn} was not found.")));
            }
        }
        self.save(&e).await
    }

    pub(super) async fn put_inline(&self, input: PutInlinePolicyInput, kind: Kind) -> Result<QueryResult, AwsError> {
        let name = input.policy_name.as_str();
        check_name(name, "policyName", 128)?;
        let doc = input.policy_document.as_str();
        PolicyDocument::parse(doc, PolicyKind::Identity).map_err(|e| malformed(e.0))?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, &input.entity(), kind)?;
        e.inline_mut().insert(name.to_string(), doc.to_string());
        self.save(&e).await
    }

    pub(super) fn get_inline(&self, input: InlinePolicyInput, kind: Kind) -> Result<QueryResult, AwsError> {
        let name = input.policy_name.as_str();
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, &input.entity(), kind)?;
        let doc =
            e.inline_mut().get(name).cloned().ok_or_else(|| {
                no_such_entity(format!("The {} policy with name {name} cannot be found.", kind.word()))
            })?;
        let entity = e.name().to_string();
        let out = InlinePolicyResult {
            entity: match kind {
                Kind::User => EntityNameOutput::UserName(entity),
                Kind::Role => EntityNameOutput::RoleName(entity),
                Kind::Group => EntityNameOutput::GroupName(entity),
            },
            policy_name: name.to_string(),
            policy_document: UrlEncoded(doc),
        };
        QueryResult::of(&format!("Get{}Policy", kind.title()), &out)
    }

    pub(super) async fn delete_inline(&self, input: InlinePolicyInput, kind: Kind) -> Result<QueryResult, AwsError> {
        let name = input.policy_name.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, &input.entity(), kind)?;
        if e.inline_mut().remove(name).is_none() {
            return Err(no_such_entity(format!(
                "The {} policy with name {name} cannot be found.",
                kind.word()
            )));
        }
        self.save(&e).await
    }

    pub(super) fn list_inline(&self, input: ListEntityPoliciesInput, kind: Kind) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, &input.entity(), kind)?;
        let names: Vec<String> = e.inline_mut().keys().cloned().collect();
        let (page, marker) = paginate(names, Clone::clone, input.marker.as_deref(), input.max_items)?;
        let out = ListPolicyNamesResult {
            policy_names: page.into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of(&format!("List{}Policies", kind.title()), &out)
    }

    pub(super) fn list_attached(&self, input: ListEntityPoliciesInput, kind: Kind) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, &input.entity(), kind)?;
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let mut items: Vec<(String, String)> = e
            .attached_mut()
            .iter()
            .filter_map(|arn| dir.policies.get(arn))
            .filter(|p| p.path.starts_with(prefix))
            .map(|p| (p.name.clone(), p.arn.clone()))
            .collect();
        items.sort();
        let (page, marker) = paginate(items, |(n, _)| n.clone(), input.marker.as_deref(), input.max_items)?;
        let out = ListAttachedPoliciesResult {
            attached_policies: page
                .into_iter()
                .map(|(policy_name, policy_arn)| AttachedPolicy {
                    policy_name,
                    policy_arn,
                })
                .collect::<Vec<_>>()
                .into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of(&format!("ListAttached{}Policies", kind.title()), &out)
    }
}
