//! The IAM and STS APIs (awsQuery). State lives in the store under `iam/…`;
//! after each write the [`Directory`] snapshot of the [`Authenticator`] is
//! rebuilt, so the next request authenticates and authorizes against it.

use crate::directory::{
    AccessKeyRec, Directory, GROUPS, GroupRec, KEYS, POLICIES, PolicyRec, PolicyVersionRec, ROLES, RoleRec, SESSIONS,
    SessionRec, Tag, USERS, UserRec,
};
use crate::iam_authz::{self, IamAction, StsAction};
use crate::policy::{self, ContextKeys, Decision, PolicyDocument, PolicyKind, Request};
use crate::sealing::{self, SecretSealer};
use crate::{Authenticator, RequestFacts, format_iso, managed};
use berth_proto::query::{QueryInput, QueryResult, XmlWriter, invalid_action, url_encode, xml};
use berth_proto::{AuthzResource, AwsError, Principal, RequestContext};
use berth_store::{Compare, Op, Store, typed};
use rand::Rng;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_VERSION: &str = "2011-06-15";
pub(crate) const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const MAX_KEYS_PER_USER: usize = 2;
const MAX_POLICY_VERSIONS: usize = 5;

fn no_such_entity(msg: impl Into<String>) -> AwsError {
    AwsError::new("NoSuchEntity", 404, msg)
}
fn already_exists(msg: impl Into<String>) -> AwsError {
    AwsError::new("EntityAlreadyExists", 409, msg)
}
fn delete_conflict(msg: impl Into<String>) -> AwsError {
    AwsError::new("DeleteConflict", 409, msg)
}
fn malformed(msg: impl Into<String>) -> AwsError {
    AwsError::new("MalformedPolicyDocument", 400, msg)
}
fn validation(msg: impl Into<String>) -> AwsError {
    AwsError::new("ValidationError", 400, msg)
}
fn invalid_input(msg: impl Into<String>) -> AwsError {
    AwsError::new("InvalidInput", 400, msg)
}
fn limit_exceeded(msg: impl Into<String>) -> AwsError {
    AwsError::new("LimitExceeded", 409, msg)
}
/// STS's (and IAM's) own AccessDenied: code `AccessDenied`, HTTP 403.
pub fn query_access_denied(msg: impl Into<String>) -> AwsError {
    AwsError::new("AccessDenied", 403, msg)
}

/// Temporary credentials a service obtained for a role
/// ([`Iam::assume_role_for_service`]).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceRoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: i64,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/ROLE`.
    pub role_arn: String,
}

impl std::fmt::Debug for ServiceRoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceRoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("assumed_role_arn", &self.assumed_role_arn)
            .finish_non_exhaustive()
    }
}

/// Why a service could not assume a role.
#[derive(Debug, thiserror::Error)]
pub enum ServiceRoleError {
    #[error("Role {0} does not exist")]
    NoSuchRole(String),
    #[error("Role {role_arn} trust policy does not allow {service} to assume it (sts:AssumeRole)")]
    NotTrusted { role_arn: String, service: String },
    #[error("'{0}' is not a valid role session name (2-64 characters of [\\w+=,.@-])")]
    InvalidSessionName(String),
    #[error(transparent)]
    Internal(AwsError),
}

