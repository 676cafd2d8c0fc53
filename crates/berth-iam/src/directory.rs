//! IAM state: the in-memory [`Directory`] snapshot built from the records
//! kept in the store ([`crate::records`]), which authentication and
//! authorization read on every request without touching the store.

use crate::policy::{PolicyDocument, PolicyKind};
pub use crate::records::{
    AccessKeyRec, GROUPS, GroupRec, KEYS, POLICIES, PolicyRec, PolicyVersionRec, ROLES, RoleRec, SESSIONS, SessionRec,
    Tag, USERS, UserRec,
};
use crate::sealing::{self, SecretSealer};
use berth_store::Store;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
