//! What every routed IAM and STS action is authorized on, as the Service
//! Authorization Reference names it (pure): the user, role, group and policy
//! ARNs with their paths, each with its tags (`aws:ResourceTag/…`,
//! `iam:ResourceTag/…`) and, for Attach*/Detach*, `iam:PolicyARN`. The
//! actions AWS does not scope to a resource (`ListUsers`, `ListRoles`,
//! `ListGroups`, `ListPolicies`) are listed as `*` explicitly. The action
//! enums are the dispatch: a newly routed action does not compile until it
//! has a mapping here.

use crate::directory::{Directory, Tag};
use berth_proto::query::QueryInput;
use berth_proto::{AuthzResource, Principal};

macro_rules! actions {
    ($(#[$m:meta])* $name:ident { $($v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($v),* }
        impl $name {
            /// Every routed action.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The action's API name.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),* }
            }
            /// The routed action named `name`.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.name() == name)
            }
        }
    };
}

actions!(
    /// The IAM actions Berth routes.
    IamAction {
        CreateUser, GetUser, ListUsers, DeleteUser,
        CreateAccessKey, DeleteAccessKey, UpdateAccessKey, ListAccessKeys,
        CreateRole, GetRole, DeleteRole, ListRoles, UpdateAssumeRolePolicy,
        CreatePolicy, GetPolicy, DeletePolicy, ListPolicies, CreatePolicyVersion, GetPolicyVersion,
        ListPolicyVersions, ListEntitiesForPolicy,
        AttachRolePolicy, DetachRolePolicy, AttachUserPolicy, DetachUserPolicy, AttachGroupPolicy, DetachGroupPolicy,
        PutRolePolicy, PutUserPolicy, PutGroupPolicy, GetRolePolicy, GetUserPolicy, GetGroupPolicy,
        DeleteRolePolicy, DeleteUserPolicy, DeleteGroupPolicy,
        ListRolePolicies, ListUserPolicies, ListGroupPolicies,
        ListAttachedRolePolicies, ListAttachedUserPolicies, ListAttachedGroupPolicies,
        CreateGroup, GetGroup, ListGroups, DeleteGroup, AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser,
    }
);

actions!(
    /// The STS actions Berth routes.
    StsAction { GetCallerIdentity, AssumeRole, GetSessionToken }
);

/// How an STS action is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsAuthorization {
    /// No permission is needed (AWS: no policy can deny GetCallerIdentity;
    /// GetSessionToken needs none).
    NoneNeeded,
    /// The handler evaluates `sts:AssumeRole` on the role ARN with the
    /// caller's identity policies and the role's trust policy.
    OnRoleWithTrustPolicy,
}

impl StsAction {
    pub fn authorization(self) -> StsAuthorization {
        match self {
            StsAction::GetCallerIdentity | StsAction::GetSessionToken => StsAuthorization::NoneNeeded,
            StsAction::AssumeRole => StsAuthorization::OnRoleWithTrustPolicy,
        }
    }
}

/// The kind of resource an IAM action acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Not resource-scoped in AWS: `*`.
    Any,
    /// `UserName` (or, for the access-key actions and GetUser, the caller).
    User,
    Role,
    Group,
    /// `PolicyArn`.
    Policy,
    /// CreatePolicy: `PolicyName` under `Path`.
    NewPolicy,
}

impl IamAction {
    /// What the action is authorized on.
    pub fn scope(self) -> Scope {
        use IamAction::*;
        match self {
            ListUsers | ListRoles | ListGroups | ListPolicies => Scope::Any,
            CreateUser
            | GetUser
            | DeleteUser
            | CreateAccessKey
            | DeleteAccessKey
            | UpdateAccessKey
            | ListAccessKeys
            | AttachUserPolicy
            | DetachUserPolicy
            | PutUserPolicy
            | GetUserPolicy
            | DeleteUserPolicy
            | ListUserPolicies
            | ListAttachedUserPolicies
            | ListGroupsForUser => Scope::User,
            CreateRole
            | GetRole
            | DeleteRole
            | UpdateAssumeRolePolicy
            | AttachRolePolicy
            | DetachRolePolicy
            | PutRolePolicy
            | GetRolePolicy
            | DeleteRolePolicy
            | ListRolePolicies
            | ListAttachedRolePolicies => Scope::Role,
            // AddUserToGroup and RemoveUserFromGroup act on the group (the
            // user is a parameter, not a resource, in AWS).
            CreateGroup
            | GetGroup
            | DeleteGroup
            | AddUserToGroup
            | RemoveUserFromGroup
            | AttachGroupPolicy
            | DetachGroupPolicy
            | PutGroupPolicy
            | GetGroupPolicy
            | DeleteGroupPolicy
            | ListGroupPolicies
            | ListAttachedGroupPolicies => Scope::Group,
            GetPolicy
            | DeletePolicy
            | CreatePolicyVersion
            | GetPolicyVersion
            | ListPolicyVersions
            | ListEntitiesForPolicy => Scope::Policy,
            CreatePolicy => Scope::NewPolicy,
        }
    }

