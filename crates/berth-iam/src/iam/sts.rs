//! STS: who is calling, role sessions (AssumeRole, and the sessions
//! services take on a role's behalf) and session tokens, typed.

use super::shapes::{
    AssumeRoleInput, AssumeRoleResult, AssumedRoleUser, GetCallerIdentityResult, GetSessionTokenInput,
    GetSessionTokenResult,
};
use super::{
    Iam, ServiceRoleCredentials, ServiceRoleError, query_access_denied, random_id, random_secret, valid_session_name,
    validation,
};
use crate::directory::{RoleRec, SESSIONS, SessionRec};
use crate::policy::{self, ContextKeys, Decision, PolicyDocument, PolicyKind, Request};
use crate::{RequestFacts, format_iso};
use berth_proto::query::QueryResult;
use berth_proto::{AwsError, Principal, RequestContext};
use berth_store::Op;
use std::sync::Arc;
use time::Duration;

impl Iam {
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

    pub(super) fn get_caller_identity(&self, ctx: &RequestContext) -> Result<QueryResult, AwsError> {
        let p = &ctx.principal;
        let out = GetCallerIdentityResult {
            user_id: self.principal_id(p),
            account: self.account_id.clone(),
            arn: p.arn.clone(),
        };
        QueryResult::of("GetCallerIdentity", &out)
    }

    pub(super) async fn assume_role(
        &self,
        ctx: &RequestContext,
        input: AssumeRoleInput,
    ) -> Result<QueryResult, AwsError> {
        let role_arn = input.role_arn.as_str();
        let session = input.role_session_name.as_str();
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
        let duration = input.duration_seconds.unwrap_or(3600);
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
        let out = AssumeRoleResult {
            credentials: (&rec).into(),
            assumed_role_user: AssumedRoleUser {
                assumed_role_id: rec.user_id.clone(),
                arn: rec.arn.clone(),
            },
            packed_policy_size: 0,
        };
        QueryResult::of("AssumeRole", &out)
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

    pub(super) async fn get_session_token(
        &self,
        ctx: &RequestContext,
        input: GetSessionTokenInput,
    ) -> Result<QueryResult, AwsError> {
        let p = &ctx.principal;
        let dir = self.auth.directory();
        if dir.sessions.contains_key(&p.access_key_id) {
            return Err(query_access_denied(
                "Cannot call GetSessionToken with session credentials",
            ));
        }
        let (default, max) = if p.is_root { (3600, 3600) } else { (43200, 129600) };
        let duration = input.duration_seconds.unwrap_or(default);
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
        QueryResult::of(
            "GetSessionToken",
            &GetSessionTokenResult {
                credentials: (&rec).into(),
            },
        )
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
