//! ELBv2 as the listener sees it: an awsQuery service ([`QueryService`])
//! whose every request goes through the registration table ([`routes`]),
//! and the scope, model and resource tags its typed operations need.

use crate::{Elbv2, SIGNING_NAME, VERSION, XML_NS, model, names, routes};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryAuthz, QueryInput, QueryOperationService, QueryPrepared, QueryResult, QueryService};
use berth_proto::validate::ServiceModel;
use berth_proto::{AwsError, RequestContext};

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
    fn resource_tag_key_prefix(&self) -> Option<&'static str> {
        Some("elasticloadbalancing:ResourceTag/")
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
