//! The log store: one SQLite database (`DATA_DIR/logs/events.db`, WAL,
//! `synchronous=FULL`, so an acknowledged PutLogEvents survives a crash).
//!
//! Layout: `groups` and `streams` hold the metadata; `events` holds one row
//! per event with integer group/stream ids, indexed by `(sid, ts)` (following
//! a stream: GetLogEvents) and `(gid, ts)` (filtering a group by time), the
//! rowid breaking ties so `(ts, id)` is a total order. A batch and its
//! stream's first/last timestamps are written in one transaction. Metadata
//! lives here rather than in the state store so that batch and stream
//! bookkeeping commit together, and the event ids never get reused
//! (AUTOINCREMENT), which keeps tokens stable across deletions.

use crate::rules::Position;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("log store: {0}")]
pub struct DbError(#[from] rusqlite::Error);

pub type Result<T> = std::result::Result<T, DbError>;

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub gid: i64,
    pub name: String,
    pub created: i64,
    pub retention_days: Option<i64>,
    pub class: String,
    pub tags: serde_json::Map<String, serde_json::Value>,
    pub stored_bytes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub sid: i64,
    pub name: String,
    pub created: i64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub last_ingest: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub sid: i64,
    pub ts: i64,
    pub ingest: i64,
    pub message: String,
}

impl EventRow {
    pub fn pos(&self) -> Position {
        Position {
            ts: self.ts,
            id: self.id,
        }
    }
}

pub struct Db {
    path: std::path::PathBuf,
    write: Mutex<Connection>,
    /// Idle read connections (WAL readers never block the writer).
    readers: Mutex<Vec<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS groups(
  gid INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  retention INTEGER,
  class TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '{}',
  stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS streams(
  sid INTEGER PRIMARY KEY AUTOINCREMENT,
  gid INTEGER NOT NULL,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  first_ts INTEGER,
  last_ts INTEGER,
  last_ingest INTEGER,
  UNIQUE(gid, name)
);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  gid INTEGER NOT NULL,
  sid INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  ingest INTEGER NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events(sid, ts);
CREATE INDEX IF NOT EXISTS events_by_group ON events(gid, ts);
";

fn open_conn(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    Ok(c)
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    let tags: String = r.get(5)?;
    Ok(Group {
        gid: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        retention_days: r.get(3)?,
        class: r.get(4)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        stored_bytes: r.get(6)?,
    })
}

fn stream_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stream> {
    Ok(Stream {
        sid: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        first_ts: r.get(3)?,
        last_ts: r.get(4)?,
        last_ingest: r.get(5)?,
    })
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: r.get(0)?,
        sid: r.get(1)?,
        ts: r.get(2)?,
        ingest: r.get(3)?,
        message: r.get(4)?,
    })
}

const GROUP_COLS: &str = "gid, name, created, retention, class, tags, stored_bytes";
const STREAM_COLS: &str = "sid, name, created, first_ts, last_ts, last_ingest";

