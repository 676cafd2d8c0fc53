//! IAM users and their access keys, typed: each action decodes its input
//! once and answers its output shape ([`super::shapes`]).

use super::shapes::{
    AccessKey, AccessKeyInput, AccessKeyMetadata, CreateAccessKeyResult, CreateUserInput, DeleteUserInput,
    ListAccessKeysInput, ListAccessKeysResult, ListUsersInput, ListUsersResult, UpdateAccessKeyInput, User,
    UserNameInput, UserResult,
};
use super::{
    Iam, MAX_KEYS_PER_USER, already_exists, check_name, check_path, delete_conflict, limit_exceeded, no_such_entity,
    no_user, paginate, random_id, random_secret, tags_from, validation,
};
use crate::directory::{AccessKeyRec, Directory, KEYS, USERS, UserRec};
use crate::format_iso;
use berth_proto::query::QueryResult;
use berth_proto::{AwsError, RequestContext};
use berth_store::{Compare, Op, typed};
use time::OffsetDateTime;

impl Iam {
    pub(super) async fn create_user(&self, input: CreateUserInput) -> Result<QueryResult, AwsError> {
        let name = input.user_name.as_str();
        check_name(name, "userName", 64)?;
        let path = check_path(input.path.as_deref())?;
        let tags = tags_from(input.tags)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if dir.users.keys().any(|u| u.eq_ignore_ascii_case(name)) {
            return Err(already_exists(format!("User with name {name} already exists.")));
        }
        let user = UserRec {
            name: name.to_string(),
            id: random_id("AIDA", 17),
            arn: format!("arn:aws:iam::{}:user{path}{name}", self.account_id),
            path,
            create_date: format_iso(self.now()),
            inline: Default::default(),
            attached: vec![],
            tags,
            groups: vec![],
        };
        let key = format!("{USERS}{name}");
        if !self
            .commit(
                vec![Compare::Absent(key.clone())],
                vec![Op::Put(key, typed::encode(&user).map_err(AwsError::state_store)?)],
            )
            .await?
        {
            return Err(already_exists(format!("User with name {name} already exists.")));
        }
        QueryResult::of("CreateUser", &UserResult { user: (&user).into() })
    }

