//! The IAM records kept in the store (under `iam/…`): users, groups, roles,
//! managed policies, access keys and STS sessions. Plain data; the
//! [`crate::directory::Directory`] snapshot, the AWS managed policies
//! ([`crate::managed`]) and sealing ([`crate::sealing`]) build on them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
