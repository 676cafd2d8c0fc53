//! The state store: a key-value model with revisions, compare-and-swap
//! transactions and watches, in the shape of etcd's v3 API so an etcd backend
//! fits behind the same trait. Nothing else in Berth touches the database.
//!
//! * Every successful write transaction gets the next store-wide revision.
//! * Each key keeps `create_revision`, `mod_revision` and `version`.
//! * A watch delivers every change to keys under a prefix after a revision,
//!   in revision order, then follows live changes.

#[cfg(feature = "testing")]
pub mod contract;
mod memory;
pub mod region;
mod sqlite;
pub mod typed;
mod watch;

pub use memory::MemoryStore;
pub use region::RegionStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// A store-wide, strictly increasing revision. Revision 0 means "never".
pub type Revision = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
}

/// A condition of a transaction; all must hold for its operations to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's `mod_revision` equals the given one (0: the key is absent).
    ModRevision(String, Revision),
    /// The key does not exist.
    Absent(String),
    /// The key exists.
    Exists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnResult {
    /// Whether every compare held (and so the operations were applied).
    pub succeeded: bool,
    /// The store revision after the transaction.
    pub revision: Revision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as a watcher sees it. For deletes `value` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub key: String,
    pub value: Vec<u8>,
    pub revision: Revision,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("revision {requested} has been compacted (oldest available is {oldest})")]
    Compacted { requested: Revision, oldest: Revision },
    #[error("store is closed")]
    Closed,
    #[error("corrupt value at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A read-modify-write ([`typed::update`]) lost its compare-and-swap
    /// race this many times in a row and gave up.
    #[error("gave up updating {key} after {attempts} conflicting writes")]
    Contended { key: String, attempts: u32 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stream of watch events. It ends only when the store closes; a watcher
/// that falls too far behind gets a `Compacted` error and must re-list.
pub type WatchStream = BoxStream<'static, Result<Event>>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Keys starting with `prefix`, in key order, strictly after `start_after`
    /// when given, at most `limit` of them when given.
    async fn range(&self, prefix: &str, start_after: Option<&str>, limit: Option<usize>) -> Result<Vec<KeyValue>>;
    /// Applies `ops` atomically if every compare holds. Durable on return.
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResult>;
    async fn current_revision(&self) -> Result<Revision>;
    /// Every change under `prefix` with revision `>= from_revision`, then live ones.
    async fn watch(&self, prefix: &str, from_revision: Revision) -> Result<WatchStream>;
    /// Flushes and closes; later calls fail with `Closed`.
    async fn close(&self) -> Result<()>;

    // ---- conveniences over the primitives ----
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        Ok(self.txn(vec![], vec![Op::Put(key.to_string(), value)]).await?.revision)
    }
    /// Puts only if the key is absent. Returns false when it already existed.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<bool> {
        Ok(self
            .txn(
                vec![Compare::Absent(key.to_string())],
                vec![Op::Put(key.to_string(), value)],
            )
            .await?
            .succeeded)
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self
            .txn(
                vec![Compare::Exists(key.to_string())],
                vec![Op::Delete(key.to_string())],
            )
            .await?
            .succeeded)
    }
}
