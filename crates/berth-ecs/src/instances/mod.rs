//! Container instances: RegisterContainerInstance, DescribeContainerInstances,
//! ListContainerInstances, DeregisterContainerInstance,
//! UpdateContainerInstancesState.
//!
//! The record under `keys::instance(cluster, id)` keeps the registered and
//! the remaining resources; `remainingResources` changes only in the same
//! store transaction that places a task on the instance or records its stop,
//! so it is always exact. Task counts are derived from the task records.

mod describe;
mod lifecycle;
mod register;
mod resources;
mod state;
mod stored;

pub use berth_ecs_model::instance::{Attribute, InstanceRecord};
pub(crate) use describe::DescribeInput;
pub(crate) use describe::ListInput;
pub(crate) use lifecycle::{DeregisterInput, UpdateStateInput};
pub(crate) use register::RegisterInput;
pub use state::{ClusterState, instance_view};
