//! One KMS, SSM or Secrets Manager operation as a type: its name, its typed
//! input (decoded once, at the boundary), what its authorization and its
//! handler both need looked up once ([`Operation::load`]: a KMS alias → its
//! key, a secret's name → its record and full ARN, a parameter → its
//! record and the keys of its values), the IAM resources derived from that
//! (pure: ARNs with their tags and condition keys, key policies, the
//! `kms:Decrypt` second permission with `kms:ViaService`) and its handler,
//! run with the same input. Each service's registration table lists every
//! routed operation; an operation is routed and authorized only through it
//! (one not in it is `UnknownOperationException`).
//!
//! This is the ECS pattern (berth-ecs's `operation.rs`) over any service
//! type ([`Operation::Service`]).

use async_trait::async_trait;
use berth_proto::{AuthzResource, AwsError, Prepared, RequestContext};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// One operation of a service.
#[async_trait]
pub(crate) trait Operation: Send + Sync + 'static {
    /// The service that serves it.
    type Service: Send + Sync + 'static;
    /// The operation's name in `X-Amz-Target`.
    const NAME: &'static str;
    /// The decoded input, completed by [`Operation::load`] (its looked-up
    /// fields are `#[serde(skip)]`).
    type Input: DeserializeOwned + Send + Sync + 'static;
    /// Decodes the request's JSON object (once): `SerializationException`
    /// for a body that does not fit the shape.
    fn decode(input: Value) -> Result<Self::Input, AwsError> {
        berth_proto::json::decode(input)
    }
    /// Looks up what both the authorization and the handler need (default:
    /// nothing). It does not fail: what it cannot find, the handler reports
    /// after the authorization.
    async fn load(_svc: &Self::Service, _input: &mut Self::Input) {}
    /// The resources the operation is authorized on, with their tags (pure,
    /// from the loaded input): its own ARNs with their condition keys (`*`
    /// only for the operations AWS does not scope to a resource, or when
    /// the input names nothing the handler will find), then the second
    /// permissions it needs (`kms:Decrypt` through the service, …).
    fn resources(svc: &Self::Service, ctx: &RequestContext, input: &Self::Input) -> Vec<AuthzResource>;
    /// Runs the operation.
    async fn run(svc: &Self::Service, ctx: &RequestContext, input: Self::Input) -> Result<Value, AwsError>;
}

/// The future of [`Entry::prepare`].
pub(crate) type PrepareFuture<'a> = Pin<Box<dyn Future<Output = Result<Box<dyn Prepared + 'a>, AwsError>> + Send + 'a>>;

/// One row of a registration table: an operation's name and its typed
/// path, erased.
pub(crate) struct Entry<S: 'static> {
    pub name: &'static str,
    /// Decodes and loads the input of one request.
    pub prepare: for<'a> fn(&'a S, &'a RequestContext, Value) -> PrepareFuture<'a>,
}

/// The table row of `O`.
pub(crate) const fn entry<O: Operation>() -> Entry<O::Service> {
    Entry {
        name: O::NAME,
        prepare: prepare::<O>,
    }
}

/// The row of `operation` in `table`: `UnknownOperationException` when it
/// is not routed.
pub(crate) fn find<S>(table: &'static [Entry<S>], operation: &str) -> Result<&'static Entry<S>, AwsError> {
    table
        .iter()
        .find(|e| e.name == operation)
        .ok_or_else(|| AwsError::unknown_operation(operation))
}

fn prepare<'a, O: Operation>(svc: &'a O::Service, ctx: &'a RequestContext, input: Value) -> PrepareFuture<'a> {
    Box::pin(async move {
        let mut input = O::decode(input)?;
        O::load(svc, &mut input).await;
        Ok(Box::new(Typed::<O> { svc, ctx, input }) as Box<dyn Prepared + 'a>)
    })
}

/// A request of `O`, its input decoded and loaded.
struct Typed<'a, O: Operation> {
    svc: &'a O::Service,
    ctx: &'a RequestContext,
    input: O::Input,
}

#[async_trait]
impl<O: Operation> Prepared for Typed<'_, O> {
    async fn resources(&self) -> Vec<AuthzResource> {
        let mut out = O::resources(self.svc, self.ctx, &self.input);
        if out.is_empty() {
            out.push(AuthzResource::untagged("*"));
        }
        out
    }

    async fn run(self: Box<Self>) -> Result<Value, AwsError> {
        O::run(self.svc, self.ctx, self.input).await
    }
}
