//! Identity: access keys and request authentication (SigV4). Policy
//! evaluation, users, roles and STS join here with the IAM issue.

use berth_proto::sigv4::{self, HttpRequestParts};
use berth_proto::{AwsError, Principal};
use std::collections::HashMap;
use std::sync::RwLock;

/// An access key pair and the principal it authenticates.
#[derive(Debug, Clone)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub principal: Principal,
}

/// Authenticates SigV4-signed requests against the known access keys.
pub struct Authenticator {
    account_id: String,
    keys: RwLock<HashMap<String, AccessKey>>,
}

impl Authenticator {
    /// An authenticator that knows the account's root key pair.
    pub fn new(account_id: &str, root_access_key_id: &str, root_secret: &str) -> Self {
        let root = AccessKey {
            access_key_id: root_access_key_id.to_string(),
            secret_access_key: root_secret.to_string(),
            principal: Principal {
                arn: format!("arn:aws:iam::{account_id}:root"),
                account_id: account_id.to_string(),
                access_key_id: root_access_key_id.to_string(),
                is_root: true,
                user_name: None,
            },
        };
        let mut keys = HashMap::new();
        keys.insert(root.access_key_id.clone(), root);
        Self {
            account_id: account_id.to_string(),
            keys: RwLock::new(keys),
        }
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Adds or replaces a key (used by IAM's CreateAccessKey and by STS).
    pub fn insert_key(&self, key: AccessKey) {
        if let Ok(mut k) = self.keys.write() {
            k.insert(key.access_key_id.clone(), key);
        }
    }

    /// Verifies the request's signature and returns who made it.
    pub fn authenticate(&self, req: &HttpRequestParts<'_>) -> Result<Principal, AwsError> {
        let signed = sigv4::parse(req)?;
        let key = self
            .keys
            .read()
            .map_err(|_| AwsError::internal("key table poisoned"))?
            .get(&signed.access_key_id)
            .cloned()
            .ok_or_else(AwsError::unrecognized_client)?;
        sigv4::verify(req, &signed, &key.secret_access_key, time::OffsetDateTime::now_utc())?;
        Ok(key.principal)
    }
}
