//! Task definitions resolved for running tasks: an ACTIVE revision by
//! family, `family:rev` or ARN, looked up once per request (for its
//! authorization and its handler), and the definition the agent is given.

use crate::{Ecs, keys};
use berth_ecs_model::{Tag, TaskDefinitionRecord, TaskDefinitionRef, parse_task_definition_ref};
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

impl ResolvedTaskDefinition {
    fn of(scope: &berth_core::arn::Scope, rec: TaskDefinitionRecord) -> Result<Self, AwsError> {
        let td = &rec.task_definition;
        let family = td.family_name().to_string();
        let revision = td.revision_number();
        let arn = td
            .task_definition_arn
            .clone()
            .unwrap_or_else(|| scope.task_definition_arn(&family, revision));
        Ok(Self {
            value: encode(td)?,
            family,
            revision,
            arn,
            tags: rec.tags,
        })
    }
}

/// The task definition a request names, looked up once (in the prepare
/// step): what its authorization names and what its handler runs.
#[derive(Debug, Default)]
pub(crate) struct TaskDefinitionLookup {
    /// The ARN authorization names: the revision found, or as named
    /// ([`named_arn`]); empty before the lookup.
    pub arn: String,
    /// The revision found (None: none; Err: the lookup failed), and
    /// whether it is ACTIVE.
    found: Option<Result<(ResolvedTaskDefinition, bool), AwsError>>,
}

impl TaskDefinitionLookup {
    /// The definition found, whatever its status (for the roles it passes).
    pub(crate) fn definition(&self) -> Option<&Value> {
        match &self.found {
            Some(Ok((td, _))) => Some(&td.value),
            _ => None,
        }
    }

    /// The ACTIVE revision to run, or the error the handler answers.
    pub(crate) fn into_active(self) -> Result<ResolvedTaskDefinition, AwsError> {
        match self.found {
            Some(Ok((td, true))) => Ok(td),
            Some(Ok((_, false))) => Err(AwsError::invalid_parameter("TaskDefinition is inactive")),
            Some(Err(e)) => Err(e),
            None => Err(AwsError::invalid_parameter("TaskDefinition not found.")),
        }
    }
}

/// The ARN a task-definition reference names before it is looked up
/// (pure): an ARN as given, `family:rev` its revision's, a bare family
/// `task-definition/FAMILY`; `*` when it does not parse.
pub(crate) fn named_arn(scope: &berth_core::arn::Scope, reference: &str) -> String {
    match parse_task_definition_ref(reference) {
        Ok((_, Some(_))) => reference.to_string(),
        Ok((TaskDefinitionRef::Revision(family, revision), None)) => scope.task_definition_arn(&family, revision),
        Ok((TaskDefinitionRef::Family(family), None)) => scope.arn("ecs", format!("task-definition/{family}")),
        Err(_) => "*".to_string(),
    }
}

impl Ecs {
    /// Looks `reference` up once: `family:rev` and ARNs name one revision;
    /// a bare family is its latest ACTIVE revision ([`Ecs::last_active_revision`],
    /// else [`Ecs::find_task_definition`]).
    pub(crate) async fn lookup_task_definition(&self, reference: &str) -> TaskDefinitionLookup {
        let named = named_arn(&self.scope, reference);
        if named == "*" {
            return TaskDefinitionLookup {
                arn: named,
                found: None,
            };
        }
        // A bare family: its last revision when ACTIVE (two gets), else the scan.
        let fast = match parse_task_definition_ref(reference) {
            Ok((TaskDefinitionRef::Family(family), None)) => self.last_active_revision(&family).await.ok().flatten(),
            _ => None,
        };
        let found = match fast {
            Some(f) => Ok(Some(f)),
            None => self.find_task_definition(reference).await,
        };
        let found = match found {
            Ok(Some((rec, _, _))) => {
                let active = rec.task_definition.is_active();
                Some(ResolvedTaskDefinition::of(&self.scope, rec).map(|td| (td, active)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        };
        let arn = match &found {
            Some(Ok((td, _))) => self.scope.task_definition_arn(&td.family, td.revision),
            _ => named,
        };
        TaskDefinitionLookup { arn, found }
    }

    /// Loads an ACTIVE task definition revision (`family` means its latest
    /// ACTIVE revision; `family:rev` and ARNs name one).
    pub(crate) async fn resolve_task_definition(&self, reference: &str) -> Result<ResolvedTaskDefinition, AwsError> {
        self.lookup_task_definition(reference).await.into_active()
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
