//! The ELBv2 operations, one type each ([`QueryOperation`]), by the
//! resource they act on. Shared here: ids, ARNs, pagination, and the
//! tag-on-create authorization every Create* shares.

pub mod attributes;
pub mod listeners;
pub mod load_balancers;
pub mod rules;
pub mod tags;
pub mod target_groups;
pub mod targets;

use crate::errors::{LbError, invalid};
use crate::records::Tag;
use berth_proto::AuthzResource;
use berth_proto::query::{QueryInput, QueryResult};
use serde::Serialize;

/// A new resource id: 16 hex digits, as ELBv2's ARNs end.
pub fn new_id() -> String {
    berth_core::ids::hex_id()[..16].to_string()
}

/// The resources of a Create* operation: the new resource (its ARN known
/// before the call, its id drawn when the input is decoded), and, when the
/// request tags it, `elasticloadbalancing:AddTags` on it with
/// `elasticloadbalancing:CreateAction` — ELBv2's tag-on-create rule.
pub fn created(arn: String, action: &str, tags: &[Tag]) -> Vec<AuthzResource> {
    let mut out = vec![AuthzResource::untagged(arn.clone())];
    if !tags.is_empty() {
        out.push(AuthzResource {
            arn,
            action: Some(format!("{}:AddTags", crate::SIGNING_NAME)),
            condition_keys: vec![("elasticloadbalancing:CreateAction".into(), action.into())],
            ..AuthzResource::default()
        });
    }
    out
}

/// The listener ARN under a load balancer's (`loadbalancer/app/N/ID` →
/// `listener/app/N/ID/LID`).
pub fn listener_arn(lb_arn: &str, id: &str) -> String {
    format!("{}/{id}", lb_arn.replacen(":loadbalancer/", ":listener/", 1))
}

/// The rule ARN under a listener's (`listener/app/N/ID/LID` →
/// `listener-rule/app/N/ID/LID/RID`).
pub fn rule_arn(listener_arn: &str, id: &str) -> String {
    format!("{}/{id}", listener_arn.replacen(":listener/", ":listener-rule/", 1))
}

/// Refuses a form naming a member Berth does not serve (`Transforms`,
/// `RegexValues`, gRPC health checks…): refused, never silently ignored.
pub fn refuse_unsupported(input: &QueryInput, members: &[&str]) -> Result<(), LbError> {
    for name in input.params().keys() {
        if let Some(member) = name.split('.').find(|segment| members.contains(segment)) {
            return Err(LbError::InvalidConfiguration(format!(
                "'{member}' is not supported by Berth"
            )));
        }
    }
    Ok(())
}

/// Decodes a form after [`refuse_unsupported`].
pub fn decode_supported<T: serde::de::DeserializeOwned>(
    input: &QueryInput,
    unsupported: &[&str],
) -> Result<T, berth_proto::AwsError> {
    refuse_unsupported(input, unsupported)?;
    input.decode()
}

/// The most items a page holds when `PageSize` is not given.
pub const DEFAULT_PAGE: usize = 400;

/// One page of `items` (each with its key, the marker of the page that
/// starts with it) from `marker`, and the marker of the next page.
pub fn page<T>(
    items: Vec<(String, T)>,
    marker: Option<&str>,
    size: Option<i32>,
) -> Result<(Vec<T>, Option<String>), LbError> {
    let start = match marker {
        None => 0,
        Some(m) => items
            .iter()
            .position(|(k, _)| k == m)
            .ok_or_else(|| invalid(format!("Invalid marker '{m}'")))?,
    };
    let size = size.map_or(DEFAULT_PAGE, |s| s.max(1) as usize);
    let mut rest: Vec<(String, T)> = items.into_iter().skip(start).collect();
    let next = (rest.len() > size).then(|| rest[size].0.clone());
    rest.truncate(size);
    Ok((rest.into_iter().map(|(_, t)| t).collect(), next))
}

/// The answer of `action`.
pub fn answer<T: Serialize>(action: &str, output: &T) -> Result<QueryResult, berth_proto::AwsError> {
    QueryResult::of(action, output)
}

/// The current time in ELBv2's form (ISO 8601, milliseconds).
pub fn now_iso() -> String {
    berth_core::time::iso8601_epoch_millis(now_ms())
}

pub use crate::state::now_ms;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
