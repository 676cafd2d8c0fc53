//! Deployment lifecycle hooks (pure): the `deploymentConfiguration.lifecycleHooks`
//! a BLUE_GREEN, LINEAR or CANARY service accepts — `PAUSE` hooks only
//! (Berth has no Lambda to invoke) — and a deployment's hook runs, the
//! `lifecycleHookDetails` DescribeServiceDeployments shows: a pause waits
//! for ContinueServiceDeployment until its timeout, then takes its action.

use berth_proto::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// AWS's default and longest hook timeouts, in minutes.
pub const DEFAULT_HOOK_TIMEOUT_MINUTES: u32 = 1440;
pub const MAX_HOOK_TIMEOUT_MINUTES: u32 = 20160;

/// A lifecycle stage a hook may name (`DeploymentLifecycleHookStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStage {
    ReconcileService,
    PreScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    PreProductionTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
}

impl HookStage {
    pub const ALL: [HookStage; 8] = [
        Self::ReconcileService,
        Self::PreScaleUp,
        Self::PostScaleUp,
        Self::TestTrafficShift,
        Self::PostTestTrafficShift,
        Self::PreProductionTrafficShift,
        Self::ProductionTrafficShift,
        Self::PostProductionTrafficShift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReconcileService => "RECONCILE_SERVICE",
            Self::PreScaleUp => "PRE_SCALE_UP",
            Self::PostScaleUp => "POST_SCALE_UP",
            Self::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            Self::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            Self::PreProductionTrafficShift => "PRE_PRODUCTION_TRAFFIC_SHIFT",
            Self::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            Self::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a PAUSE hook may name it (not the two shifting stages,
    /// which only AWS_LAMBDA hooks observe).
    pub fn pausable(self) -> bool {
        !matches!(self, Self::TestTrafficShift | Self::ProductionTrafficShift)
    }
}

/// What ends a pause: ContinueServiceDeployment's `action`, or the
/// timeout's (`DeploymentLifecycleHookAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookAction {
    Continue,
    Rollback,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Continue => "CONTINUE",
            Self::Rollback => "ROLLBACK",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CONTINUE" => Some(Self::Continue),
            "ROLLBACK" => Some(Self::Rollback),
            _ => None,
        }
    }
}

/// The hook types Berth accepts: only PAUSE (AWS_LAMBDA is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookTargetType {
    Pause,
}

/// A hook's `timeoutConfiguration`, as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookTimeout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<HookAction>,
}

/// One configured lifecycle hook, as stored and shown back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHook {
    pub target_type: HookTargetType,
    pub lifecycle_stages: Vec<HookStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_configuration: Option<HookTimeout>,
}

fn invalid(m: impl Into<String>) -> AwsError {
    AwsError::invalid_parameter(m)
}

