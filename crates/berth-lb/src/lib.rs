//! ELBv2 (Elastic Load Balancing v2) over awsQuery: the control plane of
//! Berth's load balancers. Each operation is a type
//! ([`berth_proto::query::QueryOperation`]) registered in [`routes`]: its
//! input checked against the AWS model ([`model`]) and decoded once, the
//! IAM resources it names, its handler. The records ([`records`]) live in
//! the region's store under `elbv2/`; the data plane (`berth-lb-proxy`) is
//! fed from them by a controller (next slice).
//!
//! Files import downward: `records`, `errors` at the bottom; the pure rules
//! (`names`, `health`, `attributes`, `conditions`, `state`, then `actions`
//! over the state); `output` (XML shapes); `ops/` (the operations); `routes`.

pub mod actions;
pub mod attributes;
pub mod conditions;
pub mod errors;
pub mod health;
pub mod model;
pub mod names;
mod ops;
pub mod output;
pub mod records;
pub mod routes;
pub mod state;

use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryAuthz, QueryInput, QueryOperationService, QueryPrepared, QueryResult, QueryService};
use berth_proto::validate::ServiceModel;
use berth_proto::{AwsError, RequestContext};
use berth_store::Store;
use std::sync::Arc;

/// ELBv2's API version.
pub const VERSION: &str = "2015-12-01";
/// The namespace of its XML.
pub const XML_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
/// The SigV4 signing name and IAM service prefix.
pub const SIGNING_NAME: &str = "elasticloadbalancing";

/// One region's ELBv2.
#[derive(Clone)]
pub struct Elbv2 {
    store: Arc<dyn Store>,
    scope: Scope,
}

impl Elbv2 {
    /// ELBv2 on a region's store, its ARNs in `scope`.
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self { store, scope }
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The records as they are now.
    pub async fn snapshot(&self) -> Result<state::State, errors::LbError> {
        Ok(state::load(self.store()).await?.0)
    }

    /// A change of the records, written at once or not at all.
    pub(crate) async fn write<T>(
        &self,
        change: impl FnMut(&mut state::State) -> Result<T, errors::LbError>,
    ) -> Result<T, AwsError> {
        state::write(self.store(), change).await.map_err(AwsError::from)
    }
}

#[async_trait]
impl QueryService for Elbv2 {
    fn signing_name(&self) -> &'static str {
        SIGNING_NAME
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn xml_namespace(&self) -> &'static str {
        XML_NS
    }
    /// The pure resources of the form (no tags), for a caller outside the
    /// listener; the listener authorizes through [`QueryService::prepare`].
    fn authz(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Option<QueryAuthz> {
        let resources = routes::TABLE
            .resources_of(&QueryOperationService::scope(self, ctx), action, input)
            .and_then(Result::ok)
            .unwrap_or_else(|| vec![berth_proto::AuthzResource::untagged("*")]);
        Some(QueryAuthz {
            resources,
            request_tags: Vec::new(),
        })
    }
    async fn call(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Result<QueryResult, AwsError> {
        routes::TABLE.call(self, ctx, action, input).await
    }
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        action: &'a str,
        input: &'a QueryInput,
    ) -> Result<Box<dyn QueryPrepared + 'a>, AwsError> {
        routes::TABLE.prepare(self, ctx, action, input)
    }
}

#[async_trait]
impl QueryOperationService for Elbv2 {
    type Scope = Scope;
    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope.clone()
    }
    fn model(&self) -> Option<&'static ServiceModel> {
        Some(&model::MODEL)
    }
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        let Ok(state) = self.snapshot().await else {
            return Vec::new();
        };
        let tags = state
            .lbs
            .get(arn)
            .map(|r| &r.tags)
            .or_else(|| state.tgs.get(arn).map(|r| &r.tags))
            .or_else(|| state.listeners.get(arn).map(|r| &r.tags))
            .or_else(|| state.rules.get(arn).map(|r| &r.tags));
        tags.map(|t| names::pairs(t)).unwrap_or_default()
    }
}
