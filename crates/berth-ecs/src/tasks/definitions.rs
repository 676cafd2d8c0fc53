//! Task definitions resolved for running tasks: an ACTIVE revision by
//! family, `family:rev` or ARN, and the definition the agent is given.

use crate::{Ecs, keys};
use berth_core::ecs::{Tag, TaskDefinitionRecord};
use berth_proto::AwsError;
use berth_proto::json::encode;
use berth_store::typed;
use serde_json::Value;

/// A task definition revision, resolved for running tasks.
#[derive(Debug, Clone)]
pub struct ResolvedTaskDefinition {
    pub family: String,
    pub revision: i64,
    pub arn: String,
    /// The definition as DescribeTaskDefinition shows it.
    pub value: Value,
    pub tags: Vec<Tag>,
}

impl Ecs {
    /// Loads an ACTIVE task definition revision (`family` means its latest
    /// ACTIVE revision; `family:rev` and ARNs name one).
    pub(crate) async fn resolve_task_definition(&self, reference: &str) -> Result<ResolvedTaskDefinition, AwsError> {
        let (rec, _, _) = self
            .find_task_definition(reference)
            .await?
            .ok_or_else(|| AwsError::invalid_parameter("TaskDefinition not found."))?;
        if rec.task_definition.status_str() != "ACTIVE" {
            return Err(AwsError::invalid_parameter("TaskDefinition is inactive"));
        }
        let td = &rec.task_definition;
        let family = td.family_name().to_string();
        let revision = td.revision_number();
        let arn = td
            .task_definition_arn
            .clone()
            .unwrap_or_else(|| self.scope.task_definition_arn(&family, revision));
        Ok(ResolvedTaskDefinition {
            value: encode(td)?,
            family,
            revision,
            arn,
            tags: rec.tags,
        })
    }

    /// A task definition as the agent gets it in its desired state.
    pub(crate) async fn task_definition_value(&self, family: &str, revision: i64) -> Result<Option<Value>, AwsError> {
        match typed::get::<TaskDefinitionRecord>(&*self.store, &keys::task_definition(family, revision))
            .await
            .map_err(AwsError::state_store)?
        {
            Some((rec, _)) => Ok(Some(encode(&rec.task_definition)?)),
            None => Ok(None),
        }
    }
}
