//! ELBv2 (Elastic Load Balancing v2) over awsQuery: the control plane of
//! Berth's load balancers. Each operation is a type
//! ([`berth_proto::query::QueryOperation`]) registered in [`routes`]: its
//! input checked against the AWS model ([`model`]) and decoded once, the
//! IAM resources it names, its handler. The records ([`records`]) live in
//! the region's store under `elbv2/`; the data plane (`berth-lb-proxy`) is
//! fed from them by the controller ([`controller`], the snapshot built by
//! [`feed`]); every write of the API reconciles it before answering.
//!
//! Files import downward: `records`, `errors` at the bottom; the pure rules
//! (`names`, `health`, `attributes`, `conditions`, `state`, then `actions`
//! over the state); `output` (XML shapes); `ops/` (the operations); `feed`
//! (records → the proxy's snapshot) and `controller`; `routes`;
//! `service` (ELBv2 as the listener sees it: a `QueryService` over `routes`).

pub mod actions;
pub mod attributes;
pub mod conditions;
pub mod controller;
pub mod errors;
pub mod feed;
pub mod health;
pub mod metrics;
pub mod model;
pub mod names;
mod ops;
pub mod output;
pub mod records;
pub mod routes;
mod service;
mod service_targets;
pub mod state;

pub use service_targets::{TargetGroupView, TargetView};

use berth_core::arn::Scope;
use berth_proto::AwsError;
use berth_store::Store;
use std::sync::Arc;

/// ELBv2's API version.
pub const VERSION: &str = "2015-12-01";
/// The namespace of its XML.
pub const XML_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
/// The SigV4 signing name and IAM service prefix.
pub const SIGNING_NAME: &str = "elasticloadbalancing";

/// One region's ELBv2.
#[derive(Clone)]
pub struct Elbv2 {
    store: Arc<dyn Store>,
    scope: Scope,
    data_plane: Option<Arc<controller::DataPlane>>,
}

impl Elbv2 {
    /// ELBv2 on a region's store, its ARNs in `scope`.
    pub fn new(store: Arc<dyn Store>, scope: Scope) -> Self {
        Self {
            store,
            scope,
            data_plane: None,
        }
    }

    /// With the data plane its writes reconcile and its answers read
    /// (load balancer states, target health).
    pub fn with_data_plane(mut self, data_plane: Arc<controller::DataPlane>) -> Self {
        self.data_plane = Some(data_plane);
        self
    }

    pub fn data_plane(&self) -> Option<&Arc<controller::DataPlane>> {
        self.data_plane.as_ref()
    }

    /// A load balancer's state: `active` without a data plane (the API alone).
    pub fn lb_state(&self, records: &state::State, lb_arn: &str) -> controller::LbState {
        self.data_plane
            .as_ref()
            .map_or(controller::LbState::Active, |d| d.lb_state(records, lb_arn))
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The records as they are now.
    pub async fn snapshot(&self) -> Result<state::State, errors::LbError> {
        Ok(state::load(self.store()).await?.0)
    }

    /// A change of the records, written at once or not at all.
    pub(crate) async fn write<T>(
        &self,
        mut change: impl FnMut(&mut state::State) -> Result<T, errors::LbError>,
    ) -> Result<T, AwsError> {
        let Some(data_plane) = &self.data_plane else {
            return state::write(self.store(), change).await.map_err(AwsError::from);
        };
        // Taken before the write: the controller's watch may apply it
        // before this call reconciles.
        let failed_before = data_plane.failures();
        let (mut before, mut written) = (state::State::default(), state::State::default());
        let out = state::write(self.store(), |st| {
            before = st.clone();
            let out = change(st)?;
            written = st.clone();
            Ok(out)
        })
        .await?;
        data_plane.reconcile(self.store()).await?;
        // A listener this write left unservable (its port taken on the bind
        // address, most often): the write is undone and refused, so what is
        // stored is served.
        let new_failure = data_plane
            .failures()
            .into_iter()
            .find(|(arn, _)| !failed_before.contains_key(arn) && written.listeners.contains_key(arn));
        if let Some((arn, why)) = new_failure {
            let port = written.listeners.get(&arn).map_or(0, |l| l.port);
            state::write(self.store(), |st| {
                st.undo(&before, &written);
                Ok(())
            })
            .await?;
            data_plane.reconcile(self.store()).await?;
            return Err(errors::LbError::InvalidConfiguration(format!(
                "The listener on port {port} cannot be served: {why}"
            ))
            .into());
        }
        Ok(out)
    }
}
