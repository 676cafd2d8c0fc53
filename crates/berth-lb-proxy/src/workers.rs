//! The threads that serve HTTP(S) client connections: one single-threaded
//! Tokio runtime per CPU, each with its own event loop and timers, as
//! haproxy runs a thread per CPU (`nbthread`) and nginx a worker process.
//! A listener's accept loop hands each new connection to the next worker
//! in turn; the connection, its upstream connections, its timers and its
//! watchdog then live on that thread. A connection is never moved between
//! threads by work stealing, and its wake-ups are not passed to another
//! thread through a shared event loop (what a multi-threaded runtime does
//! per request), which is where the tail latency of a busy proxy comes
//! from. While traffic is steady a worker polls busily for a moment
//! before it blocks ([`crate::busy_poll`]), and each asks Linux for a short
//! CPU slice ([`crate::cpu_slice`]). Started on first use; when the
//! threads cannot be started the connection runs on the caller's runtime.

use crate::busy_poll::{self, Idling};
use crate::cpu_slice;
use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::runtime::{Builder, Handle};

struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

static WORKERS: OnceLock<Option<Workers>> = OnceLock::new();

thread_local! {
    /// The worker this thread is (none: not a worker).
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
    /// The worker's idling, for its busy polling.
    static IDLING: Cell<Idling> = const { Cell::new(Idling::NEW) };
}

/// The worker thread running the caller, if it is one: a socket made here
/// is registered with that worker's event loop.
pub(crate) fn current() -> Option<usize> {
    WORKER.get()
}

fn workers() -> Option<&'static Workers> {
    WORKERS
        .get_or_init(|| match start() {
            Ok(workers) => Some(workers),
            Err(e) => {
                tracing::warn!(error = %e, "load balancer worker threads not started: connections run on the server's runtime");
                None
            }
        })
        .as_ref()
}

fn start() -> std::io::Result<Workers> {
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut handles = Vec::with_capacity(count);
    let budget = busy_poll::budget();
    let slice = cpu_slice::slice();
    for i in 0..count {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .on_thread_park(move || {
                let busy = IDLING.with(|idling| idling.get().going_idle(budget));
                busy_poll::poll_busily(busy);
                IDLING.with(|idling| idling.set(idling.get().blocked_at(Instant::now())));
            })
            .on_thread_unpark(|| IDLING.with(|idling| idling.set(idling.get().woke_at(Instant::now()))))
            .build()?;
        handles.push(runtime.handle().clone());
        std::thread::Builder::new()
            .name(format!("berth-lb-{i}"))
            .spawn(move || {
                WORKER.set(Some(i));
                cpu_slice::apply(slice);
                runtime.block_on(std::future::pending::<()>());
            })?;
    }
    Ok(Workers {
        handles,
        next: AtomicUsize::new(0),
    })
}

/// Serves an accepted connection (`serve`) on the next worker thread.
pub(crate) fn spawn_conn<F>(stream: TcpStream, serve: impl FnOnce(TcpStream) -> F + Send + 'static)
where
    F: Future<Output = ()> + Send + 'static,
{
    let Some(workers) = workers() else {
        tokio::spawn(async move { serve(stream).await });
        return;
    };
    // The socket leaves the accepting runtime's event loop for the
    // worker's.
    let std_stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "an accepted connection could not be handed to a worker");
            return;
        }
    };
    let i = workers.next.fetch_add(1, Relaxed) % workers.handles.len();
    workers.handles[i].spawn(async move {
        match TcpStream::from_std(std_stream) {
            Ok(stream) => serve(stream).await,
            Err(e) => tracing::debug!(error = %e, "a worker could not take a connection"),
        }
    });
}
