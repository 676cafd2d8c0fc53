//! Warm pause containers (pure): each agent keeps a few pause containers
//! made ahead of need, so an awsvpc task's start costs one container start
//! (its own), as `docker run` does, instead of two in sequence
//! (docs/architecture.md "Warm pause containers").
//!
//! A warm container is a pause container running under the daemon's
//! default runtime (as every pause container: FARGATE tasks' containers run
//! under gVisor and join its namespace) with network mode `none`, no
//! interface yet, and an address of the task subnet already leased (its host
//! name and `/etc/hosts` name that address, and Docker fixes both at
//! creation). A task claims one: the lease passes to the task, the
//! container is renamed to the task's pause name (labels cannot change,
//! names can), and the task's interface (veth, address, routes), its
//! security-group filter and (FARGATE) its cgroup are made for the task as
//! before, all before its first process starts. The pool is refilled in the
//! background after each claim; a task never waits for it (no warm one: the
//! pause container is made for the task, as without a pool).
//!
//! [`Pool`] decides what to claim and how many to make; [`adopt`] what a
//! starting agent does with the warm containers and leases an earlier run
//! left. The IO is in [`super::warm_pool`].

use super::ipam::Lease;
use std::collections::{BTreeMap, VecDeque};

/// Whose the warm containers are: the labels every container of the agent
/// carries (a claimed one keeps them: labels cannot change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmOwner {
    pub cluster: String,
    pub instance_arn: String,
    pub extra_labels: BTreeMap<String, String>,
}

/// The Docker name prefix of a warm (unclaimed) pause container.
pub const WARM_PREFIX: &str = "berth-pause-warm-";
/// The label that marks a pause container made ahead of need (its value
/// [`WARM`]; a claimed one keeps it, labels being immutable).
pub const LABEL_WARM: &str = "berth.pause";
pub const WARM: &str = "warm";
/// Warm pause containers per agent by default (`--warm-pause`).
pub const DEFAULT_SIZE: usize = 1;

/// The Docker name of a new warm container.
pub fn warm_name(hex: &str) -> String {
    format!("{WARM_PREFIX}{hex}")
}

/// Whether `name` (as Docker lists it, with or without its leading `/`)
/// is an unclaimed warm container's.
pub fn is_warm_name(name: &str) -> bool {
    name.trim_start_matches('/').starts_with(WARM_PREFIX)
}

/// A warm pause container: running, its address leased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warm {
    pub name: String,
    pub id: String,
    /// Its main process (the namespace's holder).
    pub pid: u32,
    pub lease: Lease,
}

/// One agent's pool.
#[derive(Debug)]
pub struct Pool {
    size: usize,
    /// Filled once the agent has shown it runs awsvpc tasks (its first one,
    /// or leases found at start): an agent that never does holds nothing.
    active: bool,
    /// The agent is stopping: nothing more is made or kept.
    closed: bool,
    ready: VecDeque<Warm>,
    filling: usize,
}

impl Pool {
    pub fn new(size: usize) -> Self {
        Self {
            size,
            active: false,
            closed: false,
            ready: VecDeque::new(),
            filling: 0,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The pool is wanted from now on (a size of 0 keeps it empty).
    pub fn activate(&mut self) {
        self.active = self.size > 0;
    }

    /// The agent is stopping: the warm containers to remove.
    pub fn close(&mut self) -> Vec<Warm> {
        self.closed = true;
        self.ready.drain(..).collect()
    }

    /// A warm container for a task, the oldest first (None: the task's
    /// pause container is made for it).
    pub fn claim(&mut self) -> Option<Warm> {
        if self.closed {
            return None;
        }
        self.ready.pop_front()
    }

    /// How many warm containers to begin making now (counted as being made
    /// until [`Self::end_fill`]).
    pub fn begin_fill(&mut self) -> usize {
        if !self.active || self.closed {
            return 0;
        }
        let n = self.size.saturating_sub(self.ready.len() + self.filling);
        self.filling += n;
        n
    }

    /// One being made is done (`made`: None when it failed). Returns the
    /// container to remove when it is not wanted any more (the agent is
    /// stopping, or the pool is full).
    pub fn end_fill(&mut self, made: Option<Warm>) -> Option<Warm> {
        self.filling = self.filling.saturating_sub(1);
        let w = made?;
        if self.closed || self.ready.len() >= self.size {
            return Some(w);
        }
        self.ready.push_back(w);
        None
    }

    /// Warm containers found at start, kept (see [`adopt`]): the pool is
    /// active.
    pub fn adopt(&mut self, kept: Vec<Warm>) {
        self.activate();
        self.ready.extend(kept);
    }

    pub fn ready(&self) -> usize {
        self.ready.len()
    }
}

/// A warm-labelled container of this agent found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub id: String,
    /// Its main process when it is running.
    pub pid: Option<u32>,
}

/// What a starting agent does with what an earlier run left.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// Running, its lease kept: back in the pool.
    pub keep: Vec<Warm>,
    /// Containers to remove (ids): stopped (a reboot: no namespace any
    /// more), without a lease, or beyond the pool's size.
    pub remove: Vec<String>,
    /// Warm leases to free: their container is removed or gone.
    pub release: Vec<String>,
}

/// Decides, from the warm-labelled containers found and the warm leases
/// read back, which are reused and which go. Claimed containers (renamed
/// to a task's pause name) are their tasks' and are left alone.
pub fn adopt(found: &[Found], warm_leases: &BTreeMap<String, Lease>, size: usize) -> Adoption {
    let mut out = Adoption::default();
    let mut kept_names = Vec::new();
    for f in found.iter().filter(|f| is_warm_name(&f.name)) {
        let name = f.name.trim_start_matches('/');
        match (f.pid, warm_leases.get(name)) {
            (Some(pid), Some(lease)) if out.keep.len() < size => {
                kept_names.push(name.to_string());
                out.keep.push(Warm {
                    name: name.to_string(),
                    id: f.id.clone(),
                    pid,
                    lease: lease.clone(),
                });
            }
            _ => out.remove.push(f.id.clone()),
        }
    }
    out.release = warm_leases
        .keys()
        .filter(|n| !kept_names.contains(n))
        .cloned()
        .collect();
    out
}
