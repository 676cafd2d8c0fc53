//! The audit trail: every API call the HTTP layer answers becomes a
//! CloudTrail-shaped event in `DATA_DIR/audit.db`, and CloudTrail's
//! `LookupEvents` (awsJson 1.1) reads them back.
//!
//! Durability trade-off: recording must not add an fsync to every request,
//! so [`AuditLog::record`] only queues the event; a background thread writes
//! queued events in batches, one transaction each (WAL, `synchronous=NORMAL`).
//! A crash (kill -9, power loss) can lose the events of the last
//! not-yet-written batch (milliseconds of calls); nothing already written is
//! lost to a process crash. `LookupEvents` flushes the queue first, so a
//! caller always sees its own earlier calls.

pub mod event;
mod lookup;
pub mod redact;
mod routes;

pub use event::{ApiCall, Identity, RequestParameters};
pub use lookup::{CloudTrail, TARGET_PREFIX};

use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("audit writer: {0}")]
    Writer(String),
}

/// CloudTrail keeps 90 days of management events; so does Berth.
pub const RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;
const BATCH: usize = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL,
  event_time INTEGER NOT NULL,
  event_name TEXT NOT NULL,
  event_source TEXT NOT NULL,
  username TEXT,
  access_key_id TEXT,
  read_only INTEGER NOT NULL,
  resources TEXT NOT NULL,
  json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_events(event_time);
CREATE INDEX IF NOT EXISTS audit_by_name ON audit_events(event_name, event_time);
CREATE TABLE IF NOT EXISTS audit_resources(
  seq INTEGER NOT NULL,
  rtype TEXT NOT NULL,
  name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_resources_by_name ON audit_resources(name, seq);
CREATE INDEX IF NOT EXISTS audit_resources_by_type ON audit_resources(rtype, seq);
";

enum Msg {
    Record(Box<event::Stored>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

pub struct AuditLog {
    tx: Mutex<mpsc::Sender<Msg>>,
    path: PathBuf,
    pub(crate) region: String,
    pub(crate) account_id: String,
}

fn open_conn(path: &Path) -> Result<Connection, AuditError> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(c)
}

impl AuditLog {
    /// Opens (creating) the audit database and starts its writer thread.
    pub fn open(path: &Path, region: &str, account_id: &str) -> Result<Self, AuditError> {
        let conn = open_conn(path)?;
        conn.execute_batch(SCHEMA)?;
        let cutoff = event::now_ms() - RETENTION_MS;
        conn.execute(
            "DELETE FROM audit_resources WHERE seq IN (SELECT seq FROM audit_events WHERE event_time < ?1)",
            [cutoff],
        )?;
        conn.execute("DELETE FROM audit_events WHERE event_time < ?1", [cutoff])?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| AuditError::Writer(e.to_string()))?;
        Ok(Self {
            tx: Mutex::new(tx),
            path: path.to_path_buf(),
            region: region.to_string(),
            account_id: account_id.to_string(),
        })
    }

    /// Queues one call; never blocks on IO.
    pub fn record(&self, call: ApiCall) {
        let stored = call.into_stored(&self.region, &self.account_id);
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Msg::Record(Box::new(stored)));
        if sent.is_err() {
            tracing::error!("the audit writer has stopped: an API call was not recorded");
        }
    }

    /// Waits until every call queued before this one is written.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(Msg::Flush(tx));
        if sent.is_ok() {
            let _ = rx.await;
        }
    }

    pub(crate) fn reader(&self) -> Result<Connection, AuditError> {
        open_conn(&self.path)
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Msg>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut waiters = vec![];
        let mut records = vec![];
        for m in batch {
            match m {
                Msg::Record(r) => records.push(r),
                Msg::Flush(w) => waiters.push(w),
            }
        }
        if !records.is_empty()
            && let Err(e) = write_batch(&mut conn, &records)
        {
            tracing::error!(error = %e, lost = records.len(), "writing audit events failed");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

fn write_batch(conn: &mut Connection, records: &[Box<event::Stored>]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut ev = tx.prepare_cached(
            "INSERT INTO audit_events(event_id, event_time, event_name, event_source, username, access_key_id, \
             read_only, resources, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut res = tx.prepare_cached("INSERT INTO audit_resources(seq, rtype, name) VALUES (?1, ?2, ?3)")?;
        for r in records {
            ev.execute(params![
                r.event_id,
                r.event_time_ms,
                r.event_name,
                r.event_source,
                r.username,
                r.access_key_id,
                r.read_only,
                serde_json::to_string(&r.resources).unwrap_or_else(|_| "[]".into()),
                r.json,
            ])?;
            let seq = tx.last_insert_rowid();
            for (t, n) in &r.resources {
                res.execute(params![seq, t, n])?;
            }
        }
    }
    tx.commit()
}
