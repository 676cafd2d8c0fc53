//! Services: the stored record (with its deployments and events), the
//! `deploymentConfiguration` merge and the pure checks on service requests.

mod config;
mod deployment_alarms;
mod deployment_status;
mod lifecycle_hooks;
mod load_balancers;
mod records;
mod rules;
mod shift_config;
mod task_sets;
#[cfg(test)]
mod tests;

pub use config::*;
pub use deployment_alarms::*;
pub use deployment_status::*;
pub use lifecycle_hooks::*;
pub use load_balancers::*;
pub use records::*;
pub use rules::*;
pub use shift_config::*;
pub use task_sets::*;

/// Events kept on a service, newest first (ECS shows the last 100).
pub const MAX_EVENTS: usize = 100;

/// INACTIVE deployments remembered per service.
pub const MAX_HISTORY: usize = 20;
