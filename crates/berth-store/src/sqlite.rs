//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`, so every
//! acknowledged transaction is on disk (survives `kill -9` and power loss of
//! the process). A change log table backs watches and replay after a lag.

use crate::watch;
use crate::{Compare, Event, EventKind, KeyValue, Op, Result, Revision, Store, StoreError, TxnResult, WatchStream};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Read connections kept open for concurrent readers (WAL allows them).
const READ_POOL: usize = 16;

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    events: broadcast::Sender<Arc<Vec<Event>>>,
    closed: AtomicBool,
    /// The revision of the last committed write: this process is the only
    /// writer of the file, so `current_revision` needs no query (every
    /// request of the API asks for it).
    revision: AtomicI64,
}

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "OFF").map_err(backend)?;
    Ok(conn)
}

/// The smallest string greater than every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut s = prefix.to_string();
    s.push(char::MAX);
    s
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let writer = open_conn(&path)?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS kv (
                    key TEXT PRIMARY KEY NOT NULL,
                    value BLOB NOT NULL,
                    create_rev INTEGER NOT NULL,
                    mod_rev INTEGER NOT NULL,
                    version INTEGER NOT NULL
                 ) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS log (
                    rev INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    kind INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (rev, seq)
                 ) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS meta (
                    name TEXT PRIMARY KEY NOT NULL,
                    value INTEGER NOT NULL
                 ) WITHOUT ROWID;
                 INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0), ('compacted', 0);",
            )
            .map_err(backend)?;
        let (events, _) = broadcast::channel(1024);
        let revision = meta(&writer, "revision")?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                events,
                closed: AtomicBool::new(false),
                revision: AtomicI64::new(revision),
            }),
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    /// Runs `f` on a pooled read connection in the blocking pool.
    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        self.check_open()?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.readers.lock().map_err(backend)?.pop();
            let conn = match conn {
                Some(c) => c,
                None => open_conn(&inner.path)?,
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().map_err(backend)?;
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(backend)?
    }
}

fn row_to_kv(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: row.get(0)?,
        value: row.get(1)?,
        create_revision: row.get(2)?,
        mod_revision: row.get(3)?,
        version: row.get(4)?,
    })
}

fn meta(conn: &Connection, name: &str) -> Result<Revision> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
        .map_err(backend)
}

