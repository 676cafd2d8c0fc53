//! The ECS model: the records Berth stores for tasks (and their
//! containers), services (and their deployments) and container instances,
//! with typed statuses, and the pure rules over them — task sizing, launch
//! type and compatibility, client tokens, the deployment-configuration
//! merge, the rolling-deployment arithmetic. No IO: no store, no clock, no
//! runtime; the server (`berth-ecs`) reads and writes these records, the
//! rules answer `berth_proto::AwsError`s the handlers pass on as they are.
//!
//! The records convert to `berth-scheduler`'s views (`TaskDemand` is part
//! of a task's record, `InstanceRecord::view` builds an `InstanceView`):
//! the scheduler is pure too, and the stored demand is its type.

pub mod capacity_provider;
pub mod cluster;
pub mod deploy_math;
pub mod instance;
pub mod launch;
pub mod managed_scaling;
pub mod service;
pub mod short_name;
pub mod status;
pub mod tags;
pub mod task;
pub mod task_status;
pub mod taskdef;
pub mod traffic_shift;

pub use capacity_provider::*;
pub use cluster::*;
pub use launch::*;
pub use status::*;
pub use tags::*;
pub use task_status::*;
pub use taskdef::*;
