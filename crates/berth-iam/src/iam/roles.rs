//! IAM roles, typed: each action decodes its input once and answers its
//! output shape ([`super::shapes`]).

use super::shapes::{
    CreateRoleInput, ListRolesInput, ListRolesResult, Role, RoleNameInput, RoleResult, UpdateAssumeRolePolicyInput,
};
use super::{
    Iam, already_exists, check_name, check_path, delete_conflict, malformed, no_role, paginate, random_id, tags_from,
    validation,
};
use crate::directory::{ROLES, RoleRec};
use crate::format_iso;
use crate::policy::{PolicyDocument, PolicyKind};
use berth_proto::AwsError;
use berth_proto::query::QueryResult;
use berth_store::{Compare, Op, typed};

impl Iam {
    pub(super) async fn create_role(&self, input: CreateRoleInput) -> Result<QueryResult, AwsError> {
        let name = input.role_name.as_str();
        check_name(name, "roleName", 64)?;
        let path = check_path(input.path.as_deref())?;
        let trust = input.assume_role_policy_document.as_str();
        PolicyDocument::parse(trust, PolicyKind::Trust).map_err(|e| malformed(e.0))?;
        let max = input.max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&max) {
            return Err(validation(format!(
                "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: \
                 Member must have value between 3600 and 43200"
            )));
        }
        let tags = tags_from(input.tags)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if dir.roles.keys().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(already_exists(format!("Role with name {name} already exists.")));
        }
        let role = RoleRec {
            name: name.to_string(),
            id: random_id("AROA", 17),
            arn: format!("arn:aws:iam::{}:role{path}{name}", self.account_id),
            path,
            create_date: format_iso(self.now()),
            assume_role_policy: trust.to_string(),
            description: input.description,
            max_session_duration: max,
            inline: Default::default(),
            attached: vec![],
            tags,
        };
        let key = format!("{ROLES}{name}");
        if !self
            .commit(
                vec![Compare::Absent(key.clone())],
                vec![Op::Put(key, typed::encode(&role).map_err(AwsError::state_store)?)],
            )
            .await?
        {
            return Err(already_exists(format!("Role with name {name} already exists.")));
        }
        QueryResult::of("CreateRole", &RoleResult { role: (&role).into() })
    }

    pub(super) fn get_role(&self, input: RoleNameInput) -> Result<QueryResult, AwsError> {
        let name = input.role_name.as_str();
        let dir = self.auth.directory();
        let role = dir.roles.get(name).ok_or_else(|| no_role(name))?;
        QueryResult::of("GetRole", &RoleResult { role: role.into() })
    }

    pub(super) fn list_roles(&self, input: ListRolesInput) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let roles: Vec<&RoleRec> = dir.roles.values().filter(|r| r.path.starts_with(prefix)).collect();
        let (page, marker) = paginate(roles, |r| r.name.clone(), input.marker.as_deref(), input.max_items)?;
        let out = ListRolesResult {
            roles: page.into_iter().map(Role::from).collect::<Vec<_>>().into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("ListRoles", &out)
    }

    pub(super) async fn delete_role(&self, input: RoleNameInput) -> Result<QueryResult, AwsError> {
        let name = input.role_name.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let role = dir.roles.get(name).ok_or_else(|| no_role(name))?;
        if !role.attached.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must detach all policies first."));
        }
        if !role.inline.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must delete policies first."));
        }
        self.commit(vec![], vec![Op::Delete(format!("{ROLES}{name}"))]).await?;
        Ok(QueryResult::empty())
    }

    pub(super) async fn update_assume_role_policy(
        &self,
        input: UpdateAssumeRolePolicyInput,
    ) -> Result<QueryResult, AwsError> {
        let name = input.role_name.as_str();
        let doc = input.policy_document.as_str();
        PolicyDocument::parse(doc, PolicyKind::Trust).map_err(|e| malformed(e.0))?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut role = dir.roles.get(name).cloned().ok_or_else(|| no_role(name))?;
        role.assume_role_policy = doc.to_string();
        self.commit(
            vec![],
            vec![Op::Put(
                format!("{ROLES}{name}"),
                typed::encode(&role).map_err(AwsError::state_store)?,
            )],
        )
        .await?;
        Ok(QueryResult::empty())
    }
}