    /// Whether the action takes `iam:PolicyARN` (the policy being attached or detached).
    pub fn has_policy_arn_key(self) -> bool {
        use IamAction::*;
        matches!(
            self,
            AttachRolePolicy
                | DetachRolePolicy
                | AttachUserPolicy
                | DetachUserPolicy
                | AttachGroupPolicy
                | DetachGroupPolicy
        )
    }
}

/// The members authorization reads, decoded as the actions decode them
/// (through the one awsQuery decoder); a form whose members do not decode
/// names none, and its action answers the `ValidationError`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Named {
    user_name: Option<String>,
    role_name: Option<String>,
    group_name: Option<String>,
    policy_arn: Option<String>,
    policy_name: Option<String>,
    path: Option<String>,
}

/// The resources `action` is authorized on, for `caller` in `account`
/// (existing entities with their real paths and tags from `dir`; an entity
/// being created with the `Path` it asks for).
pub fn resources(
    account: &str,
    dir: &Directory,
    caller: &Principal,
    action: IamAction,
    q: &QueryInput,
) -> Vec<AuthzResource> {
    let m: Named = q.decode().unwrap_or_default();
    let path_param = || m.path.clone().unwrap_or_else(|| "/".to_string());
    let mut r = match action.scope() {
        Scope::Any => AuthzResource::untagged("*"),
        Scope::User => {
            let name = m
                .user_name
                .clone()
                .or_else(|| caller.user_name.clone().filter(|_| caller.arn.contains(":user/")));
            match name {
                Some(name) => match dir.users.get(&name) {
                    Some(u) => tagged(&u.arn, &u.tags),
                    None => AuthzResource::untagged(entity_arn(account, "user", &path_param(), &name)),
                },
                // The root user's own keys (refused by the handler).
                None => AuthzResource::untagged(caller.arn.clone()),
            }
        }
        Scope::Role => {
            let name = m.role_name.as_deref().unwrap_or_default();
            match dir.roles.get(name) {
                Some(role) => tagged(&role.arn, &role.tags),
                None => AuthzResource::untagged(entity_arn(account, "role", &path_param(), name)),
            }
        }
        Scope::Group => {
            let name = m.group_name.as_deref().unwrap_or_default();
            match dir.groups.get(name) {
                Some(g) => AuthzResource::untagged(g.arn.clone()),
                None => AuthzResource::untagged(entity_arn(account, "group", &path_param(), name)),
            }
        }
        Scope::Policy => AuthzResource::untagged(m.policy_arn.as_deref().unwrap_or_default()),
        Scope::NewPolicy => AuthzResource::untagged(entity_arn(
            account,
            "policy",
            &path_param(),
            m.policy_name.as_deref().unwrap_or_default(),
        )),
    };
    if let Some(arn) = m.policy_arn.as_deref().filter(|_| action.has_policy_arn_key()) {
        r.condition_keys.push(("iam:PolicyARN".into(), arn.to_string()));
    }
    vec![r]
}

/// The tags of a request that creates a tagged entity (`Tags.member.N.Key/Value`),
/// decoded as the action decodes them; tags that do not decode set none
/// (the action answers their `ValidationError`).
pub fn request_tags(q: &QueryInput) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RequestTags {
        #[serde(default)]
        tags: Vec<crate::iam::shapes::TagInput>,
    }
    q.decode::<RequestTags>()
        .map(|r| r.tags.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default()
}

fn entity_arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

