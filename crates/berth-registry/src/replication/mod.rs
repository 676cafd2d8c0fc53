//! ECR replication: images pushed to this registry copied to the
//! destinations of its replication configuration — other regions this
//! server serves (cross-region), and other accounts' Berth servers
//! (cross-account: [`peers`] configured by the operator, [`remote`] pushes
//! over the peer's OCI API, [`inbound`] is the peer's side: its registry
//! policy must allow the source account).
//!
//! Desired state, converged: a push to a repository some rule applies to
//! writes, in the transaction that stores the manifest or moves the tag,
//! one intent per destination (`ecr/replication-queue/…`) and its status
//! IN_PROGRESS (`ecr/replication/…`); the replicator ([`worker`]) works
//! the intents — woken by a push, and at start so intents a restart
//! interrupted resume — copies the image ([`copy`]) and marks it COMPLETE
//! and leaves the queue in one transaction, only if no push asked again
//! meanwhile. A failure that retrying can fix (the destination
//! unreachable, a conflict) keeps the intent and retries with backoff; one
//! it cannot (an immutable tag taken by another image at the destination)
//! marks it FAILED with its failure code. Images replicated into a
//! registry are not replicated again from there (no chains or loops).
//! As ECR, a configuration applies to pushes after it is put, not to the
//! images already there — unless the operator asks for a [`backfill`]
//! (Berth's addition), which queues those through the same intents.

pub mod backfill;
mod backfill_run;
pub mod backfills;
pub mod config;
pub(crate) mod copy;
pub(crate) mod inbound;
pub mod peers;
mod remote;
pub mod status;
pub mod targets;
mod worker;

pub use targets::{LocalRegions, ReplicationTargets};

use std::sync::{Arc, OnceLock};

/// The registry's replication parts.
#[derive(Default)]
pub(crate) struct Replication {
    /// What this server can replicate to (set once, by the binary).
    pub(crate) targets: OnceLock<Arc<dyn ReplicationTargets>>,
    /// Wakes the replicator.
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// The HTTP client of pushes to peers (made at first use).
    pub(crate) http: OnceLock<reqwest::Client>,
    /// The intents being copied now (queue keys): a backfill's stop
    /// withdraws only the others ([`worker`]'s claims).
    pub(crate) in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Taken to claim an intent, and to withdraw one: the two exclude
    /// each other.
    pub(crate) claims: tokio::sync::Mutex<()>,
    /// Wakes the backfill controller.
    pub(crate) backfill_wake: Arc<tokio::sync::Notify>,
}
