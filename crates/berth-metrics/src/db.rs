//! The metric store: one SQLite database per region
//! (`DATA_DIR/metrics/metrics.db`, WAL, `synchronous=FULL`, so an acknowledged PutMetricData or
//! PutMetricAlarm survives a power loss, as the state store and the log events do).
//!
//! Layout: `metrics` holds each metric once (namespace, name, its
//! dimensions as sorted JSON, the second of its last datapoint for
//! ListMetrics' RecentlyActive); `points` holds one row per metric,
//! resolution (1, 60, 300 or 3600 seconds), interval start and unit, its
//! [`Aggregate`] as a binary record ([`crate::stored`]; rows of earlier
//! versions hold JSON text, read as well), keyed `(metric, res, ts, unit)` without a rowid so
//! a read of one metric over a time range is one index range. A
//! PutMetricData is one transaction: each datum merges into its minute's
//! row (and, sent at StorageResolution 1, its second's); concurrent
//! PutMetricData requests share one transaction (group commit), and the
//! rows a request touches are read per metric with one range query.
//! [`Db::roll_up`]
//! moves rows past their tier's retention into the next tier
//! ([`crate::rules::TIERS`]) and drops what the last keeps no longer.
//! The alarms and their history are in the same database
//! (`alarms::store`, whose tables `Metrics::open` asks for). Metrics data, like the log events, is not in
//! the state store: it is append-heavy and read by time range
//! (docs/architecture.md, Departures).

use crate::group_commit::GroupCommit;
use crate::inputs::{Dimension, Metric};
use crate::rules::{Sample, TIERS, bucket};
use crate::stats::Aggregate;
use crate::stored;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The maps of the write path, hashed with foldhash (as serde_json's, so no
/// other build of it): they hash every metric of every request, and
/// SipHash's resistance to chosen keys is not needed for a caller's own metrics.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug)]
pub struct DbError(pub String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "metric store: {}", self.0)
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, DbError>;

/// One stored row as a read sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub resolution: i64,
    pub unit: String,
    pub agg: Aggregate,
}

/// A metric and the second of its last datapoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub metric: Metric,
    pub last_put: i64,
}

pub struct Db {
    conn: Mutex<Connection>,
    /// The PutMetricData writes waiting for, or in, a commit.
    commits: GroupCommit<Vec<Sample>>,
    /// Metric ids by metric, filled as they are met.
    ids: Mutex<HashMap<Metric, i64>>,
}

fn dims_key(dims: &[Dimension]) -> String {
    serde_json::to_string(dims).unwrap_or_default()
}

/// A row of `points` a write merges into: the metric's index in the
/// batch, the resolution, the interval's start, the unit.
type RowKey<'a> = (usize, i64, i64, &'a str);

