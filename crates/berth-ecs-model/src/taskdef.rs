//! Task definitions: the record as ECS stores and returns it, and the rules
//! `RegisterTaskDefinition` applies — validation with ECS's error wording,
//! the defaults ECS fills in, cpu/memory normalization, and the computed
//! `compatibilities` and `requiresAttributes`.
//!
//! Every member Berth interprets is typed; every other member a client sends
//! is kept verbatim in the `other` maps, so a definition reads back exactly
//! as it was registered (plus ECS's defaults).

mod attributes;
mod launch;
mod model;
mod reference;
mod register;
mod size;

pub use attributes::requires_attributes;
pub use launch::{compatibilities, external_violation, fargate_violation};
pub use model::{
    Attribute, ContainerDefinition, ContainerDependency, Device, DockerVolumeConfiguration, EnvironmentFile,
    EphemeralStorage, FARGATE_LOG_DRIVERS, FirelensConfiguration, HealthCheck, HostEntry, HostVolumeProperties,
    KernelCapabilities, KeyValuePair, LOG_DRIVERS, LinuxParameters, LogConfiguration, MAX_CONTAINERS,
    MIN_CONTAINER_MEMORY_MIB, MountPoint, NETWORK_MODES, PlacementConstraint, PortMapping, RepositoryCredentials,
    ResourceRequirement, RestartPolicy, RuntimePlatform, Secret, SystemControl, TASK_CPU_RANGE, TaskDefinition,
    TaskDefinitionRecord, Tmpfs, Ulimit, Volume, VolumeFrom,
};
pub use reference::{TaskDefinitionRef, parse_task_definition_ref};
pub use register::prepare_registration;
pub use size::{is_valid_fargate_size, normalize_task_cpu, normalize_task_memory};

#[cfg(test)]
mod tests;
