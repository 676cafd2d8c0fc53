//! The EC2 networking API over EC2's query protocol, the subset awsvpc
//! tasks and security groups need: a default VPC with its `default`
//! security group and a default subnet per availability zone the region
//! knows (its first, and every zone an agent registered in), VPCs, subnets, security groups and their
//! ingress/egress rules, the task network interfaces (read from ECS, see
//! [`interfaces`]) and tags. Each operation is a type
//! ([`berth_proto::query::QueryOperation`]) registered in [`routes`]; the
//! records ([`records`]) live in the region's store as one value
//! (`ec2/state`), written with compare-and-swap.
//!
//! Files import downward: `records`, `errors`; the pure `rules` and
//! `launch` (an ECS launch's subnets and groups); `output`
//! (XML shapes); `interfaces`; `agent_view` (what an agent filters with); `ops/` (the operations); `routes`;
//! `service` (EC2 as the listener sees it).

#![forbid(unsafe_code)]

pub mod agent_view;
pub mod errors;
pub mod interfaces;
pub mod launch;
mod ops;
pub mod output;
pub mod records;
pub mod routes;
pub mod rules;
mod service;

use berth_core::arn::Scope;
use berth_proto::AwsError;
use berth_store::Store;
use std::sync::Arc;

pub use interfaces::{TaskInterface, TaskInterfaces};

/// EC2's API version.
pub const VERSION: &str = "2016-11-15";
/// The namespace of its XML.
pub const XML_NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// The SigV4 signing name and IAM service prefix.
pub const SIGNING_NAME: &str = "ec2";
/// The key of the region's EC2 records.
pub const STATE_KEY: &str = "ec2/state";

/// One region's EC2.
#[derive(Clone)]
pub struct Ec2 {
    store: Arc<dyn Store>,
    scope: Scope,
    interfaces: Arc<dyn TaskInterfaces>,
}

impl Ec2 {
    /// EC2 on a region's store, its ARNs in `scope`, the task interfaces
    /// read from `interfaces`.
    pub fn new(store: Arc<dyn Store>, scope: Scope, interfaces: Arc<dyn TaskInterfaces>) -> Self {
        Self {
            store,
            scope,
            interfaces,
        }
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The region's first zone (`us-east-1a`), which always has a default
    /// subnet: the zone a Berth agent reports unless told otherwise.
    pub fn default_zone(&self) -> String {
        format!("{}a", self.scope.region)
    }

    /// The ARN of a resource (`security-group/sg-…`, `vpc/vpc-…`).
    pub fn arn(&self, resource: &str) -> String {
        self.scope.arn(SIGNING_NAME, resource)
    }

    /// The records as they are now, the default VPC and its default
    /// subnet in the first zone created on the first read of a region.
    pub async fn state(&self) -> Result<records::State, AwsError> {
        if let Some((state, _)) = berth_store::typed::get::<records::State>(&*self.store, STATE_KEY)
            .await
            .map_err(AwsError::state_store)?
            && state.default_subnet(&self.default_zone()).is_some()
        {
            return Ok(state);
        }
        self.write(|_| Ok(())).await.map(|(_, s)| s)
    }

    /// Whether `zone` can be one of this region's: the region's name and
    /// a suffix of lowercase letters, digits and dashes (`us-east-1b`,
    /// `us-east-1-bos-1a`), as CreateSubnet takes.
    pub fn is_zone_of_region(&self, zone: &str) -> bool {
        zone.strip_prefix(self.scope.region.as_str()).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    }

    /// Makes sure the default VPC has a default subnet in `zone` (an
    /// agent registered there): written once, under the records'
    /// compare-and-swap; nothing for a zone of another region.
    pub async fn ensure_zone(&self, zone: &str) -> Result<(), AwsError> {
        if !self.is_zone_of_region(zone) || self.state().await?.default_subnet(zone).is_some() {
            return Ok(());
        }
        self.write(|st| {
            if st.ensure_default_subnet(zone) {
                tracing::info!(zone, "default subnet added for a new availability zone");
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// A change of the records, written at once or not at all (the default
    /// VPC created first if the region has none); its result and the
    /// records written.
    pub async fn write<T>(
        &self,
        mut change: impl FnMut(&mut records::State) -> Result<T, AwsError>,
    ) -> Result<(T, records::State), AwsError> {
        let zone = self.default_zone();
        let mut out = None;
        let written = berth_store::typed::update_with(AwsError::state_store, &*self.store, STATE_KEY, |current| {
            let mut state: records::State = current.unwrap_or_default();
            state.ensure_default(&[zone.as_str()]);
            out = Some(change(&mut state)?);
            Ok(Some(state))
        })
        .await?;
        let out = out.ok_or_else(|| AwsError::internal("the EC2 records were not written"))?;
        Ok((out, written.unwrap_or_default()))
    }

    /// The interfaces of the region's tasks.
    pub async fn task_interfaces(&self) -> Result<Vec<TaskInterface>, AwsError> {
        self.interfaces.interfaces().await
    }

    /// What the agent of a host whose awsvpc tasks are `local` (task ARN →
    /// groups) filters them with.
    /// The region's registered host networks are `hosts`: the view carries
    /// the agent's peers among them.
    pub async fn agent_view(
        &self,
        local: std::collections::BTreeMap<String, Vec<String>>,
        instance_arn: &str,
        hosts: &[agent_view::HostNetwork],
    ) -> Result<berth_agent_protocol::SecurityGroupsView, AwsError> {
        let state = self.state().await?;
        let interfaces = self.task_interfaces().await?;
        let mut view = agent_view::agent_view(&state, local, &interfaces);
        view.peers = agent_view::peers(instance_arn, hosts);
        Ok(view)
    }

    /// An awsvpc launch's subnets and security groups checked as ECS
    /// checks them ([`launch::launch_network`]): the groups the task gets
    /// and each subnet's zone.
    pub async fn launch_network(
        &self,
        subnets: &[String],
        groups: &[String],
    ) -> Result<launch::LaunchNetwork, AwsError> {
        launch::launch_network(&self.state().await?, subnets, groups)
    }
}