impl Db {
    /// Opens (or creates) the database in `dir`, with the tables of the
    /// metrics and those `schemas` create (the alarms': `alarms::store::SCHEMA`).
    pub fn open(dir: &Path, schemas: &[&str]) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| DbError(e.to_string()))?;
        let conn = Connection::open(dir.join("metrics.db"))?;
        Self::init(conn, schemas)
    }

    /// An in-memory database, for tests.
    pub fn memory(schemas: &[&str]) -> Result<Self> {
        Self::init(Connection::open_in_memory()?, schemas)
    }

    fn init(conn: Connection, schemas: &[&str]) -> Result<Self> {
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS metrics(
                 id INTEGER PRIMARY KEY,
                 namespace TEXT NOT NULL,
                 name TEXT NOT NULL,
                 dims TEXT NOT NULL,
                 last_put INTEGER NOT NULL,
                 UNIQUE(namespace, name, dims));
             CREATE TABLE IF NOT EXISTS points(
                 metric INTEGER NOT NULL,
                 res INTEGER NOT NULL,
                 ts INTEGER NOT NULL,
                 unit TEXT NOT NULL,
                 agg TEXT NOT NULL,
                 PRIMARY KEY(metric, res, ts, unit)) WITHOUT ROWID;",
        )?;
        for schema in schemas {
            conn.execute_batch(schema)?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            commits: GroupCommit::default(),
            ids: Mutex::new(HashMap::default()),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores the samples of one PutMetricData and returns once they are
    /// committed. Concurrent calls are written together ([`GroupCommit`]):
    /// one transaction, one WAL sync, each call acknowledged only after it.
    pub fn put(&self, samples: Vec<Sample>) -> Result<()> {
        self.commits
            .submit(samples, |batch| self.write(&batch).map_err(|e| e.0))
            .map_err(DbError)
    }

    /// Writes the samples of several requests in one transaction.
    fn write(&self, batch: &[Vec<Sample>]) -> Result<()> {
        // Merge in memory first: one row write per (metric, res, ts, unit).
        let mut keyed: Vec<(RowKey<'_>, &Aggregate)> = Vec::new();
        let mut metrics: Vec<(&Metric, i64)> = Vec::new();
        let mut index: HashMap<&Metric, usize> = HashMap::default();
        // A run of samples sharing one `Arc<Metric>` (one request's datums
        // of a metric) is looked up once.
        let mut last: Option<(*const Metric, usize)> = None;
        for s in batch.iter().flatten() {
            let i = match last {
                Some((m, i)) if std::ptr::eq(m, Arc::as_ptr(&s.metric)) => i,
                _ => *index.entry(&*s.metric).or_insert_with(|| {
                    metrics.push((&*s.metric, s.ts));
                    metrics.len() - 1
                }),
            };
            last = Some((Arc::as_ptr(&s.metric), i));
            metrics[i].1 = metrics[i].1.max(s.ts);
            let resolutions: &[i64] = if s.high_resolution { &[1, 60] } else { &[60] };
            for &res in resolutions {
                keyed.push(((i, res, bucket(s.ts, res), s.unit.as_str()), &s.agg));
            }
        }
        // Sorted by key, stably (a request's datums usually come in order: a
        // merge sort's runs), then each key's aggregates merged in the order
        // they came — as a sorted map merged them, without its nodes.
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut rows: Vec<(RowKey<'_>, Aggregate)> = Vec::with_capacity(keyed.len());
        for (key, agg) in keyed {
            match rows.last_mut() {
                Some((k, merged)) if *k == key => merged.merge(agg),
                _ => rows.push((key, agg.clone())),
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(metrics.len());
        for (m, last) in &metrics {
            ids.push(self.metric_id(&tx, m, *last)?);
        }
        {
            let mut range = tx.prepare_cached(
                "SELECT ts, unit, agg FROM points WHERE metric=?1 AND res=?2 AND ts BETWEEN ?3 AND ?4",
            )?;
            let mut point =
                tx.prepare_cached("SELECT agg FROM points WHERE metric=?1 AND res=?2 AND ts=?3 AND unit=?4")?;
            let mut write = tx.prepare_cached(
                "INSERT OR REPLACE INTO points(metric, res, ts, unit, agg) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            // The rows are sorted: each run is one metric at one resolution.
            for run in rows.chunk_by(|a, b| (a.0.0, a.0.1) == (b.0.0, b.0.1)) {
                let ((i, res, lo, _), _) = run[0];
                let hi = run[run.len() - 1].0.2;
                let id = ids[i];
                // What is stored already: read with one range query when the
                // run's periods are dense enough, else row by row.
                let dense = (hi - lo) / res <= 2 * run.len() as i64 + 60;
                // By interval start, then unit (usually one): found without a key built per row.
                let mut stored: HashMap<i64, Vec<(String, Aggregate)>> = HashMap::default();
                if dense {
                    let found = range.query_map(params![id, res, lo, hi], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            stored::decode(r.get_ref(2)?),
                        ))
                    })?;
                    for row in found {
                        if let (ts, unit, Some(agg)) = row? {
                            stored.entry(ts).or_default().push((unit, agg));
                        }
                    }
                }
                for ((_, _, ts, unit), agg) in run {
                    let old = if dense {
                        stored.get_mut(ts).and_then(|units| {
                            let at = units.iter().position(|(u, _)| u == unit)?;
                            Some(units.swap_remove(at).1)
                        })
                    } else {
                        point
                            .query_row(params![id, res, ts, unit], |r| Ok(stored::decode(r.get_ref(0)?)))
                            .optional()?
                            .flatten()
                    };
                    let merged = match old {
                        Some(mut old) => {
                            old.merge(agg);
                            old
                        }
                        None => agg.clone(),
                    };
                    write.execute(params![id, res, ts, unit, stored::encode(&merged)])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The id of `m` (created when new), its last datapoint moved to `last`.
    fn metric_id(&self, tx: &rusqlite::Transaction<'_>, m: &Metric, last: i64) -> Result<i64> {
        let known = self.ids.lock().unwrap_or_else(|p| p.into_inner()).get(m).copied();
        match known {
            Some(id) => {
                tx.prepare_cached("UPDATE metrics SET last_put=max(last_put, ?2) WHERE id=?1")?
                    .execute(params![id, last])?;
                Ok(id)
            }
            None => {
                let dims = dims_key(&m.dimensions);
                tx.prepare_cached(
                    "INSERT INTO metrics(namespace, name, dims, last_put) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(namespace, name, dims) DO UPDATE SET last_put=max(last_put, excluded.last_put)",
                )?
                .execute(params![m.namespace, m.metric_name, dims, last])?;
                let id = tx
                    .prepare_cached("SELECT id FROM metrics WHERE namespace=?1 AND name=?2 AND dims=?3")?
                    .query_row(params![m.namespace, m.metric_name, dims], |r| r.get(0))?;
                self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(m.clone(), id);
                Ok(id)
            }
        }
    }

    /// The id of a stored metric.
    pub fn find(&self, m: &Metric) -> Result<Option<i64>> {
        if let Some(id) = self.ids.lock().unwrap_or_else(|p| p.into_inner()).get(m) {
            return Ok(Some(*id));
        }
        let conn = self.conn();
        let id = conn
            .prepare_cached("SELECT id FROM metrics WHERE namespace=?1 AND name=?2 AND dims=?3")?
            .query_row(params![m.namespace, m.metric_name, dims_key(&m.dimensions)], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(id)
    }

    /// The rows of metric `id` with `from <= ts < to`: the per-second rows
    /// when `high_resolution`, else every coarser tier (each interval is in
    /// exactly one of them).
    pub fn read(&self, id: i64, from: i64, to: i64, high_resolution: bool) -> Result<Vec<Point>> {
        let conn = self.conn();
        let (lo, hi) = if high_resolution { (1, 1) } else { (60, i64::MAX) };
        let mut stmt = conn.prepare_cached(
            "SELECT ts, res, unit, agg FROM points WHERE metric=?1 AND res BETWEEN ?2 AND ?3 AND ts>=?4 AND ts<?5",
        )?;
        let rows = stmt.query_map(params![id, lo, hi, from, to], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                stored::decode(r.get_ref(3)?),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (ts, resolution, unit, agg) = row?;
            if let Some(agg) = agg {
                out.push(Point {
                    ts,
                    resolution,
                    unit,
                    agg,
                });
            }
        }
        Ok(out)
    }

    /// Every metric, ordered by namespace, name and dimensions.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT namespace, name, dims, last_put FROM metrics ORDER BY namespace, name, dims")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (namespace, metric_name, dims, last_put) = row?;
            out.push(Listed {
                metric: Metric {
                    namespace,
                    metric_name,
                    dimensions: serde_json::from_str(&dims).unwrap_or_default(),
                },
                last_put,
            });
        }
        Ok(out)
    }

    /// Rolls every tier's rows older than its retention at `now` into the
    /// next tier, or drops them; answers how many rows moved or went.
    pub fn roll_up(&self, now: i64) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut touched = 0;
        for tier in TIERS {
            let cutoff = now - tier.keep;
            if let Some(next) = tier.rolls_into {
                let mut rolled: BTreeMap<(i64, i64, String), Aggregate> = BTreeMap::new();
                {
                    let mut stmt = tx.prepare("SELECT metric, ts, unit, agg FROM points WHERE res=?1 AND ts<?2")?;
                    let rows = stmt.query_map(params![tier.resolution, cutoff], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            stored::decode(r.get_ref(3)?),
                        ))
                    })?;
                    for row in rows {
                        let (metric, ts, unit, agg) = row?;
                        let Some(agg) = agg else {
                            continue;
                        };
                        rolled
                            .entry((metric, bucket(ts, next), unit))
                            .and_modify(|a| a.merge(&agg))
                            .or_insert(agg);
                    }
                }
                for ((metric, ts, unit), mut agg) in rolled {
                    let old = tx
                        .query_row(
                            "SELECT agg FROM points WHERE metric=?1 AND res=?2 AND ts=?3 AND unit=?4",
                            params![metric, next, ts, unit],
                            |r| Ok(stored::decode(r.get_ref(0)?)),
                        )
                        .optional()?
                        .flatten();
                    if let Some(mut old) = old {
                        old.merge(&agg);
                        agg = old;
                    }
                    tx.execute(
                        "INSERT OR REPLACE INTO points(metric, res, ts, unit, agg) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![metric, next, ts, unit, stored::encode(&agg)],
                    )?;
                }
            }
            touched += tx.execute(
                "DELETE FROM points WHERE res=?1 AND ts<?2",
                params![tier.resolution, cutoff],
            )?;
        }
        tx.commit()?;
        Ok(touched)
    }
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
