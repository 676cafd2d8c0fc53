//! Rules on the launch options that RunTask, StartTask, CreateService and
//! UpdateService share: the network configuration a task definition's
//! network mode needs, and the features Berth refuses rather than store
//! silently (ECS Exec).

use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A subnet of an awsvpc launch and the availability zone EC2 has it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetZone {
    pub subnet: String,
    pub zone: String,
}

/// The zones of a launch's subnets, each once, in the subnets' order: the
/// only zones its tasks may be placed in.
pub fn zones_of(subnets: &[SubnetZone]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in subnets {
        if !out.contains(&s.zone) {
            out.push(s.zone.clone());
        }
    }
    out
}

/// The subnet a task placed on a host in `zone` gets its interface in: the
/// first of the launch's subnets in that zone.
pub fn subnet_in_zone<'a>(subnets: &'a [SubnetZone], zone: &str) -> Option<&'a str> {
    subnets.iter().find(|s| s.zone == zone).map(|s| s.subnet.as_str())
}

/// The subnet of task `index` of a launch naming `named` (zones known as
/// `zoned`) placed in `zone`: the launch subnet of that zone; without zones
/// (no EC2 wired) or host yet, the named subnets in turn.
pub fn eni_subnet<'a>(zoned: &'a [SubnetZone], named: &[&'a str], zone: Option<&str>, index: usize) -> Option<&'a str> {
    zone.and_then(|z| subnet_in_zone(zoned, z))
        .or_else(|| (!named.is_empty()).then(|| named[index % named.len()]))
}

/// AWS's answer when an awsvpc task definition is launched without a
/// network configuration.
pub const NETWORK_CONFIGURATION_REQUIRED: &str =
    "Network Configuration must be provided when networkMode 'awsvpc' is specified.";

/// AWS's answer when a network configuration is given for a task definition
/// whose network mode is not awsvpc.
pub const NETWORK_CONFIGURATION_NOT_VALID: &str =
    "Network Configuration is not valid for the given networkMode of this task definition.";

/// AWS's answer when an awsvpc network configuration names no subnet.
pub const SUBNETS_EMPTY: &str = "subnets can not be empty.";

/// Why Berth refuses `enableExecuteCommand: true`.
pub const EXECUTE_COMMAND_UNSUPPORTED: &str = "enableExecuteCommand is not supported by Berth yet (ECS Exec is not \
     implemented); omit it or set it to false.";

/// How many subnets an `awsvpcConfiguration` may name (ECS's limit).
pub const MAX_SUBNETS: usize = 16;

/// How many security groups an `awsvpcConfiguration` may name (ECS's limit).
pub const MAX_SECURITY_GROUPS: usize = 5;

/// AWS's answer to `assignPublicIp: ENABLED` for tasks on container instances.
pub const PUBLIC_IP_NOT_SUPPORTED: &str = "Assign public IP is not supported for this launch type.";

/// Whether `id` has the form of an EC2 subnet id: `subnet-` and 8 or 17
/// lowercase hex digits.
pub fn is_subnet_id(id: &str) -> bool {
    id.strip_prefix("subnet-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Checks the `networkConfiguration` of a launch against the task
/// definition's `networkMode` (absent means bridge): awsvpc needs one with
/// 1 to 16 well-formed subnet ids in `awsvpcConfiguration`, at most 5
/// well-formed security group ids (their existence is EC2's to check) and
/// `assignPublicIp` ENABLED or
/// DISABLED; other modes take none.
pub fn check_network_configuration(network_mode: Option<&str>, network: Option<&Value>) -> Result<(), AwsError> {
    let n = match (network_mode == Some("awsvpc"), network) {
        (true, None) => return Err(AwsError::invalid_parameter(NETWORK_CONFIGURATION_REQUIRED)),
        (false, Some(_)) => return Err(AwsError::invalid_parameter(NETWORK_CONFIGURATION_NOT_VALID)),
        (false, None) => return Ok(()),
        (true, Some(n)) => &n["awsvpcConfiguration"],
    };
    let subnets = n["subnets"].as_array().map(Vec::as_slice).unwrap_or_default();
    if subnets.is_empty() {
        return Err(AwsError::invalid_parameter(SUBNETS_EMPTY));
    }
    if subnets.len() > MAX_SUBNETS {
        return Err(AwsError::invalid_parameter(format!(
            "subnets can have at most {MAX_SUBNETS} items."
        )));
    }
    for s in subnets {
        let id = s.as_str().unwrap_or_default();
        if !is_subnet_id(id) {
            return Err(AwsError::invalid_parameter(format!(
                "Error retrieving subnet information for [{id}]: The subnet ID '{id}' is malformed."
            )));
        }
    }
    let groups = n["securityGroups"].as_array().map(Vec::as_slice).unwrap_or_default();
    if groups.len() > MAX_SECURITY_GROUPS {
        return Err(AwsError::invalid_parameter(format!(
            "securityGroups can have at most {MAX_SECURITY_GROUPS} items."
        )));
    }
    for g in groups {
        let id = g.as_str().unwrap_or_default();
        let well_formed = id.strip_prefix("sg-").is_some_and(|h| {
            (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if !well_formed {
            return Err(AwsError::invalid_parameter(format!(
                "Error retrieving security group information for [{id}]: Invalid id: \"{id}\" (expecting \"sg-...\")"
            )));
        }
    }
    match &n["assignPublicIp"] {
        Value::Null => Ok(()),
        Value::String(v) if v == "ENABLED" || v == "DISABLED" => Ok(()),
        other => Err(AwsError::invalid_parameter(format!(
            "Invalid value {other} for assignPublicIp: valid values are ENABLED and DISABLED."
        ))),
    }
}

/// `assignPublicIp: ENABLED` is for Fargate tasks only, as on AWS (a
/// Berth Fargate task's egress is masqueraded through its host, which is
/// what a public IP gives it there; it gets no address of its own).
pub fn check_public_ip(network: Option<&Value>, launch_type: &str) -> Result<(), AwsError> {
    let enabled = network.is_some_and(|n| n["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED");
    if enabled && launch_type != "FARGATE" {
        return Err(AwsError::invalid_parameter(PUBLIC_IP_NOT_SUPPORTED));
    }
    Ok(())
}

/// Refuses `enableExecuteCommand: true`: nothing serves ECS Exec yet, and
/// storing the flag would promise what Berth does not do. `false` and
/// absent are accepted.
pub fn check_execute_command(enable: Option<bool>) -> Result<(), AwsError> {
    if enable == Some(true) {
        return Err(AwsError::invalid_parameter(EXECUTE_COMMAND_UNSUPPORTED));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(r: Result<(), AwsError>) -> String {
        let e = r.expect_err("expected a refusal");
        assert_eq!(e.code, "InvalidParameterException");
        e.message.to_string()
    }

    #[test]
    fn awsvpc_needs_a_network_configuration_with_subnets() {
        let awsvpc = Some("awsvpc");
        assert_eq!(
            message(check_network_configuration(awsvpc, None)),
            NETWORK_CONFIGURATION_REQUIRED
        );
        let good = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});
        assert!(check_network_configuration(awsvpc, Some(&good)).is_ok());
        for empty in [
            json!({"awsvpcConfiguration": {"subnets": []}}),
            json!({"awsvpcConfiguration": {}}),
            json!({}),
        ] {
            assert_eq!(
                message(check_network_configuration(awsvpc, Some(&empty))),
                SUBNETS_EMPTY
            );
        }
    }

    #[test]
    fn awsvpc_subnets_are_well_formed_at_most_16_security_groups_at_most_5() {
        let vpc = Some("awsvpc");
        let with = |c: serde_json::Value| check_network_configuration(vpc, Some(&json!({"awsvpcConfiguration": c})));
        assert!(with(json!({"subnets": ["subnet-0123456789abcdef0"], "assignPublicIp": "DISABLED"})).is_ok());
        for bad in ["subnet-1234567", "subnet-ABCDEF12", "sg-12345678", "subnet-berth", ""] {
            assert_eq!(
                message(with(json!({"subnets": [bad]}))),
                format!("Error retrieving subnet information for [{bad}]: The subnet ID '{bad}' is malformed.")
            );
        }
        let many: Vec<String> = (0..17).map(|i| format!("subnet-{i:08x}")).collect();
        assert_eq!(
            message(with(json!({"subnets": many}))),
            "subnets can have at most 16 items."
        );
        assert!(with(json!({"subnets": ["subnet-12345678"], "securityGroups": ["sg-12345678"]})).is_ok());
        assert_eq!(
            message(with(json!({"subnets": ["subnet-12345678"], "securityGroups": ["web"]}))),
            "Error retrieving security group information for [web]: Invalid id: \"web\" (expecting \"sg-...\")"
        );
        let six: Vec<String> = (0..6).map(|i| format!("sg-{i:08x}")).collect();
        assert_eq!(
            message(with(json!({"subnets": ["subnet-12345678"], "securityGroups": six}))),
            "securityGroups can have at most 5 items."
        );
        assert!(with(json!({"subnets": ["subnet-12345678"], "securityGroups": []})).is_ok());
        assert!(
            message(with(json!({"subnets": ["subnet-12345678"], "assignPublicIp": "YES"})))
                .contains("valid values are ENABLED and DISABLED")
        );
    }

    #[test]
    fn a_public_ip_is_for_fargate_only() {
        let on = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"], "assignPublicIp": "ENABLED"}});
        let off = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"], "assignPublicIp": "DISABLED"}});
        assert!(check_public_ip(Some(&on), "FARGATE").is_ok());
        assert_eq!(message(check_public_ip(Some(&on), "EC2")), PUBLIC_IP_NOT_SUPPORTED);
        assert!(check_public_ip(Some(&off), "EC2").is_ok());
        assert!(check_public_ip(None, "EC2").is_ok());
    }

    #[test]
    fn other_modes_take_no_network_configuration() {
        let good = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});
        for mode in [None, Some("bridge"), Some("host"), Some("none")] {
            assert!(check_network_configuration(mode, None).is_ok());
            assert_eq!(
                message(check_network_configuration(mode, Some(&good))),
                NETWORK_CONFIGURATION_NOT_VALID
            );
        }
    }

    #[test]
    fn a_task_gets_the_first_launch_subnet_of_its_hosts_zone() {
        let sz = |subnet: &str, zone: &str| SubnetZone {
            subnet: subnet.into(),
            zone: zone.into(),
        };
        let subnets = [
            sz("subnet-b1", "us-east-1b"),
            sz("subnet-a1", "us-east-1a"),
            sz("subnet-b2", "us-east-1b"),
        ];
        assert_eq!(zones_of(&subnets), ["us-east-1b", "us-east-1a"]);
        assert_eq!(subnet_in_zone(&subnets, "us-east-1b"), Some("subnet-b1"));
        assert_eq!(subnet_in_zone(&subnets, "us-east-1a"), Some("subnet-a1"));
        assert_eq!(subnet_in_zone(&subnets, "us-east-1c"), None);
        assert!(zones_of(&[]).is_empty());
        let named = ["subnet-b1", "subnet-a1", "subnet-b2"];
        assert_eq!(eni_subnet(&subnets, &named, Some("us-east-1a"), 0), Some("subnet-a1"));
        // No zones known, or no host: the named subnets in turn.
        assert_eq!(eni_subnet(&[], &named, Some("us-east-1a"), 4), Some("subnet-a1"));
        assert_eq!(eni_subnet(&subnets, &named, None, 2), Some("subnet-b2"));
        assert_eq!(eni_subnet(&[], &[], None, 0), None);
    }

    #[test]
    fn execute_command_is_refused_only_when_asked_for() {
        assert!(check_execute_command(None).is_ok());
        assert!(check_execute_command(Some(false)).is_ok());
        assert_eq!(message(check_execute_command(Some(true))), EXECUTE_COMMAND_UNSUPPORTED);
    }
}
