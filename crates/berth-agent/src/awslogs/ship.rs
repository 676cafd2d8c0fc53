//! The shippers: one task per `awslogs` container, following its json-file
//! log and sending batches ([`Shippers`]); the log group and stream set up
//! ([`prepare`]).

use super::batch::{Batch, Batcher, InFlight, ShipState, digest};
use super::config::{AwslogsConfig, AwslogsOptionError, LINGER, MAX_BATCH_EVENTS, ShipSpec, parse_options};
use super::events::Assembler;
use crate::client::{ApiClient, ApiError};
use crate::labels::LABEL_AWSLOGS;
use crate::runtime::Runtime;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why the log group or stream could not be set up; `Display` is Docker's
/// wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Options(#[from] AwslogsOptionError),
    #[error("failed to initialize logging driver: failed to create Cloudwatch log {what}: {detail}")]
    Create { what: &'static str, detail: String },
}

/// Creates the group (with `awslogs-create-group`) and the stream before the
/// container starts, as Docker's driver does; the error is Docker's.
pub async fn prepare(api: &ApiClient, spec: &ShipSpec, container_id: &str) -> Result<(), PrepareError> {
    let cfg = parse_options(&spec.options)?;
    let stream = spec.stream_for(container_id);
    let mut backoff = crate::client::retry_backoff();
    let mut attempts = 0;
    let call = |op: &'static str, body: Value| async move {
        match api.call_logs(op, &body).await {
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => Ok(()),
            other => other.map(|_| ()),
        }
    };
    loop {
        let mut result = Ok(());
        if cfg.create_group {
            result = call("CreateLogGroup", json!({"logGroupName": cfg.group}))
                .await
                .map_err(|e| ("group", e));
        }
        if result.is_ok() {
            result = call(
                "CreateLogStream",
                json!({"logGroupName": cfg.group, "logStreamName": stream}),
            )
            .await
            .map_err(|e| ("stream", e));
        }
        match result {
            Ok(()) => return Ok(()),
            Err((what, e)) => {
                attempts += 1;
                if e.is_permanent() || attempts >= 5 {
                    let detail = match &e {
                        ApiError::Aws { code, message, .. } => format!("{code}: {message}"),
                        other => other.to_string(),
                    };
                    return Err(PrepareError::Create { what, detail });
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// The agent's log shippers: one tokio task per container, each running
/// until the container has exited and all its output is stored.
pub struct Shippers {
    api: ApiClient,
    runtime: Runtime,
    dir: PathBuf,
    active: Mutex<HashSet<String>>,
    epoch: Instant,
}

impl Shippers {
    pub fn new(api: ApiClient, runtime: Runtime, dir: PathBuf) -> Arc<Self> {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the log shipping dir");
        }
        Arc::new(Self {
            api,
            runtime,
            dir,
            active: Mutex::new(HashSet::new()),
            epoch: Instant::now(),
        })
    }

    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn state_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Ships a started container's output (once: a shipper already running
    /// or finished for it is left alone).
    pub fn ship(self: &Arc<Self>, container_id: &str, spec: ShipSpec) {
        {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            if !active.insert(container_id.to_string()) {
                return;
            }
        }
        let me = self.clone();
        let id = container_id.to_string();
        tokio::spawn(async move {
            me.run_one(&id, &spec).await;
            me.active.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    /// After an agent start: ships what the containers of this instance
    /// printed while the agent was away, and forgets containers that are gone.
    pub async fn resume(self: &Arc<Self>, instance_arn: &str) {
        let found = match self
            .runtime
            .list(&[(crate::labels::LABEL_INSTANCE, instance_arn)])
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers to resume log shipping");
                return;
            }
        };
        let mut known = HashSet::new();
        for c in found {
            let (Some(id), Some(labels)) = (c.id.as_ref(), c.labels.as_ref()) else {
                continue;
            };
            known.insert(id.clone());
            let Some(spec) = labels
                .get(LABEL_AWSLOGS)
                .and_then(|l| serde_json::from_str::<ShipSpec>(l).ok())
            else {
                continue;
            };
            // Never started: nothing printed (its engine ships it once started).
            if c.state.as_ref().is_some_and(|s| s.to_string() == "created") {
                continue;
            }
            if !ShipState::load(&self.state_path(id)).done {
                tracing::info!(container = %id, "resuming log shipping");
                self.ship(id, spec);
            }
        }
        if let Ok(dir) = std::fs::read_dir(&self.dir) {
            for f in dir.flatten() {
                let name = f.file_name().to_string_lossy().to_string();
                let Some(id) = name.strip_suffix(".json") else { continue };
                if !known.contains(id) && matches!(self.runtime.inspect(id).await, Ok(None)) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
    }

    async fn run_one(&self, id: &str, spec: &ShipSpec) {
        let cfg = match parse_options(&spec.options) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "invalid awslogs options; not shipping");
                return;
            }
        };
        let stream = spec.stream_for(id);
        let path = self.state_path(id);
        let mut state = ShipState::load(&path);
        if state.done {
            return;
        }
        if let Some(f) = state.in_flight.take() {
            if Self::stored(&self.api, &cfg.group, &stream, f.events, f.digest).await {
                state.committed = f.end;
            }
            state.save(&path);
        }
        let mut asm = Assembler::new(cfg.multiline.clone(), cfg.flush_interval, state.committed);
        let mut batcher = Batcher::new(cfg.batch_bytes());
        let mut shipped = 0usize;
        tracing::info!(container = %id, group = %cfg.group, %stream, "shipping logs");
        let mut follow = true;
        loop {
            asm.restart();
            let since = (asm.resume_point().ts_ns.div_euclid(1_000_000_000) - 1).max(0);
            let opts = bollard::query_parameters::LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                since: i32::try_from(since).unwrap_or(0),
                until: 0,
                timestamps: true,
                tail: "all".into(),
            };
            let mut logs = Box::pin(self.runtime.docker().logs(id, Some(opts)));
            loop {
                let now = self.now_ms();
                let wake = [batcher.next_due_ms(LINGER), asm.next_flush_ms()]
                    .into_iter()
                    .flatten()
                    .min()
                    .map_or(Duration::from_secs(5), |t| Duration::from_millis(t.saturating_sub(now)));
                let ended = tokio::select! {
                    item = futures::StreamExt::next(&mut logs) => match item {
                        Some(Ok(out)) => {
                            use bollard::container::LogOutput;
                            let (src, bytes) = match out {
                                LogOutput::StdOut { message } | LogOutput::Console { message } => (0, message),
                                LogOutput::StdErr { message } => (1, message),
                                LogOutput::StdIn { .. } => continue,
                            };
                            let now = self.now_ms();
                            for e in asm.push_frame(src, &bytes, now) {
                                batcher.push(e, now);
                            }
                            false
                        }
                        Some(Err(e)) => {
                            tracing::debug!(container = %id, error = %e, "the log stream broke");
                            true
                        }
                        None => true,
                    },
                    _ = tokio::time::sleep(wake) => false,
                };
                let now = self.now_ms();
                if let Some(e) = asm.flush_due(now) {
                    batcher.push(e, now);
                }
                while batcher.due(self.now_ms(), LINGER) {
                    if let Some(b) = batcher.take(self.now_ms()) {
                        shipped += b.events.len();
                        Self::put(&self.api, &cfg, &stream, b, &mut state, &path).await;
                    }
                }
                if ended {
                    break;
                }
            }
            // The stream ended: the container stopped (or Docker cut the
            // follow). Read once more without following, then decide.
            if !follow {
                let running = match self.runtime.inspect(id).await {
                    Ok(Some(info)) => info.state.and_then(|s| s.running).unwrap_or(false),
                    Ok(None) => false,
                    Err(_) => true,
                };
                if running {
                    follow = true;
                    continue;
                }
                break;
            }
            follow = false;
        }
        let now = self.now_ms();
        for e in asm.finish(now) {
            batcher.push(e, now);
        }
        while let Some(b) = batcher.take(self.now_ms()) {
            shipped += b.events.len();
            Self::put(&self.api, &cfg, &stream, b, &mut state, &path).await;
        }
        state.done = true;
        state.save(&path);
        tracing::info!(container = %id, events = shipped, "log shipping finished");
    }

    /// Sends one batch until it is stored (or refused for good).
    pub(super) async fn put(
        api: &ApiClient,
        cfg: &AwslogsConfig,
        stream: &str,
        batch: Batch,
        state: &mut ShipState,
        path: &Path,
    ) {
        let flight = InFlight {
            end: batch.end,
            events: batch.events.len(),
            digest: batch.digest(),
        };
        state.in_flight = Some(flight);
        state.save(path);
        let body = json!({
            "logGroupName": cfg.group,
            "logStreamName": stream,
            "logEvents": batch.events.iter().map(|(t, m)| json!({"timestamp": t, "message": m})).collect::<Vec<_>>(),
        });
        let mut backoff = crate::client::retry_backoff();
        loop {
            match api.call_logs("PutLogEvents", &body).await {
                Ok(v) => {
                    if let Some(r) = v.get("rejectedLogEventsInfo") {
                        tracing::warn!(%stream, rejected = %r, "CloudWatch Logs rejected some events");
                    }
                    break;
                }
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    tracing::warn!(%stream, error = %e, "the log stream is gone; creating it again");
                    let spec = ShipSpec {
                        options: BTreeMap::from([
                            ("awslogs-group".to_string(), cfg.group.clone()),
                            ("awslogs-create-group".to_string(), cfg.create_group.to_string()),
                        ]),
                        stream: Some(stream.to_string()),
                    };
                    if let Err(e) = prepare(api, &spec, stream).await {
                        tracing::warn!(%stream, error = %e, "cannot create the log stream; dropping a batch");
                        break;
                    }
                }
                Err(e) if e.is_permanent() => {
                    tracing::warn!(%stream, error = %e, events = flight.events, "PutLogEvents refused a batch; dropping it");
                    break;
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::debug!(%stream, error = %e, retry_in = ?delay, "PutLogEvents failed; retrying");
                    tokio::time::sleep(delay).await;
                    // The server may have stored the batch before the answer was lost.
                    if Self::stored(api, &cfg.group, stream, flight.events, flight.digest).await {
                        tracing::info!(%stream, "the batch was stored before the answer was lost");
                        break;
                    }
                }
            }
        }
        state.committed = flight.end;
        state.in_flight = None;
        state.save(path);
    }

    /// Whether the stream's last `n` events are the batch with `digest`
    /// (retries until the server answers).
    pub(super) async fn stored(api: &ApiClient, group: &str, stream: &str, n: usize, want: u64) -> bool {
        let mut backoff = crate::client::retry_backoff();
        let body = json!({
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": false,
            "limit": n.clamp(1, MAX_BATCH_EVENTS),
        });
        loop {
            match api.call_logs("GetLogEvents", &body).await {
                Ok(v) => {
                    let events: Vec<(i64, String)> = v["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| {
                            (
                                e["timestamp"].as_i64().unwrap_or_default(),
                                e["message"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    return events.len() == n && digest(&events) == want;
                }
                Err(e) if e.is_permanent() => return false,
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::debug!(%stream, error = %e, retry_in = ?delay, "cannot read the stream back yet");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