impl LifecycleHook {
    /// Checks one `lifecycleHooks[]` member of a request.
    pub fn parse(v: &Value) -> Result<Self, AwsError> {
        let Some(o) = v.as_object() else {
            return Err(invalid("Each lifecycleHooks entry must be an object."));
        };
        match o.get("targetType").map(|t| t.as_str()) {
            Some(Some("PAUSE")) => {}
            None | Some(Some("AWS_LAMBDA")) => {
                return Err(invalid(
                    "lifecycleHooks with targetType AWS_LAMBDA (the default) are not supported: Berth has no Lambda to invoke. Use targetType PAUSE and ContinueServiceDeployment.",
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "Invalid lifecycleHooks targetType {}: use PAUSE (or AWS_LAMBDA, which Berth does not support).",
                    other.map_or_else(|| "(not a string)".to_string(), str::to_string)
                )));
            }
        }
        for k in ["hookTargetArn", "roleArn", "hookDetails"] {
            if o.get(k).is_some_and(|x| !x.is_null()) {
                return Err(invalid(format!(
                    "lifecycleHooks.{k} is not applicable to a hook with targetType PAUSE."
                )));
            }
        }
        let stages = o
            .get("lifecycleStages")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| invalid("lifecycleHooks.lifecycleStages is required: name at least one stage."))?;
        let mut lifecycle_stages = vec![];
        for s in stages {
            let stage = s.as_str().and_then(HookStage::parse).ok_or_else(|| {
                let valid: Vec<&str> = HookStage::ALL.iter().map(|s| s.as_str()).collect();
                invalid(format!(
                    "Invalid lifecycleStages value {s}. Valid values: {}.",
                    valid.join(", ")
                ))
            })?;
            if !stage.pausable() {
                return Err(invalid(format!(
                    "A PAUSE hook can't be configured at the {} stage; that stage is only valid for AWS_LAMBDA hooks.",
                    stage.as_str()
                )));
            }
            if !lifecycle_stages.contains(&stage) {
                lifecycle_stages.push(stage);
            }
        }
        let timeout_configuration = match o.get("timeoutConfiguration") {
            None | Some(Value::Null) => None,
            Some(t) => {
                let minutes = match &t["timeoutInMinutes"] {
                    Value::Null => None,
                    m => Some(
                        m.as_i64()
                            .filter(|m| (1..=i64::from(MAX_HOOK_TIMEOUT_MINUTES)).contains(m))
                            .map(|m| m as u32)
                            .ok_or_else(|| {
                                invalid(format!(
                                    "timeoutConfiguration.timeoutInMinutes must be from 1 to {MAX_HOOK_TIMEOUT_MINUTES}, got {m}."
                                ))
                            })?,
                    ),
                };
                let action = match &t["action"] {
                    Value::Null => None,
                    a => Some(a.as_str().and_then(HookAction::parse).ok_or_else(|| {
                        invalid(format!(
                            "Invalid timeoutConfiguration.action {a}. Valid values: CONTINUE, ROLLBACK."
                        ))
                    })?),
                };
                Some(HookTimeout {
                    timeout_in_minutes: minutes,
                    action,
                })
            }
        };
        Ok(LifecycleHook {
            target_type: HookTargetType::Pause,
            lifecycle_stages,
            timeout_configuration,
        })
    }

    /// The timeout in minutes (AWS's default: 24 hours).
    pub fn timeout_minutes(&self) -> u32 {
        self.timeout_configuration
            .as_ref()
            .and_then(|t| t.timeout_in_minutes)
            .unwrap_or(DEFAULT_HOOK_TIMEOUT_MINUTES)
    }

    /// The action at the timeout (AWS's default: ROLLBACK).
    pub fn timeout_action(&self) -> HookAction {
        self.timeout_configuration
            .as_ref()
            .and_then(|t| t.action)
            .unwrap_or(HookAction::Rollback)
    }
}

/// Checks a request's `lifecycleHooks` (all of them, or the first error).
pub fn parse_lifecycle_hooks(v: &[Value]) -> Result<Vec<LifecycleHook>, AwsError> {
    v.iter().map(LifecycleHook::parse).collect()
}

/// A hook run's status (`DeploymentLifecycleHookStatus`; PAUSE hooks are
/// never IN_PROGRESS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    AwaitingAction,
    Succeeded,
    Failed,
    TimedOut,
}

impl HookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingAction => "AWAITING_ACTION",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
        }
    }
}

/// One pause of a deployment: which configured hook (its index), at which
/// stage and production step, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    pub hook_id: String,
    pub hook: usize,
    pub stage: HookStage,
    #[serde(default)]
    pub step: usize,
    pub status: HookStatus,
    pub expires_at: f64,
    pub timeout_action: HookAction,
}

impl HookRun {
    /// The `DeploymentLifecycleHookDetail` DescribeServiceDeployments shows.
    /// A pause of a deployment that is no longer in progress (a newer
    /// deployment replaced it, or the service was deleted) was never
    /// answered and never will be: it shows FAILED, not AWAITING_ACTION.
    pub fn detail(&self, deployment_in_progress: bool) -> Value {
        let status = match self.status {
            HookStatus::AwaitingAction if !deployment_in_progress => HookStatus::Failed,
            s => s,
        };
        serde_json::json!({
            "hookId": self.hook_id,
            "targetType": "PAUSE",
            "status": status.as_str(),
            "expiresAt": self.expires_at,
            "timeoutAction": self.timeout_action.as_str(),
        })
    }
}

/// What a stage's hooks say this pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gate {
    /// No pause here, or every pause here ended with CONTINUE.
    Pass,
    /// Paused until this time (the earliest timeout).
    Wait(f64),
    /// A pause timed out with ROLLBACK, or was answered ROLLBACK.
    Rollback,
}