fn valid_session_name(session: &str) -> bool {
    (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
}

/// The IAM and STS services.
pub struct Iam {
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    /// Seals access-key and session secrets before they reach the store.
    sealer: Arc<dyn SecretSealer>,
    account_id: String,
    /// IAM writes are serialized: each write reads the snapshot, commits,
    /// and rebuilds the snapshot before the next write starts.
    write_lock: tokio::sync::Mutex<()>,
}

impl Iam {
    /// Loads the IAM state from the store into `auth`. Secrets are sealed
    /// and opened with `sealer`; records stored in clear by an older Berth
    /// are re-written sealed first.
    pub async fn open(
        store: Arc<dyn Store>,
        auth: Arc<Authenticator>,
        sealer: Arc<dyn SecretSealer>,
    ) -> Result<Self, berth_store::StoreError> {
        let sealed = seal_clear_records(store.as_ref(), sealer.as_ref()).await?;
        if sealed > 0 {
            tracing::info!(
                records = sealed,
                "sealed IAM secrets stored in clear by an older version"
            );
        }
        let dir = Directory::load(store.as_ref(), sealer.as_ref()).await?;
        auth.set_directory(dir);
        Ok(Self {
            account_id: auth.account_id().to_string(),
            store,
            auth,
            sealer,
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The stored form of an access key (its secret sealed).
    fn encode_key(&self, k: &AccessKeyRec) -> Result<Vec<u8>, AwsError> {
        typed::encode(&sealing::seal_access_key(self.sealer.as_ref(), k)).map_err(AwsError::state_store)
    }

    /// The stored form of a session (its secret and token sealed).
    fn encode_session(&self, s: &SessionRec) -> Result<Vec<u8>, AwsError> {
        typed::encode(&sealing::seal_session(self.sealer.as_ref(), s)).map_err(AwsError::state_store)
    }

    /// The resources an IAM action is authorized on (with their tags and
    /// condition keys), and the tags the request sets; an action Berth does
    /// not route has none (the handler answers `InvalidAction`).
    pub fn authz_resources(
        &self,
        caller: &Principal,
        input: &QueryInput,
    ) -> (Vec<AuthzResource>, Vec<(String, String)>) {
        let Some(action) = input.get("Action").and_then(IamAction::parse) else {
            return (vec![], vec![]);
        };
        let dir = self.auth.directory();
        (
            iam_authz::resources(&self.account_id, &dir, caller, action, input),
            iam_authz::request_tags(input),
        )
    }

    /// Runs one action of `service` (`iam` or `sts`); returns the XML answer
    /// (the listener reaches the same handlers through [`crate::query_api`]).
    pub async fn call(&self, ctx: &RequestContext, service: &str, input: &QueryInput) -> Result<String, AwsError> {
        let action = input.get("Action").unwrap_or("");
        let (ns, result) = match service {
            "sts" => (STS_NS, self.call_sts(ctx, action, input).await?),
            _ => (IAM_NS, self.call_iam(ctx, action, input).await?),
        };
        Ok(xml::response(action, ns, &result, &ctx.request_id))
    }

    pub(crate) async fn call_iam(
        &self,
        ctx: &RequestContext,
        action: &str,
        q: &QueryInput,
    ) -> Result<QueryResult, AwsError> {
        let hand = |inner: String| QueryResult::from_inner_xml(action, inner);
        use IamAction as A;
        let Some(a) = IamAction::parse(action) else {
            return Err(invalid_action(action));
        };
        match a {
            A::CreateUser => self.create_user(q).await.map(hand),
            A::GetUser => self.get_user(ctx, q).map(hand),
            A::ListUsers => self.list_users(q).map(hand),
            A::DeleteUser => self.delete_user(q).await.map(|_| QueryResult::empty()),
            A::CreateAccessKey => self.create_access_key(ctx, q).await.map(hand),
            A::DeleteAccessKey => self.delete_access_key(ctx, q).await.map(|_| QueryResult::empty()),
            A::UpdateAccessKey => self.update_access_key(ctx, q).await.map(|_| QueryResult::empty()),
            A::ListAccessKeys => self.list_access_keys(ctx, q).map(hand),
            A::CreateRole => self.create_role(q).await.map(hand),
            A::GetRole => self.get_role(q).map(hand),
            A::DeleteRole => self.delete_role(q).await.map(|_| QueryResult::empty()),
            A::ListRoles => self.list_roles(q).map(hand),
            A::UpdateAssumeRolePolicy => self.update_assume_role_policy(q).await.map(|_| QueryResult::empty()),
            A::CreatePolicy => self.create_policy(q).await.map(hand),
            A::GetPolicy => self.get_policy(q).map(hand),
            A::DeletePolicy => self.delete_policy(ctx, q).await.map(|_| QueryResult::empty()),
            A::ListPolicies => self.list_policies(q).map(hand),
            A::CreatePolicyVersion => self.create_policy_version(ctx, q).await.map(hand),
            A::GetPolicyVersion => self.get_policy_version(q).map(hand),
            A::ListPolicyVersions => self.list_policy_versions(q).map(hand),
            A::ListEntitiesForPolicy => self.list_entities_for_policy(q).map(hand),
            A::AttachRolePolicy => self.attach(q, Kind::Role, true).await.map(|_| QueryResult::empty()),
            A::DetachRolePolicy => self.attach(q, Kind::Role, false).await.map(|_| QueryResult::empty()),
            A::AttachUserPolicy => self.attach(q, Kind::User, true).await.map(|_| QueryResult::empty()),
            A::DetachUserPolicy => self.attach(q, Kind::User, false).await.map(|_| QueryResult::empty()),
            A::PutRolePolicy => self.put_inline(q, Kind::Role).await.map(|_| QueryResult::empty()),
            A::PutUserPolicy => self.put_inline(q, Kind::User).await.map(|_| QueryResult::empty()),
            A::GetRolePolicy => self.get_inline(q, Kind::Role).map(hand),
            A::GetUserPolicy => self.get_inline(q, Kind::User).map(hand),
            A::DeleteRolePolicy => self.delete_inline(q, Kind::Role).await.map(|_| QueryResult::empty()),
            A::DeleteUserPolicy => self.delete_inline(q, Kind::User).await.map(|_| QueryResult::empty()),
            A::ListRolePolicies => self.list_inline(q, Kind::Role).map(hand),
            A::ListUserPolicies => self.list_inline(q, Kind::User).map(hand),
            A::ListAttachedRolePolicies => self.list_attached(q, Kind::Role).map(hand),
            A::ListAttachedUserPolicies => self.list_attached(q, Kind::User).map(hand),
            A::CreateGroup => self.create_group(q).await.map(hand),
            A::GetGroup => self.get_group(q).map(hand),
            A::ListGroups => self.list_groups(q).map(hand),
            A::DeleteGroup => self.delete_group(q).await.map(|_| QueryResult::empty()),
            A::AddUserToGroup => self.group_membership(q, true).await.map(|_| QueryResult::empty()),
            A::RemoveUserFromGroup => self.group_membership(q, false).await.map(|_| QueryResult::empty()),
            A::ListGroupsForUser => self.list_groups_for_user(q).map(hand),
            A::AttachGroupPolicy => self.attach(q, Kind::Group, true).await.map(|_| QueryResult::empty()),
            A::DetachGroupPolicy => self.attach(q, Kind::Group, false).await.map(|_| QueryResult::empty()),
            A::PutGroupPolicy => self.put_inline(q, Kind::Group).await.map(|_| QueryResult::empty()),
            A::GetGroupPolicy => self.get_inline(q, Kind::Group).map(hand),
            A::DeleteGroupPolicy => self.delete_inline(q, Kind::Group).await.map(|_| QueryResult::empty()),
            A::ListGroupPolicies => self.list_inline(q, Kind::Group).map(hand),
            A::ListAttachedGroupPolicies => self.list_attached(q, Kind::Group).map(hand),
        }
    }

    pub(crate) async fn call_sts(
        &self,
        ctx: &RequestContext,
        action: &str,
        q: &QueryInput,
    ) -> Result<QueryResult, AwsError> {
        let hand = |inner: String| QueryResult::from_inner_xml(action, inner);
        let Some(a) = StsAction::parse(action) else {
            return Err(invalid_action(action));
        };
        match a {
            StsAction::GetCallerIdentity => Ok(hand(self.get_caller_identity(ctx))),
            StsAction::AssumeRole => self.assume_role(ctx, q).await.map(hand),
            StsAction::GetSessionToken => self.get_session_token(ctx, q).await.map(hand),
        }
    }

    // ---- store plumbing ----

    /// Applies `ops` if `compares` hold, then rebuilds the snapshot.
    async fn commit(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<bool, AwsError> {
        let res = self.store.txn(compares, ops).await.map_err(AwsError::state_store)?;
        self.reload().await?;
        Ok(res.succeeded)
    }

    async fn reload(&self) -> Result<(), AwsError> {
        let dir = Directory::load(self.store.as_ref(), self.sealer.as_ref())
            .await
            .map_err(AwsError::state_store)?;
        self.auth.set_directory(dir);
        Ok(())
    }

    fn now(&self) -> OffsetDateTime {
        self.auth.now()
    }

    // ---- users ----

    async fn create_user(&self, q: &QueryInput) -> Result<String, AwsError> {
        let name = q.required("UserName")?;
        check_name(name, "userName", 64)?;
        let path = check_path(q.get("Path"))?;
        let tags = tags_of(q)?;
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
        let mut w = XmlWriter::new();
        user_xml(&mut w, &user);
        Ok(w.finish())
    }

    fn get_user(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let name = match q.get("UserName") {
            Some(n) => n.to_string(),
            None => match ctx
                .principal
                .user_name
                .clone()
                .filter(|_| ctx.principal.arn.contains(":user/"))
            {
                Some(n) => n,
                None if ctx.principal.is_root => {
                    // The root user, as IAM describes it.
                    let mut w = XmlWriter::new();
                    w.start("User")
                        .elem("Path", "/")
                        .elem("UserName", "root")
                        .elem("UserId", &self.account_id)
                        .elem("Arn", &ctx.principal.arn)
                        .elem("CreateDate", format_iso(OffsetDateTime::UNIX_EPOCH))
                        .end("User");
                    return Ok(w.finish());
                }
                None => {
                    return Err(validation(
                        "Must specify userName when calling with non-User credentials",
                    ));
                }
            },
        };
        let user = dir.users.get(&name).ok_or_else(|| no_user(&name))?;
        let mut w = XmlWriter::new();
        user_xml(&mut w, user);
        Ok(w.finish())
    }

    fn list_users(&self, q: &QueryInput) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let prefix = q.get("PathPrefix").unwrap_or("/");
        let users: Vec<&UserRec> = dir.users.values().filter(|u| u.path.starts_with(prefix)).collect();
        let (page, marker) = paginate(users, |u| u.name.clone(), q)?;
        let mut w = XmlWriter::new();
        member_list(&mut w, "Users", page, user_fields);
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    async fn delete_user(&self, q: &QueryInput) -> Result<(), AwsError> {
        let name = q.required("UserName")?;
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
        Ok(())
    }

    /// The user an access-key action is about: `UserName`, else the calling user.
    fn key_user(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        if let Some(n) = q.get("UserName") {
            return Ok(n.to_string());
        }
        match &ctx.principal.user_name {
            Some(n) if ctx.principal.arn.contains(":user/") => Ok(n.clone()),
            _ => Err(validation(
                "Must specify userName when calling with non-User credentials (Berth does not manage access keys of \
                 the root user through IAM: they come from the server's configuration)",
            )),
        }
    }

    async fn create_access_key(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        let name = self.key_user(ctx, q)?;
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
        let mut w = XmlWriter::new();
        w.start("AccessKey")
            .elem("UserName", &key.user_name)
            .elem("AccessKeyId", &key.access_key_id)
            .elem("Status", &key.status)
            .elem("SecretAccessKey", &key.secret_access_key)
            .elem("CreateDate", &key.create_date)
            .end("AccessKey");
        Ok(w.finish())
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

    async fn delete_access_key(&self, ctx: &RequestContext, q: &QueryInput) -> Result<(), AwsError> {
        let akid = q.required("AccessKeyId")?;
        let user = self.key_user(ctx, q)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        self.find_key(&dir, &user, akid)?;
        self.commit(vec![], vec![Op::Delete(format!("{KEYS}{akid}"))]).await?;
        Ok(())
    }

    async fn update_access_key(&self, ctx: &RequestContext, q: &QueryInput) -> Result<(), AwsError> {
        let akid = q.required("AccessKeyId")?;
        let status = q.required("Status")?;
        if status != "Active" && status != "Inactive" {
            return Err(validation(format!(
                "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must \
                 satisfy enum value set: [Active, Inactive]"
            )));
        }
        let user = self.key_user(ctx, q)?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut key = self.find_key(&dir, &user, akid)?;
        key.status = status.to_string();
        self.commit(vec![], vec![Op::Put(format!("{KEYS}{akid}"), self.encode_key(&key)?)])
            .await?;
        Ok(())
    }

    fn list_access_keys(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        let user = self.key_user(ctx, q)?;
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
        let (page, marker) = paginate(keys, |k| k.access_key_id.clone(), q)?;
        let mut w = XmlWriter::new();
        w.start("AccessKeyMetadata");
        for k in page {
            w.start("member")
                .elem("UserName", &k.user_name)
                .elem("AccessKeyId", &k.access_key_id)
                .elem("Status", &k.status)
                .elem("CreateDate", &k.create_date)
                .end("member");
        }
        w.end("AccessKeyMetadata");
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    // ---- roles ----

    async fn create_role(&self, q: &QueryInput) -> Result<String, AwsError> {
        let name = q.required("RoleName")?;
        check_name(name, "roleName", 64)?;
        let path = check_path(q.get("Path"))?;
        let trust = q.required("AssumeRolePolicyDocument")?;
        PolicyDocument::parse(trust, PolicyKind::Trust).map_err(|e| malformed(e.0))?;
        let max = q.int("MaxSessionDuration")?.unwrap_or(3600);
        if !(3600..=43200).contains(&max) {
            return Err(validation(format!(
                "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: \
                 Member must have value between 3600 and 43200"
            )));
        }
        let tags = tags_of(q)?;
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
            description: q.get("Description").map(str::to_string),
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
        let mut w = XmlWriter::new();
        w.start("Role");
        role_fields(&mut w, &role);
        w.end("Role");
        Ok(w.finish())
    }

    fn get_role(&self, q: &QueryInput) -> Result<String, AwsError> {
        let name = q.required("RoleName")?;
        let dir = self.auth.directory();
        let role = dir.roles.get(name).ok_or_else(|| no_role(name))?;
        let mut w = XmlWriter::new();
        w.start("Role");
        role_fields(&mut w, role);
        w.end("Role");
        Ok(w.finish())
    }

    fn list_roles(&self, q: &QueryInput) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let prefix = q.get("PathPrefix").unwrap_or("/");
        let roles: Vec<&RoleRec> = dir.roles.values().filter(|r| r.path.starts_with(prefix)).collect();
        let (page, marker) = paginate(roles, |r| r.name.clone(), q)?;
        let mut w = XmlWriter::new();
        member_list(&mut w, "Roles", page, role_fields);
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    async fn delete_role(&self, q: &QueryInput) -> Result<(), AwsError> {
        let name = q.required("RoleName")?;
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
        Ok(())
    }

    async fn update_assume_role_policy(&self, q: &QueryInput) -> Result<(), AwsError> {
        let name = q.required("RoleName")?;
        let doc = q.required("PolicyDocument")?;
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
        Ok(())
    }

    // ---- managed policies ----

    async fn create_policy(&self, q: &QueryInput) -> Result<String, AwsError> {
        let name = q.required("PolicyName")?;
        check_name(name, "policyName", 128)?;
        let path = check_path(q.get("Path"))?;
        let doc = q.required("PolicyDocument")?;
        PolicyDocument::parse(doc, PolicyKind::Identity).map_err(|e| malformed(e.0))?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if dir
            .policies
            .values()
            .any(|p| p.name == name && !managed::is_aws_managed(&p.arn))
        {
            return Err(already_exists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let now = format_iso(self.now());
        let policy = PolicyRec {
            name: name.to_string(),
            id: random_id("ANPA", 17),
            arn: format!("arn:aws:iam::{}:policy{path}{name}", self.account_id),
            path,
            description: q.get("Description").map(str::to_string),
            create_date: now.clone(),
            update_date: now.clone(),
            default_version: "v1".into(),
            versions: vec![PolicyVersionRec {
                id: "v1".into(),
                document: doc.to_string(),
                create_date: now,
            }],
            next_version: 2,
        };
        let key = format!("{POLICIES}{name}");
        if !self
            .commit(
                vec![Compare::Absent(key.clone())],
                vec![Op::Put(key, typed::encode(&policy).map_err(AwsError::state_store)?)],
            )
            .await?
        {
            return Err(already_exists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let mut w = XmlWriter::new();
        policy_xml(&mut w, "Policy", &policy, 0);
        Ok(w.finish())
    }

    fn policy_of<'d>(&self, dir: &'d Directory, arn: &str) -> Result<&'d PolicyRec, AwsError> {
        dir.policies
            .get(arn)
            .ok_or_else(|| no_such_entity(format!("Policy {arn} does not exist or is not attachable.")))
    }

    fn get_policy(&self, q: &QueryInput) -> Result<String, AwsError> {
        let arn = q.required("PolicyArn")?;
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        let mut w = XmlWriter::new();
        policy_xml(&mut w, "Policy", p, dir.attachment_count(arn));
        Ok(w.finish())
    }

    fn list_policies(&self, q: &QueryInput) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let prefix = q.get("PathPrefix").unwrap_or("/");
        let only_attached = q.bool("OnlyAttached").unwrap_or(false);
        let scope = PolicyScope::parse(q.get("Scope"))?;
        let mut items: Vec<(&PolicyRec, usize)> = dir
            .policies
            .values()
            .filter(|p| scope.includes(&p.arn))
            .filter(|p| p.path.starts_with(prefix))
            .map(|p| (p, dir.attachment_count(&p.arn)))
            .filter(|(_, n)| !only_attached || *n > 0)
            .collect();
        items.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let (page, marker) = paginate(items, |(p, _)| p.name.clone(), q)?;
        let mut w = XmlWriter::new();
        w.start("Policies");
        for (p, n) in page {
            policy_xml(&mut w, "member", p, n);
        }
        w.end("Policies");
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    async fn delete_policy(&self, ctx: &RequestContext, q: &QueryInput) -> Result<(), AwsError> {
        let arn = q.required("PolicyArn")?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        refuse_aws_managed(ctx, "iam:DeletePolicy", arn)?;
        if dir.attachment_count(arn) > 0 {
            return Err(delete_conflict("Cannot delete a policy attached to entities."));
        }
        self.commit(vec![], vec![Op::Delete(format!("{POLICIES}{}", p.name))])
            .await?;
        Ok(())
    }

    async fn create_policy_version(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        let arn = q.required("PolicyArn")?;
        if managed::is_aws_managed(arn) {
            self.policy_of(&self.auth.directory(), arn)?;
            refuse_aws_managed(ctx, "iam:CreatePolicyVersion", arn)?;
        }
        let doc = q.required("PolicyDocument")?;
        PolicyDocument::parse(doc, PolicyKind::Identity).map_err(|e| malformed(e.0))?;
        let set_default = q.bool("SetAsDefault").unwrap_or(false);
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut p = self.policy_of(&dir, arn)?.clone();
        if p.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(limit_exceeded(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, \
                 you must delete an existing version."
            )));
        }
        let now = format_iso(self.now());
        let version = PolicyVersionRec {
            id: format!("v{}", p.next_version),
            document: doc.to_string(),
            create_date: now.clone(),
        };
        p.next_version += 1;
        if set_default {
            p.default_version = version.id.clone();
        }
        p.update_date = now;
        p.versions.push(version.clone());
        self.commit(
            vec![],
            vec![Op::Put(
                format!("{POLICIES}{}", p.name),
                typed::encode(&p).map_err(AwsError::state_store)?,
            )],
        )
        .await?;
        let mut w = XmlWriter::new();
        w.start("PolicyVersion")
            .elem("VersionId", &version.id)
            .elem("IsDefaultVersion", (p.default_version == version.id).to_string())
            .elem("CreateDate", &version.create_date)
            .end("PolicyVersion");
        Ok(w.finish())
    }

    fn get_policy_version(&self, q: &QueryInput) -> Result<String, AwsError> {
        let arn = q.required("PolicyArn")?;
        let vid = q.required("VersionId")?;
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        let v = p.versions.iter().find(|v| v.id == vid).ok_or_else(|| {
            no_such_entity(format!(
                "Policy {arn} version {vid} does not exist or is not attachable."
            ))
        })?;
        let mut w = XmlWriter::new();
        w.start("PolicyVersion")
            .elem("Document", url_encode(&v.document))
            .elem("VersionId", &v.id)
            .elem("IsDefaultVersion", (p.default_version == v.id).to_string())
            .elem("CreateDate", &v.create_date)
            .end("PolicyVersion");
        Ok(w.finish())
    }

    fn list_policy_versions(&self, q: &QueryInput) -> Result<String, AwsError> {
        let arn = q.required("PolicyArn")?;
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        let mut versions: Vec<&PolicyVersionRec> = p.versions.iter().collect();
        // Newest first, as IAM lists them.
        versions.reverse();
        let (page, marker) = paginate(versions, |v| v.id.clone(), q)?;
        let mut w = XmlWriter::new();
        member_list(&mut w, "Versions", page, |w, v| {
            w.elem("VersionId", &v.id)
                .elem("IsDefaultVersion", (p.default_version == v.id).to_string())
                .elem("CreateDate", &v.create_date);
        });
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    fn list_entities_for_policy(&self, q: &QueryInput) -> Result<String, AwsError> {
        let arn = q.required("PolicyArn")?;
        let filter = EntityFilter::parse(q.get("EntityFilter"))?;
        let prefix = q.get("PathPrefix").unwrap_or("/");
        let dir = self.auth.directory();
        self.policy_of(&dir, arn)?;
        let has = |attached: &[String]| attached.iter().any(|a| a == arn);
        // (kind order, name, id): groups, then users, then roles, each by name.
        let mut items: Vec<(Kind, &str, &str)> = Vec::new();
        if filter.includes(Kind::Group) {
            items.extend(
                dir.groups
                    .values()
                    .filter(|g| has(&g.attached) && g.path.starts_with(prefix))
                    .map(|g| (Kind::Group, g.name.as_str(), g.id.as_str())),
            );
        }
        if filter.includes(Kind::User) {
            items.extend(
                dir.users
                    .values()
                    .filter(|u| has(&u.attached) && u.path.starts_with(prefix))
                    .map(|u| (Kind::User, u.name.as_str(), u.id.as_str())),
            );
        }
        if filter.includes(Kind::Role) {
            items.extend(
                dir.roles
                    .values()
                    .filter(|r| has(&r.attached) && r.path.starts_with(prefix))
                    .map(|r| (Kind::Role, r.name.as_str(), r.id.as_str())),
            );
        }
        let (page, marker) = paginate(items, |(k, n, _)| format!("{}/{n}", k.word()), q)?;
        let mut w = XmlWriter::new();
        for (kind, list, name_tag, id_tag) in [
            (Kind::Group, "PolicyGroups", "GroupName", "GroupId"),
            (Kind::User, "PolicyUsers", "UserName", "UserId"),
            (Kind::Role, "PolicyRoles", "RoleName", "RoleId"),
        ] {
            member_list(
                &mut w,
                list,
                page.iter().filter(|(k, _, _)| *k == kind),
                |w, (_, n, id)| {
                    w.elem(name_tag, *n).elem(id_tag, *id);
                },
            );
        }
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    // ---- attachments and inline policies (users and roles alike) ----

    /// Reads a user or role as the (inline, attached) pair, and the key to write it back.
    fn principal_entity(&self, dir: &Directory, q: &QueryInput, kind: Kind) -> Result<Entity, AwsError> {
        match kind {
            Kind::User => {
                let name = q.required("UserName")?;
                let u = dir.users.get(name).ok_or_else(|| no_user(name))?;
                Ok(Entity::User(u.clone()))
            }
            Kind::Role => {
                let name = q.required("RoleName")?;
                let r = dir.roles.get(name).ok_or_else(|| no_role(name))?;
                Ok(Entity::Role(r.clone()))
            }
            Kind::Group => {
                let name = q.required("GroupName")?;
                let g = dir.groups.get(name).ok_or_else(|| no_group(name))?;
                Ok(Entity::Group(g.clone()))
            }
        }
    }

    async fn save(&self, entity: &Entity) -> Result<(), AwsError> {
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
        Ok(())
    }

    async fn attach(&self, q: &QueryInput, kind: Kind, attach: bool) -> Result<(), AwsError> {
        let arn = q.required("PolicyArn")?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, q, kind)?;
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

    async fn put_inline(&self, q: &QueryInput, kind: Kind) -> Result<(), AwsError> {
        let name = q.required("PolicyName")?;
        check_name(name, "policyName", 128)?;
        let doc = q.required("PolicyDocument")?;
        PolicyDocument::parse(doc, PolicyKind::Identity).map_err(|e| malformed(e.0))?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, q, kind)?;
        e.inline_mut().insert(name.to_string(), doc.to_string());
        self.save(&e).await
    }

    fn get_inline(&self, q: &QueryInput, kind: Kind) -> Result<String, AwsError> {
        let name = q.required("PolicyName")?;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, q, kind)?;
        let doc =
            e.inline_mut().get(name).cloned().ok_or_else(|| {
                no_such_entity(format!("The {} policy with name {name} cannot be found.", kind.word()))
            })?;
        let mut w = XmlWriter::new();
        w.elem(kind.name_tag(), e.name())
            .elem("PolicyName", name)
            .elem("PolicyDocument", url_encode(&doc));
        Ok(w.finish())
    }

    async fn delete_inline(&self, q: &QueryInput, kind: Kind) -> Result<(), AwsError> {
        let name = q.required("PolicyName")?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, q, kind)?;
        if e.inline_mut().remove(name).is_none() {
            return Err(no_such_entity(format!(
                "The {} policy with name {name} cannot be found.",
                kind.word()
            )));
        }
        self.save(&e).await
    }

    fn list_inline(&self, q: &QueryInput, kind: Kind) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, q, kind)?;
        let names: Vec<String> = e.inline_mut().keys().cloned().collect();
        let (page, marker) = paginate(names, Clone::clone, q)?;
        let mut w = XmlWriter::new();
        w.start("PolicyNames");
        for n in page {
            w.elem("member", n);
        }
        w.end("PolicyNames");
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    fn list_attached(&self, q: &QueryInput, kind: Kind) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let mut e = self.principal_entity(&dir, q, kind)?;
        let prefix = q.get("PathPrefix").unwrap_or("/");
        let mut items: Vec<(String, String)> = e
            .attached_mut()
            .iter()
            .filter_map(|arn| dir.policies.get(arn))
            .filter(|p| p.path.starts_with(prefix))
            .map(|p| (p.name.clone(), p.arn.clone()))
            .collect();
        items.sort();
        let (page, marker) = paginate(items, |(n, _)| n.clone(), q)?;
        let mut w = XmlWriter::new();
        w.start("AttachedPolicies");
        for (name, arn) in page {
            w.start("member")
                .elem("PolicyName", name)
                .elem("PolicyArn", arn)
                .end("member");
        }
        w.end("AttachedPolicies");
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    // ---- groups ----

    async fn create_group(&self, q: &QueryInput) -> Result<String, AwsError> {
        let name = q.required("GroupName")?;
        check_name(name, "groupName", 128)?;
        let path = check_path(q.get("Path"))?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if dir.groups.keys().any(|g| g.eq_ignore_ascii_case(name)) {
            return Err(already_exists(format!("Group with name {name} already exists.")));
        }
        let group = GroupRec {
            name: name.to_string(),
            id: random_id("AGPA", 17),
            arn: format!("arn:aws:iam::{}:group{path}{name}", self.account_id),
            path,
            create_date: format_iso(self.now()),
            inline: Default::default(),
            attached: vec![],
        };
        let key = format!("{GROUPS}{name}");
        if !self
            .commit(
                vec![Compare::Absent(key.clone())],
                vec![Op::Put(key, typed::encode(&group).map_err(AwsError::state_store)?)],
            )
            .await?
        {
            return Err(already_exists(format!("Group with name {name} already exists.")));
        }
        let mut w = XmlWriter::new();
        group_xml(&mut w, "Group", &group);
        Ok(w.finish())
    }

    fn get_group(&self, q: &QueryInput) -> Result<String, AwsError> {
        let name = q.required("GroupName")?;
        let dir = self.auth.directory();
        let group = dir.groups.get(name).ok_or_else(|| no_group(name))?;
        let members: Vec<&UserRec> = dir
            .users
            .values()
            .filter(|u| u.groups.iter().any(|g| g == name))
            .collect();
        let (page, marker) = paginate(members, |u| u.name.clone(), q)?;
        let mut w = XmlWriter::new();
        group_xml(&mut w, "Group", group);
        member_list(&mut w, "Users", page, user_fields);
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    fn list_groups(&self, q: &QueryInput) -> Result<String, AwsError> {
        let dir = self.auth.directory();
        let prefix = q.get("PathPrefix").unwrap_or("/");
        let groups: Vec<&GroupRec> = dir.groups.values().filter(|g| g.path.starts_with(prefix)).collect();
        let (page, marker) = paginate(groups, |g| g.name.clone(), q)?;
        let mut w = XmlWriter::new();
        w.start("Groups");
        for g in page {
            group_xml(&mut w, "member", g);
        }
        w.end("Groups");
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    fn list_groups_for_user(&self, q: &QueryInput) -> Result<String, AwsError> {
        let user = q.required("UserName")?;
        let dir = self.auth.directory();
        let u = dir.users.get(user).ok_or_else(|| no_user(user))?;
        let mut groups: Vec<&GroupRec> = u.groups.iter().filter_map(|g| dir.groups.get(g)).collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        let (page, marker) = paginate(groups, |g| g.name.clone(), q)?;
        let mut w = XmlWriter::new();
        w.start("Groups");
        for g in page {
            group_xml(&mut w, "member", g);
        }
        w.end("Groups");
        truncation(&mut w, marker);
        Ok(w.finish())
    }

    async fn delete_group(&self, q: &QueryInput) -> Result<(), AwsError> {
        let name = q.required("GroupName")?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let group = dir.groups.get(name).ok_or_else(|| no_group(name))?;
        if dir.users.values().any(|u| u.groups.iter().any(|g| g == name)) {
            return Err(delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        if !group.attached.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must detach all policies first."));
        }
        if !group.inline.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must delete policies first."));
        }
        self.commit(vec![], vec![Op::Delete(format!("{GROUPS}{name}"))]).await?;
        Ok(())
    }

    async fn group_membership(&self, q: &QueryInput, add: bool) -> Result<(), AwsError> {
        let group = q.required("GroupName")?;
        let user = q.required("UserName")?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if !dir.groups.contains_key(group) {
            return Err(no_group(group));
        }
        let mut u = dir.users.get(user).cloned().ok_or_else(|| no_user(user))?;
        if add {
            if !u.groups.iter().any(|g| g == group) {
                u.groups.push(group.to_string());
            }
        } else {
            let before = u.groups.len();
            u.groups.retain(|g| g != group);
            if u.groups.len() == before {
                return Err(no_such_entity(format!(
                    "The user with name {user} is not in group {group}."
                )));
            }
        }
        self.commit(
            vec![Compare::Exists(format!("{GROUPS}{group}"))],
            vec![Op::Put(
                format!("{USERS}{user}"),
                typed::encode(&u).map_err(AwsError::state_store)?,
            )],
        )
        .await?;
        Ok(())
    }

    // ---- STS ----

    /// The unique id of a principal, as `GetCallerIdentity` answers it:
    /// `AIDA…` for a user (a user deleted and created again under the same
    /// name has a new one), `AROA…:SESSION` for a role session, the account
    /// id for root; empty for a user this snapshot does not know.
    pub fn principal_id(&self, p: &Principal) -> String {
        let dir = self.auth.directory();
        if let Some(s) = dir.sessions.get(&p.access_key_id) {
            s.user_id.clone()
        } else if p.is_root {
            self.account_id.clone()
        } else {
            p.user_name
                .as_deref()
                .and_then(|n| dir.users.get(n))
                .map(|u| u.id.clone())
                .unwrap_or_default()
        }
    }

    fn get_caller_identity(&self, ctx: &RequestContext) -> String {
        let p = &ctx.principal;
        let user_id = self.principal_id(p);
        let mut w = XmlWriter::new();
        w.elem("UserId", user_id)
            .elem("Account", &self.account_id)
            .elem("Arn", &p.arn);
        w.finish()
    }

    async fn assume_role(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        let role_arn = q.required("RoleArn")?;
        let session = q.required("RoleSessionName")?;
        if !valid_session_name(session) {
            return Err(validation(format!(
                "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )));
        }
        let principal = &ctx.principal;
        let denied = || {
            query_access_denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                principal.arn
            ))
        };
        if principal.is_root {
            return Err(query_access_denied("Roles may not be assumed by root accounts."));
        }
        let dir = self.auth.directory();
        let role = dir.roles.values().find(|r| r.arn == role_arn).ok_or_else(denied)?;
        let chained = principal.arn.contains(":assumed-role/");
        let duration = q.int("DurationSeconds")?.unwrap_or(3600);
        let max = if chained { 3600 } else { role.max_session_duration };
        if !(900..=43200).contains(&duration) {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: \
                 Member must have value between 900 and 43200"
            )));
        }
        if duration > max {
            return Err(validation(format!(
                "The requested DurationSeconds exceeds the {} set for this role.",
                if chained {
                    "1 hour session limit for roles assumed by role chaining"
                } else {
                    "MaxSessionDuration"
                }
            )));
        }
        // The trust policy (a resource policy on the role) with the caller's
        // identity policies: same-account semantics.
        let trust = PolicyDocument::parse(&role.assume_role_policy, PolicyKind::Trust).map_err(|_| denied())?;
        let facts = RequestFacts {
            source_ip: &ctx.source_ip,
            secure_transport: ctx.secure_transport,
            ..Default::default()
        };
        let keys: ContextKeys = self.auth.context_keys(principal, &facts);
        let identity = crate::Authenticator::identity_policies(&dir, principal);
        let refs: Vec<&PolicyDocument> = identity.iter().map(Arc::as_ref).collect();
        let decision = policy::evaluate_trust(
            &refs,
            &trust,
            &Request {
                principal_arn: &principal.arn,
                account_id: &self.account_id,
                action: "sts:AssumeRole",
                resource: role_arn,
                keys: &keys,
            },
        );
        if decision != Decision::Allow {
            return Err(denied());
        }
        let rec = self.mint_role_session(role, session, duration).await?;
        let mut w = XmlWriter::new();
        credentials_xml(&mut w, &rec);
        w.start("AssumedRoleUser")
            .elem("AssumedRoleId", &rec.user_id)
            .elem("Arn", &rec.arn)
            .end("AssumedRoleUser")
            .elem("PackedPolicySize", "0");
        Ok(w.finish())
    }

    /// Temporary credentials for `role` with session name `session`, valid
    /// `duration` seconds, stored so that requests signed with them
    /// authenticate as `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    async fn mint_role_session(&self, role: &RoleRec, session: &str, duration: i64) -> Result<SessionRec, AwsError> {
        let rec = SessionRec {
            access_key_id: random_id("ASIA", 16),
            secret_access_key: random_secret(40),
            session_token: random_secret(356),
            sealed_secret: None,
            sealed_session_token: None,
            expiration: (self.now() + Duration::seconds(duration)).unix_timestamp(),
            arn: format!("arn:aws:sts::{}:assumed-role/{}/{session}", self.account_id, role.name),
            user_id: format!("{}:{session}", role.id),
            is_root: false,
            user_name: None,
            role_name: Some(role.name.clone()),
        };
        self.save_session(&rec).await?;
        Ok(rec)
    }

    /// Assumes `role_arn` on behalf of an AWS service principal (e.g.
    /// `ecs-tasks.amazonaws.com` for a task's task or execution role), as
    /// the service does in AWS: the role must exist and its trust policy must
    /// allow the service `sts:AssumeRole`. The session is named
    /// `session_name` (2–64 characters of `[\w+=,.@-]`) and lasts
    /// `duration_secs` (900 s up to the role's MaxSessionDuration).
    pub async fn assume_role_for_service(
        &self,
        role_arn: &str,
        service: &str,
        session_name: &str,
        duration_secs: i64,
    ) -> Result<ServiceRoleCredentials, ServiceRoleError> {
        if !valid_session_name(session_name) {
            return Err(ServiceRoleError::InvalidSessionName(session_name.to_string()));
        }
        let dir = self.auth.directory();
        let role = dir
            .roles
            .values()
            .find(|r| r.arn == role_arn)
            .ok_or_else(|| ServiceRoleError::NoSuchRole(role_arn.to_string()))?;
        let not_trusted = || ServiceRoleError::NotTrusted {
            role_arn: role_arn.to_string(),
            service: service.to_string(),
        };
        let trust = PolicyDocument::parse(&role.assume_role_policy, PolicyKind::Trust).map_err(|_| not_trusted())?;
        let mut keys = ContextKeys::new();
        let now = self.now();
        keys.set("aws:CurrentTime", format_iso(now))
            .set("aws:EpochTime", now.unix_timestamp().to_string())
            .set("aws:PrincipalServiceName", service)
            .set("aws:SecureTransport", "true");
        let decision = policy::evaluate_trust(
            &[],
            &trust,
            &Request {
                principal_arn: service,
                account_id: &self.account_id,
                action: "sts:AssumeRole",
                resource: role_arn,
                keys: &keys,
            },
        );
        if decision != Decision::Allow {
            return Err(not_trusted());
        }
        let duration = duration_secs.clamp(900, role.max_session_duration.max(900));
        let rec = self
            .mint_role_session(role, session_name, duration)
            .await
            .map_err(ServiceRoleError::Internal)?;
        Ok(ServiceRoleCredentials {
            access_key_id: rec.access_key_id,
            secret_access_key: rec.secret_access_key,
            session_token: rec.session_token,
            expiration: rec.expiration,
            assumed_role_arn: rec.arn,
            role_arn: role.arn.clone(),
        })
    }

    async fn get_session_token(&self, ctx: &RequestContext, q: &QueryInput) -> Result<String, AwsError> {
        let p = &ctx.principal;
        let dir = self.auth.directory();
        if dir.sessions.contains_key(&p.access_key_id) {
            return Err(query_access_denied(
                "Cannot call GetSessionToken with session credentials",
            ));
        }
        let (default, max) = if p.is_root { (3600, 3600) } else { (43200, 129600) };
        let duration = q.int("DurationSeconds")?.unwrap_or(default);
        if !(900..=max).contains(&duration) {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: \
                 Member must have value between 900 and {max}"
            )));
        }
        let user_id = if p.is_root {
            self.account_id.clone()
        } else {
            p.user_name
                .as_deref()
                .and_then(|n| dir.users.get(n))
                .map(|u| u.id.clone())
                .unwrap_or_default()
        };
        let rec = SessionRec {
            access_key_id: random_id("ASIA", 16),
            secret_access_key: random_secret(40),
            session_token: random_secret(356),
            sealed_secret: None,
            sealed_session_token: None,
            expiration: (self.now() + Duration::seconds(duration)).unix_timestamp(),
            arn: p.arn.clone(),
            user_id,
            is_root: p.is_root,
            user_name: p.user_name.clone(),
            role_name: None,
        };
        self.save_session(&rec).await?;
        let mut w = XmlWriter::new();
        credentials_xml(&mut w, &rec);
        Ok(w.finish())
    }

    /// Stores new temporary credentials and drops the expired ones.
    async fn save_session(&self, rec: &SessionRec) -> Result<(), AwsError> {
        let _w = self.write_lock.lock().await;
        let now = self.now().unix_timestamp();
        let dir = self.auth.directory();
        let mut ops: Vec<Op> = dir
            .sessions
            .values()
            .filter(|s| s.expiration <= now)
            .map(|s| Op::Delete(format!("{SESSIONS}{}", s.access_key_id)))
            .collect();
        ops.push(Op::Put(
            format!("{SESSIONS}{}", rec.access_key_id),
            self.encode_session(rec)?,
        ));
        self.commit(vec![], ops).await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Role,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Role => "role",
            Kind::Group => "group",
        }
    }
    fn name_tag(self) -> &'static str {
        match self {
            Kind::User => "UserName",
            Kind::Role => "RoleName",
            Kind::Group => "GroupName",
        }
    }
}

