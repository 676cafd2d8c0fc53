//! The table of open connections: the global cap, per-IP fairness and which
//! connection gives up its slot when the cap is reached.
//!
//! A connection is `Fresh` until its first request arrives, `Active` while a
//! request is in flight (its response included) and `Idle` between requests.
//! At the cap the oldest `Fresh` connection is evicted (then the oldest
//! `Idle` one): a slot held by a socket that never sent a request is worth
//! less than a new client, so idle sockets cannot starve the listener. When
//! every slot is `Active` the accept loop stops accepting (the kernel backlog
//! queues) until one ends.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// What a connection is doing, as far as eviction cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Fresh,
    Active,
    Idle,
}

/// The decision on a newly accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// The peer already holds its share while the listener is busy.
    RefusePerIp,
}

/// Per-IP fairness: once more than half the slots are taken, a peer (other
/// than loopback) that already holds `max_per_ip` connections gets no more.
pub fn admit(total: usize, max_total: usize, from_peer: usize, max_per_ip: usize, loopback: bool) -> Admission {
    if loopback || max_per_ip == 0 || total * 2 < max_total || from_peer < max_per_ip {
        Admission::Admit
    } else {
        Admission::RefusePerIp
    }
}

/// Which connection to evict: the oldest `Fresh`, else the oldest `Idle`
/// (candidates come in accept order).
pub fn pick_victim(conns: impl Iterator<Item = (u64, ConnState)>) -> Option<u64> {
    let mut idle = None;
    for (id, state) in conns {
        match state {
            ConnState::Fresh => return Some(id),
            ConnState::Idle if idle.is_none() => idle = Some(id),
            _ => {}
        }
    }
    idle
}

/// One open connection, shared by its task, its service and the table.
#[derive(Debug)]
pub struct Conn {
    pub peer: IpAddr,
    started: Instant,
    /// Requests begun on this connection.
    requests: AtomicU64,
    in_flight: AtomicUsize,
    /// Milliseconds since `started` of the last byte read or written.
    last_io_ms: AtomicU64,
    /// Told to close (evicted).
    pub evict: Notify,
    /// Set once evicted, so the next eviction picks another.
    evicting: std::sync::atomic::AtomicBool,
}

impl Conn {
    fn new(peer: IpAddr) -> Self {
        Self {
            peer,
            started: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_io_ms: AtomicU64::new(0),
            evict: Notify::new(),
            evicting: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> ConnState {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            ConnState::Active
        } else if self.requests.load(Ordering::Acquire) == 0 {
            ConnState::Fresh
        } else {
            ConnState::Idle
        }
    }

    pub fn age(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Acquire)
    }

    /// How long since the last byte either way.
    pub fn quiet_for(&self) -> std::time::Duration {
        let last = std::time::Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    pub fn touch(&self) {
        self.last_io_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// A request begins; the guard ends it (when its response body is done).
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request in flight; dropping it ends it.
#[derive(Debug)]
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
    per_ip: HashMap<IpAddr, usize>,
}

/// The table. `freed` wakes the accept loop when a slot is given back.
pub struct Conns {
    inner: Mutex<Inner>,
    pub max_total: usize,
    pub max_per_ip: usize,
    pub freed: Notify,
}

/// A registered connection; dropping it gives its slot back.
pub struct Slot {
    table: Arc<Conns>,
    id: u64,
    pub conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.table.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.conns.remove(&self.id);
        if let Some(n) = inner.per_ip.get_mut(&self.conn.peer) {
            *n -= 1;
            if *n == 0 {
                inner.per_ip.remove(&self.conn.peer);
            }
        }
        drop(inner);
        self.table.freed.notify_one();
    }
}

impl Conns {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            max_total: max_total.max(1),
            max_per_ip,
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// True when a slot is free; otherwise asks the best victim to close
    /// (its slot comes back through `freed`) and returns false.
    pub fn make_room(&self) -> bool {
        if self.len() < self.max_total {
            return true;
        }
        self.evict_one();
        false
    }

    /// Asks the best victim (see [`pick_victim`]) to close; false when every
    /// connection is busy. Also used when the process runs out of file
    /// descriptors below the cap.
    pub fn evict_one(&self) -> bool {
        let inner = self.lock();
        let candidates = inner
            .conns
            .iter()
            .filter(|(_, c)| !c.evicting.load(Ordering::Acquire))
            .map(|(id, c)| (*id, c.state()));
        match pick_victim(candidates).and_then(|id| inner.conns.get(&id)) {
            Some(c) => {
                c.evicting.store(true, Ordering::Release);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    /// Registers an accepted connection, or refuses it (per-IP fairness).
    pub fn register(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Admission> {
        let mut inner = self.lock();
        let from_peer = inner.per_ip.get(&peer).copied().unwrap_or(0);
        match admit(
            inner.conns.len(),
            self.max_total,
            from_peer,
            self.max_per_ip,
            peer.is_loopback(),
        ) {
            Admission::Admit => {}
            refused => return Err(refused),
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn::new(peer));
        inner.conns.insert(id, conn.clone());
        *inner.per_ip.entry(peer).or_default() += 1;
        Ok(Slot {
            table: self.clone(),
            id,
            conn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fairness_applies_only_when_busy_and_never_to_loopback() {
        assert_eq!(admit(10, 100, 50, 8, false), Admission::Admit, "quiet: no per-IP limit");
        assert_eq!(admit(60, 100, 8, 8, false), Admission::RefusePerIp);
        assert_eq!(admit(60, 100, 7, 8, false), Admission::Admit);
        assert_eq!(admit(99, 100, 80, 8, true), Admission::Admit, "loopback is exempt");
        assert_eq!(admit(99, 100, 80, 0, false), Admission::Admit, "0 disables it");
    }

    #[test]
    fn the_oldest_fresh_connection_goes_first_then_the_oldest_idle() {
        use ConnState::*;
        let v = |s: &[ConnState]| pick_victim(s.iter().copied().enumerate().map(|(i, s)| (i as u64, s)));
        assert_eq!(v(&[Active, Idle, Fresh, Fresh]), Some(2));
        assert_eq!(v(&[Active, Idle, Active, Idle]), Some(1));
        assert_eq!(v(&[Active, Active]), None);
        assert_eq!(v(&[]), None);
    }

    #[test]
    fn slots_are_counted_and_given_back() {
        let t = Conns::new(2, 1);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = t.register(ip).unwrap();
        assert!(t.make_room());
        // Busy (1 of 2 = half) and the peer holds its one: refused.
        assert_eq!(t.register(ip).err(), Some(Admission::RefusePerIp));
        let b = t.register("10.0.0.2".parse().unwrap()).unwrap();
        assert!(!t.make_room(), "full");
        assert!(t.evict_one(), "b (fresh) is picked next, a was picked by make_room");
        assert!(!t.evict_one(), "both are being evicted already");
        assert_eq!(a.conn.state(), ConnState::Fresh);
        let req = b.conn.begin_request();
        assert_eq!(b.conn.state(), ConnState::Active);
        drop(req);
        assert_eq!(b.conn.state(), ConnState::Idle);
        drop(a);
        assert_eq!(t.len(), 1);
        assert!(t.make_room());
        drop(b);
        assert_eq!(t.len(), 0);
    }
}
