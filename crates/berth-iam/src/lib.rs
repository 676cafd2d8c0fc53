//! Identity: request authentication (SigV4) against the root key, IAM users'
//! access keys and STS temporary credentials; policy evaluation
//! ([`policy`], pure) applied to every request ([`Authenticator::authorize`]);
//! and the IAM and STS APIs over awsQuery ([`Iam`]).

pub mod directory;
mod iam;
pub mod iam_authz;
pub mod managed;
pub mod policy;
pub mod resource_policies;
pub mod sealing;

pub use iam::{IAM_VERSION, Iam, STS_VERSION, ServiceRoleCredentials, ServiceRoleError};
pub use resource_policies::ResourcePolicies;
pub use sealing::{SealError, SecretSealer};

use berth_proto::sigv4::{self, HttpRequestParts};
use berth_proto::{AwsError, Principal};
use directory::Directory;
use policy::{ContextKeys, Decision, PolicyDocument, Request};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// The server's notion of "now" (injected in tests to check expiry).
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// What an authorization check needs to know about the request besides the
/// principal, action and resource.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts<'a> {
    pub source_ip: &'a str,
    pub secure_transport: bool,
    /// Tags the request sets (`aws:RequestTag/…`, `aws:TagKeys`).
    pub request_tags: Vec<(String, String)>,
    /// Tags of the resource (`aws:ResourceTag/…`), when the caller knows them.
    pub resource_tags: Vec<(String, String)>,
    /// Service-specific condition keys of the request or resource (`ecs:cluster`, …).
    pub service_keys: Vec<(String, String)>,
}

/// Authenticates SigV4-signed requests and authorizes them with IAM policies.
///
/// Keys, sessions and policies are read from an in-memory [`Directory`]
/// snapshot; [`Iam`] replaces it after each of its writes (it is the only
/// writer of `iam/…`), so no request reads the store to authenticate.
pub struct Authenticator {
    account_id: String,
    root: (String, String),
    directory: RwLock<Arc<Directory>>,
    clock: Clock,
}

