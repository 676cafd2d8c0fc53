//! Alarms in the region's metric database (beside the data they watch):
//! `alarms` holds each alarm once (its record as JSON, and a revision the
//! evaluator compares before it writes a state, so a PutMetricAlarm or a
//! SetAlarmState in between is never overwritten); `alarm_history` holds
//! the history items, indexed by alarm and time, kept 30 days as CloudWatch
//! keeps them, and outliving the alarm they are about.

use super::model::{AlarmRecord, HistoryItem, HistoryItemType};
use crate::db::{Db, DbError, Result};
use rusqlite::{OptionalExtension, params};

/// How long history items are kept: 30 days.
pub const HISTORY_RETENTION_SECS: f64 = 30.0 * 86400.0;

pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS alarms(
        name TEXT PRIMARY KEY,
        rev INTEGER NOT NULL,
        record TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS alarm_history(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        data TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS alarm_history_by_name ON alarm_history(name, ts);
    CREATE INDEX IF NOT EXISTS alarm_history_by_ts ON alarm_history(ts);";

/// A stored alarm and the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub record: AlarmRecord,
    pub rev: i64,
}

/// What DeleteAlarms did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    All,
    /// Nothing: this alarm does not exist.
    NoneAsMissing(String),
}

/// What a history read asks for.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub alarm_name: Option<String>,
    pub kind: Option<HistoryItemType>,
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub ascending: bool,
    pub offset: usize,
    pub limit: usize,
}

fn decode(name: &str, rev: i64, record: &str) -> Result<Stored> {
    serde_json::from_str(record)
        .map(|record| Stored { record, rev })
        .map_err(|e| DbError(format!("alarm {name}: unreadable record: {e}")))
}

fn encode(record: &AlarmRecord) -> Result<String> {
    serde_json::to_string(record).map_err(|e| DbError(e.to_string()))
}

fn insert_history(tx: &rusqlite::Connection, items: &[HistoryItem]) -> Result<()> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO alarm_history(name, ts, kind, summary, data) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for h in items {
        stmt.execute(params![h.alarm_name, h.timestamp, h.kind.as_str(), h.summary, h.data])?;
    }
    Ok(())
}

impl Db {
    /// Every alarm, by name.
    pub fn alarms(&self) -> Result<Vec<Stored>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT name, rev, record FROM alarms ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, rev, record) = row?;
            out.push(decode(&name, rev, &record)?);
        }
        Ok(out)
    }

    /// One alarm.
    pub fn alarm(&self, name: &str) -> Result<Option<Stored>> {
        let conn = self.conn();
        let row = conn
            .prepare_cached("SELECT rev, record FROM alarms WHERE name=?1")?
            .query_row(params![name], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .optional()?;
        row.map(|(rev, record)| decode(name, rev, &record)).transpose()
    }

    /// Writes the alarm `f` makes of the stored one (None: none yet) with
    /// its history items, in one transaction; `f` answers None to write
    /// nothing. Answers what was written.
    pub fn upsert_alarm<E>(
        &self,
        name: &str,
        f: impl FnOnce(Option<AlarmRecord>) -> std::result::Result<Option<(AlarmRecord, Vec<HistoryItem>)>, E>,
    ) -> Result<std::result::Result<Option<AlarmRecord>, E>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let old = tx
            .prepare_cached("SELECT rev, record FROM alarms WHERE name=?1")?
            .query_row(params![name], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .optional()?;
        let old = old.map(|(rev, record)| decode(name, rev, &record)).transpose()?;
        let (record, history) = match f(old.map(|s| s.record)) {
            Err(e) => return Ok(Err(e)),
            Ok(None) => return Ok(Ok(None)),
            Ok(Some(new)) => new,
        };
        tx.prepare_cached(
            "INSERT INTO alarms(name, rev, record) VALUES (?1, 1, ?2)
             ON CONFLICT(name) DO UPDATE SET rev=rev+1, record=excluded.record",
        )?
        .execute(params![name, encode(&record)?])?;
        insert_history(&tx, &history)?;
        tx.commit()?;
        Ok(Ok(Some(record)))
    }

    /// Writes `record` if the alarm is still at `rev` (the evaluator's
    /// write); answers whether it was.
    pub fn replace_alarm_at(&self, rev: i64, record: &AlarmRecord, history: &[HistoryItem]) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx
            .prepare_cached("UPDATE alarms SET rev=rev+1, record=?1 WHERE name=?2 AND rev=?3")?
            .execute(params![encode(record)?, record.name, rev])?;
        if n == 1 {
            insert_history(&tx, history)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Deletes `names` if every one exists (else none, answering the first missing).
    pub fn delete_alarms(&self, names: &[String], history: &[HistoryItem]) -> Result<Deleted> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for name in names {
            let exists = tx
                .prepare_cached("SELECT 1 FROM alarms WHERE name=?1")?
                .query_row(params![name], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Ok(Deleted::NoneAsMissing(name.clone()));
            }
        }
        for name in names {
            tx.prepare_cached("DELETE FROM alarms WHERE name=?1")?
                .execute(params![name])?;
        }
        insert_history(&tx, history)?;
        tx.commit()?;
        Ok(Deleted::All)
    }

    /// Appends history items.
    pub fn add_history(&self, items: &[HistoryItem]) -> Result<()> {
        let conn = self.conn();
        insert_history(&conn, items)
    }

    /// History items, newest first unless `ascending`.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryItem>> {
        let conn = self.conn();
        let order = if q.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT name, ts, kind, summary, data FROM alarm_history
             WHERE (?1 IS NULL OR name=?1) AND (?2 IS NULL OR kind=?2) AND (?3 IS NULL OR ts>=?3) AND (?4 IS NULL OR ts<=?4)
             ORDER BY ts {order}, id {order} LIMIT ?5 OFFSET ?6"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                q.alarm_name,
                q.kind.map(HistoryItemType::as_str),
                q.from,
                q.to,
                q.limit as i64,
                q.offset as i64
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (alarm_name, timestamp, kind, summary, data) = row?;
            let Some(kind) = HistoryItemType::parse(&kind) else {
                continue;
            };
            out.push(HistoryItem {
                alarm_name,
                timestamp,
                kind,
                summary,
                data,
            });
        }
        Ok(out)
    }

    /// Drops history items older than `before`.
    pub fn prune_history(&self, before: f64) -> Result<usize> {
        let conn = self.conn();
        Ok(conn
            .prepare_cached("DELETE FROM alarm_history WHERE ts<?1")?
            .execute(params![before])?)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
