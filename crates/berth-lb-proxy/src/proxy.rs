//! The handle: [`Proxy::apply`] turns a config snapshot into running
//! listeners and target groups, incrementally — a listener whose address,
//! port and protocol are unchanged keeps its socket and connections and
//! only gets its new routing; a target group keeps its targets' health; a
//! target no longer listed drains. The queries read what runs:
//! [`Proxy::target_health`], [`Proxy::bound_port`], [`Proxy::metrics`].

use crate::checker;
use crate::config::{Action, LbConfig, LbKind, Listener, ListenerProtocol, LoadBalancer};
use crate::group::{Group, TargetHealthDescription};
use crate::http_proxy::{self, Compiled, CompiledForward, HttpRoutes};
use crate::listener;
use crate::metrics::MetricsSnapshot;
use crate::rules::RuleSet;
use crate::shared::LbShared;
use crate::tls::{self, TlsError};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a listener of the config is not served.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("the target group {0} is not in the config")]
    UnknownTargetGroup(String),
    #[error("a TCP listener forwards to exactly one target group")]
    TcpAction,
}

/// The listeners `apply` could not serve; everything else was applied.
#[derive(Debug, thiserror::Error)]
#[error("{} listener(s) not served: {}", .0.len(), .0.iter().map(|(arn, e)| format!("{arn}: {e}")).collect::<Vec<_>>().join("; "))]
pub struct ApplyError(pub Vec<(String, ListenerError)>);

/// The running data plane. Clones share it.
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// One `apply` at a time (it waits, unlocked, for replaced sockets to close).
    applying: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    groups: HashMap<String, (Arc<Group>, JoinHandle<()>)>,
    lbs: HashMap<String, Lb>,
}

#[derive(Debug)]
struct Lb {
    kind: LbKind,
    shared: Arc<LbShared>,
    listeners: HashMap<String, Running>,
}

/// A bound listener.
#[derive(Debug)]
struct Running {
    bind: IpAddr,
    port: u16,
    protocol: ListenerProtocol,
    bound: SocketAddr,
    cell: Cell,
    stop: watch::Sender<bool>,
    /// The accept loop; it owns the socket.
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Cell {
    Http(http_proxy::RoutesCell),
    Tcp(crate::tcp_proxy::TcpCell),
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, (_, task)) in state.groups.drain() {
            task.abort();
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::new()
    }
}