enum Entity {
    User(UserRec),
    Role(RoleRec),
    Group(GroupRec),
}

impl Entity {
    fn name(&self) -> &str {
        match self {
            Entity::User(u) => &u.name,
            Entity::Role(r) => &r.name,
            Entity::Group(g) => &g.name,
        }
    }
    fn attached_mut(&mut self) -> &mut Vec<String> {
        match self {
            Entity::User(u) => &mut u.attached,
            Entity::Role(r) => &mut r.attached,
            Entity::Group(g) => &mut g.attached,
        }
    }
    fn inline_mut(&mut self) -> &mut std::collections::BTreeMap<String, String> {
        match self {
            Entity::User(u) => &mut u.inline,
            Entity::Role(r) => &mut r.inline,
            Entity::Group(g) => &mut g.inline,
        }
    }
}

/// AWS managed policies are read-only for every caller, root included:
/// IAM answers `AccessDenied`.
fn refuse_aws_managed(ctx: &RequestContext, action: &str, arn: &str) -> Result<(), AwsError> {
    if managed::is_aws_managed(arn) {
        return Err(query_access_denied(format!(
            "User: {} is not authorized to perform: {action} on resource: policy {arn} because AWS managed \
             policies cannot be changed or deleted",
            ctx.principal.arn
        )));
    }
    Ok(())
}

