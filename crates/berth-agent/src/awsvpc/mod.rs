//! awsvpc on a Berth host: each task its own network namespace and one IP
//! from the host's task subnet, as an ENI gives it on AWS
//! (docs/architecture.md "awsvpc").
//!
//! The namespace is held by a per-task pause container (`berth-pause-<task
//! id>`, a 129-byte static program that only waits) created with Docker's
//! network mode `none`; the agent gives it its interface: a veth pair whose
//! host end is on the agent's own bridge `berth<subnet hex>` (in the
//! agent's network namespace, which need not be dockerd's: a simulated
//! host) and whose other end is the task's `eth0` at the address the
//! agent's IPAM chose. The task's containers join the namespace with
//! Docker's `container:<pause>` network mode, so they share `localhost`.
//! The host reaches every task at its own address through the bridge; task
//! egress to anything but a task subnet is masqueraded; the other hosts'
//! task subnets are routed through their host addresses ("host-gw"), from
//! the list the server gives with the security groups.
//!
//! Each task's interface is filtered by its security groups with nftables
//! ([`firewall`] writes the ruleset, [`filters`] keeps it applied).
//!
//! A task's pause container is usually made ahead of need: a warm one of
//! the agent's pool ([`warm`]) is claimed when the task arrives.
//!
//! Pure parts: [`subnet`] (the task subnet, names, MAC and DNS names),
//! [`ipam`] (leases), [`pause`] (the pause image and container),
//! [`warm`] (the pool of warm pause containers),
//! [`plan`] (the bridge, interface, host table and route plans),
//! [`firewall`] (the nftables ruleset). IO: [`host_net`] (Docker calls,
//! the lease file), `warm_pool` (making, claiming and adopting warm pause
//! containers), [`links`] (`ip`, `nsenter`, `nft`, `iptables`),
//! [`filters`] (`nft`, the poll of the server).

pub mod filters;
pub mod firewall;
pub mod host_net;
pub mod ipam;
pub mod links;
pub mod pause;
pub mod plan;
pub mod subnet;
pub mod warm;
mod warm_pool;

pub use host_net::{Attached, Pause, TaskNetwork, TaskNetworkError};
pub use ipam::{Lease, Leases};
pub use subnet::TaskSubnet;
pub use warm::WarmOwner;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod plan_tests;

#[cfg(test)]
mod warm_tests;
