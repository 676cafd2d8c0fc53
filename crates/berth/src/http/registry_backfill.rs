//! `POST /berth/registry/replication/backfill[?repository=NAME]`: queues
//! the replication of the images already in the repositories the
//! replication configuration's rules apply to (of the region the request
//! is signed for; one repository when named), answered with the count
//! (JSON). Berth's own administration, not an AWS API (ECR replicates only
//! later pushes): SigV4-signed for `ecr`, the account's root only (`berth
//! registry replicate --backfill` sends it).

use super::App;
use super::registry_gc::{answer, authorize_root};
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;
use berth_proto::AwsError;
use std::sync::Arc;

pub const PATH: &str = "/berth/registry/replication/backfill";

pub(super) async fn run(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let (parts, _) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let outcome = async {
        authorize_root(&app, &parts, "a replication backfill")?;
        let repository = berth_proto::form::value(query, "repository");
        if repository.as_deref() == Some("") {
            return Err(AwsError::invalid_parameter("repository must not be empty".to_string()));
        }
        let registry = &app.regions.for_request(&parts.headers, &parts.uri).registry;
        registry
            .backfill_replication(repository.as_deref())
            .await
            .map_err(|e| registry.api_error(e))
    };
    answer(outcome.await)
}