/// ListPolicies' `Scope`: `All` (the default), `AWS` or `Local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyScope {
    All,
    Aws,
    Local,
}

impl PolicyScope {
    fn parse(v: Option<&str>) -> Result<Self, AwsError> {
        match v {
            None | Some("All") => Ok(Self::All),
            Some("AWS") => Ok(Self::Aws),
            Some("Local") => Ok(Self::Local),
            Some(other) => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'scope' failed to satisfy constraint: Member must \
                 satisfy enum value set: [All, AWS, Local]"
            ))),
        }
    }
    fn includes(self, arn: &str) -> bool {
        match self {
            Self::All => true,
            Self::Aws => managed::is_aws_managed(arn),
            Self::Local => !managed::is_aws_managed(arn),
        }
    }
}

/// ListEntitiesForPolicy's `EntityFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntityFilter {
    Any,
    Only(Kind),
    /// `LocalManagedPolicy`/`AWSManagedPolicy` select policies, not
    /// entities: no user, group or role matches them.
    Policies,
}

impl EntityFilter {
    fn parse(v: Option<&str>) -> Result<Self, AwsError> {
        match v {
            None => Ok(Self::Any),
            Some("User") => Ok(Self::Only(Kind::User)),
            Some("Role") => Ok(Self::Only(Kind::Role)),
            Some("Group") => Ok(Self::Only(Kind::Group)),
            Some("LocalManagedPolicy" | "AWSManagedPolicy") => Ok(Self::Policies),
            Some(other) => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'entityFilter' failed to satisfy constraint: \
                 Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]"
            ))),
        }
    }
    fn includes(self, kind: Kind) -> bool {
        match self {
            Self::Any => true,
            Self::Only(k) => k == kind,
            Self::Policies => false,
        }
    }
}

