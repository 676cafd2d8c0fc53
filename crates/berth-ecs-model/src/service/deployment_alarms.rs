//! Deployment alarms (pure): `deploymentConfiguration.alarms` as stored,
//! the checks on a request's, and what the CloudWatch alarms they name say
//! about a deployment — triggered, still watched, or watched long enough.
//!
//! ECS watches the alarms from the start of a deployment until a bake time
//! after the new tasks are in a steady state; it computes the bake from the
//! alarms' configuration. Berth's bake is the longest evaluation window of
//! the alarms (period × evaluation periods), as AWS counts it (the
//! controller scales it by the server's time scale).

use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest CloudWatch alarm name.
pub const MAX_ALARM_NAME: usize = 255;

/// `deploymentConfiguration.alarms` as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    #[serde(default)]
    pub alarm_names: Vec<String>,
    #[serde(default)]
    pub enable: bool,
    #[serde(default)]
    pub rollback: bool,
}

impl DeploymentAlarms {
    /// Checks a request's `alarms` (all three members are required).
    pub fn parse(v: &Value) -> Result<Self, AwsError> {
        let bad = |m: &str| AwsError::invalid_parameter(m.to_string());
        if !v.is_object() {
            return Err(bad("deploymentConfiguration.alarms must be a structure."));
        }
        let names = match &v["alarmNames"] {
            Value::Array(a) => a
                .iter()
                .map(|n| n.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad("deploymentConfiguration.alarms.alarmNames must be a list of alarm names."))?,
            Value::Null => return Err(bad("deploymentConfiguration.alarms.alarmNames is required.")),
            _ => {
                return Err(bad(
                    "deploymentConfiguration.alarms.alarmNames must be a list of alarm names.",
                ));
            }
        };
        let flag = |k: &str| match &v[k] {
            Value::Bool(b) => Ok(*b),
            Value::Null => Err(bad(&format!("deploymentConfiguration.alarms.{k} is required."))),
            _ => Err(bad(&format!("deploymentConfiguration.alarms.{k} must be a boolean."))),
        };
        let a = DeploymentAlarms {
            alarm_names: names,
            enable: flag("enable")?,
            rollback: flag("rollback")?,
        };
        if let Some(n) = a
            .alarm_names
            .iter()
            .find(|n| n.is_empty() || n.chars().count() > MAX_ALARM_NAME)
        {
            return Err(bad(&format!(
                "Invalid alarm name '{n}' in deploymentConfiguration.alarms.alarmNames: an alarm name has 1 to {MAX_ALARM_NAME} characters."
            )));
        }
        if a.enable && a.alarm_names.is_empty() {
            return Err(bad(
                "deploymentConfiguration.alarms.alarmNames must name at least one CloudWatch alarm when alarms are enabled.",
            ));
        }
        Ok(a)
    }

    /// Whether deployments watch these alarms.
    pub fn watched(&self) -> bool {
        self.enable && !self.alarm_names.is_empty()
    }
}

/// What the alarm store says about one alarm a deployment watches.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmFact {
    pub name: String,
    /// Whether it is in the `ALARM` state.
    pub in_alarm: bool,
    /// Its evaluation window as AWS counts it: period × evaluation periods,
    /// in seconds.
    pub window_secs: f64,
}

/// The alarms named that are in ALARM, in the order named.
pub fn triggered_alarms(names: &[String], facts: &[AlarmFact]) -> Vec<String> {
    names
        .iter()
        .filter(|n| facts.iter().any(|f| &f.name == *n && f.in_alarm))
        .cloned()
        .collect()
}

/// The bake after the steady state, in AWS seconds: the longest window of
/// the alarms that exist (none: no bake).
pub fn alarm_bake_secs(facts: &[AlarmFact]) -> f64 {
    facts.iter().map(|f| f.window_secs).fold(0.0, f64::max)
}