/// The pauses of `stage` (at production `step`) for a deployment whose
/// hook ids start with `id_prefix`: opens the missing runs (returned as
/// new), times out the expired ones, and answers whether to go on.
pub fn gate(
    runs: &mut Vec<HookRun>,
    hooks: &[LifecycleHook],
    stage: HookStage,
    step: usize,
    id_prefix: &str,
    minute_secs: f64,
    now: f64,
) -> (Gate, Vec<String>) {
    let mut opened = vec![];
    let mut wait: Option<f64> = None;
    let mut rollback = false;
    for (i, h) in hooks
        .iter()
        .enumerate()
        .filter(|(_, h)| h.lifecycle_stages.contains(&stage))
    {
        let run = match runs
            .iter()
            .position(|r| r.hook == i && r.stage == stage && r.step == step)
        {
            Some(at) => &mut runs[at],
            None => {
                let hook_id = format!("{id_prefix}-{}", runs.len() + 1);
                opened.push(hook_id.clone());
                runs.push(HookRun {
                    hook_id,
                    hook: i,
                    stage,
                    step,
                    status: HookStatus::AwaitingAction,
                    expires_at: now + f64::from(h.timeout_minutes()) * minute_secs,
                    timeout_action: h.timeout_action(),
                });
                runs.last_mut().expect("just pushed")
            }
        };
        if run.status == HookStatus::AwaitingAction && now >= run.expires_at {
            run.status = HookStatus::TimedOut;
        }
        match run.status {
            HookStatus::AwaitingAction => wait = Some(wait.map_or(run.expires_at, |w| w.min(run.expires_at))),
            HookStatus::Succeeded => {}
            HookStatus::TimedOut if run.timeout_action == HookAction::Continue => {}
            HookStatus::TimedOut | HookStatus::Failed => rollback = true,
        }
    }
    let g = if rollback {
        Gate::Rollback
    } else if let Some(w) = wait {
        Gate::Wait(w)
    } else {
        Gate::Pass
    };
    (g, opened)
}

