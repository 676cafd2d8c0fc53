//! One typed service, several protocols. A service whose operations are
//! written once, as typed operations on awsJson values ([`OperationService`]
//! and its [`crate::operation::Table`]), is served over rpcv2Cbor
//! ([`CborService`]) and awsQuery ([`QueryService`]) by [`Bridged`], which
//! converts each request into the awsJson input, validates it against the
//! model as the JSON listener does, runs the same operation, and writes its
//! JSON output back in the protocol's forms, by the model's output shapes
//! ([`convert`]): timestamps as CBOR tag 1 or ISO 8601 text, blobs as byte
//! strings, lists as `<member>` elements. CloudWatch is the first such
//! service (rpcv2Cbor, awsJson 1.0, awsQuery); Cloud Map is the next.
//!
//! The services are regional and the CBOR and query registries are not:
//! a [`Bridged`] holds the service of every served region and answers with
//! the one the request's credential scope names (`RequestContext::region`).

mod cbor_direct;
pub mod cbor_input;
pub mod convert;

use crate::cbor::{CborPrepared, CborService, unknown_operation};
use crate::operation::OperationService;
use crate::query::{QueryAuthz, QueryInput, QueryResult, QueryService, invalid_action};
use crate::service::Prepared;
use crate::validate::{ServiceModel, ShapeId, validate};
use crate::{AuthzResource, AwsError, JsonService, RequestContext};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// One operation of a model and its output shape (generated beside the
/// model's input tables by scripts/gen_model.py).
#[derive(Debug)]
pub struct Output {
    pub name: &'static str,
    pub shape: Option<ShapeId>,
}

/// What a service served over several protocols is on the wire, besides
/// its awsJson face: its model with the output shapes, its names in the
/// other protocols, and the code of a form value that is not of its kind.
#[derive(Debug)]
pub struct WireModel {
    pub model: &'static ServiceModel,
    /// Sorted by name, as the model's operations.
    pub outputs: &'static [Output],
    /// The smithy service shape's name, in the rpcv2Cbor path
    /// (`GraniteServiceVersion20100801`).
    pub cbor_service_name: &'static str,
    /// The awsQuery `Version` (`2010-08-01`).
    pub query_version: &'static str,
    /// The awsQuery XML namespace.
    pub xml_namespace: &'static str,
    /// The error of a form value that does not read as its shape's kind
    /// (CloudWatch: `InvalidParameterValue`).
    pub invalid_value_code: &'static str,
    /// The service's prefix in IAM actions when it is not its signing name
    /// (CloudWatch signs as `monitoring`, is authorized as `cloudwatch:…`):
    /// a request whose input does not decode is authorized as
    /// `<iam_prefix>:<Operation>` on `*`, and then answers its decoding
    /// error (as the JSON path validates before it authorizes).
    pub iam_prefix: &'static str,
    /// The model's error codes with their shapes' names, sorted by code
    /// (generated): the service is `awsQueryCompatible`, its JSON and CBOR
    /// errors name the shape in `__type` and the code in `x-amzn-query-error`.
    pub errors: &'static [(&'static str, &'static str)],
}

impl WireModel {
    /// `e` as this awsQuery-compatible service answers it on JSON and CBOR:
    /// with its shape's name when the model has its code.
    pub fn query_compatible(&self, mut e: AwsError) -> AwsError {
        if let Ok(i) = self.errors.binary_search_by(|(code, _)| (*code).cmp(&e.code)) {
            e.query_compatible_type = Some(self.errors[i].1);
        }
        e
    }

    fn input_shape(&self, operation: &str) -> Option<ShapeId> {
        self.model.operation(operation).and_then(|o| o.input)
    }

    fn output_shape(&self, operation: &str) -> Option<ShapeId> {
        self.outputs
            .binary_search_by(|o| o.name.cmp(operation))
            .ok()
            .and_then(|i| self.outputs[i].shape)
    }
}

/// A typed service served over rpcv2Cbor and awsQuery: the service of each
/// served region ([`Bridged::add_region`]), the first added the fallback.
pub struct Bridged<S: OperationService> {
    wire: &'static WireModel,
    regions: HashMap<String, Arc<S>>,
    first: Option<Arc<S>>,
    signing_name: &'static str,
}

impl<S: OperationService> Bridged<S> {
    pub fn new(wire: &'static WireModel, signing_name: &'static str) -> Self {
        Self {
            wire,
            regions: HashMap::new(),
            first: None,
            signing_name,
        }
    }

    /// Serves `region` with `service`.
    pub fn add_region(&mut self, region: &str, service: Arc<S>) {
        self.first.get_or_insert_with(|| service.clone());
        self.regions.insert(region.to_string(), service);
    }

    fn service(&self, ctx: &RequestContext) -> Result<&Arc<S>, AwsError> {
        self.regions
            .get(&ctx.region)
            .or(self.first.as_ref())
            .ok_or_else(|| AwsError::internal("no region serves this service"))
    }

