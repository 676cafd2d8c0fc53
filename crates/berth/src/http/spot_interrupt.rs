//! `POST /berth/ecs/spot-interrupt?cluster=C&task=T` (or `&count=N`):
//! interrupts FARGATE_SPOT tasks of a cluster as AWS reclaiming Spot
//! capacity would (berth-ecs `spot.rs`), answered with the tasks
//! interrupted (JSON). Berth's own administration, not an AWS API: the
//! request is SigV4-signed for service `ecs` and only the account's root
//! may send it (`berth admin spot-interrupt` does).

use super::App;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_ecs::SpotTarget;
use berth_proto::AwsError;
use berth_proto::sigv4::{Endpoint, HttpRequestParts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const PATH: &str = "/berth/ecs/spot-interrupt";

/// What the query asks for: the cluster and one task or a count.
fn target_of(query: &str) -> Result<(String, SpotTarget), AwsError> {
    let get = |k: &str| berth_proto::form::value(query, k).filter(|v| !v.is_empty());
    let cluster = get("cluster").unwrap_or_else(|| "default".to_string());
    let target = match (get("task"), get("count")) {
        (Some(t), None) => SpotTarget::Task(t),
        (None, Some(n)) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => SpotTarget::Count(n),
            _ => {
                return Err(AwsError::invalid_parameter(format!(
                    "count must be a whole number of at least 1, got '{n}'"
                )));
            }
        },
        (None, None) => SpotTarget::Count(1),
        (Some(_), Some(_)) => {
            return Err(AwsError::invalid_parameter("Give either task or count, not both."));
        }
    };
    Ok((cluster, target))
}

pub(super) async fn run(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let outcome = async {
        let principal = app.auth.authenticate(
            &HttpRequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: query,
                headers: &parts.headers,
                payload_sha256_hex: &hex::encode(Sha256::digest(b"")),
            },
            &Endpoint::new("ecs", &app.regions.names()),
        )?;
        if !principal.is_root {
            return Err(AwsError::access_denied(format!(
                "User: {} is not authorized to interrupt FARGATE_SPOT tasks: only the account's root is",
                principal.arn
            )));
        }
        let (cluster, target) = target_of(query)?;
        let ecs = &app.regions.for_request(&parts.headers, &parts.uri).ecs;
        let tasks = ecs.interrupt_spot_tasks(&cluster, &target).await?;
        let arns: Vec<Value> = tasks.iter().map(|t| json!(t.task_arn)).collect();
        Ok::<Value, AwsError>(json!({ "interruptedTasks": arns }))
    };
    match outcome.await {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "__type": e.code, "message": e.message }).to_string(),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_forms() {
        assert_eq!(
            target_of("cluster=c&task=abc").unwrap(),
            ("c".to_string(), SpotTarget::Task("abc".into()))
        );
        assert_eq!(
            target_of("cluster=c&count=3").unwrap(),
            ("c".to_string(), SpotTarget::Count(3))
        );
        assert_eq!(target_of("").unwrap(), ("default".to_string(), SpotTarget::Count(1)));
        assert!(target_of("task=a&count=1").is_err());
        assert!(target_of("count=0").is_err());
        assert!(target_of("count=x").is_err());
    }
}
