//! DescribeAvailabilityZones: the zones the region knows, which are the
//! zones of the default VPC's default subnets (`REGIONa`, and every zone an
//! agent registered in), all `available`, with AWS's zone ids
//! (`use1-az1`: the region's short name and the zone letter's place).

use super::{answer, any, decode};
use crate::Ec2;
use crate::errors::Ec2Error;
use crate::output::Items;
use crate::rules::{self, Filter};
use async_trait::async_trait;
use berth_core::arn::Scope;
use berth_proto::query::{QueryInput, QueryOperation, QueryResult};
use berth_proto::{AuthzResource, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

/// A region's short name in zone ids: `us-east-1` → `use1`,
/// `ap-southeast-2` → `apse2`, `eu-central-1` → `euc1`.
pub fn region_short_name(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 || p.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(p);
            continue;
        }
        let short = match *p {
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            other => &other[..other.len().min(1)],
        };
        out.push_str(short);
    }
    out
}

/// A zone's id: `{short region}-az{n}`, `n` the place of its letter
/// (`us-east-1a` → `use1-az1`, `us-east-1c` → `use1-az3`); a zone of
/// another form gets the region's short name and its own suffix.
pub fn zone_id(region: &str, zone: &str) -> String {
    let short = region_short_name(region);
    match zone.strip_prefix(region).map(str::as_bytes) {
        Some(&[letter]) if letter.is_ascii_lowercase() => format!("{short}-az{}", letter - b'a' + 1),
        Some(rest) => format!("{short}-{}", String::from_utf8_lossy(rest).trim_start_matches('-')),
        None => format!("{short}-{zone}"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAvailabilityZonesInput {
    #[serde(default, rename = "ZoneName")]
    pub zone_names: Vec<String>,
    #[serde(default, rename = "ZoneId")]
    pub zone_ids: Vec<String>,
    #[serde(default, rename = "Filter")]
    pub filters: Vec<Filter>,
    // `AllAvailabilityZones` changes nothing: every zone Berth knows is
    // `opt-in-not-required`, listed either way.
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ZoneOut {
    zone_state: &'static str,
    opt_in_status: &'static str,
    region_name: String,
    zone_name: String,
    zone_id: String,
    group_name: String,
    network_border_group: String,
    zone_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeAvailabilityZonesOutput {
    availability_zone_info: Items<ZoneOut>,
}

pub struct DescribeAvailabilityZones;

#[async_trait]
impl QueryOperation<Ec2> for DescribeAvailabilityZones {
    const NAME: &'static str = "DescribeAvailabilityZones";
    type Input = DescribeAvailabilityZonesInput;
    fn decode(input: &QueryInput) -> Result<Self::Input, AwsError> {
        decode(input, &[])
    }
    fn resources(_scope: &Scope, _input: &Self::Input) -> Vec<AuthzResource> {
        any()
    }
    async fn run(ec2: &Ec2, _ctx: &RequestContext, input: Self::Input) -> Result<QueryResult, AwsError> {
        let state = ec2.state().await?;
        let region = ec2.scope().region.clone();
        let zones: Vec<(String, String)> = state
            .default_zones()
            .into_iter()
            .map(|z| (zone_id(&region, &z), z))
            .collect();
        for name in &input.zone_names {
            if !zones.iter().any(|(_, z)| z == name) {
                return Err(Ec2Error::InvalidParameterValue(format!("Invalid availability zone: [{name}]")).into());
            }
        }
        for id in &input.zone_ids {
            if !zones.iter().any(|(i, _)| i == id) {
                return Err(Ec2Error::InvalidParameterValue(format!("Invalid availability zone: [{id}]")).into());
            }
        }
        let mut out = Vec::new();
        for (id, zone) in zones {
            if (!input.zone_names.is_empty() || !input.zone_ids.is_empty())
                && !input.zone_names.contains(&zone)
                && !input.zone_ids.contains(&id)
            {
                continue;
            }
            let keep = rules::matches(&input.filters, &Default::default(), |name| match name {
                "zone-name" => Some(vec![zone.clone()]),
                "zone-id" => Some(vec![id.clone()]),
                "region-name" | "group-name" | "network-border-group" => Some(vec![region.clone()]),
                "state" => Some(vec!["available".into()]),
                "opt-in-status" => Some(vec!["opt-in-not-required".into()]),
                "zone-type" => Some(vec!["availability-zone".into()]),
                _ => None,
            })?;
            if keep {
                out.push(ZoneOut {
                    zone_state: "available",
                    opt_in_status: "opt-in-not-required",
                    region_name: region.clone(),
                    zone_name: zone,
                    zone_id: id,
                    group_name: region.clone(),
                    network_border_group: region.clone(),
                    zone_type: "availability-zone",
                });
            }
        }
        answer(
            Self::NAME,
            &DescribeAvailabilityZonesOutput {
                availability_zone_info: Items(out),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_are_the_region_short_name_and_the_letters_place() {
        assert_eq!(zone_id("us-east-1", "us-east-1a"), "use1-az1");
        assert_eq!(zone_id("us-east-1", "us-east-1c"), "use1-az3");
        assert_eq!(zone_id("eu-west-2", "eu-west-2b"), "euw2-az2");
        assert_eq!(zone_id("ap-southeast-2", "ap-southeast-2a"), "apse2-az1");
        assert_eq!(zone_id("eu-central-1", "eu-central-1a"), "euc1-az1");
        assert_eq!(zone_id("us-east-1", "us-east-1-bos-1a"), "use1-bos-1a");
    }
}
