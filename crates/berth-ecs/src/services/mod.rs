//! Services: CreateService, UpdateService, DeleteService, DescribeServices,
//! ListServices.
//!
//! A service record (`keys::service(cluster, name)`) is the ECS `Service`
//! shape plus Berth's bookkeeping under `berth` (stripped from answers).
//! Handlers only record intent (desired count, deployments); the service
//! controller (`service_controller.rs`) starts and stops the tasks and keeps
//! the counts, rollout states and events true.

mod config;
mod create;
mod delete;
mod describe;
mod records;
mod rules;
#[cfg(test)]
mod tests;
mod update;

pub(crate) use create::CreateService;
pub(crate) use delete::DeleteService;
pub(crate) use describe::{DescribeServices, ListServices};
pub use records::*;
pub(crate) use update::UpdateService;

/// Events kept on a service, newest first (ECS shows the last 100).
pub const MAX_EVENTS: usize = 100;

/// INACTIVE deployments remembered per service.
pub const MAX_HISTORY: usize = 20;
