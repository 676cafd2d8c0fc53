//! The Berth container agent (design.md "Control plane ↔ agent",
//! docs/agent-protocol.md): registers a host with the control plane, holds
//! the desired-state session, runs tasks on Docker and reports their state
//! with the ECS state-change operations.
//!
//! Pure decisions: [`lifecycle`] (the task state machine), [`spec`] (Docker
//! create options from a container definition), [`host`] (registration).
//! IO shells: [`runtime`] (bollard), [`engine`] (one per task), [`client`]
//! (SigV4-signed HTTP), [`agent`] (session, reporter, janitor).

pub mod agent;
pub mod awslogs;
pub mod awsvpc;
pub mod client;
pub mod credentials;
pub mod datadir;
pub mod engine;
pub mod failure;
pub mod hollow;
pub mod host;
pub mod invalid;
pub mod isolation;
pub mod labels;
pub mod lifecycle;
pub mod metadata;
pub mod model;
pub mod outbox;
pub mod registry_auth;
pub mod runtime;
pub mod secrets;
pub mod spec;
pub mod state;
pub mod task_cgroup;
pub mod usage;
pub mod usage_sampler;

pub use agent::{AgentConfig, AgentError, run, run_hollow};