fn read_log(conn: &Connection, prefix: &str, from: Revision) -> Result<(Vec<Event>, Revision)> {
    let tx = conn.unchecked_transaction().map_err(backend)?;
    let compacted = meta(&tx, "compacted")?;
    if from <= compacted && from > 0 {
        return Err(StoreError::Compacted {
            requested: from,
            oldest: compacted + 1,
        });
    }
    let current = meta(&tx, "revision")?;
    let mut stmt = tx
        .prepare_cached(
            "SELECT rev, kind, key, value FROM log WHERE rev >= ?1 AND key >= ?2 AND key < ?3 ORDER BY rev, seq",
        )
        .map_err(backend)?;
    let events = stmt
        .query_map(params![from, prefix, prefix_end(prefix)], |r| {
            let kind: i64 = r.get(1)?;
            Ok(Event {
                revision: r.get(0)?,
                kind: if kind == 0 { EventKind::Put } else { EventKind::Delete },
                key: r.get(2)?,
                value: r.get(3)?,
            })
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    drop(stmt);
    tx.commit().map_err(backend)?;
    Ok((events, current))
}

fn apply_txn(conn: &mut Connection, compares: &[Compare], ops: &[Op]) -> Result<(TxnResult, Vec<Event>)> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let current = meta(&tx, "revision")?;
    for c in compares {
        let (Compare::ModRevision(key, _) | Compare::Absent(key) | Compare::Exists(key)) = c;
        let m: Option<Revision> = tx
            .query_row("SELECT mod_rev FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        let holds = match c {
            Compare::ModRevision(_, r) => m.unwrap_or(0) == *r,
            Compare::Absent(_) => m.is_none(),
            Compare::Exists(_) => m.is_some(),
        };
        if !holds {
            return Ok((
                TxnResult {
                    succeeded: false,
                    revision: current,
                },
                vec![],
            ));
        }
    }
    if ops.is_empty() {
        return Ok((
            TxnResult {
                succeeded: true,
                revision: current,
            },
            vec![],
        ));
    }
    let rev = current + 1;
    let mut events = Vec::with_capacity(ops.len());
    for (seq, op) in ops.iter().enumerate() {
        match op {
            Op::Put(key, value) => {
                tx.execute(
                    "INSERT INTO kv(key, value, create_rev, mod_rev, version) VALUES (?1, ?2, ?3, ?3, 1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, version = version + 1",
                    params![key, value, rev],
                )
                .map_err(backend)?;
                tx.execute(
                    "INSERT INTO log(rev, seq, kind, key, value) VALUES (?1, ?2, 0, ?3, ?4)",
                    params![rev, seq as i64, key, value],
                )
                .map_err(backend)?;
                events.push(Event {
                    kind: EventKind::Put,
                    key: key.clone(),
                    value: value.clone(),
                    revision: rev,
                });
            }
            Op::Delete(key) => {
                let n = tx.execute("DELETE FROM kv WHERE key = ?1", [key]).map_err(backend)?;
                if n > 0 {
                    tx.execute(
                        "INSERT INTO log(rev, seq, kind, key, value) VALUES (?1, ?2, 1, ?3, x'')",
                        params![rev, seq as i64, key],
                    )
                    .map_err(backend)?;
                    events.push(Event {
                        kind: EventKind::Delete,
                        key: key.clone(),
                        value: vec![],
                        revision: rev,
                    });
                }
            }
        }
    }
    tx.execute("UPDATE meta SET value = ?1 WHERE name = 'revision'", [rev])
        .map_err(backend)?;
    if let Some(keep_from) = watch::compact_from(rev, watch::LOG_RETENTION) {
        tx.execute("DELETE FROM log WHERE rev < ?1", [keep_from])
            .map_err(backend)?;
        tx.execute("UPDATE meta SET value = ?1 WHERE name = 'compacted'", [keep_from - 1])
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    Ok((
        TxnResult {
            succeeded: true,
            revision: rev,
        },
        events,
    ))
}

impl watch::ChangeLog for SqliteStore {
    async fn read_log(&self, prefix: String, from: Revision) -> Result<(Vec<Event>, Revision)> {
        self.read(move |c| read_log(c, &prefix, from)).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key = ?1")
                .map_err(backend)?
                .query_row([key], row_to_kv)
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn range(&self, prefix: &str, start_after: Option<&str>, limit: Option<usize>) -> Result<Vec<KeyValue>> {
        let prefix = prefix.to_string();
        let start = start_after.map(str::to_string);
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        self.read(move |c| {
            let lo = match &start {
                Some(s) if s.as_str() >= prefix.as_str() => s.clone(),
                _ => prefix.clone(),
            };
            let strict = start.as_deref().is_some_and(|s| s >= prefix.as_str());
            let sql = if strict {
                "SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key > ?1 AND key < ?2 ORDER BY key LIMIT ?3"
            } else {
                "SELECT key, value, create_rev, mod_rev, version FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"
            };
            let mut stmt = c.prepare_cached(sql).map_err(backend)?;
            stmt.query_map(params![lo, prefix_end(&prefix), limit], row_to_kv)
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)
        })
        .await
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResult> {
        self.check_open()?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().map_err(backend)?;
            if inner.closed.load(Ordering::Acquire) {
                return Err(StoreError::Closed);
            }
            let (res, events) = apply_txn(&mut conn, &compares, &ops)?;
            if res.succeeded {
                inner.revision.fetch_max(res.revision, Ordering::AcqRel);
            }
            if !events.is_empty() {
                // Sent while the writer lock is held so watchers see revisions in order.
                let _ = inner.events.send(Arc::new(events));
            }
            Ok(res)
        })
        .await
        .map_err(backend)?
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.check_open()?;
        Ok(self.inner.revision.load(Ordering::Acquire))
    }

    async fn watch(&self, prefix: &str, from_revision: Revision) -> Result<WatchStream> {
        self.check_open()?;
        // Subscribe before reading the log so no change falls between the two.
        let rx = self.inner.events.subscribe();
        Ok(watch::stream(self.clone(), prefix.to_string(), from_revision, rx))
    }

    async fn close(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.writer.lock().map_err(backend)?;
            inner.closed.store(true, Ordering::Release);
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(backend)?;
            inner.readers.lock().map_err(backend)?.clear();
            Ok(())
        })
        .await
        .map_err(backend)?
    }
}
