//! The agent's handle on a running engine, and [`spawn`], which starts one.

use super::context::EngineContext;
use super::state::Engine;
use crate::model::Task;
use berth_core::time::now_epoch;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// The agent's handle on a running engine.
pub struct EngineHandle {
    desired: watch::Sender<Task>,
    finished_at: Arc<AtomicU64>,
    join: tokio::task::JoinHandle<()>,
}

impl EngineHandle {
    /// A handle on an engine other than the Docker one (the hollow runtime).
    pub(crate) fn from_parts(
        desired: watch::Sender<Task>,
        finished_at: Arc<AtomicU64>,
        join: tokio::task::JoinHandle<()>,
    ) -> Self {
        Self {
            desired,
            finished_at,
            join,
        }
    }

    /// Hands the engine the task's newest desired state.
    pub fn update(&self, task: Task) {
        self.desired.send_if_modified(|cur| {
            if *cur != task {
                *cur = task;
                true
            } else {
                false
            }
        });
    }

    /// Epoch seconds at which the task was reported STOPPED, once it was.
    pub fn finished_at(&self) -> Option<f64> {
        match self.finished_at.load(Ordering::Acquire) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits for the engine to end (the task STOPPED and reported).
    pub async fn wait(self) {
        let _ = self.join.await;
    }

    pub fn abort(&self) {
        self.join.abort();
    }
}

/// Starts the engine of one task.
pub fn spawn(ctx: Arc<EngineContext>, task: Task) -> EngineHandle {
    let (tx, rx) = watch::channel(task.clone());
    let finished_at = Arc::new(AtomicU64::new(0));
    let done = finished_at.clone();
    let join = tokio::spawn(async move {
        let arn = task.task_arn.clone();
        let mut engine = Engine::new(ctx, task, rx);
        engine.run().await;
        if let Some(endpoint) = &engine.ctx.credentials {
            endpoint.unregister(&arn);
        }
        done.store(now_epoch().to_bits(), Ordering::Release);
        tracing::info!(task = %arn, "task engine finished");
    });
    EngineHandle {
        desired: tx,
        finished_at,
        join,
    }
}
