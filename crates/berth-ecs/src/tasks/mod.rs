//! Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.
//!
//! A task record (`keys::task(cluster, id)`) is the DescribeTasks `Task`
//! shape plus Berth's bookkeeping under `berth` (stripped from every answer).
//! Placing tasks and reserving resources is one store transaction: the new
//! task records and the updated container instances, guarded by the
//! instances' mod revisions; on a conflict everything is read and placed
//! again. Stopping (a STOPPED report, StopTask on a task no agent has, the
//! agent-loss monitor) releases the reservation in the same transaction
//! that writes STOPPED, so `remainingResources` is always exact.

mod definitions;
mod describe;
mod options;
mod placement;
mod plan;
mod protection;
mod run;
mod start;
mod stop;

pub use berth_ecs_model::task::*;
pub use definitions::ResolvedTaskDefinition;
pub(crate) use definitions::{TaskDefinitionLookup, named_arn};
pub(crate) use describe::{DescribeTasks, ListTasks};
pub(crate) use options::{TaskOptions, placement_constraints, placement_strategies};
pub(crate) use placement::{Placed, capacity_for};
pub(crate) use protection::{GetTaskProtection, UpdateTaskProtection};
pub(crate) use run::RunTask;
pub(crate) use start::StartTask;
pub(crate) use stop::StopTask;

/// The capability ECS requires of instances for awsvpc tasks. Berth agents
/// advertise it (a namespace and an address per task); placement does not
/// require it, so agents of earlier versions keep running awsvpc tasks.
pub const TASK_ENI_CAPABILITY: &str = "ecs.capability.task-eni";