fn no_user(name: &str) -> AwsError {
    no_such_entity(format!("The user with name {name} cannot be found."))
}
fn no_group(name: &str) -> AwsError {
    no_such_entity(format!("The group with name {name} cannot be found."))
}
fn no_role(name: &str) -> AwsError {
    no_such_entity(format!("The role with name {name} cannot be found."))
}

/// User, role and policy names: `[\w+=,.@-]+`, 1 to `max` characters.
fn check_name(name: &str, field: &str, max: usize) -> Result<(), AwsError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and {max}"
        )))
    }
}

/// A path: `/` or `/a/b/`.
fn check_path(path: Option<&str>) -> Result<String, AwsError> {
    let p = path.unwrap_or("/");
    let ok = p.starts_with('/') && p.ends_with('/') && p.len() <= 512 && p.chars().all(|c| ('!'..='~').contains(&c));
    if ok {
        Ok(p.to_string())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{p}' at 'path' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        )))
    }
}

fn tags_of(q: &QueryInput) -> Result<Vec<Tag>, AwsError> {
    let tags: Vec<Tag> = q
        .list_of("Tags", &["Key", "Value"])
        .into_iter()
        .map(|m| Tag {
            key: m.get("Key").cloned().unwrap_or_default(),
            value: m.get("Value").cloned().unwrap_or_default(),
        })
        .collect();
    use berth_core::tags::{TagViolation, check_tags};
    check_tags(tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))).map_err(|v| match v {
        TagViolation::TooMany => limit_exceeded("The number of tags has reached the maximum limit."),
        TagViolation::KeyLength(_) | TagViolation::ValueLength(_) => {
            validation("Tag keys must have 1 to 128 characters and values at most 256.")
        }
        TagViolation::ReservedPrefix(_) | TagViolation::DuplicateKey(_) => validation(v.to_string()),
    })?;
    Ok(tags)
}

