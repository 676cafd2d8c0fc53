//! One operation of an awsQuery service as a type, the same shape as the
//! JSON services' [`crate::operation`]: its `Action`, its typed input
//! (checked against the service's model, then decoded once from the form),
//! the IAM resources it is authorized on — derived from that typed input,
//! with their condition keys and second permissions — the tags it sets
//! (`aws:RequestTag/…`), and its handler, run with the same input. A
//! service's [`QueryTable`] lists every routed operation; an action not in
//! it answers `InvalidAction`.
//!
//! A request goes: [`QueryTable::prepare`] checks the form against the
//! model ([`super::model::check`], the service's `ValidationError` form),
//! finds the operation's [`QueryEntry`], decodes the input; the listener
//! asks the prepared request for its resources ([`QueryPrepared::authz`]:
//! the pure [`QueryOperation::resources`], each existing resource then given
//! its tags by [`QueryOperationService::resource_tags`]) and runs it.

use super::{QueryAuthz, QueryInput, QueryPrepared, QueryResult, QueryService, invalid_action};
use crate::validate::ServiceModel;
use crate::{AuthzResource, AwsError, RequestContext};
use async_trait::async_trait;
use serde::de::DeserializeOwned;

/// An awsQuery service whose operations are typed.
#[async_trait]
pub trait QueryOperationService: QueryService + Sized {
    /// What an operation's ARNs are built from (region, account).
    type Scope: Send + Sync;
    /// The scope of one request.
    fn scope(&self, ctx: &RequestContext) -> Self::Scope;
    /// The AWS model inputs are checked against (`None`: not checked).
    fn model(&self) -> Option<&'static ServiceModel> {
        None
    }
    /// The tags of an existing resource (`aws:ResourceTag/…`); none for a
    /// resource that does not exist (yet).
    async fn resource_tags(&self, ctx: &RequestContext, arn: &str) -> Vec<(String, String)>;
    /// The service's own condition key for a resource's tags, as a prefix
    /// (ELBv2: `elasticloadbalancing:ResourceTag/`), set beside
    /// `aws:ResourceTag/…`; none by default.
    fn resource_tag_key_prefix(&self) -> Option<&'static str> {
        None
    }
}

/// One operation of the awsQuery service `S`.
#[async_trait]
pub trait QueryOperation<S: QueryOperationService>: Send + Sync + 'static {
    /// The operation's `Action`.
    const NAME: &'static str;
    /// The decoded input.
    type Input: DeserializeOwned + Send + Sync + 'static;
    /// Decodes the form (once): the model was checked before.
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        input.decode()
    }
    /// The resources the operation is authorized on, without the tags of
    /// existing resources (pure): its own ARNs with their condition keys
    /// (a resource it creates given the tags of the request), then the
    /// second permissions it needs. Empty means `*`.
    fn resources(scope: &S::Scope, input: &Self::Input) -> Vec<AuthzResource>;
    /// The tags the request sets (`aws:RequestTag/…`, `aws:TagKeys`).
    fn request_tags(_input: &Self::Input) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Runs the operation.
    async fn run(service: &S, ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError>;
}

/// The prepared request of [`QueryEntry::prepare`].
pub type PreparedQuery<'a> = Box<dyn QueryPrepared + 'a>;

/// One row of a registration table: an operation's name and its typed
/// path, erased.
pub struct QueryEntry<S: QueryOperationService> {
    pub name: &'static str,
    /// Decodes one request's input.
    pub prepare: for<'a> fn(&'a S, &'a RequestContext, &QueryInput) -> Result<PreparedQuery<'a>, AwsError>,
    /// The pure resources of a form, for the tests of the table.
    pub resources: fn(&S::Scope, &QueryInput) -> Result<Vec<AuthzResource>, AwsError>,
}

/// The table row of `O`.
pub const fn query_entry<S: QueryOperationService, O: QueryOperation<S>>() -> QueryEntry<S> {
    QueryEntry {
        name: O::NAME,
        prepare: prepare::<S, O>,
        resources: pure_resources::<S, O>,
    }
}