/// The rollout state reason of a deployment the alarms failed.
pub fn alarm_failure_reason(triggered: &[String]) -> String {
    format!(
        "ECS deployment alarms: the deployment failed because alarm(s) {} went into the ALARM state.",
        triggered.join(", ")
    )
}

/// The service event of a deployment the alarms failed.
pub fn alarm_failure_event(service: &str, deployment: &str, triggered: &[String]) -> String {
    format!(
        "(service {service}) (deployment {deployment}) deployment failed: alarm(s) detected: {}.",
        triggered.join(", ")
    )
}

/// `ServiceDeployment.alarms.status` (ServiceDeploymentRollbackMonitorsStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmMonitorStatus {
    Disabled,
    Monitoring,
    Triggered,
    MonitoringComplete,
}

impl AlarmMonitorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "DISABLED",
            Self::Monitoring => "MONITORING",
            Self::Triggered => "TRIGGERED",
            Self::MonitoringComplete => "MONITORING_COMPLETE",
        }
    }

    /// The status of a deployment's alarms: `watched` (enabled on it),
    /// `triggered` (they failed it), `in_progress` (still watched).
    pub fn of(watched: bool, triggered: bool, in_progress: bool) -> Self {
        match (watched, triggered, in_progress) {
            (false, _, _) => Self::Disabled,
            (true, true, _) => Self::Triggered,
            (true, false, true) => Self::Monitoring,
            (true, false, false) => Self::MonitoringComplete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fact(name: &str, in_alarm: bool, window: f64) -> AlarmFact {
        AlarmFact {
            name: name.into(),
            in_alarm,
            window_secs: window,
        }
    }

    #[test]
    fn parse_checks_members() {
        let a = DeploymentAlarms::parse(&json!({"alarmNames": ["a", "b"], "enable": true, "rollback": true})).unwrap();
        assert_eq!(a.alarm_names, vec!["a", "b"]);
        assert!(a.watched() && a.rollback);
        let off = DeploymentAlarms::parse(&json!({"alarmNames": [], "enable": false, "rollback": false})).unwrap();
        assert!(!off.watched());
        for (bad, says) in [
            (
                json!({"alarmNames": [], "enable": true, "rollback": false}),
                "at least one",
            ),
            (json!({"enable": true, "rollback": false}), "alarmNames is required"),
            (json!({"alarmNames": ["a"], "rollback": false}), "enable is required"),
            (json!({"alarmNames": ["a"], "enable": true}), "rollback is required"),
            (
                json!({"alarmNames": [""], "enable": true, "rollback": true}),
                "1 to 255",
            ),
            (
                json!({"alarmNames": [1], "enable": true, "rollback": true}),
                "list of alarm names",
            ),
            (
                json!({"alarmNames": ["a"], "enable": "yes", "rollback": true}),
                "boolean",
            ),
            (json!("a"), "structure"),
        ] {
            let e = DeploymentAlarms::parse(&bad).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException");
            assert!(e.message.contains(says), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn triggered_and_bake() {
        let names = vec!["a".to_string(), "b".to_string(), "gone".to_string()];
        let facts = [fact("a", false, 300.0), fact("b", true, 3600.0)];
        assert_eq!(triggered_alarms(&names, &facts), vec!["b"]);
        assert_eq!(alarm_bake_secs(&facts), 3600.0);
        assert_eq!(alarm_bake_secs(&[]), 0.0);
        assert!(alarm_failure_reason(&["b".into()]).contains("alarm(s) b went into the ALARM state"));
        assert_eq!(
            alarm_failure_event("web", "ecs-svc/1", &["b".into()]),
            "(service web) (deployment ecs-svc/1) deployment failed: alarm(s) detected: b."
        );
    }

    #[test]
    fn monitor_status() {
        use AlarmMonitorStatus as S;
        assert_eq!(S::of(false, false, true), S::Disabled);
        assert_eq!(S::of(true, true, false), S::Triggered);
        assert_eq!(S::of(true, false, true), S::Monitoring);
        assert_eq!(S::of(true, false, false).as_str(), "MONITORING_COMPLETE");
    }
}
