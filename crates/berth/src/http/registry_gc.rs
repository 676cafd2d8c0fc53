//! `POST /berth/registry/gc[?dryRun=true]`: one garbage collection of the
//! registry of the region the request is signed for, answered with its
//! report (JSON). Berth's own administration, not an AWS API: the request
//! is SigV4-signed for service `ecr` and only the account's root may run it
//! (`berth registry gc` sends it).

use super::App;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_proto::AwsError;
use berth_proto::sigv4::{Endpoint, HttpRequestParts};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const PATH: &str = "/berth/registry/gc";

/// The account's root, authenticated by its SigV4 signature for `ecr`
/// (the admin endpoints of the registry).
pub(super) fn authorize_root(app: &App, parts: &axum::http::request::Parts, what: &str) -> Result<(), AwsError> {
    let principal = app.auth.authenticate(
        &HttpRequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            payload_sha256_hex: &hex::encode(Sha256::digest(b"")),
        },
        &Endpoint::new("ecr", &app.regions.names()),
    )?;
    if !principal.is_root {
        return Err(AwsError::access_denied(format!(
            "User: {} is not authorized to run {what}: only the account's root is",
            principal.arn
        )));
    }
    Ok(())
}

/// An admin endpoint's answer: its JSON, or the error as the API's JSON.
pub(super) fn answer(outcome: Result<impl serde::Serialize, AwsError>) -> Response {
    match outcome {
        Ok(report) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&report).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "__type": e.code, "message": e.message }).to_string(),
        )
            .into_response(),
    }
}

pub(super) async fn run(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let outcome = async {
        authorize_root(&app, &parts, "the registry's garbage collection")?;
        let dry_run = match berth_proto::form::value(query, "dryRun").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(AwsError::invalid_parameter(format!(
                    "dryRun must be true or false, got '{other}'"
                )));
            }
        };
        let registry = &app.regions.for_request(&parts.headers, &parts.uri).registry;
        registry
            .collect_garbage(dry_run)
            .await
            .map_err(|e| AwsError::server(format!("the garbage collection failed: {e}")))
    };
    answer(outcome.await)
}
