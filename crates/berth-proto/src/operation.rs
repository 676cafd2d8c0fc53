//! One operation of a JSON service as a type: its name, its typed input
//! (decoded once, at the boundary), the IAM resources it is authorized on —
//! derived from that typed input, with their condition keys and the second
//! permissions it needs — and its handler, run with the same input. A
//! service's registration table ([`Table`]) lists every routed operation;
//! an operation is routed and authorized only through it.
//!
//! A request goes: [`Table::prepare`] finds the operation's [`Entry`]
//! (`UnknownOperationException` when there is none), decodes the input
//! ([`Operation::decode`]) and completes it with what authorization and the
//! handler both need ([`Operation::load`], e.g. ECS RunTask's task
//! definition, loaded once); the listener asks the prepared request for its
//! resources (the pure [`Operation::resources`], each named resource then
//! given its tags by the service's [`JsonServiceInfo::resource_tags`]
//! unless the operation already gave them) and runs it ([`Operation::run`]).
//!
//! Every [`OperationService`] is a [`JsonService`] through its table: the
//! dispatch below is written once, and a service writes only what is its
//! own ([`JsonServiceInfo`], its scope, its table).

use crate::direct::Summary;
use crate::{AuthzResource, AwsError, JsonService, JsonServiceInfo, OwnAuthorizer, Prepared, RequestContext};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// A service whose operations are typed: what their pure resources are
/// named in, and the table that routes them.
pub trait OperationService: JsonServiceInfo + Sized {
    /// What an operation's ARNs are built from (partition, region,
    /// account): ECS's `Scope`, for instance.
    type Scope: Send + Sync;
    /// The scope of one request.
    fn scope(&self, ctx: &RequestContext) -> Self::Scope;
    /// Every operation the service routes.
    fn table() -> &'static Table<Self>;
}

/// The one dispatch of every typed service: through its table, and, for a
/// service that authorizes itself, its own check before each request runs.
#[async_trait]
impl<S: OperationService> JsonService for S {
    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> Result<Box<dyn Prepared + 'a>, AwsError> {
        let prepared = S::table().prepare(self, ctx, operation, input).await?;
        Ok(match self.own_authorizer() {
            Some(own) => Box::new(SelfAuthorized {
                prepared,
                own,
                ctx,
                action: format!("{}:{operation}", self.signing_name()),
            }),
            None => prepared,
        })
    }

    fn prepare_body<'a>(&'a self, ctx: &'a RequestContext, operation: &str, body: &[u8]) -> BodyPrepared<'a> {
        let (summary, prepared) = (S::table().find(operation)?.read_body)(self, ctx, body)?;
        let Some(own) = self.own_authorizer() else {
            return Some((summary, prepared));
        };
        let action = format!("{}:{operation}", self.signing_name());
        let wrapped: PrepareFuture<'a> = Box::pin(async move {
            let prepared = prepared.await?;
            Ok(Box::new(SelfAuthorized {
                prepared,
                own,
                ctx,
                action,
            }) as Box<dyn Prepared + 'a>)
        });
        Some((summary, wrapped))
    }
}

/// A request of a service that authorizes itself: each of its resources
/// is checked by the service before it runs.
struct SelfAuthorized<'a> {
    prepared: Box<dyn Prepared + 'a>,
    own: &'a dyn OwnAuthorizer,
    ctx: &'a RequestContext,
    /// The operation's own action, `<signing_name>:<Operation>`.
    action: String,
}

#[async_trait]
impl Prepared for SelfAuthorized<'_> {
    async fn resources(&self) -> Vec<AuthzResource> {
        self.prepared.resources().await
    }

    async fn run(self: Box<Self>) -> Result<Value, AwsError> {
        for r in self.prepared.resources().await {
            let action = r.action.as_deref().unwrap_or(&self.action);
            self.own.check(self.ctx, action, &r)?;
        }
        self.prepared.run().await
    }
}

/// One operation of the service `S`.
#[async_trait]
pub trait Operation<S: OperationService>: Send + Sync + 'static {
    /// The operation's name in `X-Amz-Target`.
    const NAME: &'static str;
    /// The decoded input, completed by [`Operation::load`].
    type Input: DeserializeOwned + Send + Sync + 'static;
    /// Decodes the request's JSON object (once): `SerializationException`
    /// for a body that does not fit the shape.
    fn decode(input: Value) -> Result<Self::Input, AwsError> {
        crate::json::decode(input)
    }
    /// The input read straight from the request's awsJson body, without
    /// the general path's `Value`, model check and [`Operation::decode`]
    /// ([`crate::direct`]): for an operation whose inputs are large (a
    /// PutMetricData batch). It answers only an input it has fully checked
    /// (every constraint of the model, nothing the model would clean away),
    /// decoded as [`Operation::decode`] would decode it after the check,
    /// with the [`Summary`] the audit trail records; None sends the
    /// request down the general path, which gives every error. An
    /// operation with a reader has no request tags (`aws:RequestTag/…`).
    /// None by default.
    fn read_body(_body: &[u8]) -> Option<(Self::Input, Summary)> {
        None
    }
    /// Loads what both the authorization and the handler need (default:
    /// nothing). It does not fail: what it cannot find, the handler
    /// reports after the authorization.
    async fn load(_service: &S, _input: &mut Self::Input) {}
    /// The resources the operation is authorized on, without their tags
    /// (pure): its own ARNs with their condition keys (`*` only for the
    /// operations AWS does not scope to a resource), then the second
    /// permissions it needs (an [`AuthzResource::action`] such as
    /// `iam:PassRole`). Empty means `*`. A resource of the service's own
    /// action left without tags gets them from
    /// [`JsonServiceInfo::resource_tags`]; one given tags here (known from
    /// [`Operation::load`]) keeps them.
    fn resources(scope: &S::Scope, input: &Self::Input) -> Vec<AuthzResource>;
    /// Runs the operation.
    async fn run(service: &S, ctx: &RequestContext, input: Self::Input) -> Result<Value, AwsError>;
}

