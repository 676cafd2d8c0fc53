//! PutReplicationConfiguration, DescribeRegistry and
//! DescribeImageReplicationStatus (the replication itself:
//! [`crate::replication`]).

use super::image_id::ImageId;
use super::invalid_parameter;
use crate::replication::config::ReplicationConfiguration;
use crate::replication::status::{self, ReplicationRecord};
use crate::{Registry, keys};
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutReplicationConfigurationInput {
    replication_configuration: ReplicationConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeImageReplicationStatusInput {
    pub(crate) repository_name: String,
    image_id: ImageId,
    registry_id: Option<String>,
}

impl Registry {
    pub(crate) async fn put_replication_configuration(
        &self,
        _ctx: &RequestContext,
        input: PutReplicationConfigurationInput,
    ) -> Result<Value, AwsError> {
        let config = input.replication_configuration;
        config
            .validate(&self.scope.region, self.registry_id())
            .map_err(|e| invalid_parameter(format!("Invalid parameter at 'replicationConfiguration': {e}")))?;
        // A destination this server cannot reach is refused, not stored.
        let targets = self.replication.targets.get();
        for d in config.all_destinations() {
            let reachable = match targets {
                Some(t) => t.check(&d),
                None => Err("this registry has no replication destinations configured".to_string()),
            };
            reachable.map_err(|why| {
                invalid_parameter(format!(
                    "Invalid parameter at 'replicationConfiguration': cannot replicate to region '{}' of registry '{}': {why}",
                    d.region, d.registry_id
                ))
            })?;
        }
        self.store
            .put(
                keys::REPLICATION_CONFIGURATION,
                typed::encode(&config).map_err(AwsError::state_store)?,
            )
            .await
            .map_err(AwsError::state_store)?;
        tracing::info!(rules = config.rules.len(), "replication configuration put");
        Ok(json!({ "replicationConfiguration": config }))
    }

    pub(crate) async fn describe_registry(
        &self,
        _ctx: &RequestContext,
        _input: super::policies::RegistryInput,
    ) -> Result<Value, AwsError> {
        let config = self.replication_configuration().await.map_err(|e| self.aws(e))?;
        Ok(json!({
            "registryId": self.registry_id(),
            "replicationConfiguration": config,
        }))
    }

    pub(crate) async fn describe_image_replication_status(
        &self,
        _ctx: &RequestContext,
        input: DescribeImageReplicationStatusInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let digest = self.resolve_image_id(&name, &input.image_id).await?;
        // Statuses left by an earlier image of this digest (deleted, pushed
        // again) predate this one's push: not this image's.
        let pushed_at = self
            .image(&name, &digest)
            .await
            .map_err(|e| self.aws(e))?
            .map_or(0.0, |(rec, _)| rec.pushed_at);
        let prefix = keys::replications_of_image(&name, &digest);
        let kvs = self
            .store
            .range(&prefix, None, None)
            .await
            .map_err(AwsError::state_store)?;
        let mut statuses = Vec::with_capacity(kvs.len());
        for kv in kvs {
            let rec: ReplicationRecord = typed::decode(&kv).map_err(AwsError::state_store)?;
            if rec.updated_at < pushed_at {
                continue;
            }
            let Some((_, _, dest)) = status::parse_key_rest(&kv.key[keys::REPLICATIONS.len()..]) else {
                continue;
            };
            let mut s = json!({
                "region": dest.region,
                "registryId": dest.registry_id,
                "status": rec.status.as_str(),
            });
            if let Some(code) = rec.failure_code {
                s["failureCode"] = json!(code);
            }
            statuses.push(s);
        }
        let mut image_id = json!({ "imageDigest": digest });
        if let Some(t) = &input.image_id.image_tag {
            image_id["imageTag"] = json!(t);
        }
        Ok(json!({
            "repositoryName": name,
            "imageId": image_id,
            "replicationStatuses": statuses,
        }))
    }
}