/// `Marker` (the last key of the previous page) and `MaxItems` (1–1000, default 100).
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    q: &QueryInput,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let max = q.int("MaxItems")?.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(validation(format!(
            "1 validation error detected: Value '{max}' at 'maxItems' failed to satisfy constraint: Member must have \
             value between 1 and 1000"
        )));
    }
    let marker = q.get("Marker");
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| marker.is_none_or(|m| key(i).as_str() > m))
        .collect();
    let max = max as usize;
    if rest.len() > max {
        rest.truncate(max);
        let next = rest.last().map(&key);
        Ok((rest, next))
    } else {
        Ok((rest, None))
    }
}

/// An awsQuery list: `<NAME><member>…</member>…</NAME>`.
fn member_list<T>(
    w: &mut XmlWriter,
    name: &str,
    items: impl IntoIterator<Item = T>,
    fields: impl Fn(&mut XmlWriter, T),
) {
    w.start(name);
    for item in items {
        w.start("member");
        fields(w, item);
        w.end("member");
    }
    w.end(name);
}

fn truncation(w: &mut XmlWriter, marker: Option<String>) {
    w.elem("IsTruncated", marker.is_some().to_string());
    w.opt("Marker", marker);
}

fn user_fields(w: &mut XmlWriter, u: &UserRec) {
    w.elem("Path", &u.path)
        .elem("UserName", &u.name)
        .elem("UserId", &u.id)
        .elem("Arn", &u.arn)
        .elem("CreateDate", &u.create_date);
    tags_xml(w, &u.tags);
}