    /// The operation's awsJson input from a CBOR body, validated.
    fn input_of_cbor(&self, operation: &str, body: &[u8]) -> Result<Value, AwsError> {
        let json = cbor_input::cbor_body_to_json(body)?;
        validate(Some(self.wire.model), operation, json)
    }

    /// The operation's awsJson input from a form, validated.
    fn input_of_form(&self, operation: &str, input: &QueryInput) -> Result<Value, AwsError> {
        let Some(shape) = self.wire.input_shape(operation) else {
            return Ok(Value::Object(Default::default()));
        };
        let mut params = input.params().clone();
        params.remove("Action");
        params.remove("Version");
        let json = convert::form_to_json(self.wire.model, shape, &params, self.wire.invalid_value_code)?;
        validate(Some(self.wire.model), operation, json)
    }

    /// Whether the table routes `operation` (else the protocol's unknown-operation error).
    fn routed(operation: &str) -> bool {
        S::table().find(operation).is_some()
    }

    /// What a request that cannot be decoded (or is not routed) is
    /// authorized on: `<iam_prefix>:<operation>` on `*`; the call then
    /// answers why.
    fn undecoded(&self, operation: &str) -> Vec<AuthzResource> {
        vec![AuthzResource {
            arn: "*".into(),
            action: Some(format!("{}:{operation}", self.wire.iam_prefix)),
            ..AuthzResource::default()
        }]
    }
}

#[async_trait]
impl<S: OperationService> CborService for Bridged<S> {
    fn service_name(&self) -> &'static str {
        self.wire.cbor_service_name
    }

    fn signing_name(&self) -> &'static str {
        self.signing_name
    }

    async fn prepare<'a>(
        &'a self,
        ctx: &'a RequestContext,
        operation: &'a str,
        body: &[u8],
        note: &mut (dyn for<'v> FnMut(&'v Value) + Send),
    ) -> Result<Box<dyn CborPrepared + 'a>, AwsError> {
        if !Self::routed(operation) {
            return Err(unknown_operation(self.wire.cbor_service_name, operation));
        }
        let compatible = |e| self.wire.query_compatible(e);
        let input = self.input_of_cbor(operation, body).map_err(compatible)?;
        note(&input);
        let service = self.service(ctx).map_err(compatible)?;
        let inner = service.prepare(ctx, operation, input).await.map_err(compatible)?;
        Ok(Box::new(BridgedCall {
            wire: self.wire,
            operation,
            inner,
        }))
    }

    fn undecoded_resources(&self, operation: &str) -> Vec<AuthzResource> {
        self.undecoded(operation)
    }
}

/// One rpcv2Cbor request of a [`Bridged`] service: the typed operation
/// prepared once, its output written back as CBOR.
struct BridgedCall<'a> {
    wire: &'a WireModel,
    operation: &'a str,
    inner: Box<dyn Prepared + 'a>,
}

#[async_trait]
impl CborPrepared for BridgedCall<'_> {
    async fn resources(&self) -> Vec<AuthzResource> {
        self.inner.resources().await
    }

    async fn run(self: Box<Self>) -> Result<Vec<u8>, AwsError> {
        let Self { wire, operation, inner } = *self;
        let output = inner.run().await.map_err(|e| wire.query_compatible(e))?;
        let cbor = convert::json_to_cbor(wire.model, wire.output_shape(operation), &output);
        crate::cbor::encode(&cbor)
    }
}

#[async_trait]
impl<S: OperationService> QueryService for Bridged<S> {
    fn signing_name(&self) -> &'static str {
        self.signing_name
    }

    fn version(&self) -> &'static str {
        self.wire.query_version
    }

    fn xml_namespace(&self) -> &'static str {
        self.wire.xml_namespace
    }

    fn authz(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Option<QueryAuthz> {
        let resources = match (self.service(ctx), self.input_of_form(action, input)) {
            (Ok(service), Ok(json)) => match S::table().resources_of(&service.scope(ctx), action, json) {
                Some(Ok(r)) if !r.is_empty() => r,
                _ => self.undecoded(action),
            },
            _ => self.undecoded(action),
        };
        Some(QueryAuthz {
            resources,
            request_tags: Vec::new(),
        })
    }

    async fn call(&self, ctx: &RequestContext, action: &str, input: &QueryInput) -> Result<QueryResult, AwsError> {
        if !Self::routed(action) {
            return Err(invalid_action(action));
        }
        let json = self.input_of_form(action, input)?;
        let output = self.service(ctx)?.call(ctx, action, json).await?;
        match self.wire.output_shape(action) {
            None => Ok(QueryResult::empty()),
            Some(shape) => QueryResult::of(
                action,
                &convert::json_to_xml_tree(self.wire.model, Some(shape), &output),
            ),
        }
    }
}
