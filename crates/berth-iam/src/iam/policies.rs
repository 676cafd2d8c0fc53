//! IAM customer managed policies and their versions, typed.

use super::shapes::{
    CreatePolicyInput, CreatePolicyVersionInput, GetPolicyVersionInput, ListEntitiesForPolicyInput,
    ListEntitiesForPolicyResult, ListPoliciesInput, ListPoliciesResult, ListPolicyVersionsInput,
    ListPolicyVersionsResult, Policy, PolicyArnInput, PolicyGroup, PolicyResult, PolicyRole, PolicyUser, PolicyVersion,
    PolicyVersionResult,
};
use super::{
    EntityFilter, Iam, Kind, MAX_POLICY_VERSIONS, PolicyScope, already_exists, check_name, check_path, delete_conflict,
    limit_exceeded, malformed, no_such_entity, paginate, random_id, refuse_aws_managed,
};
use crate::directory::{Directory, POLICIES, PolicyRec, PolicyVersionRec};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::{format_iso, managed};
use berth_proto::query::{QueryResult, UrlEncoded};
use berth_proto::{AwsError, RequestContext};
use berth_store::{Compare, Op, typed};

impl Iam {
    pub(super) async fn create_policy(&self, input: CreatePolicyInput) -> Result<QueryResult, AwsError> {
        let name = input.policy_name.as_str();
        check_name(name, "policyName", 128)?;
        let path = check_path(input.path.as_deref())?;
        let doc = input.policy_document.as_str();
        PolicyDocument::parse(doc, PolicyKind::Identity).map_err(|e| malformed(e.0))?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let exists = || {
            already_exists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            ))
        };
        if dir
            .policies
            .values()
            .any(|p| p.name == name && !managed::is_aws_managed(&p.arn))
        {
            return Err(exists());
        }
        let now = format_iso(self.now());
        let policy = PolicyRec {
            name: name.to_string(),
            id: random_id("ANPA", 17),
            arn: format!("arn:aws:iam::{}:policy{path}{name}", self.account_id),
            path,
            description: input.description,
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
            return Err(exists());
        }
        QueryResult::of(
            "CreatePolicy",
            &PolicyResult {
                policy: Policy::of(&policy, 0),
            },
        )
    }

    pub(super) fn policy_of<'d>(&self, dir: &'d Directory, arn: &str) -> Result<&'d PolicyRec, AwsError> {
        dir.policies
            .get(arn)
            .ok_or_else(|| no_such_entity(format!("Policy {arn} does not exist or is not attachable.")))
    }

    pub(super) fn get_policy(&self, input: PolicyArnInput) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        QueryResult::of(
            "GetPolicy",
            &PolicyResult {
                policy: Policy::of(p, dir.attachment_count(arn)),
            },
        )
    }

    pub(super) fn list_policies(&self, input: ListPoliciesInput) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let only_attached = input.only_attached.unwrap_or(false);
        let scope = PolicyScope::parse(input.scope.as_deref())?;
        let mut items: Vec<(&PolicyRec, usize)> = dir
            .policies
            .values()
            .filter(|p| scope.includes(&p.arn))
            .filter(|p| p.path.starts_with(prefix))
            .map(|p| (p, dir.attachment_count(&p.arn)))
            .filter(|(_, n)| !only_attached || *n > 0)
            .collect();
        items.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let (page, marker) = paginate(items, |(p, _)| p.name.clone(), input.marker.as_deref(), input.max_items)?;
        let out = ListPoliciesResult {
            policies: page
                .into_iter()
                .map(|(p, n)| Policy::of(p, n))
                .collect::<Vec<_>>()
                .into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("ListPolicies", &out)
    }

    pub(super) async fn delete_policy(
        &self,
        ctx: &RequestContext,
        input: PolicyArnInput,
    ) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        refuse_aws_managed(ctx, "iam:DeletePolicy", arn)?;
        if dir.attachment_count(arn) > 0 {
            return Err(delete_conflict("Cannot delete a policy attached to entities."));
        }
        self.commit(vec![], vec![Op::Delete(format!("{POLICIES}{}", p.name))])
            .await?;
        Ok(QueryResult::empty())
    }

    pub(super) async fn create_policy_version(
        &self,
        ctx: &RequestContext,
        input: CreatePolicyVersionInput,
    ) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        if managed::is_aws_managed(arn) {
            self.policy_of(&self.auth.directory(), arn)?;
            refuse_aws_managed(ctx, "iam:CreatePolicyVersion", arn)?;
        }
        let doc = input.policy_document.as_str();
        PolicyDocument::parse(doc, PolicyKind::Identity).map_err(|e| malformed(e.0))?;
        let set_default = input.set_as_default.unwrap_or(false);
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
        let out = PolicyVersionResult {
            policy_version: PolicyVersion {
                document: None,
                is_default_version: p.default_version == version.id,
                version_id: version.id,
                create_date: version.create_date,
            },
        };
        QueryResult::of("CreatePolicyVersion", &out)
    }

    pub(super) fn get_policy_version(&self, input: GetPolicyVersionInput) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        let vid = input.version_id.as_str();
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        let v = p.versions.iter().find(|v| v.id == vid).ok_or_else(|| {
            no_such_entity(format!(
                "Policy {arn} version {vid} does not exist or is not attachable."
            ))
        })?;
        let out = PolicyVersionResult {
            policy_version: PolicyVersion {
                document: Some(UrlEncoded(v.document.clone())),
                version_id: v.id.clone(),
                is_default_version: p.default_version == v.id,
                create_date: v.create_date.clone(),
            },
        };
        QueryResult::of("GetPolicyVersion", &out)
    }

    pub(super) fn list_policy_versions(&self, input: ListPolicyVersionsInput) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        let dir = self.auth.directory();
        let p = self.policy_of(&dir, arn)?;
        let mut versions: Vec<&PolicyVersionRec> = p.versions.iter().collect();
        // Newest first, as IAM lists them.
        versions.reverse();
        let (page, marker) = paginate(versions, |v| v.id.clone(), input.marker.as_deref(), input.max_items)?;
        let out = ListPolicyVersionsResult {
            versions: page
                .into_iter()
                .map(|v| PolicyVersion {
                    document: None,
                    version_id: v.id.clone(),
                    is_default_version: p.default_version == v.id,
                    create_date: v.create_date.clone(),
                })
                .collect::<Vec<_>>()
                .into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("ListPolicyVersions", &out)
    }

    pub(super) fn list_entities_for_policy(&self, input: ListEntitiesForPolicyInput) -> Result<QueryResult, AwsError> {
        let arn = input.policy_arn.as_str();
        let filter = EntityFilter::parse(input.entity_filter.as_deref())?;
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
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
        let (page, marker) = paginate(
            items,
            |(k, n, _)| format!("{}/{n}", k.word()),
            input.marker.as_deref(),
            input.max_items,
        )?;
        let of = |kind: Kind| page.iter().filter(move |(k, _, _)| *k == kind);
        let out = ListEntitiesForPolicyResult {
            policy_groups: of(Kind::Group)
                .map(|(_, n, id)| PolicyGroup {
                    group_name: n.to_string(),
                    group_id: id.to_string(),
                })
                .collect::<Vec<_>>()
                .into(),
            policy_users: of(Kind::User)
                .map(|(_, n, id)| PolicyUser {
                    user_name: n.to_string(),
                    user_id: id.to_string(),
                })
                .collect::<Vec<_>>()
                .into(),
            policy_roles: of(Kind::Role)
                .map(|(_, n, id)| PolicyRole {
                    role_name: n.to_string(),
                    role_id: id.to_string(),
                })
                .collect::<Vec<_>>()
                .into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("ListEntitiesForPolicy", &out)
    }
}
