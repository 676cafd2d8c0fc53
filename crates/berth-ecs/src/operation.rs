//! One ECS operation as a type: its name, its typed input (decoded once,
//! at the boundary), the IAM resources it is authorized on — derived from
//! that typed input, with their condition keys and the `iam:PassRole`
//! checks — and its handler, run with the same input. The registration
//! table ([`crate::routes::OPERATIONS`]) lists every routed operation; an
//! operation is routed and authorized only through it.
//!
//! A request goes: [`Entry::prepare`] decodes the input ([`Operation::decode`])
//! and completes it with what authorization and the handler both need
//! ([`Operation::load`], e.g. RunTask's task definition, loaded once); the
//! listener asks the prepared request for its resources (the pure
//! [`Operation::resources`], each named resource then given its tags by one
//! store get) and runs it ([`Operation::run`]).

use crate::Ecs;
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AuthzResource, AwsError, Prepared, RequestContext};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// One ECS operation.
#[async_trait]
pub(crate) trait Operation: Send + Sync + 'static {
    /// The operation's name in `X-Amz-Target`.
    const NAME: &'static str;
    /// The decoded input, completed by [`Operation::load`].
    type Input: DeserializeOwned + Send + Sync + 'static;
    /// Decodes the request's JSON object (once): `SerializationException`
    /// for a body that does not fit the shape.
    fn decode(input: Value) -> Result<Self::Input, AwsError> {
        berth_proto::json::decode(input)
    }
    /// Loads what both the authorization and the handler need (default:
    /// nothing). It does not fail: what it cannot find, the handler
    /// reports after the authorization.
    async fn load(_ecs: &Ecs, _input: &mut Self::Input) {}
    /// The resources the operation is authorized on, without their tags
    /// (pure): its own ARNs with their condition keys (`*` only for the
    /// operations AWS does not scope to a resource, or when the input
    /// names none and the handler reports it), then the second
    /// permissions it needs (`iam:PassRole`).
    fn resources(scope: &Scope, input: &Self::Input) -> Vec<AuthzResource>;
    /// Runs the operation.
    async fn run(ecs: &Ecs, ctx: &RequestContext, input: Self::Input) -> Result<Value, AwsError>;
}

/// The future of [`Entry::prepare`].
pub(crate) type PrepareFuture<'a> = Pin<Box<dyn Future<Output = Result<Box<dyn Prepared + 'a>, AwsError>> + Send + 'a>>;

/// One row of the registration table: an operation's name and its typed
/// path, erased.
pub(crate) struct Entry {
    pub name: &'static str,
    /// Decodes and loads the input of one request.
    pub prepare: for<'a> fn(&'a Ecs, &'a RequestContext, Value) -> PrepareFuture<'a>,
    /// The resources of an input (decoded, nothing loaded), for the tests
    /// of the table: pure.
    #[cfg(test)]
    pub resources: fn(&Scope, Value) -> Result<Vec<AuthzResource>, AwsError>,
}

/// The table row of `O`.
pub(crate) const fn entry<O: Operation>() -> Entry {
    Entry {
        name: O::NAME,
        prepare: prepare::<O>,
        #[cfg(test)]
        resources: pure_resources::<O>,
    }
}

fn prepare<'a, O: Operation>(ecs: &'a Ecs, ctx: &'a RequestContext, input: Value) -> PrepareFuture<'a> {
    Box::pin(async move {
        let mut input = O::decode(input)?;
        O::load(ecs, &mut input).await;
        Ok(Box::new(Typed::<O> { ecs, ctx, input }) as Box<dyn Prepared + 'a>)
    })
}

#[cfg(test)]
fn pure_resources<O: Operation>(scope: &Scope, input: Value) -> Result<Vec<AuthzResource>, AwsError> {
    Ok(O::resources(scope, &O::decode(input)?))
}

/// A request of `O`, its input decoded and loaded.
struct Typed<'a, O: Operation> {
    ecs: &'a Ecs,
    ctx: &'a RequestContext,
    input: O::Input,
}

#[async_trait]
impl<O: Operation> Prepared for Typed<'_, O> {
    async fn resources(&self) -> Vec<AuthzResource> {
        let mut out = O::resources(&self.ecs.scope, &self.input);
        for r in out.iter_mut().filter(|r| r.action.is_none() && r.arn != "*") {
            r.tags = crate::authz::resource_tags(self.ecs, &r.arn).await;
        }
        if out.is_empty() {
            out.push(AuthzResource::untagged("*"));
        }
        out
    }

    async fn run(self: Box<Self>) -> Result<Value, AwsError> {
        O::run(self.ecs, self.ctx, self.input).await
    }
}
