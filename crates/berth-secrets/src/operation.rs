//! KMS, SSM and Secrets Manager on the generic operation machinery of
//! [`berth_proto::operation`]: each operation an [`Operation`] of its
//! service (its name, typed input decoded once, what authorization and
//! handler both need looked up once in its load step — a KMS alias → its
//! key, a secret's name → its record and full ARN, a parameter → its record
//! and the keys of its values —, its pure resources and its handler), named
//! in the request's [`Scope`]; each service's registration table lists
//! every routed operation (one not in it is `UnknownOperationException`).
//!
//! Tags: the machinery gives each named resource its tags through the
//! service's `JsonServiceInfo::resource_tags` (one store get); the loaded
//! records' tags serve the condition keys that need them at once
//! (`secretsmanager:ResourceTag/…`).

use crate::via_service::Via;
use berth_proto::RequestContext;
pub(crate) use berth_proto::operation::{Entry, Operation, OperationService, Table};

/// What the resources of one request are named in: the service's region
/// and account, and the caller's account (`kms:CallerAccount`).
pub struct Scope {
    pub region: String,
    pub account: String,
    pub caller_account: String,
}

impl Scope {
    pub(crate) fn new(region: &str, account: &str, ctx: &RequestContext) -> Self {
        Self {
            region: region.to_string(),
            account: account.to_string(),
            caller_account: ctx.principal.account_id.clone(),
        }
    }

    /// The KMS key ARN of a key id.
    pub(crate) fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    /// The KMS alias ARN of `alias/NAME`.
    pub(crate) fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account)
    }

    /// `service` (`ssm`, `secretsmanager`) using KMS for this request.
    pub(crate) fn via<'a>(&'a self, service: &'a str) -> Via<'a> {
        Via {
            service,
            region: &self.region,
            account: &self.account,
            caller_account: &self.caller_account,
        }
    }
}
