//! The rpcv2Cbor side of the listener: `POST …/service/{S}/operation/{O}`
//! routed by service name to [`App::cbors`]; an unknown service or
//! operation answers the protocol's `UnknownOperationException`.

use super::{App, authorize_resource};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_proto::cbor::{self, CONTENT_TYPE, PROTOCOL_HEADER, PROTOCOL_VALUE};
use berth_proto::{AwsError, RequestContext};

/// Marks an answer as rpcv2Cbor (`smithy-protocol: rpc-v2-cbor`).
pub(super) fn mark(resp: &mut Response) {
    resp.headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from_static(PROTOCOL_VALUE));
}

/// The signing name of the registered service the path names.
pub(super) fn signing_name(app: &App, parts: &http::request::Parts) -> Option<&'static str> {
    let (service, _) = cbor::route(parts.uri.path())?;
    app.cbors.get(service).map(|s| s.signing_name())
}

/// Authorizes and runs one rpcv2Cbor operation; answers its CBOR output.
pub(super) async fn handle(
    app: &App,
    parts: &http::request::Parts,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Response, AwsError> {
    let path = parts.uri.path();
    let (service, operation) = cbor::route(path).ok_or_else(|| cbor::unknown_operation(path, ""))?;
    let svc = app
        .cbors
        .get(service)
        .ok_or_else(|| cbor::unknown_operation(service, operation))?;
    crate::observe::note_operation(&parts.extensions, operation, None);
    let authorize = |resources: Vec<berth_proto::AuthzResource>| -> Result<(), AwsError> {
        if ctx.principal.is_root {
            return Ok(());
        }
        let action = format!("{}:{operation}", svc.signing_name());
        for resource in resources {
            authorize_resource(app, ctx, &action, &[], resource)?;
        }
        Ok(())
    };
    // The body is decoded once: authorization and the run share it. A body
    // that does not decode is answered only to a caller allowed the operation.
    // The audit trail's requestParameters: the input when it reads as JSON,
    // recorded while the service shows it (no copy), noted once it is prepared.
    let mut parameters = None;
    let mut note = |input: &serde_json::Value| parameters = crate::observe::parameters_of(&parts.extensions, input);
    let prepared = match svc.prepare(ctx, operation, body, &mut note).await {
        Ok(prepared) => prepared,
        Err(e) => {
            authorize(svc.undecoded_resources(operation))?;
            return Err(e);
        }
    };
    crate::observe::note_operation(&parts.extensions, operation, parameters);
    if !ctx.principal.is_root {
        let mut resources = prepared.resources().await;
        if resources.is_empty() {
            resources.push(berth_proto::AuthzResource::untagged("*"));
        }
        authorize(resources)?;
    }
    let out = prepared.run().await?;
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response();
    mark(&mut resp);
    Ok(resp)
}
