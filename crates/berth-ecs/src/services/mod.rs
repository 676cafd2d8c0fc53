//! Services: CreateService, UpdateService, DeleteService, DescribeServices,
//! ListServices.
//!
//! A service record (`keys::service(cluster, name)`) is the ECS `Service`
//! shape plus Berth's bookkeeping under `berth` (stripped from answers).
//! Handlers only record intent (desired count, deployments); the service
//! controller (`service_controller.rs`) starts and stops the tasks and keeps
//! the counts, rollout states and events true.

mod create;
mod delete;
mod describe;
mod load_balancers;
mod update;

pub use berth_ecs_model::service::*;
pub(crate) use create::{CreateService, service_keys, service_task_definition_of};
pub(crate) use delete::DeleteService;
pub(crate) use describe::{DescribeServices, ListServices};
pub(crate) use update::UpdateService;
