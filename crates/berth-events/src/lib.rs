//! Amazon EventBridge, the part Berth's events need (awsJson 1.1, target
//! `AWSEvents`, signing name `events`): rules with event patterns on the
//! default event bus ([`pattern`], pure), their targets, `PutEvents`, and
//! delivery. A PutEvents that returns has written every delivery it owes
//! into the region's store (the outbox, [`records::OUTBOX`]); a worker
//! ([`delivery`]) hands each to its target through a [`Deliver`] the binary
//! plugs in (CloudWatch Logs log groups, HTTP calls), retrying as the
//! target's retry policy allows (by default 185 times within a day), and
//! removes it — so a crash loses no acknowledged event. Connections
//! ([`connections`], their secrets sealed through a [`SecretSealer`]) and
//! API destinations ([`destinations`]) make HTTP endpoints targets; the
//! requests they make are built in [`http_target`] (pure).
//! Berth's own services publish through [`Events::emit`] (the `aws.*`
//! sources callers may not use).

pub mod connections;
pub mod delivery;
pub mod destinations;
pub mod http_target;
mod inputs;
pub mod model;
mod ops;
pub mod pattern;
pub mod records;
mod rules;
pub mod sealing;
mod send;
pub mod targets;
#[cfg(test)]
mod tests_http;

pub use delivery::Deliver;
pub use sealing::SecretSealer;

use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::{AwsError, JsonServiceInfo};
use berth_store::Store;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

pub const TARGET_PREFIX: &str = "AWSEvents";
/// The only event bus: every account's `default`.
pub const DEFAULT_BUS: &str = "default";

/// EventBridge of one region. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) scope: Scope,
    pub(crate) deliver: Arc<dyn Deliver>,
    /// Woken when deliveries are written.
    pub(crate) wake: Arc<Notify>,
    /// Seals connection secrets (KMS); without it connections are refused.
    pub(crate) sealer: Option<Arc<dyn SecretSealer>>,
    /// The pace of each API destination's calls.
    pub(crate) pacer: Arc<Mutex<http_target::Pacer>>,
}

impl Events {
    pub fn new(store: Arc<dyn Store>, region: &str, account: &str, deliver: Arc<dyn Deliver>) -> Self {
        Self {
            store,
            scope: Scope::new(region, account),
            deliver,
            wake: Arc::new(Notify::new()),
            sealer: None,
            pacer: Arc::default(),
        }
    }

    /// Connection secrets sealed by `sealer` (KMS envelope encryption).
    pub fn with_sealer(mut self, sealer: Arc<dyn SecretSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    pub(crate) fn rule_arn(&self, name: &str) -> String {
        rule_arn(&self.scope, name)
    }

    pub(crate) fn bus_arn(&self) -> String {
        self.scope.arn("events", format!("event-bus/{DEFAULT_BUS}"))
    }

    /// The event bus a request names: only the default one exists.
    pub(crate) fn check_bus(&self, bus: Option<&str>) -> Result<(), AwsError> {
        match bus {
            None | Some(DEFAULT_BUS) => Ok(()),
            Some(b) if b == self.bus_arn() => Ok(()),
            Some(b) => Err(AwsError::resource_not_found(format!(
                "Event bus {b} does not exist. Berth has the default event bus only."
            ))),
        }
    }
}

pub(crate) fn rule_arn(scope: &Scope, name: &str) -> String {
    scope.arn("events", format!("rule/{name}"))
}

/// Now, in seconds (EventBridge's timestamps).
pub(crate) fn now_secs() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

pub(crate) fn store_error(e: berth_store::StoreError) -> AwsError {
    tracing::error!(error = %e, "EventBridge store failure");
    AwsError::new("InternalException", 500, "An internal error occurred. Try again.")
}

/// Writes `rec` at `key` when `expect` holds (a create: the key absent;
/// an update: the revision read). A create that finds the key answers
/// `ResourceAlreadyExistsException` saying `already`; an update that lost
/// a race `ConcurrentModificationException` naming `what`.
pub(crate) async fn put_guarded<T: serde::Serialize>(
    store: &dyn Store,
    key: String,
    rec: &T,
    expect: berth_store::Compare,
    already: String,
    what: &str,
) -> Result<(), AwsError> {
    let value = berth_store::typed::encode(rec).map_err(store_error)?;
    let create = matches!(expect, berth_store::Compare::Absent(_));
    let done = store
        .txn(vec![expect], vec![berth_store::Op::Put(key, value)])
        .await
        .map_err(store_error)?;
    if done.succeeded {
        return Ok(());
    }
    Err(if create {
        AwsError::resource_already_exists(already)
    } else {
        AwsError::new(
            "ConcurrentModificationException",
            400,
            format!("{what} was changed by another request; try again."),
        )
    })
}

#[async_trait]
impl JsonServiceInfo for Events {
    fn target_prefix(&self) -> &'static str {
        TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "events"
    }

    fn model(&self) -> Option<&'static berth_proto::validate::ServiceModel> {
        Some(&model::MODEL)
    }
}

/// The names of every routed operation, in the table's order.
pub fn routed_operations() -> Vec<&'static str> {
    ops::OPERATIONS.names()
}