fn user_xml(w: &mut XmlWriter, u: &UserRec) {
    w.start("User");
    user_fields(w, u);
    w.end("User");
}

fn role_fields(w: &mut XmlWriter, r: &RoleRec) {
    w.elem("Path", &r.path)
        .elem("RoleName", &r.name)
        .elem("RoleId", &r.id)
        .elem("Arn", &r.arn)
        .elem("CreateDate", &r.create_date)
        .elem("AssumeRolePolicyDocument", url_encode(&r.assume_role_policy))
        .opt("Description", r.description.as_deref())
        .elem("MaxSessionDuration", r.max_session_duration.to_string());
    tags_xml(w, &r.tags);
}

fn tags_xml(w: &mut XmlWriter, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    w.start("Tags");
    for t in tags {
        w.start("member")
            .elem("Key", &t.key)
            .elem("Value", &t.value)
            .end("member");
    }
    w.end("Tags");
}

fn group_xml(w: &mut XmlWriter, tag: &str, g: &GroupRec) {
    w.start(tag)
        .elem("Path", &g.path)
        .elem("GroupName", &g.name)
        .elem("GroupId", &g.id)
        .elem("Arn", &g.arn)
        .elem("CreateDate", &g.create_date)
        .end(tag);
}

fn policy_xml(w: &mut XmlWriter, tag: &str, p: &PolicyRec, attachments: usize) {
    w.start(tag)
        .elem("PolicyName", &p.name)
        .elem("PolicyId", &p.id)
        .elem("Arn", &p.arn)
        .elem("Path", &p.path)
        .elem("DefaultVersionId", &p.default_version)
        .elem("AttachmentCount", attachments.to_string())
        .elem("PermissionsBoundaryUsageCount", "0")
        .elem("IsAttachable", "true")
        .opt("Description", p.description.as_deref())
        .elem("CreateDate", &p.create_date)
        .elem("UpdateDate", &p.update_date)
        .end(tag);
}

