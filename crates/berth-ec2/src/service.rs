//! EC2 as the listener sees it: a query service in EC2's dialect
//! ([`QueryService`]) whose every request goes through the registration
//! table ([`routes`]), and the scope and resource tags its typed operations
//! need.

use crate::{Ec2, SIGNING_NAME, VERSION, XML_NS, routes};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{
    Dialect, QueryAuthz, QueryInput, QueryOperationService, QueryPrepared, QueryResult, QueryService,
};
use berth_proto::{AuthzResource, AwsError, RequestContext};

#[async_trait]
impl QueryService for Ec2 {
    fn signing_name(&self) -> &'static str {
        SIGNING_NAME
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn xml_namespace(&self) -> &'static str {
        XML_NS
    }
    fn dialect(&self) -> Dialect {
        Dialect::Ec2
    }
    /// EC2 answers an authorization failure `UnauthorizedOperation`.
    fn access_denied(&self, denial: AwsError) -> AwsError {
        AwsError::new(
            "UnauthorizedOperation",
            403,
            format!("You are not authorized to perform this operation. {}", denial.message),
        )
    }
    /// The pure resources of the form (no tags), for a caller outside the
    /// listener; the listener authorizes through [`QueryService::prepare`].
    fn authz(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Option<QueryAuthz> {
        let resources = routes::TABLE
            .resources_of(&QueryOperationService::scope(self, ctx), action, input)
            .and_then(Result::ok)
            .unwrap_or_else(|| vec![AuthzResource::untagged("*")]);
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
impl QueryOperationService for Ec2 {
    type Scope = Scope;
    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope().clone()
    }
    async fn resource_tags(&self, _ctx: &RequestContext, arn: &str) -> Vec<(String, String)> {
        let Some(id) = arn.rsplit('/').next() else {
            return Vec::new();
        };
        let Ok(mut state) = self.state().await else {
            return Vec::new();
        };
        state
            .tags_mut(id)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}
