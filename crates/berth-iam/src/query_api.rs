//! IAM and STS as the listener sees them: two awsQuery services
//! ([`QueryService`]) over the one [`Iam`], registered with
//! `queries.register(...)` for each of [`Iam::query_services`].

use crate::iam::{IAM_NS, STS_NS};
use crate::iam_authz::StsAction;
use crate::{IAM_VERSION, Iam, STS_VERSION};
use async_trait::async_trait;
use berth_proto::query::{QueryAuthz, QueryInput, QueryResult, QueryService};
use berth_proto::{AwsError, RequestContext};
use std::sync::Arc;

/// IAM's and STS's global endpoints sign for `us-east-1`.
const GLOBAL_REGIONS: &[&str] = &["us-east-1"];

impl Iam {
    /// IAM and STS, each an awsQuery service, for the listener's registry.
    pub fn query_services(self: &Arc<Self>) -> [Arc<dyn QueryService>; 2] {
        [Arc::new(IamApi(self.clone())), Arc::new(StsApi(self.clone()))]
    }
}

/// IAM (`Version=2010-05-08`).
struct IamApi(Arc<Iam>);

#[async_trait]
impl QueryService for IamApi {
    fn signing_name(&self) -> &'static str {
        "iam"
    }
    fn version(&self) -> &'static str {
        IAM_VERSION
    }
    fn xml_namespace(&self) -> &'static str {
        IAM_NS
    }
    fn extra_signing_regions(&self) -> &'static [&'static str] {
        GLOBAL_REGIONS
    }
    fn authz(&self, ctx: &RequestContext, _action: &str, input: &QueryInput) -> Option<QueryAuthz> {
        let (resources, request_tags) = self.0.authz_resources(&ctx.principal, input);
        Some(QueryAuthz {
            resources,
            request_tags,
        })
    }
    async fn call(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Result<QueryResult, AwsError> {
        self.0.call_iam(ctx, action, input).await
    }
}

/// STS (`Version=2011-06-15`; its actions also answer without a version).
struct StsApi(Arc<Iam>);

/// The STS actions a form without `Version` reaches.
const STS_ACTIONS: &[&str] = &{
    let mut names = [""; StsAction::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = StsAction::ALL[i].name();
        i += 1;
    }
    names
};

#[async_trait]
impl QueryService for StsApi {
    fn signing_name(&self) -> &'static str {
        "sts"
    }
    fn version(&self) -> &'static str {
        STS_VERSION
    }
    fn xml_namespace(&self) -> &'static str {
        STS_NS
    }
    fn extra_signing_regions(&self) -> &'static [&'static str] {
        GLOBAL_REGIONS
    }
    fn versionless_actions(&self) -> &'static [&'static str] {
        STS_ACTIONS
    }
    /// STS decides itself: GetCallerIdentity and GetSessionToken need no
    /// permission, AssumeRole combines the caller's policies with the
    /// role's trust policy inside the call.
    fn authz(&self, _ctx: &RequestContext, _action: &str, _input: &QueryInput) -> Option<QueryAuthz> {
        None
    }
    async fn call(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Result<QueryResult, AwsError> {
        self.0.call_sts(ctx, action, input).await
    }
}
