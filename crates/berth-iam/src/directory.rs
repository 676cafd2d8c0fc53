//! IAM state: the records kept in the store (under `iam/…`) and the
//! in-memory [`Directory`] snapshot built from them, which authentication
//! and authorization read on every request without touching the store.

use crate::policy::{PolicyDocument, PolicyKind};
use crate::sealing::{self, SecretSealer};
use berth_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const USERS: &str = "iam/users/";
pub const ROLES: &str = "iam/roles/";
pub const GROUPS: &str = "iam/groups/";
pub const POLICIES: &str = "iam/policies/";
pub const KEYS: &str = "iam/access-keys/";
pub const SESSIONS: &str = "iam/sessions/";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRec {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub path: String,
    pub create_date: String,
    /// Inline policies: name → document (JSON text).
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The groups the user is in (their policies apply to the user).
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRec {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub path: String,
    pub create_date: String,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRec {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub path: String,
    pub create_date: String,
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersionRec {
    pub id: String,
    pub document: String,
    pub create_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRec {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub path: String,
    pub description: Option<String>,
    pub create_date: String,
    pub update_date: String,
    pub default_version: String,
    pub versions: Vec<PolicyVersionRec>,
    /// The number of the next version (`v{n}`).
    pub next_version: u32,
}

impl PolicyRec {
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
    }
}

/// A long-term access key of an IAM user.
///
/// SigV4 verification needs the secret back (the server recomputes the
/// signature), so it cannot be hashed: the store holds it only sealed
/// ([`crate::sealing`]); in memory `secret_access_key` is the opened secret.
/// `Debug` leaves the secret out.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKeyRec {
    pub access_key_id: String,
    /// The secret in clear: in memory only (empty in the store, except in a
    /// record written before sealing, which is sealed at the next start).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_access_key: String,
    /// The secret sealed under the master key (base64), as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    pub user_name: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub create_date: String,
}

/// Temporary credentials from STS (AssumeRole, GetSessionToken). Same note
/// on the stored secret (and session token) as [`AccessKeyRec`].
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionRec {
    pub access_key_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_access_key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_session_token: Option<String>,
    /// Epoch seconds.
    pub expiration: i64,
    /// The principal the credentials act as.
    pub arn: String,
    /// `GetCallerIdentity`'s `UserId` (`AROA…:session`, `AIDA…`, the account id for root).
    pub user_id: String,
    pub is_root: bool,
    pub user_name: Option<String>,
    pub role_name: Option<String>,
}

impl std::fmt::Debug for AccessKeyRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRec")
            .field("access_key_id", &self.access_key_id)
            .field("user_name", &self.user_name)
            .field("status", &self.status)
            .field("create_date", &self.create_date)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRec")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// A snapshot of every IAM record, with the policies of each user and role
/// parsed once.
#[derive(Debug, Default)]
pub struct Directory {
    pub users: BTreeMap<String, UserRec>,
    pub roles: BTreeMap<String, RoleRec>,
    pub groups: BTreeMap<String, GroupRec>,
    pub policies: BTreeMap<String, PolicyRec>,
    pub keys: HashMap<String, AccessKeyRec>,
    pub sessions: HashMap<String, SessionRec>,
    pub user_policies: HashMap<String, Vec<Arc<PolicyDocument>>>,
    pub role_policies: HashMap<String, Vec<Arc<PolicyDocument>>>,
}

impl Directory {
    /// Reads every `iam/` record from the store, opening the sealed secrets
    /// with `sealer` (a key or session whose secret does not open is left
    /// out: it cannot authenticate), and adds the AWS managed policies.
    pub async fn load(store: &dyn Store, sealer: &dyn SecretSealer) -> berth_store::Result<Self> {
        use berth_store::typed::list;
        let mut d = Directory {
            users: list::<UserRec>(store, USERS)
                .await?
                .into_iter()
                .map(|u| (u.name.clone(), u))
                .collect(),
            roles: list::<RoleRec>(store, ROLES)
                .await?
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
            groups: list::<GroupRec>(store, GROUPS)
                .await?
                .into_iter()
                .map(|g| (g.name.clone(), g))
                .collect(),
            policies: list::<PolicyRec>(store, POLICIES)
                .await?
                .into_iter()
                .map(|p| (p.arn.clone(), p))
                .collect(),
            keys: list::<AccessKeyRec>(store, KEYS)
                .await?
                .into_iter()
                .filter_map(|k| {
                    let id = k.access_key_id.clone();
                    match sealing::open_access_key(sealer, k) {
                        Ok(k) => Some((id, k)),
                        Err(e) => {
                            tracing::error!(access_key_id = %id, error = %e, "an access key's secret does not open; the key cannot authenticate");
                            None
                        }
                    }
                })
                .collect(),
            sessions: list::<SessionRec>(store, SESSIONS)
                .await?
                .into_iter()
                .filter_map(|s| {
                    let id = s.access_key_id.clone();
                    match sealing::open_session(sealer, s) {
                        Ok(s) => Some((id, s)),
                        Err(e) => {
                            tracing::error!(access_key_id = %id, error = %e, "a session's secret does not open; it cannot authenticate");
                            None
                        }
                    }
                })
                .collect(),
            ..Default::default()
        };
        for p in crate::managed::all() {
            d.policies.insert(p.record.arn.clone(), p.record.clone());
        }
        d.user_policies = d
            .users
            .values()
            .map(|u| {
                let mut docs = d.parse_all(&u.inline, &u.attached);
                for g in u.groups.iter().filter_map(|g| d.groups.get(g)) {
                    docs.extend(d.parse_all(&g.inline, &g.attached));
                }
                (u.name.clone(), docs)
            })
            .collect();
        d.role_policies = d
            .roles
            .values()
            .map(|r| (r.name.clone(), d.parse_all(&r.inline, &r.attached)))
            .collect();
        Ok(d)
    }

    fn parse_all(&self, inline: &BTreeMap<String, String>, attached: &[String]) -> Vec<Arc<PolicyDocument>> {
        let (aws, customer): (Vec<&String>, Vec<&String>) =
            attached.iter().partition(|arn| crate::managed::is_aws_managed(arn));
        let customer_docs = customer
            .into_iter()
            .filter_map(|arn| self.policies.get(arn)?.default_document());
        let mut docs: Vec<Arc<PolicyDocument>> = inline
            .values()
            .map(String::as_str)
            .chain(customer_docs)
            .filter_map(|text| match PolicyDocument::parse(text, PolicyKind::Identity) {
                Ok(d) => Some(Arc::new(d)),
                Err(e) => {
                    // Documents are validated on write; this is a corrupt record.
                    tracing::warn!(error = %e, "skipping an unparseable stored policy");
                    None
                }
            })
            .collect();
        // AWS managed policies are parsed once per process.
        docs.extend(aws.into_iter().filter_map(|arn| crate::managed::document(arn)));
        docs
    }

    /// How many users and roles have `policy_arn` attached.
    pub fn attachment_count(&self, policy_arn: &str) -> usize {
        self.users
            .values()
            .filter(|u| u.attached.iter().any(|a| a == policy_arn))
            .count()
            + self
                .roles
                .values()
                .filter(|r| r.attached.iter().any(|a| a == policy_arn))
                .count()
            + self
                .groups
                .values()
                .filter(|g| g.attached.iter().any(|a| a == policy_arn))
                .count()
    }
}