    pub(super) fn get_user(&self, ctx: &RequestContext, input: UserNameInput) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let name = match input.user_name {
            Some(n) => n,
            None => match ctx
                .principal
                .user_name
                .clone()
                .filter(|_| ctx.principal.arn.contains(":user/"))
            {
                Some(n) => n,
                None if ctx.principal.is_root => {
                    // The root user, as IAM describes it.
                    let root = User {
                        path: "/".into(),
                        user_name: "root".into(),
                        user_id: self.account_id.clone(),
                        arn: ctx.principal.arn.clone(),
                        create_date: format_iso(OffsetDateTime::UNIX_EPOCH),
                        tags: Default::default(),
                    };
                    return QueryResult::of("GetUser", &UserResult { user: root });
                }
                None => {
                    return Err(validation(
                        "Must specify userName when calling with non-User credentials",
                    ));
                }
            },
        };
        let user = dir.users.get(&name).ok_or_else(|| no_user(&name))?;
        QueryResult::of("GetUser", &UserResult { user: user.into() })
    }

    pub(super) fn list_users(&self, input: ListUsersInput) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let users: Vec<&UserRec> = dir.users.values().filter(|u| u.path.starts_with(prefix)).collect();
        let (page, marker) = paginate(users, |u| u.name.clone(), input.marker.as_deref(), input.max_items)?;
        let out = ListUsersResult {
            users: page.into_iter().map(User::from).collect::<Vec<_>>().into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("ListUsers", &out)
    }

    pub(super) async fn delete_user(&self, input: DeleteUserInput) -> Result<QueryResult, AwsError> {
        let name = input.user_name.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let user = dir.users.get(name).ok_or_else(|| no_user(name))?;
        if dir.keys.values().any(|k| k.user_name == name) {
            return Err(delete_conflict("Cannot delete entity, must delete access keys first."));
        }
        if !user.attached.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must detach all policies first."));
        }
        if !user.inline.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must delete policies first."));
        }
        if !user.groups.is_empty() {
            return Err(delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        self.commit(vec![], vec![Op::Delete(format!("{USERS}{name}"))]).await?;
        Ok(QueryResult::empty())
    }

    /// The user an access-key action is about: `UserName`, else the calling user.
    fn key_user(&self, ctx: &RequestContext, user_name: Option<String>) -> Result<String, AwsError> {
        if let Some(n) = user_name {
            return Ok(n);
        }
        match &ctx.principal.user_name {
            Some(n) if ctx.principal.arn.contains(":user/") => Ok(n.clone()),
            _ => Err(validation(
                "Must specify userName when calling with non-User credentials (Berth does not manage access keys of \
                 the root user through IAM: they come from the server's configuration)",
            )),
        }
    }

    pub(super) async fn create_access_key(
        &self,
        ctx: &RequestContext,
        input: UserNameInput,
    ) -> Result<QueryResult, AwsError> {
        let name = self.key_user(ctx, input.user_name)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if !dir.users.contains_key(&name) {
            return Err(no_user(&name));
        }
        if dir.keys.values().filter(|k| k.user_name == name).count() >= MAX_KEYS_PER_USER {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
            )));
        }
        let key = AccessKeyRec {
            access_key_id: random_id("AKIA", 16),
            secret_access_key: random_secret(40),
            sealed_secret: None,
            user_name: name.clone(),
            status: "Active".into(),
            create_date: format_iso(self.now()),
        };
        let k = format!("{KEYS}{}", key.access_key_id);
        self.commit(
            vec![Compare::Absent(k.clone()), Compare::Exists(format!("{USERS}{name}"))],
            vec![Op::Put(k, self.encode_key(&key)?)],
        )
        .await?;
        let out = CreateAccessKeyResult {
            access_key: AccessKey {
                user_name: key.user_name,
                access_key_id: key.access_key_id,
                status: key.status,
                secret_access_key: key.secret_access_key,
                create_date: key.create_date,
            },
        };
        QueryResult::of("CreateAccessKey", &out)
    }

    fn find_key(&self, dir: &Directory, user: &str, akid: &str) -> Result<AccessKeyRec, AwsError> {
        if !dir.users.contains_key(user) {
            return Err(no_user(user));
        }
        dir.keys
            .get(akid)
            .filter(|k| k.user_name == user)
            .cloned()
            .ok_or_else(|| no_such_entity(format!("The Access Key with id {akid} cannot be found.")))
    }

    pub(super) async fn delete_access_key(
        &self,
        ctx: &RequestContext,
        input: AccessKeyInput,
    ) -> Result<QueryResult, AwsError> {
        let akid = input.access_key_id.as_str();
        let user = self.key_user(ctx, input.user_name)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        self.find_key(&dir, &user, akid)?;
        self.commit(vec![], vec![Op::Delete(format!("{KEYS}{akid}"))]).await?;
        Ok(QueryResult::empty())
    }

    pub(super) async fn update_access_key(
        &self,
        ctx: &RequestContext,
        input: UpdateAccessKeyInput,
    ) -> Result<QueryResult, AwsError> {
        let akid = input.access_key_id.as_str();
        let status = input.status.as_str();
        if status != "Active" && status != "Inactive" {
            return Err(validation(format!(
                "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must \
                 satisfy enum value set: [Active, Inactive]"
            )));
        }
        let user = self.key_user(ctx, input.user_name)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut key = self.find_key(&dir, &user, akid)?;
        key.status = status.to_string();
        self.commit(vec![], vec![Op::Put(format!("{KEYS}{akid}"), self.encode_key(&key)?)])
            .await?;
        Ok(QueryResult::empty())
    }

    pub(super) fn list_access_keys(
        &self,
        ctx: &RequestContext,
        input: ListAccessKeysInput,
    ) -> Result<QueryResult, AwsError> {
        let user = self.key_user(ctx, input.user_name)?;
        let dir = self.auth.directory();
        if !dir.users.contains_key(&user) {
            return Err(no_user(&user));
        }
        let mut keys: Vec<&AccessKeyRec> = dir.keys.values().filter(|k| k.user_name == user).collect();
        keys.sort_by(|a, b| {
            a.create_date
                .cmp(&b.create_date)
                .then(a.access_key_id.cmp(&b.access_key_id))
        });
        let (page, marker) = paginate(
            keys,
            |k| k.access_key_id.clone(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        let out = ListAccessKeysResult {
            access_key_metadata: page
                .into_iter()
                .map(|k| AccessKeyMetadata {
                    user_name: k.user_name.clone(),
                    access_key_id: k.access_key_id.clone(),
                    status: k.status.clone(),
                    create_date: k.create_date.clone(),
                })
                .collect::<Vec<_>>()
                .into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("ListAccessKeys", &out)
    }
}