fn credentials_xml(w: &mut XmlWriter, s: &SessionRec) {
    let expiration = OffsetDateTime::from_unix_timestamp(s.expiration).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    w.start("Credentials")
        .elem("AccessKeyId", &s.access_key_id)
        .elem("SecretAccessKey", &s.secret_access_key)
        .elem("SessionToken", &s.session_token)
        .elem("Expiration", format_iso(expiration))
        .end("Credentials");
}

/// `prefix` + `n` characters of the IAM id alphabet (upper-case letters and 2–7).
fn random_id(prefix: &str, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    prefix
        .chars()
        .chain((0..n).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char))
        .collect()
}

fn random_secret(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Re-writes, sealed, every access key and session stored with its secret
/// in clear (by a Berth from before sealing); returns how many. Each record
/// is replaced only if it is unchanged since it was read.
async fn seal_clear_records(store: &dyn Store, sealer: &dyn SecretSealer) -> Result<usize, berth_store::StoreError> {
    let mut count = 0;
    for kv in store.range(KEYS, None, None).await? {
        let Ok(k) = serde_json::from_slice::<AccessKeyRec>(&kv.value) else {
            continue;
        };
        if sealing::key_needs_sealing(&k) {
            let value = typed::encode(&sealing::seal_access_key(sealer, &k))?;
            let res = store
                .txn(
                    vec![Compare::ModRevision(kv.key.clone(), kv.mod_revision)],
                    vec![Op::Put(kv.key, value)],
                )
                .await?;
            count += usize::from(res.succeeded);
        }
    }
    for kv in store.range(SESSIONS, None, None).await? {
        let Ok(s) = serde_json::from_slice::<SessionRec>(&kv.value) else {
            continue;
        };
        if sealing::session_needs_sealing(&s) {
            let value = typed::encode(&sealing::seal_session(sealer, &s))?;
            let res = store
                .txn(
                    vec![Compare::ModRevision(kv.key.clone(), kv.mod_revision)],
                    vec![Op::Put(kv.key, value)],
                )
                .await?;
            count += usize::from(res.succeeded);
        }
    }
    Ok(count)
}