/// The future of [`Entry::prepare`].
pub type PrepareFuture<'a> = Pin<Box<dyn Future<Output = Result<Box<dyn Prepared + 'a>, AwsError>> + Send + 'a>>;

/// A request prepared from its body ([`JsonService::prepare_body`]): the
/// audit trail's summary of its input and the preparation, or None for
/// the general path.
pub type BodyPrepared<'a> = Option<(Summary, PrepareFuture<'a>)>;

/// One row of a registration table: an operation's name and its typed
/// path, erased.
pub struct Entry<S: OperationService> {
    pub name: &'static str,
    /// Decodes and loads the input of one request.
    pub prepare: for<'a> fn(&'a S, &'a RequestContext, Value) -> PrepareFuture<'a>,
    /// The resources of an input (decoded, nothing loaded), for the tests
    /// of the table: pure.
    pub resources: fn(&<S as OperationService>::Scope, Value) -> Result<Vec<AuthzResource>, AwsError>,
    /// Reads and loads the input of one request straight from its body,
    /// when the operation can ([`Operation::read_body`]).
    pub read_body: for<'a> fn(&'a S, &'a RequestContext, &[u8]) -> BodyPrepared<'a>,
}

/// The table row of `O`.
pub const fn entry<S: OperationService, O: Operation<S>>() -> Entry<S> {
    Entry {
        name: O::NAME,
        prepare: prepare::<S, O>,
        resources: pure_resources::<S, O>,
        read_body: read_body::<S, O>,
    }
}

fn read_body<'a, S: OperationService, O: Operation<S>>(
    service: &'a S,
    ctx: &'a RequestContext,
    body: &[u8],
) -> BodyPrepared<'a> {
    let (mut input, summary) = O::read_body(body)?;
    let prepared: PrepareFuture<'a> = Box::pin(async move {
        O::load(service, &mut input).await;
        Ok(Box::new(Typed::<S, O> { service, ctx, input }) as Box<dyn Prepared + 'a>)
    });
    Some((summary, prepared))
}

fn prepare<'a, S: OperationService, O: Operation<S>>(
    service: &'a S,
    ctx: &'a RequestContext,
    input: Value,
) -> PrepareFuture<'a> {
    Box::pin(async move {
        let mut input = O::decode(input)?;
        O::load(service, &mut input).await;
        Ok(Box::new(Typed::<S, O> { service, ctx, input }) as Box<dyn Prepared + 'a>)
    })
}

fn pure_resources<S: OperationService, O: Operation<S>>(
    scope: &S::Scope,
    input: Value,
) -> Result<Vec<AuthzResource>, AwsError> {
    Ok(O::resources(scope, &O::decode(input)?))
}

/// A request of `O`, its input decoded and loaded.
struct Typed<'a, S: OperationService, O: Operation<S>> {
    service: &'a S,
    ctx: &'a RequestContext,
    input: O::Input,
}

#[async_trait]
impl<S: OperationService, O: Operation<S>> Prepared for Typed<'_, S, O> {
    async fn resources(&self) -> Vec<AuthzResource> {
        let mut out = O::resources(&self.service.scope(self.ctx), &self.input);
        for r in out
            .iter_mut()
            .filter(|r| r.action.is_none() && r.arn != "*" && r.tags.is_empty())
        {
            r.tags = self.service.resource_tags(self.ctx, &r.arn).await;
        }
        if out.is_empty() {
            out.push(AuthzResource::untagged("*"));
        }
        out
    }

    async fn run(self: Box<Self>) -> Result<Value, AwsError> {
        O::run(self.service, self.ctx, self.input).await
    }
}

/// A service's registration table: every operation it routes.
pub struct Table<S: OperationService>(pub &'static [Entry<S>]);

impl<S: OperationService> Table<S> {
    /// The row of `operation`, if it is routed.
    pub fn find(&self, operation: &str) -> Option<&'static Entry<S>> {
        self.0.iter().find(|e| e.name == operation)
    }

    /// The names of every routed operation, in the table's order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.name).collect()
    }

    /// Decodes and loads one request's input (what [`JsonService::prepare`]
    /// runs):
    /// `UnknownOperationException` for an operation that is not routed.
    pub async fn prepare<'a>(
        &self,
        service: &'a S,
        ctx: &'a RequestContext,
        operation: &str,
        input: Value,
    ) -> Result<Box<dyn Prepared + 'a>, AwsError> {
        let entry = self
            .find(operation)
            .ok_or_else(|| AwsError::unknown_operation(operation))?;
        (entry.prepare)(service, ctx, input).await
    }

    /// The pure resources `operation` is authorized on for `input` (decoded,
    /// nothing loaded, no tags), for the tests listing every routed
    /// operation: `None` when it is not routed, the decoding error when the
    /// input does not fit.
    pub fn resources_of(
        &self,
        scope: &S::Scope,
        operation: &str,
        input: Value,
    ) -> Option<Result<Vec<AuthzResource>, AwsError>> {
        self.find(operation).map(|e| (e.resources)(scope, input))
    }
}

#[cfg(test)]
mod tests;