impl Db {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            DbError(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot create {}: {e}", dir.display())),
            ))
        })?;
        let path = dir.join("events.db");
        let write = open_conn(&path)?;
        write.execute_batch(SCHEMA)?;
        Ok(Self {
            path,
            write: Mutex::new(write),
            readers: Mutex::new(vec![]),
        })
    }

    fn w(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Runs `f` on an idle read connection (opening one if none is idle).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let c = match idle {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let out = f(&c);
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 8 {
            pool.push(c);
        }
        out
    }

    /// Returns false when the group already exists.
    pub fn create_group(&self, name: &str, created: i64, class: &str, tags: &serde_json::Value) -> Result<bool> {
        let n = self.w().execute(
            "INSERT INTO groups(name, created, class, tags) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO NOTHING",
            params![name, created, class, tags.to_string()],
        )?;
        Ok(n == 1)
    }

    pub fn group(&self, name: &str) -> Result<Option<Group>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {GROUP_COLS} FROM groups WHERE name = ?1"),
                [name],
                group_row,
            )
            .optional()?)
        })
    }

    pub fn groups(&self) -> Result<Vec<Group>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {GROUP_COLS} FROM groups ORDER BY name"))?;
            let rows = st.query_map([], group_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Deletes a group, its streams and its events. False if absent.
    pub fn delete_group(&self, name: &str) -> Result<bool> {
        let mut c = self.w();
        let tx = c.transaction()?;
        let gid: Option<i64> = tx
            .query_row("SELECT gid FROM groups WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        let Some(gid) = gid else { return Ok(false) };
        tx.execute("DELETE FROM events WHERE gid = ?1", [gid])?;
        tx.execute("DELETE FROM streams WHERE gid = ?1", [gid])?;
        tx.execute("DELETE FROM groups WHERE gid = ?1", [gid])?;
        tx.commit()?;
        Ok(true)
    }

    pub fn set_retention(&self, gid: i64, days: Option<i64>) -> Result<()> {
        self.w()
            .execute("UPDATE groups SET retention = ?2 WHERE gid = ?1", params![gid, days])?;
        Ok(())
    }

    pub fn set_tags(&self, gid: i64, tags: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        self.w().execute(
            "UPDATE groups SET tags = ?2 WHERE gid = ?1",
            params![gid, serde_json::Value::Object(tags.clone()).to_string()],
        )?;
        Ok(())
    }

    pub fn create_stream(&self, gid: i64, name: &str, created: i64) -> Result<bool> {
        let n = self.w().execute(
            "INSERT INTO streams(gid, name, created) VALUES (?1, ?2, ?3) ON CONFLICT(gid, name) DO NOTHING",
            params![gid, name, created],
        )?;
        Ok(n == 1)
    }

    pub fn stream(&self, gid: i64, name: &str) -> Result<Option<Stream>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {STREAM_COLS} FROM streams WHERE gid = ?1 AND name = ?2"),
                params![gid, name],
                stream_row,
            )
            .optional()?)
        })
    }

    pub fn streams(&self, gid: i64) -> Result<Vec<Stream>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {STREAM_COLS} FROM streams WHERE gid = ?1 ORDER BY name"
            ))?;
            let rows = st.query_map([gid], stream_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    pub fn delete_stream(&self, gid: i64, name: &str) -> Result<bool> {
        let mut c = self.w();
        let tx = c.transaction()?;
        let sid: Option<i64> = tx
            .query_row(
                "SELECT sid FROM streams WHERE gid = ?1 AND name = ?2",
                params![gid, name],
                |r| r.get(0),
            )
            .optional()?;
        let Some(sid) = sid else { return Ok(false) };
        let bytes: i64 = tx.query_row(
            "SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM events WHERE sid = ?1",
            [sid],
            |r| r.get(0),
        )?;
        tx.execute("DELETE FROM events WHERE sid = ?1", [sid])?;
        tx.execute("DELETE FROM streams WHERE sid = ?1", [sid])?;
        tx.execute(
            "UPDATE groups SET stored_bytes = MAX(0, stored_bytes - ?2) WHERE gid = ?1",
            params![gid, bytes],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Appends a chronological batch to a stream in one durable transaction.
    pub fn append(&self, gid: i64, sid: i64, events: &[(i64, &str)], ingest: i64) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut c = self.w();
        let tx = c.transaction()?;
        let mut bytes = 0i64;
        {
            let mut st =
                tx.prepare_cached("INSERT INTO events(gid, sid, ts, ingest, message) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (ts, msg) in events {
                st.execute(params![gid, sid, ts, ingest, msg])?;
                bytes += msg.len() as i64;
            }
        }
        let first = events[0].0;
        let last = events[events.len() - 1].0;
        tx.execute(
            "UPDATE streams SET first_ts = MIN(COALESCE(first_ts, ?2), ?2), last_ts = MAX(COALESCE(last_ts, ?3), ?3), \
             last_ingest = ?4 WHERE sid = ?1",
            params![sid, first, last, ingest],
        )?;
        tx.execute(
            "UPDATE groups SET stored_bytes = stored_bytes + ?2 WHERE gid = ?1",
            params![gid, bytes],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` events of a stream in `[start, end)` strictly after
    /// `after` (ascending) or strictly before `before` (descending).
    pub fn stream_events(
        &self,
        sid: i64,
        start: i64,
        end: i64,
        cursor: Position,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<EventRow>> {
        let sql = if forward {
            "SELECT id, sid, ts, ingest, message FROM events WHERE sid = ?1 AND ts >= ?2 AND ts < ?3 \
             AND (ts > ?4 OR (ts = ?4 AND id > ?5)) ORDER BY ts, id LIMIT ?6"
        } else {
            "SELECT id, sid, ts, ingest, message FROM events WHERE sid = ?1 AND ts >= ?2 AND ts < ?3 \
             AND (ts < ?4 OR (ts = ?4 AND id < ?5)) ORDER BY ts DESC, id DESC LIMIT ?6"
        };
        self.read(|c| {
            let mut st = c.prepare_cached(sql)?;
            let rows = st
                .query_map(params![sid, start, end, cursor.ts, cursor.id, limit as i64], event_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Scans a group's events in `[start, end)` after `after`, in time order,
    /// calling `f` on each until it returns false.
    pub fn scan_group(
        &self,
        gid: i64,
        start: i64,
        end: i64,
        after: Position,
        mut f: impl FnMut(EventRow) -> bool,
    ) -> Result<()> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, sid, ts, ingest, message FROM events WHERE gid = ?1 AND ts >= ?2 AND ts < ?3 \
                 AND (ts > ?4 OR (ts = ?4 AND id > ?5)) ORDER BY ts, id",
            )?;
            let mut rows = st.query(params![gid, start, end, after.ts, after.id])?;
            while let Some(r) = rows.next()? {
                if !f(event_row(r)?) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Deletes events older than each group's retention; returns how many.
    /// Works in chunks so writers are never blocked for long.
    pub fn sweep_expired(&self, now_ms: i64) -> Result<u64> {
        let groups: Vec<(i64, i64)> = self.read(|c| {
            let mut st = c.prepare_cached("SELECT gid, retention FROM groups WHERE retention IS NOT NULL")?;
            Ok(st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut total = 0u64;
        for (gid, days) in groups {
            let cutoff = now_ms - days * crate::rules::DAY_MS;
            loop {
                let mut c = self.w();
                let tx = c.transaction()?;
                let ids: Vec<(i64, i64)> = {
                    let mut st = tx.prepare_cached(
                        "SELECT id, LENGTH(CAST(message AS BLOB)) FROM events WHERE gid = ?1 AND ts < ?2 LIMIT 5000",
                    )?;
                    st.query_map(params![gid, cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                };
                if ids.is_empty() {
                    break;
                }
                let mut bytes = 0i64;
                {
                    let mut del = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
                    for (id, len) in &ids {
                        del.execute([id])?;
                        bytes += len;
                    }
                }
                tx.execute(
                    "UPDATE groups SET stored_bytes = MAX(0, stored_bytes - ?2) WHERE gid = ?1",
                    params![gid, bytes],
                )?;
                tx.execute(
                    "UPDATE streams SET first_ts = (SELECT MIN(ts) FROM events WHERE events.sid = streams.sid) \
                     WHERE gid = ?1 AND first_ts < ?2",
                    params![gid, cutoff],
                )?;
                tx.commit()?;
                total += ids.len() as u64;
            }
        }
        Ok(total)
    }
}
