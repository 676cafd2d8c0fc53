//! awsvpc on a Berth host: each task its own network namespace and one IP
//! from the host's task subnet, as an ENI gives it on AWS
//! (docs/architecture.md "awsvpc").
//!
//! The namespace is held by a per-task pause container (`berth-pause-<task
//! id>`, a 129-byte static program that only waits) attached to a
//! Berth-owned Docker bridge network (`berth-vpc-…`, bridge `berth…`) with
//! the address the agent's IPAM chose; the task's containers join it with
//! Docker's `container:<pause>` network mode, so they share `localhost`.
//! Docker makes the bridge, the veth pair and the egress masquerade; the
//! host reaches every task at its own address through the bridge.
//!
//! Each task's interface is filtered by its security groups with nftables
//! ([`firewall`] writes the ruleset, [`filters`] keeps it applied).
//!
//! Pure parts: [`subnet`] (the task subnet, names, MAC and DNS names),
//! [`ipam`] (leases), [`pause`] (the pause image and container),
//! [`firewall`] (the nftables ruleset). IO: [`host_net`] (Docker calls and
//! the lease file), [`filters`] (`nft`, the poll of the server).

pub mod filters;
pub mod firewall;
pub mod host_net;
pub mod ipam;
pub mod pause;
pub mod subnet;

pub use host_net::{TaskNetwork, TaskNetworkError};
pub use ipam::{Lease, Leases};
pub use subnet::TaskSubnet;

#[cfg(test)]
mod tests;
