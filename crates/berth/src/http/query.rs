//! The awsQuery side of the listener: which registered service a form is
//! for, its authorization and its answer, and the namespace errors are
//! written in. No service is named here: the global ones (IAM, STS) are in
//! [`App::queries`], a region's own (ELBv2) in its [`Regional::queries`].

use super::regional::Regional;
use super::{App, authorize_resource};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_proto::query::{QueryInput, QueryService, QueryServices, XmlStyle, invalid_action, xml};
use berth_proto::sigv4::{self, HttpRequestParts};
use berth_proto::{AwsError, RequestContext};
use std::sync::{Arc, Mutex};

/// The style (namespace, dialect) of an awsQuery error, learnt as the
/// request is read: the service of the credential scope first, then that of
/// the form.
#[derive(Clone, Default)]
pub(super) struct ErrorStyle(Arc<Mutex<Option<XmlStyle>>>);

impl ErrorStyle {
    /// A fresh slot, shared with the handler through the request's extensions.
    pub(super) fn attach(req: &mut axum::http::Request<axum::body::Body>) -> Self {
        let slot = Self::default();
        req.extensions_mut().insert(slot.clone());
        slot
    }

    fn set(ext: &axum::http::Extensions, style: XmlStyle) {
        if let Some(slot) = ext.get::<ErrorStyle>() {
            *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(style);
        }
    }

    /// The style learnt, or the registry's default when no service could
    /// be told (a request without a signature).
    pub(super) fn get(&self, queries: &QueryServices) -> XmlStyle {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| queries.default_style())
    }
}

/// The served regions and the extra signing regions awsQuery services accept.
pub(super) fn signing_regions(app: &App) -> Vec<&str> {
    let mut regions = app.regions.names();
    for extra in app.queries.extra_signing_regions() {
        if !regions.contains(&extra) {
            regions.push(extra);
        }
    }
    regions
}

/// Before the body is read: the service the request is signed for names
/// the style of an authentication error.
pub(super) fn note_signing_service(app: &App, parts: &http::request::Parts, req: &HttpRequestParts<'_>) {
    if let Ok(signed) = sigv4::parse(req)
        && let Some(service) = app
            .queries
            .by_signing_name(&signed.service)
            .or_else(|| app.regions.first().queries.by_signing_name(&signed.service))
    {
        ErrorStyle::set(&parts.extensions, service.xml_style());
    }
}

/// The signing name of the service a form is for (and, from now on, the
/// style of its errors).
pub(super) fn service_of(
    app: &App,
    regional: &Regional,
    parts: &http::request::Parts,
    input: &QueryInput,
) -> Option<&'static str> {
    let service = resolve(app, regional, input)?;
    ErrorStyle::set(&parts.extensions, service.xml_style());
    Some(service.signing_name())
}

/// The service a form is for: the region's (ELBv2), else a global one (IAM, STS).
fn resolve<'a>(app: &'a App, regional: &'a Regional, input: &QueryInput) -> Option<&'a Arc<dyn QueryService>> {
    regional.queries.resolve(input).or_else(|| app.queries.resolve(input))
}

/// Authorizes and runs one awsQuery action; answers its XML.
pub(super) async fn handle(
    app: &App,
    regional: &Regional,
    parts: &http::request::Parts,
    ctx: &RequestContext,
    input: &QueryInput,
) -> Result<Response, AwsError> {
    let action = input.get("Action").unwrap_or_default().to_string();
    crate::observe::note_query(&parts.extensions, &action, input.params());
    let service = resolve(app, regional, input).ok_or_else(|| invalid_action(&action))?;
    // The request is taken over once: decoded (and checked) by its service.
    let prepared = service.prepare(ctx, &action, input).await?;
    if !ctx.principal.is_root
        && let Some(authz) = prepared.authz().await
    {
        let iam_action = format!("{}:{action}", service.signing_name());
        for resource in authz.resources {
            // A second permission (tag-on-create's `AddTags`) names its own action.
            authorize_resource(app, ctx, &iam_action, &authz.request_tags, resource)
                .map_err(|denial| service.access_denied(denial))?;
        }
    }
    let result = prepared.run().await?;
    let body = xml::response(&action, service.xml_style(), &result, &ctx.request_id);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response())
}
