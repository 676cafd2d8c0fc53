//! The IAM and STS APIs (awsQuery). State lives in the store under `iam/…`;
//! after each write the [`Directory`] snapshot of the [`Authenticator`] is
//! rebuilt, so the next request authenticates and authorizes against it.
//! Here: the dispatch (each action's input decoded once from the form into
//! its type of [`shapes`]) and the rules the actions share; the actions are
//! in `users`, `roles`, `policies`, `entities` (attachments and inline
//! policies), `groups` and `sts`.

use crate::directory::{AccessKeyRec, Directory, GroupRec, KEYS, RoleRec, SESSIONS, SessionRec, Tag, UserRec};
use crate::iam_authz::{self, IamAction, StsAction};
use crate::sealing::{self, SecretSealer};
use crate::{Authenticator, managed};
use berth_proto::query::{QueryInput, QueryResult, XmlStyle, invalid_action, xml};
use berth_proto::{AuthzResource, AwsError, Principal, RequestContext};
use berth_store::{Compare, Op, Store, typed};
use rand::Rng;
use std::sync::Arc;
use time::OffsetDateTime;

mod entities;
mod groups;
mod policies;
mod roles;
pub(crate) mod shapes;
mod sts;
mod users;

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
        Ok(xml::response(action, XmlStyle::query(ns), &result, &ctx.request_id))
    }

    pub(crate) async fn call_iam(
        &self,
        ctx: &RequestContext,
        action: &str,
        q: &QueryInput,
    ) -> Result<QueryResult, AwsError> {
        use IamAction as A;
        let Some(a) = IamAction::parse(action) else {
            return Err(invalid_action(action));
        };
        match a {
            A::CreateUser => self.create_user(q.decode()?).await,
            A::GetUser => self.get_user(ctx, q.decode()?),
            A::ListUsers => self.list_users(q.decode()?),
            A::DeleteUser => self.delete_user(q.decode()?).await,
            A::CreateAccessKey => self.create_access_key(ctx, q.decode()?).await,
            A::DeleteAccessKey => self.delete_access_key(ctx, q.decode()?).await,
            A::UpdateAccessKey => self.update_access_key(ctx, q.decode()?).await,
            A::ListAccessKeys => self.list_access_keys(ctx, q.decode()?),
            A::CreateRole => self.create_role(q.decode()?).await,
            A::GetRole => self.get_role(q.decode()?),
            A::DeleteRole => self.delete_role(q.decode()?).await,
            A::ListRoles => self.list_roles(q.decode()?),
            A::UpdateAssumeRolePolicy => self.update_assume_role_policy(q.decode()?).await,
            A::CreatePolicy => self.create_policy(q.decode()?).await,
            A::GetPolicy => self.get_policy(q.decode()?),
            A::DeletePolicy => self.delete_policy(ctx, q.decode()?).await,
            A::ListPolicies => self.list_policies(q.decode()?),
            A::CreatePolicyVersion => self.create_policy_version(ctx, q.decode()?).await,
            A::GetPolicyVersion => self.get_policy_version(q.decode()?),
            A::ListPolicyVersions => self.list_policy_versions(q.decode()?),
            A::ListEntitiesForPolicy => self.list_entities_for_policy(q.decode()?),
            A::AttachRolePolicy => self.attach(q.decode()?, Kind::Role, true).await,
            A::DetachRolePolicy => self.attach(q.decode()?, Kind::Role, false).await,
            A::AttachUserPolicy => self.attach(q.decode()?, Kind::User, true).await,
            A::DetachUserPolicy => self.attach(q.decode()?, Kind::User, false).await,
            A::AttachGroupPolicy => self.attach(q.decode()?, Kind::Group, true).await,
            A::DetachGroupPolicy => self.attach(q.decode()?, Kind::Group, false).await,
            A::PutRolePolicy => self.put_inline(q.decode()?, Kind::Role).await,
            A::PutUserPolicy => self.put_inline(q.decode()?, Kind::User).await,
            A::PutGroupPolicy => self.put_inline(q.decode()?, Kind::Group).await,
            A::GetRolePolicy => self.get_inline(q.decode()?, Kind::Role),
            A::GetUserPolicy => self.get_inline(q.decode()?, Kind::User),
            A::GetGroupPolicy => self.get_inline(q.decode()?, Kind::Group),
            A::DeleteRolePolicy => self.delete_inline(q.decode()?, Kind::Role).await,
            A::DeleteUserPolicy => self.delete_inline(q.decode()?, Kind::User).await,
            A::DeleteGroupPolicy => self.delete_inline(q.decode()?, Kind::Group).await,
            A::ListRolePolicies => self.list_inline(q.decode()?, Kind::Role),
            A::ListUserPolicies => self.list_inline(q.decode()?, Kind::User),
            A::ListGroupPolicies => self.list_inline(q.decode()?, Kind::Group),
            A::ListAttachedRolePolicies => self.list_attached(q.decode()?, Kind::Role),
            A::ListAttachedUserPolicies => self.list_attached(q.decode()?, Kind::User),
            A::ListAttachedGroupPolicies => self.list_attached(q.decode()?, Kind::Group),
            A::CreateGroup => self.create_group(q.decode()?).await,
            A::GetGroup => self.get_group(q.decode()?),
            A::ListGroups => self.list_groups(q.decode()?),
            A::DeleteGroup => self.delete_group(q.decode()?).await,
            A::AddUserToGroup => self.group_membership(q.decode()?, true).await,
            A::RemoveUserFromGroup => self.group_membership(q.decode()?, false).await,
            A::ListGroupsForUser => self.list_groups_for_user(q.decode()?),
        }
    }

    pub(crate) async fn call_sts(
        &self,
        ctx: &RequestContext,
        action: &str,
        q: &QueryInput,
    ) -> Result<QueryResult, AwsError> {
        let Some(a) = StsAction::parse(action) else {
            return Err(invalid_action(action));
        };
        match a {
            StsAction::GetCallerIdentity => self.get_caller_identity(ctx),
            StsAction::AssumeRole => self.assume_role(ctx, q.decode()?).await,
            StsAction::GetSessionToken => self.get_session_token(ctx, q.decode()?).await,
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
    /// As in action names (`GetUserPolicy`).
    fn title(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Role => "Role",
            Kind::Group => "Group",
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

/// The tags a request sets, within IAM's limits.
fn tags_from(input: Vec<shapes::TagInput>) -> Result<Vec<Tag>, AwsError> {
    let tags: Vec<Tag> = input
        .into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
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
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let max = max_items.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(validation(format!(
            "1 validation error detected: Value '{max}' at 'maxItems' failed to satisfy constraint: Member must have \
             value between 1 and 1000"
        )));
    }
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
