//! Rules on the launch options that RunTask, StartTask, CreateService and
//! UpdateService share: the network configuration a task definition's
//! network mode needs, and the features Berth refuses rather than store
//! silently (ECS Exec).

use berth_proto::AwsError;
use serde_json::Value;

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

/// Checks the `networkConfiguration` of a launch against the task
/// definition's `networkMode` (absent means bridge): awsvpc needs one with
/// at least one subnet in `awsvpcConfiguration`; other modes take none.
pub fn check_network_configuration(network_mode: Option<&str>, network: Option<&Value>) -> Result<(), AwsError> {
    match (network_mode == Some("awsvpc"), network) {
        (true, None) => Err(AwsError::invalid_parameter(NETWORK_CONFIGURATION_REQUIRED)),
        (false, Some(_)) => Err(AwsError::invalid_parameter(NETWORK_CONFIGURATION_NOT_VALID)),
        (true, Some(n)) => {
            let has_subnet = n["awsvpcConfiguration"]["subnets"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if has_subnet {
                Ok(())
            } else {
                Err(AwsError::invalid_parameter(SUBNETS_EMPTY))
            }
        }
        (false, None) => Ok(()),
    }
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
    fn execute_command_is_refused_only_when_asked_for() {
        assert!(check_execute_command(None).is_ok());
        assert!(check_execute_command(Some(false)).is_ok());
        assert_eq!(message(check_execute_command(Some(true))), EXECUTE_COMMAND_UNSUPPORTED);
    }
}
