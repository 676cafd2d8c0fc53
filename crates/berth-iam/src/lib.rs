//! Identity: request authentication (SigV4) against the root key, IAM users'
//! access keys and STS temporary credentials; policy evaluation
//! ([`policy`], pure) applied to every request ([`Authenticator::authorize`]);
//! and the IAM and STS APIs over awsQuery ([`Iam`]).

pub mod directory;
mod iam;
pub mod iam_authz;
pub mod managed;
pub mod policy;
mod query_api;
pub mod records;
pub mod resource_policies;
pub mod sealing;

pub use iam::{IAM_VERSION, Iam, STS_VERSION, ServiceRoleCredentials, ServiceRoleError};
pub use resource_policies::ResourcePolicies;
pub use sealing::{SealError, SecretSealer};

use berth_proto::sigv4::{self, Endpoint, HttpRequestParts};
use berth_proto::{AwsError, Principal};
use directory::Directory;
use policy::{ContextKeys, Decision, PolicyDocument, Request};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// How much of a request [`Authenticator`] checks.
#[derive(Clone, Copy)]
enum Check {
    /// Everything, the HMAC included.
    Signature,
    /// What the headers decide: all but the HMAC.
    HeadersOnly,
}

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
            unique_id: self.account_id.clone(),
        }
    }

    /// Verifies the request's signature for `endpoint` (its signing name,
    /// regions and payload rule) and returns who made it. The request's
    /// `payload_sha256_hex` is the hash of the body as received.
    pub fn authenticate(&self, req: &HttpRequestParts<'_>, endpoint: &Endpoint<'_>) -> Result<Principal, AwsError> {
        self.check(req, endpoint, Check::Signature)
    }

    /// Everything [`Authenticator::authenticate`] checks that the headers
    /// alone decide, so a request can be refused before its body is read: the
    /// signature's form, scope and signed headers, that the access key is
    /// known and active, the session token rules and the time window. When
    /// the request declares its body's hash (`x-amz-content-sha256`), the
    /// signature is verified too (`req.payload_sha256_hex` is not used).
    /// The body must then still be authenticated with
    /// [`Authenticator::authenticate`] once it is read.
    pub fn precheck(&self, req: &HttpRequestParts<'_>, endpoint: &Endpoint<'_>) -> Result<(), AwsError> {
        match sigv4::declared_payload(req.headers)? {
            sigv4::DeclaredPayload::Sha256(declared) => {
                let declared_req = HttpRequestParts {
                    payload_sha256_hex: &declared,
                    ..*req
                };
                self.check(&declared_req, endpoint, Check::Signature).map(drop)
            }
            _ => self.check(req, endpoint, Check::HeadersOnly).map(drop),
        }
    }

    fn check(&self, req: &HttpRequestParts<'_>, endpoint: &Endpoint<'_>, what: Check) -> Result<Principal, AwsError> {
        let signed = sigv4::parse(req)?;
        sigv4::check_claims(req, &signed, endpoint)?;
        let now = self.now();
        let verify = |secret: &str| -> Result<(), AwsError> {
            match what {
                Check::Signature => Ok(sigv4::verify_for(req, &signed, secret, now, endpoint.unsigned_payload)?),
                Check::HeadersOnly => Ok(sigv4::check_time(&signed, now)?),
            }
        };
        let akid = signed.access_key_id.as_str();
        // A long-term key (root's, an IAM user's) with a session token is
        // refused as AWS does: only temporary credentials carry one.
        let long_term = |has_token: bool| {
            if has_token {
                Err(AwsError::unrecognized_client())
            } else {
                Ok(())
            }
        };
        if constant_time_eq(akid.as_bytes(), self.root.0.as_bytes()) {
            long_term(signed.session_token.is_some())?;
            verify(&self.root.1)?;
            return Ok(self.root_principal(akid));
        }
        let dir = self.directory();
        if let Some(key) = dir.keys.get(akid) {
            if key.status != "Active" {
                return Err(AwsError::unrecognized_client());
            }
            long_term(signed.session_token.is_some())?;
            let user = dir
                .users
                .get(&key.user_name)
                .ok_or_else(AwsError::unrecognized_client)?;
            verify(&key.secret_access_key)?;
            return Ok(Principal {
                arn: user.arn.clone(),
                account_id: self.account_id.clone(),
                access_key_id: akid.to_string(),
                is_root: false,
                user_name: Some(user.name.clone()),
                unique_id: user.id.clone(),
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
            verify(&s.secret_access_key)?;
            if now.unix_timestamp() >= s.expiration {
                return Err(AwsError::expired_token());
            }
            return Ok(Principal {
                arn: s.arn.clone(),
                account_id: self.account_id.clone(),
                access_key_id: akid.to_string(),
                is_root: s.is_root,
                user_name: s.user_name.clone(),
                unique_id: s.user_id.clone(),
            });
        }
        Err(AwsError::unrecognized_client())
    }

    /// Whether `principal` (as authenticated earlier, e.g. into a registry
    /// token) is still the same identity: its user or role exists and has
    /// the unique id it had then. A user deleted and re-created under the
    /// same name has a new id, so what was issued to the old one is refused.
    pub fn is_current(&self, principal: &Principal) -> bool {
        if principal.account_id != self.account_id {
            return false;
        }
        let res = principal.arn.splitn(6, ':').nth(5).unwrap_or("");
        if res == "root" {
            return principal.unique_id == self.account_id;
        }
        let dir = self.directory();
        if let Some(rest) = res.strip_prefix("assumed-role/") {
            let role = rest.split('/').next().unwrap_or("");
            let role_id = principal.unique_id.split(':').next().unwrap_or("");
            return dir.roles.get(role).is_some_and(|r| r.id == role_id);
        }
        if res.starts_with("user/") {
            let name = principal.user_name.as_deref().unwrap_or("");
            return dir
                .users
                .get(name)
                .is_some_and(|u| u.id == principal.unique_id && u.arn == principal.arn);
        }
        false
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
            unique_id: "AIDAU".into(),
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
