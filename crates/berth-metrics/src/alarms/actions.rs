//! Alarm actions: which ARNs an alarm may name (pure), and the hook the
//! evaluator calls when an alarm enters a state whose actions are enabled.
//!
//! Berth runs the actions of services it has: Application Auto Scaling
//! policies (`arn:aws:autoscaling:REGION:ACCOUNT:scalingPolicy:ID:resource/…:policyName/NAME`),
//! whose runner the binary plugs in ([`ActionRunner`]: its `PolicyRunner`
//! runs them through Application Auto Scaling). SNS topics, EC2 and EC2 Auto Scaling actions,
//! Systems Manager and Lambda are refused at PutMetricAlarm rather than
//! stored and never run.

use super::model::StateValue;
use async_trait::async_trait;
use berth_core::arn::Arn;

/// Why an action ARN is refused; its `Display` is the caller's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusedAction {
    /// Not an ARN at all.
    NotAnArn { path: String, arn: String },
    /// An action of a service Berth does not have.
    Unsupported { path: String, arn: String },
    /// A policy of another region or account.
    Elsewhere {
        path: String,
        arn: String,
        region: String,
        account: String,
    },
}

impl std::fmt::Display for RefusedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefusedAction::NotAnArn { path, arn } => write!(f, "Invalid arn syntax: {arn} (in {path})."),
            RefusedAction::Unsupported { path, arn } => write!(
                f,
                "The action {arn} (in {path}) is not supported: Berth runs Application Auto Scaling policy actions \
                 (arn:aws:autoscaling:REGION:ACCOUNT:scalingPolicy:ID:resource/NAMESPACE/…:policyName/NAME) only; \
                 it has no SNS, EC2, EC2 Auto Scaling, Systems Manager or Lambda to notify."
            ),
            RefusedAction::Elsewhere {
                path,
                arn,
                region,
                account,
            } => write!(
                f,
                "The action {arn} (in {path}) must be in this alarm's region ({region}) and account ({account})."
            ),
        }
    }
}

/// Checks an action ARN an alarm names at `path` (`AlarmActions`, …).
pub fn check_action(path: &str, arn: &str, region: &str, account: &str) -> Result<(), RefusedAction> {
    let (path, arn_text) = (path.to_string(), arn.to_string());
    let Some(parsed) = Arn::parse(arn) else {
        return Err(RefusedAction::NotAnArn { path, arn: arn_text });
    };
    let is_aas_policy = parsed.service == "autoscaling"
        && parsed
            .resource
            .strip_prefix("scalingPolicy:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, rest)| !id.is_empty() && rest.starts_with("resource/") && rest.contains(":policyName/"));
    if !is_aas_policy {
        return Err(RefusedAction::Unsupported { path, arn: arn_text });
    }
    if parsed.region != region || parsed.account != account {
        return Err(RefusedAction::Elsewhere {
            path,
            arn: arn_text,
            region: region.to_string(),
            account: account.to_string(),
        });
    }
    Ok(())
}

/// An alarm entered a state: what an action is run with.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub alarm_name: String,
    pub alarm_arn: String,
    pub old: StateValue,
    pub new: StateValue,
    pub reason: String,
    /// Epoch seconds.
    pub at: f64,
}

/// Why an action failed, for the alarm's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError(pub String);

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs one alarm action (an Application Auto Scaling policy).
#[async_trait]
pub trait ActionRunner: Send + Sync {
    async fn run(&self, action_arn: &str, change: &StateChange) -> Result<(), ActionError>;

    /// Whether `action_arn` is run again at every evaluation while the
    /// alarm stays in the state (as CloudWatch invokes Auto Scaling
    /// policies every period an alarm stays in ALARM; the policy's cooldown
    /// decides whether it acts). Default: on the transition only.
    fn repeats(&self, _action_arn: &str) -> bool {
        false
    }
}

/// The runner where no service that takes actions is wired (tests, a
/// metrics store on its own): every action fails, and the alarm's history
/// says so.
pub struct NoRunner;

#[async_trait]
impl ActionRunner for NoRunner {
    async fn run(&self, _action_arn: &str, _change: &StateChange) -> Result<(), ActionError> {
        Err(ActionError(
            "Application Auto Scaling is not served by this server, so the policy was not run".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:6d8972f3-efc8-437c-92d1-6270f29a66e7:resource/ecs/service/default/web:policyName/cpu";

    #[test]
    fn application_auto_scaling_policies_are_the_actions_berth_runs() {
        assert_eq!(
            check_action("AlarmActions", POLICY, "us-east-1", "000000000000"),
            Ok(())
        );
        for refused in [
            "arn:aws:sns:us-east-1:000000000000:topic",
            "arn:aws:automate:us-east-1:ec2:stop",
            "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:autoScalingGroupName/asg:policyName/p",
            "arn:aws:lambda:us-east-1:000000000000:function:f",
        ] {
            let e = check_action("AlarmActions", refused, "us-east-1", "000000000000").unwrap_err();
            assert!(matches!(e, RefusedAction::Unsupported { .. }), "{refused}: {e}");
            assert!(e.to_string().contains("is not supported"), "{refused}: {e}");
        }
        let e = check_action("OKActions", "topic", "us-east-1", "000000000000").unwrap_err();
        assert_eq!(e.to_string(), "Invalid arn syntax: topic (in OKActions).");
        let e = check_action("AlarmActions", POLICY, "eu-west-1", "000000000000").unwrap_err();
        assert!(
            e.to_string().contains("must be in this alarm's region (eu-west-1)"),
            "{e}"
        );
    }
}