/// Answers a pause (ContinueServiceDeployment): the run must be awaiting
/// action and not expired. CONTINUE makes it SUCCEEDED, ROLLBACK FAILED.
pub fn answer_hook(runs: &mut [HookRun], hook_id: &str, action: HookAction, now: f64) -> Result<(), AwsError> {
    let run = runs
        .iter_mut()
        .find(|r| r.hook_id == hook_id)
        .ok_or_else(|| invalid(format!("The service deployment has no lifecycle hook {hook_id}.")))?;
    if run.status != HookStatus::AwaitingAction || now >= run.expires_at {
        let status = if run.status == HookStatus::AwaitingAction {
            HookStatus::TimedOut
        } else {
            run.status
        };
        return Err(invalid(format!(
            "The lifecycle hook {hook_id} is {}, not AWAITING_ACTION: there is nothing to continue.",
            status.as_str()
        )));
    }
    run.status = match action {
        HookAction::Continue => HookStatus::Succeeded,
        HookAction::Rollback => HookStatus::Failed,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        LifecycleHook::parse(&v).unwrap_err().message
    }

    #[test]
    fn pause_hooks_are_checked() {
        let h = LifecycleHook::parse(
            &json!({"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP", "POST_SCALE_UP"]}),
        )
        .unwrap();
        assert_eq!(h.lifecycle_stages, vec![HookStage::PostScaleUp]);
        assert_eq!((h.timeout_minutes(), h.timeout_action()), (1440, HookAction::Rollback));
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]})
        );
        let h = LifecycleHook::parse(
            &json!({"targetType": "PAUSE", "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"timeoutInMinutes": 5, "action": "CONTINUE"}}),
        )
        .unwrap();
        assert_eq!((h.timeout_minutes(), h.timeout_action()), (5, HookAction::Continue));
        assert!(err(json!({"lifecycleStages": ["POST_SCALE_UP"]})).contains("no Lambda"));
        assert!(
            err(json!({"targetType": "AWS_LAMBDA", "hookTargetArn": "x", "lifecycleStages": ["POST_SCALE_UP"]}))
                .contains("no Lambda")
        );
        assert!(err(json!({"targetType": "SLEEP", "lifecycleStages": ["POST_SCALE_UP"]})).contains("SLEEP"));
        assert!(
            err(json!({"targetType": "PAUSE", "roleArn": "r", "lifecycleStages": ["POST_SCALE_UP"]}))
                .contains("roleArn")
        );
        assert!(
            err(json!({"targetType": "PAUSE", "hookTargetArn": "r", "lifecycleStages": ["POST_SCALE_UP"]}))
                .contains("hookTargetArn")
        );
        assert!(err(json!({"targetType": "PAUSE"})).contains("lifecycleStages is required"));
        assert!(err(json!({"targetType": "PAUSE", "lifecycleStages": []})).contains("lifecycleStages is required"));
        assert!(err(json!({"targetType": "PAUSE", "lifecycleStages": ["LATER"]})).contains("Valid values"));
        assert!(err(json!({"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]})).contains("AWS_LAMBDA"));
        assert!(
            err(json!({"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]})).contains("AWS_LAMBDA")
        );
        for bad in [json!(0), json!(20161), json!("5")] {
            assert!(
                err(json!({"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"],
                    "timeoutConfiguration": {"timeoutInMinutes": bad}}))
                .contains("timeoutInMinutes")
            );
        }
        assert!(
            err(json!({"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"],
                "timeoutConfiguration": {"action": "WAIT"}}))
            .contains("action")
        );
        assert!(err(json!("PAUSE")).contains("object"));
    }

    fn hook(stage: HookStage, minutes: u32, action: HookAction) -> LifecycleHook {
        LifecycleHook {
            target_type: HookTargetType::Pause,
            lifecycle_stages: vec![stage],
            timeout_configuration: Some(HookTimeout {
                timeout_in_minutes: Some(minutes),
                action: Some(action),
            }),
        }
    }

    #[test]
    fn a_gate_opens_waits_and_ends() {
        let hooks = [hook(HookStage::PostScaleUp, 2, HookAction::Rollback)];
        let mut runs = vec![];
        // Another stage: nothing to wait for.
        assert_eq!(
            gate(&mut runs, &hooks, HookStage::PreScaleUp, 0, "p", 1.0, 0.0).0,
            Gate::Pass
        );
        let (g, opened) = gate(&mut runs, &hooks, HookStage::PostScaleUp, 0, "p", 1.0, 10.0);
        assert_eq!((g, opened), (Gate::Wait(12.0), vec!["p-1".to_string()]));
        // Looking again opens nothing new.
        let (g, opened) = gate(&mut runs, &hooks, HookStage::PostScaleUp, 0, "p", 1.0, 11.0);
        assert_eq!((g, opened.len()), (Gate::Wait(12.0), 0));
        answer_hook(&mut runs, "p-1", HookAction::Continue, 11.5).unwrap();
        assert_eq!(runs[0].status, HookStatus::Succeeded);
        assert_eq!(
            gate(&mut runs, &hooks, HookStage::PostScaleUp, 0, "p", 1.0, 11.6).0,
            Gate::Pass
        );
        // Answered twice: refused.
        assert!(
            answer_hook(&mut runs, "p-1", HookAction::Continue, 11.7)
                .unwrap_err()
                .message
                .contains("SUCCEEDED")
        );
        assert!(answer_hook(&mut runs, "p-9", HookAction::Continue, 11.7).is_err());
    }

    #[test]
    fn timeouts_take_their_action() {
        let hooks = [
            hook(HookStage::PreProductionTrafficShift, 1, HookAction::Continue),
            hook(HookStage::PostProductionTrafficShift, 1, HookAction::Rollback),
        ];
        let mut runs = vec![];
        let stage = HookStage::PreProductionTrafficShift;
        assert_eq!(gate(&mut runs, &hooks, stage, 0, "p", 60.0, 0.0).0, Gate::Wait(60.0));
        assert_eq!(gate(&mut runs, &hooks, stage, 0, "p", 60.0, 60.0).0, Gate::Pass);
        assert_eq!(runs[0].status, HookStatus::TimedOut);
        // Each production step pauses anew.
        assert_eq!(gate(&mut runs, &hooks, stage, 1, "p", 60.0, 61.0).0, Gate::Wait(121.0));
        // An expired pause can't be answered.
        assert!(answer_hook(&mut runs, "p-2", HookAction::Continue, 130.0).is_err());
        let post = HookStage::PostProductionTrafficShift;
        assert_eq!(gate(&mut runs, &hooks, post, 0, "p", 60.0, 200.0).0, Gate::Wait(260.0));
        assert_eq!(gate(&mut runs, &hooks, post, 0, "p", 60.0, 260.0).0, Gate::Rollback);
        assert_eq!(runs[2].detail(true)["status"], "TIMED_OUT");
        assert_eq!(runs[2].detail(true)["timeoutAction"], "ROLLBACK");
        // A pause still open when its deployment ended (replaced by a newer
        // one) was never answered: FAILED, not AWAITING_ACTION.
        let mut open = vec![];
        gate(&mut open, &hooks, post, 0, "r", 60.0, 0.0);
        assert_eq!(open[0].detail(true)["status"], "AWAITING_ACTION");
        assert_eq!(open[0].detail(false)["status"], "FAILED");
        assert_eq!(open[0].detail(false)["timeoutAction"], "ROLLBACK");
        // Answered ROLLBACK: FAILED, and the gate rolls back.
        let mut runs = vec![];
        gate(&mut runs, &hooks, post, 0, "q", 60.0, 0.0);
        answer_hook(&mut runs, "q-1", HookAction::Rollback, 1.0).unwrap();
        assert_eq!(runs[0].status, HookStatus::Failed);
        assert_eq!(gate(&mut runs, &hooks, post, 0, "q", 60.0, 2.0).0, Gate::Rollback);
    }
}