/// An entity with its tags as `aws:ResourceTag/…` (and IAM's own `iam:ResourceTag/…`).
fn tagged(arn: &str, tags: &[Tag]) -> AuthzResource {
    AuthzResource {
        arn: arn.to_string(),
        tags: tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        condition_keys: tags
            .iter()
            .map(|t| (format!("iam:ResourceTag/{}", t.key), t.value.clone()))
            .collect(),
        ..AuthzResource::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{RoleRec, UserRec};

    const A: &str = "123456789012";

    fn q(pairs: &[(&str, &str)]) -> QueryInput {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", berth_proto::query::url_encode(v)))
            .collect();
        QueryInput::parse(body.join("&").as_bytes()).unwrap()
    }

    fn alice() -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{A}:user/team/alice"),
            account_id: A.into(),
            access_key_id: "AKIA".into(),
            is_root: false,
            user_name: Some("alice".into()),
            unique_id: "AIDAALICE".into(),
        }
    }

    fn dir() -> Directory {
        let mut d = Directory::default();
        d.users.insert(
            "alice".into(),
            UserRec {
                name: "alice".into(),
                id: "AIDA".into(),
                arn: format!("arn:aws:iam::{A}:user/team/alice"),
                path: "/team/".into(),
                create_date: String::new(),
                inline: Default::default(),
                attached: vec![],
                tags: vec![Tag {
                    key: "team".into(),
                    value: "blue".into(),
                }],
                groups: vec![],
            },
        );
        d.roles.insert(
            "app".into(),
            RoleRec {
                name: "app".into(),
                id: "AROA".into(),
                arn: format!("arn:aws:iam::{A}:role/service/app"),
                path: "/service/".into(),
                create_date: String::new(),
                assume_role_policy: "{}".into(),
                description: None,
                max_session_duration: 3600,
                inline: Default::default(),
                attached: vec![],
                tags: vec![],
            },
        );
        d
    }

    /// Plausible parameters for every action, so each names its resource.
    fn params(a: IamAction) -> QueryInput {
        q(&[
            ("Action", a.name()),
            ("UserName", "alice"),
            ("RoleName", "app"),
            ("GroupName", "ops"),
            ("PolicyName", "p"),
            ("PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
        ])
    }

    #[test]
    fn every_routed_action_names_its_resource_and_only_listed_ones_are_star() {
        let star: Vec<&str> = IamAction::ALL
            .iter()
            .filter(|a| a.scope() == Scope::Any)
            .map(|a| a.name())
            .collect();
        assert_eq!(star, ["ListUsers", "ListRoles", "ListPolicies", "ListGroups"]);
        for &a in IamAction::ALL {
            assert_eq!(IamAction::parse(a.name()), Some(a));
            let r = resources(A, &dir(), &alice(), a, &params(a));
            assert_eq!(r.len(), 1, "{a:?}");
            if a.scope() != Scope::Any {
                assert!(r[0].arn.starts_with("arn:aws:iam::"), "{a:?} on {}", r[0].arn);
            }
        }
    }

    #[test]
    fn entities_are_named_with_their_paths_and_tags() {
        let r = resources(A, &dir(), &alice(), IamAction::GetUser, &q(&[("UserName", "alice")]));
        assert_eq!(r[0].arn, format!("arn:aws:iam::{A}:user/team/alice"));
        assert_eq!(r[0].tags, vec![("team".to_string(), "blue".to_string())]);
        assert!(
            r[0].condition_keys
                .contains(&("iam:ResourceTag/team".into(), "blue".into()))
        );
        let r = resources(A, &dir(), &alice(), IamAction::GetRole, &q(&[("RoleName", "app")]));
        assert_eq!(r[0].arn, format!("arn:aws:iam::{A}:role/service/app"));
        let r = resources(
            A,
            &dir(),
            &alice(),
            IamAction::CreateRole,
            &q(&[("RoleName", "new"), ("Path", "/ci/")]),
        );
        assert_eq!(r[0].arn, format!("arn:aws:iam::{A}:role/ci/new"));
        let r = resources(
            A,
            &dir(),
            &alice(),
            IamAction::CreatePolicy,
            &q(&[("PolicyName", "p"), ("Path", "/x/")]),
        );
        assert_eq!(r[0].arn, format!("arn:aws:iam::{A}:policy/x/p"));
    }

    #[test]
    fn access_key_actions_default_to_the_caller() {
        let r = resources(A, &dir(), &alice(), IamAction::CreateAccessKey, &q(&[]));
        assert_eq!(r[0].arn, format!("arn:aws:iam::{A}:user/team/alice"));
    }

    #[test]
    fn attach_and_detach_carry_the_policy_arn() {
        for a in [
            IamAction::AttachRolePolicy,
            IamAction::DetachUserPolicy,
            IamAction::AttachGroupPolicy,
        ] {
            let r = resources(A, &dir(), &alice(), a, &params(a));
            assert!(
                r[0].condition_keys
                    .contains(&("iam:PolicyARN".into(), "arn:aws:iam::aws:policy/ReadOnlyAccess".into())),
                "{a:?}"
            );
        }
        let r = resources(A, &dir(), &alice(), IamAction::GetPolicy, &params(IamAction::GetPolicy));
        assert_eq!(r[0].arn, "arn:aws:iam::aws:policy/ReadOnlyAccess");
        assert!(r[0].condition_keys.is_empty());
    }

    #[test]
    fn every_sts_action_says_how_it_is_authorized() {
        for &a in StsAction::ALL {
            assert_eq!(StsAction::parse(a.name()), Some(a));
            let _ = a.authorization();
        }
        assert_eq!(
            StsAction::AssumeRole.authorization(),
            StsAuthorization::OnRoleWithTrustPolicy
        );
    }

    #[test]
    fn request_tags_are_read_from_the_query() {
        let r = request_tags(&q(&[("Tags.member.1.Key", "team"), ("Tags.member.1.Value", "blue")]));
        assert_eq!(r, vec![("team".to_string(), "blue".to_string())]);
    }
}