fn prepare<'a, S: QueryOperationService, O: QueryOperation<S>>(
    service: &'a S,
    ctx: &'a RequestContext,
    input: &QueryInput,
) -> Result<PreparedQuery<'a>, AwsError> {
    let input = O::decode(input)?;
    Ok(Box::new(Typed::<S, O> { service, ctx, input }))
}

fn pure_resources<S: QueryOperationService, O: QueryOperation<S>>(
    scope: &S::Scope,
    input: &QueryInput,
) -> Result<Vec<AuthzResource>, AwsError> {
    Ok(O::resources(scope, &O::decode(input)?))
}

/// A request of `O`, its input decoded.
struct Typed<'a, S: QueryOperationService, O: QueryOperation<S>> {
    service: &'a S,
    ctx: &'a RequestContext,
    input: O::Input,
}

#[async_trait]
impl<S: QueryOperationService, O: QueryOperation<S>> QueryPrepared for Typed<'_, S, O> {
    async fn authz(&self) -> Option<QueryAuthz> {
        let mut resources = O::resources(&self.service.scope(self.ctx), &self.input);
        for r in resources
            .iter_mut()
            .filter(|r| r.action.is_none() && r.arn != "*" && r.tags.is_empty())
        {
            r.tags = self.service.resource_tags(self.ctx, &r.arn).await;
            if let Some(prefix) = self.service.resource_tag_key_prefix() {
                let keys = r.tags.iter().map(|(k, v)| (format!("{prefix}{k}"), v.clone()));
                r.condition_keys.extend(keys.collect::<Vec<_>>());
            }
        }
        if resources.is_empty() {
            resources.push(AuthzResource::untagged("*"));
        }
        Some(QueryAuthz {
            resources,
            request_tags: O::request_tags(&self.input),
        })
    }

    async fn run(self: Box<Self>) -> Result<QueryResult, AwsError> {
        O::run(self.service, self.ctx, self.input).await
    }
}

/// A service's registration table: every operation it routes.
pub struct QueryTable<S: QueryOperationService>(pub &'static [QueryEntry<S>]);

impl<S: QueryOperationService> QueryTable<S> {
    /// The row of `action`, if it is routed.
    pub fn find(&self, action: &str) -> Option<&'static QueryEntry<S>> {
        self.0.iter().find(|e| e.name == action)
    }

    /// The names of every routed operation, in the table's order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.name).collect()
    }

    /// Takes one request over ([`QueryService::prepare`]): `InvalidAction`
    /// for an action that is not routed, the model's `ValidationError`, then
    /// the typed input.
    pub fn prepare<'a>(
        &self,
        service: &'a S,
        ctx: &'a RequestContext,
        action: &str,
        input: &QueryInput,
    ) -> Result<PreparedQuery<'a>, AwsError> {
        let entry = self.find(action).ok_or_else(|| invalid_action(action))?;
        if let Some(model) = service.model() {
            super::model::check(model, action, input)?;
        }
        (entry.prepare)(service, ctx, input)
    }

    /// Runs one action through the table with no authorization (tests,
    /// [`QueryService::call`]).
    pub async fn call(
        &self,
        service: &S,
        ctx: &RequestContext,
        action: &str,
        input: &QueryInput,
    ) -> Result<QueryResult, AwsError> {
        self.prepare(service, ctx, action, input)?.run().await
    }

    /// The pure resources of a form (decoded, no tags), for the tests
    /// listing every routed operation: `None` when it is not routed.
    pub fn resources_of(
        &self,
        scope: &S::Scope,
        action: &str,
        input: &QueryInput,
    ) -> Option<Result<Vec<AuthzResource>, AwsError>> {
        self.find(action).map(|e| (e.resources)(scope, input))
    }
}

#[cfg(test)]
#[path = "operation_tests.rs"]
mod tests;
