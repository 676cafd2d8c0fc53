//! The wire types of the control plane ↔ agent protocol
//! (docs/agent-protocol.md), in one place for both ends: the server
//! (berth-ecs) reads what the agent sends with these types and the agent
//! builds its bodies with them, so the two cannot drift apart.
//!
//! * [`session`]: the lines of the desired-state stream (§2).
//! * [`state_change`]: `SubmitTaskStateChange` / `SubmitContainerStateChange`
//!   bodies with Berth's extensions (§4).
//! * [`heartbeat`]: `BerthHeartbeat` (§3).
//! * [`credentials`]: `BerthGetTaskCredentials` request and answer (§6).
//! * [`usage`]: `BerthPublishTaskUsage`, what tasks used (§7).
//! * [`security_groups`]: the security groups an agent filters its awsvpc
//!   tasks with (§8).
//!
//! The bodies the server reads are ECS API inputs any client may send:
//! members ECS treats as optional are `Option`s, so a request decodes (and
//! is validated by the server) exactly as an ECS-shaped body would be;
//! absent members are left out when serialised. Serde only, no IO.

pub mod credentials;
pub mod heartbeat;
pub mod security_groups;
pub mod session;
pub mod state_change;
pub mod usage;

pub use credentials::{RoleKind, TaskCredentials, TaskCredentialsAnswer, TaskCredentialsRequest};
pub use heartbeat::{Acknowledgment, Heartbeat};
pub use security_groups::{GroupRules, HostPeer, SecurityGroupsView, SecurityRule};
pub use session::{DesiredState, SessionMessage};
pub use state_change::{
    ContainerStateChange, NetworkBinding, SingleContainerStateChange, TaskNetworkInterface, TaskStateChange,
};
pub use usage::{ContainerUsage, TaskUsage, UsageReport};
