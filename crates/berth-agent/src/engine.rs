//! The task engine: one tokio task per task on the host, driving it through
//! the ECS lifecycle on Docker (pull, create, start in dependency order,
//! watch, stop) and emitting the state changes to report. It adopts the
//! containers it finds by label, so it never starts a task twice.
//!
//! Decisions come from [`crate::lifecycle`] and [`crate::spec`]; this module
//! observes, acts and reports, one concern a file: `handle.rs`, `state.rs`,
//! `run.rs`, `prepare.rs`, `network.rs`, `roles.rs`, `metadata.rs`, `cgroup.rs`, `step.rs`, `report.rs`.

mod cgroup;
mod context;
mod handle;
mod metadata;
mod network;
mod prepare;
mod report;
mod roles;
mod run;
mod state;
mod step;

pub use context::EngineContext;
pub use handle::{EngineHandle, spawn};

#[cfg(test)]
mod tests;