impl Authenticator {
    /// An authenticator that knows the account's root key pair (and no IAM
    /// state until [`Iam::open`] loads it).
    pub fn new(account_id: &str, root_access_key_id: &str, root_secret: &str) -> Self {
        Self {
            account_id: account_id.to_string(),
            root: (root_access_key_id.to_string(), root_secret.to_string()),
            directory: RwLock::new(Arc::new(Directory::default())),
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn directory(&self) -> Arc<Directory> {
        match self.directory.read() {
            Ok(d) => d.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn set_directory(&self, d: Directory) {
        let d = Arc::new(d);
        match self.directory.write() {
            Ok(mut g) => *g = d,
            Err(p) => *p.into_inner() = d,
        }
    }

    fn root_principal(&self, access_key_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{}:root", self.account_id),
            account_id: self.account_id.clone(),
            access_key_id: access_key_id.to_string(),
            is_root: true,
            user_name: None,
        }
    }

    /// Verifies the request's signature and returns who made it.
    pub fn authenticate(&self, req: &HttpRequestParts<'_>) -> Result<Principal, AwsError> {
        let signed = sigv4::parse(req)?;
        let now = self.now();
        let akid = signed.access_key_id.as_str();
        if akid == self.root.0 {
            sigv4::verify(req, &signed, &self.root.1, now)?;
            return Ok(self.root_principal(akid));
        }
        let dir = self.directory();
        if let Some(key) = dir.keys.get(akid) {
            if key.status != "Active" {
                return Err(AwsError::unrecognized_client());
            }
            sigv4::verify(req, &signed, &key.secret_access_key, now)?;
            let user = dir
                .users
                .get(&key.user_name)
                .ok_or_else(AwsError::unrecognized_client)?;
            return Ok(Principal {
                arn: user.arn.clone(),
                account_id: self.account_id.clone(),
                access_key_id: akid.to_string(),
                is_root: false,
                user_name: Some(user.name.clone()),
            });
        }
        if let Some(s) = dir.sessions.get(akid) {
            // Temporary credentials only work with their session token.
            let token_ok = signed
                .session_token
                .as_deref()
                .is_some_and(|t| constant_time_eq(t.as_bytes(), s.session_token.as_bytes()));
            if !token_ok {
                return Err(AwsError::unrecognized_client());
            }
            sigv4::verify(req, &signed, &s.secret_access_key, now)?;
            if now.unix_timestamp() >= s.expiration {
                return Err(AwsError::expired_token());
            }
            return Ok(Principal {
                arn: s.arn.clone(),
                account_id: self.account_id.clone(),
                access_key_id: akid.to_string(),
                is_root: s.is_root,
                user_name: s.user_name.clone(),
            });
        }
        Err(AwsError::unrecognized_client())
    }

    /// The identity policies of a (non-root) principal.
    pub(crate) fn identity_policies(dir: &Directory, principal: &Principal) -> Vec<Arc<PolicyDocument>> {
        let res = principal.arn.splitn(6, ':').nth(5).unwrap_or("");
        if let Some(rest) = res.strip_prefix("assumed-role/") {
            let role = rest.split('/').next().unwrap_or("");
            return dir.role_policies.get(role).cloned().unwrap_or_default();
        }
        if res.starts_with("user/") {
            let name = principal
                .user_name
                .clone()
                .unwrap_or_else(|| res.rsplit('/').next().unwrap_or("").to_string());
            return dir.user_policies.get(&name).cloned().unwrap_or_default();
        }
        vec![]
    }

    /// The request context keys for a principal (global condition keys).
    pub fn context_keys(&self, principal: &Principal, facts: &RequestFacts<'_>) -> ContextKeys {
        let now = self.now();
        let mut k = ContextKeys::new();
        let principal_arn = role_arn_of_session(&principal.arn).unwrap_or_else(|| principal.arn.clone());
        k.set("aws:PrincipalArn", principal_arn)
            .set("aws:PrincipalAccount", principal.account_id.clone())
            .set("aws:SourceIp", facts.source_ip)
            .set("aws:SecureTransport", facts.secure_transport.to_string())
            .set("aws:EpochTime", now.unix_timestamp().to_string())
            .set("aws:CurrentTime", format_iso(now));
        if let Some(u) = principal
            .user_name
            .as_deref()
            .filter(|_| principal.arn.contains(":user/"))
        {
            k.set("aws:username", u);
        }
        for (key, value) in &facts.request_tags {
            k.set(&format!("aws:RequestTag/{key}"), value.clone());
        }
        if !facts.request_tags.is_empty() {
            k.set_many(
                "aws:TagKeys",
                facts.request_tags.iter().map(|(k, _)| k.clone()).collect(),
            );
        }
        for (key, value) in &facts.resource_tags {
            k.set(&format!("aws:ResourceTag/{key}"), value.clone());
        }
        // A key named more than once is multi-valued (`ecs:container-instances`).
        let mut service: Vec<(&str, Vec<String>)> = Vec::new();
        for (key, value) in &facts.service_keys {
            match service.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                Some((_, values)) => values.push(value.clone()),
                None => service.push((key, vec![value.clone()])),
            }
        }
        for (key, values) in service {
            k.set_many(key, values);
        }
        k
    }

    /// Evaluates `action` on every resource of `resources` for `principal`
    /// (root is always allowed), with the caller's identity policies and an
    /// optional resource policy. The error is `AccessDeniedException` with
    /// AWS's message.
    pub fn authorize(
        &self,
        principal: &Principal,
        action: &str,
        resources: &[String],
        resource_policy: Option<&PolicyDocument>,
        facts: &RequestFacts<'_>,
    ) -> Result<(), AwsError> {
        if principal.is_root {
            return Ok(());
        }
        let dir = self.directory();
        let docs = Self::identity_policies(&dir, principal);
        let refs: Vec<&PolicyDocument> = docs.iter().map(Arc::as_ref).collect();
        let keys = self.context_keys(principal, facts);
        for resource in resources {
            let decision = policy::evaluate(
                &refs,
                resource_policy,
                &Request {
                    principal_arn: &principal.arn,
                    account_id: &self.account_id,
                    action,
                    resource,
                    keys: &keys,
                },
            );
            if decision != Decision::Allow {
                return Err(AwsError::access_denied(policy::denial_message(
                    &principal.arn,
                    action,
                    resource,
                    decision,
                )));
            }
        }
        Ok(())
    }
}

/// `arn:aws:sts::A:assumed-role/ROLE/SESSION` → `arn:aws:iam::A:role/ROLE`
/// (what `aws:PrincipalArn` holds for a role session).
pub fn role_arn_of_session(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws:sts::")?;
    let (account, res) = rest.split_once(':')?;
    let role = res.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

/// ISO 8601 in UTC with second precision, as IAM and STS write dates.
pub fn format_iso(t: OffsetDateTime) -> String {
    berth_core::time::iso8601(t)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_key_named_twice_is_multi_valued() {
        let auth = Authenticator::new("000000000000", "ROOT", "secret");
        let principal = Principal {
            arn: "arn:aws:iam::000000000000:user/u".into(),
            account_id: "000000000000".into(),
            access_key_id: "AKIA".into(),
            is_root: false,
            user_name: Some("u".into()),
        };
        let facts = RequestFacts {
            service_keys: vec![
                ("ecs:container-instances".into(), "i1".into()),
                ("iam:PassedToService".into(), "ecs-tasks.amazonaws.com".into()),
                ("ecs:container-instances".into(), "i2".into()),
            ],
            ..Default::default()
        };
        let keys = auth.context_keys(&principal, &facts);
        assert_eq!(
            keys.get("ecs:container-instances"),
            Some(&["i1".to_string(), "i2".to_string()][..])
        );
        assert_eq!(keys.single("iam:passedtoservice"), Some("ecs-tasks.amazonaws.com"));
    }
}