impl Proxy {
    /// An empty data plane. Call it (and `apply`) inside a Tokio runtime.
    pub fn new() -> Proxy {
        Proxy {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                applying: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the running data plane what `config` says. Idempotent. A
    /// listener that cannot be served (its port taken, its certificate
    /// unreadable, a target group missing) is reported and left out; the
    /// rest is applied. The listeners that go, or whose address, port or
    /// protocol change, are closed first (their sockets released before
    /// anything is bound); their open connections finish their requests.
    pub async fn apply(&self, config: &LbConfig) -> Result<(), ApplyError> {
        let _one_at_a_time = self.inner.applying.lock().await;
        let closing = self.take_replaced(config);
        for mut running in closing {
            let _ = running.stop.send(true);
            if let Some(task) = running.task.take() {
                let _ = task.await;
            }
        }
        self.apply_now(config)
    }

    /// Takes out the running listeners that `config` removes or binds
    /// differently.
    fn take_replaced(&self, config: &LbConfig) -> Vec<Running> {
        let mut state = self.lock();
        let mut closing = Vec::new();
        for (arn, lb) in state.lbs.iter_mut() {
            let wanted = config.load_balancers.iter().find(|l| &l.arn == arn);
            let keys: Vec<String> = lb.listeners.keys().cloned().collect();
            for key in keys {
                let keep = wanted.is_some_and(|w| {
                    w.listeners.iter().any(|l| {
                        l.arn == key
                            && lb
                                .listeners
                                .get(&key)
                                .is_some_and(|r| r.bind == w.bind && r.port == l.port && r.protocol == l.protocol)
                    })
                });
                if !keep && let Some(running) = lb.listeners.remove(&key) {
                    closing.push(running);
                }
            }
        }
        closing
    }

    fn apply_now(&self, config: &LbConfig) -> Result<(), ApplyError> {
        let now = Instant::now();
        let mut state = self.lock();
        let in_use: HashSet<&str> = config
            .load_balancers
            .iter()
            .flat_map(|lb| &lb.listeners)
            .flat_map(|l| std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action)))
            .flat_map(|a| match a {
                Action::Forward(f) => f.target_groups.iter().map(|g| g.arn.as_str()).collect(),
                _ => Vec::new(),
            })
            .collect();
        let listed: HashSet<&str> = config.target_groups.iter().map(|g| g.arn.as_str()).collect();
        state.groups.retain(|arn, (_, task)| {
            let keep = listed.contains(arn.as_str());
            if !keep {
                task.abort();
            }
            keep
        });
        for tg in &config.target_groups {
            let used = in_use.contains(tg.arn.as_str());
            match state.groups.get(&tg.arn) {
                Some((group, _)) => group.update(tg, used, now),
                None => {
                    let group = Arc::new(Group::new(tg, used, now));
                    let task = tokio::spawn(checker::run(group.clone()));
                    state.groups.insert(tg.arn.clone(), (group, task));
                }
            }
        }
        let groups: HashMap<String, Arc<Group>> =
            state.groups.iter().map(|(k, (g, _))| (k.clone(), g.clone())).collect();
        let mut failures = Vec::new();
        let wanted: HashSet<&str> = config.load_balancers.iter().map(|lb| lb.arn.as_str()).collect();
        state.lbs.retain(|arn, _| wanted.contains(arn.as_str()));
        for lb in &config.load_balancers {
            let entry = state.lbs.entry(lb.arn.clone()).or_insert_with(|| Lb {
                kind: lb.kind,
                shared: Arc::new(LbShared::new(lb.idle_timeout)),
                listeners: HashMap::new(),
            });
            entry.kind = lb.kind;
            entry.shared.set_idle_timeout(lb.idle_timeout);
            let names: HashSet<&str> = lb.listeners.iter().map(|l| l.arn.as_str()).collect();
            entry.listeners.retain(|arn, _| names.contains(arn.as_str()));
            for listener in &lb.listeners {
                if let Err(e) = self.apply_listener(entry, lb, listener, &groups) {
                    entry.listeners.remove(&listener.arn);
                    failures.push((listener.arn.clone(), e));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError(failures))
        }
    }

    fn apply_listener(
        &self,
        lb_state: &mut Lb,
        lb: &LoadBalancer,
        listener: &Listener,
        groups: &HashMap<String, Arc<Group>>,
    ) -> Result<(), ListenerError> {
        let same_socket = lb_state
            .listeners
            .get(&listener.arn)
            .is_some_and(|r| r.bind == lb.bind && r.port == listener.port && r.protocol == listener.protocol);
        if !same_socket {
            // A changed socket: the old one goes first, so the port is free.
            lb_state.listeners.remove(&listener.arn);
        }
        let bound_port = lb_state.listeners.get(&listener.arn).map(|r| r.bound.port());
        let (socket, bound) = match bound_port {
            Some(port) => (None, SocketAddr::new(lb.bind, port)),
            None => {
                let socket = bind(SocketAddr::new(lb.bind, listener.port))?;
                let bound = socket.local_addr().map_err(|source| ListenerError::Bind {
                    addr: SocketAddr::new(lb.bind, listener.port),
                    source,
                })?;
                (Some(socket), bound)
            }
        };
        let cell = match &listener.protocol {
            ListenerProtocol::Tcp => {
                let group = tcp_group(listener, groups)?;
                match lb_state.listeners.get(&listener.arn).map(|r| &r.cell) {
                    Some(Cell::Tcp(cell)) => {
                        *cell.write().unwrap_or_else(|p| p.into_inner()) = group;
                        return Ok(());
                    }
                    _ => Cell::Tcp(Arc::new(RwLock::new(group))),
                }
            }
            protocol => {
                let scheme = if matches!(protocol, ListenerProtocol::Https { .. }) {
                    "https"
                } else {
                    "http"
                };
                let routes = Arc::new(HttpRoutes {
                    rules: compile_rules(listener, groups)?,
                    lb: lb_state.shared.clone(),
                    scheme,
                    port: bound.port(),
                });
                match lb_state.listeners.get(&listener.arn).map(|r| &r.cell) {
                    Some(Cell::Http(cell)) => {
                        cell.set(routes);
                        return Ok(());
                    }
                    _ => Cell::Http(Arc::new(http_proxy::Routing::new(routes))),
                }
            }
        };
        let Some(socket) = socket else {
            return Ok(());
        };
        let (stop, stopped) = watch::channel(false);
        let task = match (&cell, &listener.protocol) {
            (Cell::Http(routes), protocol) => {
                let tls = match protocol {
                    ListenerProtocol::Https { cert, key } => Some(tls::acceptor(cert, key)?),
                    _ => None,
                };
                tokio::spawn(listener::serve_http(
                    socket,
                    routes.clone(),
                    lb_state.shared.clone(),
                    tls,
                    stopped,
                ))
            }
            (Cell::Tcp(group), _) => tokio::spawn(listener::serve_tcp(
                socket,
                group.clone(),
                lb_state.shared.clone(),
                stopped,
            )),
        };
        lb_state.listeners.insert(
            listener.arn.clone(),
            Running {
                bind: lb.bind,
                port: listener.port,
                protocol: listener.protocol.clone(),
                bound,
                cell,
                stop,
                task: Some(task),
            },
        );
        Ok(())
    }

    /// The port a listener is bound to (its own, or the one the system
    /// chose for port 0); none when it is not served.
    pub fn bound_port(&self, listener_arn: &str) -> Option<u16> {
        let state = self.lock();
        state
            .lbs
            .values()
            .find_map(|lb| lb.listeners.get(listener_arn))
            .map(|r| r.bound.port())
    }

    /// The health of each target of a target group (draining ones
    /// included); none for a target group not in the config.
    pub fn target_health(&self, target_group_arn: &str) -> Option<Vec<TargetHealthDescription>> {
        let state = self.lock();
        state.groups.get(target_group_arn).map(|(g, _)| g.health())
    }

    /// Every load balancer's and target group's metrics now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let state = self.lock();
        let mut snapshot = MetricsSnapshot {
            load_balancers: state
                .lbs
                .iter()
                .map(|(arn, lb)| lb.shared.metrics.snapshot(arn, lb.kind))
                .collect(),
            target_groups: state.groups.values().map(|(g, _)| g.snapshot()).collect(),
        };
        snapshot.load_balancers.sort_by(|a, b| a.arn.cmp(&b.arn));
        snapshot.target_groups.sort_by(|a, b| a.arn.cmp(&b.arn));
        snapshot
    }
}

fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenerError> {
    let err = |source| ListenerError::Bind { addr, source };
    let socket = std::net::TcpListener::bind(addr).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    tokio::net::TcpListener::from_std(socket).map_err(err)
}

fn compile_rules(
    listener: &Listener,
    groups: &HashMap<String, Arc<Group>>,
) -> Result<RuleSet<Compiled>, ListenerError> {
    let rules = listener
        .rules
        .iter()
        .map(|r| Ok((r.priority, r.conditions.clone(), compile(&r.action, groups)?)))
        .collect::<Result<Vec<_>, ListenerError>>()?;
    Ok(RuleSet::new(rules, compile(&listener.default_action, groups)?))
}

fn compile(action: &Action, groups: &HashMap<String, Arc<Group>>) -> Result<Compiled, ListenerError> {
    Ok(match action {
        Action::Forward(f) => Compiled::Forward(CompiledForward {
            groups: f
                .target_groups
                .iter()
                .map(|w| {
                    let group = groups
                        .get(&w.arn)
                        .ok_or_else(|| ListenerError::UnknownTargetGroup(w.arn.clone()))?;
                    Ok((group.clone(), w.weight))
                })
                .collect::<Result<_, ListenerError>>()?,
            stickiness: f.stickiness,
            turns: std::sync::atomic::AtomicU64::new(0),
        }),
        Action::FixedResponse(f) => Compiled::Fixed(f.clone()),
        Action::Redirect(r) => Compiled::Redirect(r.clone()),
    })
}

fn tcp_group(listener: &Listener, groups: &HashMap<String, Arc<Group>>) -> Result<Arc<Group>, ListenerError> {
    let Action::Forward(f) = &listener.default_action else {
        return Err(ListenerError::TcpAction);
    };
    let [only] = f.target_groups.as_slice() else {
        return Err(ListenerError::TcpAction);
    };
    groups
        .get(&only.arn)
        .cloned()
        .ok_or_else(|| ListenerError::UnknownTargetGroup(only.arn.clone()))
}
