//! Which destinations this server can replicate to. The binary knows the
//! regions it serves and its peers (other accounts' Berth servers,
//! [`super::peers`]); the registry asks it when a
//! configuration is put (a destination Berth cannot reach is refused, not
//! stored) and when the replicator works an intent.

use super::config::Destination;
use super::peers::Peer;
use crate::Registry;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

pub trait ReplicationTargets: Send + Sync {
    /// `Err(why)` when this server cannot replicate to `d`.
    fn check(&self, d: &Destination) -> Result<(), String>;
    /// The registry of `d` when it is a region this server serves.
    fn local(&self, d: &Destination) -> Option<Arc<Registry>>;
    /// The Berth server serving `d` when it is another account's.
    fn peer(&self, _d: &Destination) -> Option<Peer> {
        None
    }
}

/// The regions of one account served by this server, each its registry.
pub struct LocalRegions {
    account: String,
    registries: HashMap<String, Weak<Registry>>,
    peers: BTreeMap<String, Peer>,
}

impl LocalRegions {
    /// `registries`: every served region's registry (the source's too).
    pub fn new(account: &str, registries: &[Arc<Registry>]) -> Self {
        Self {
            account: account.to_string(),
            registries: registries
                .iter()
                .map(|r| (r.scope.region.clone(), Arc::downgrade(r)))
                .collect(),
            peers: BTreeMap::new(),
        }
    }

    /// The other accounts' servers (`--ecr-replication-peer`).
    pub fn with_peers(mut self, peers: BTreeMap<String, Peer>) -> Self {
        self.peers = peers;
        self
    }
}

impl ReplicationTargets for LocalRegions {
    fn check(&self, d: &Destination) -> Result<(), String> {
        if d.registry_id != self.account {
            if self.peers.contains_key(&d.registry_id) {
                return Ok(());
            }
            return Err(format!(
                "the destination registry '{}' is another account: this server serves only account '{}' \
                 and has no replication peer for it (start it with --ecr-replication-peer {}=URL and \
                 --ecr-replication-peer-credentials)",
                d.registry_id, self.account, d.registry_id
            ));
        }
        if !self.registries.contains_key(&d.region) {
            let mut served: Vec<&str> = self.registries.keys().map(String::as_str).collect();
            served.sort();
            return Err(format!(
                "the destination region '{}' is not served by this server (it serves {}; start it with --regions)",
                d.region,
                served.join(", ")
            ));
        }
        Ok(())
    }

    fn local(&self, d: &Destination) -> Option<Arc<Registry>> {
        if d.registry_id != self.account {
            return None;
        }
        self.registries.get(&d.region)?.upgrade()
    }

    fn peer(&self, d: &Destination) -> Option<Peer> {
        self.peers.get(&d.registry_id).cloned()
    }
}
