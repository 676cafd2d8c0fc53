//! The target health of ELBv2, pure: the states and reason codes of
//! `DescribeTargetHealth` with AWS's descriptions, and the state machine of
//! one target fed the outcome of each active check (initial → healthy after
//! `healthy_threshold` passes in a row, → unhealthy after
//! `unhealthy_threshold` failures in a row; the same thresholds move it
//! back and forth afterwards). Draining and unused are not results of
//! checks; the target group ([`crate::group`]) decides them.

use std::fmt;

/// `TargetHealthStateEnum` (the states Berth reaches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    Initial,
    Healthy,
    Unhealthy,
    Draining,
    Unused,
    Unavailable,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Draining => "draining",
            HealthState::Unused => "unused",
            HealthState::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `TargetHealthReasonEnum` (the codes Berth gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    InitialHealthChecking,
    ResponseCodeMismatch,
    Timeout,
    FailedHealthChecks,
    NotInUse,
    DeregistrationInProgress,
    HealthCheckDisabled,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::InitialHealthChecking => "Elb.InitialHealthChecking",
            Reason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Reason::Timeout => "Target.Timeout",
            Reason::FailedHealthChecks => "Target.FailedHealthChecks",
            Reason::NotInUse => "Target.NotInUse",
            Reason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Reason::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }
}

/// A target's health as `DescribeTargetHealth` reports it: no reason nor
/// description when healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub state: HealthState,
    pub reason: Option<Reason>,
    pub description: Option<String>,
}

impl TargetHealth {
    pub fn healthy() -> TargetHealth {
        TargetHealth {
            state: HealthState::Healthy,
            reason: None,
            description: None,
        }
    }

    /// A state with its reason and AWS's description of it.
    pub fn because(state: HealthState, reason: Reason) -> TargetHealth {
        let description = match reason {
            Reason::InitialHealthChecking => "Initial health checks in progress",
            Reason::Timeout => "Request timed out",
            Reason::FailedHealthChecks => "Health checks failed",
            Reason::NotInUse => "Target group is not configured to receive traffic from the load balancer",
            Reason::DeregistrationInProgress => "Target deregistration is in progress",
            Reason::HealthCheckDisabled => "Health checks are disabled",
            Reason::ResponseCodeMismatch => "Health checks failed",
        };
        TargetHealth {
            state,
            reason: Some(reason),
            description: Some(description.into()),
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Passed,
    /// An HTTP answer whose code the matcher does not accept.
    CodeMismatch(u16),
    /// No answer within the check's timeout.
    Timeout,
    /// Refused, reset, or not an HTTP answer.
    Failed,
}

/// One target's health from its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthMachine {
    state: Checked,
    passes: u32,
    failures: u32,
    last_failure: Option<CheckOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    Initial,
    Healthy,
    Unhealthy,
}

/// What a check changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    BecameHealthy,
    BecameUnhealthy,
}

impl Default for HealthMachine {
    fn default() -> Self {
        HealthMachine::new()
    }
}

impl HealthMachine {
    /// A newly registered target: initial, no checks yet.
    pub fn new() -> HealthMachine {
        HealthMachine {
            state: Checked::Initial,
            passes: 0,
            failures: 0,
            last_failure: None,
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.state == Checked::Healthy
    }

    pub fn is_initial(&self) -> bool {
        self.state == Checked::Initial
    }

    /// Counts one check's outcome against the thresholds.
    pub fn record(&mut self, outcome: CheckOutcome, healthy_threshold: u32, unhealthy_threshold: u32) -> Transition {
        if outcome == CheckOutcome::Passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
            if self.state != Checked::Healthy && self.passes >= healthy_threshold.max(1) {
                self.state = Checked::Healthy;
                self.last_failure = None;
                return Transition::BecameHealthy;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
            self.last_failure = Some(outcome);
            if self.state != Checked::Unhealthy && self.failures >= unhealthy_threshold.max(1) {
                self.state = Checked::Unhealthy;
                return Transition::BecameUnhealthy;
            }
        }
        Transition::None
    }

    /// The health to report while the target is registered and in use.
    pub fn report(&self) -> TargetHealth {
        match self.state {
            Checked::Healthy => TargetHealth::healthy(),
            Checked::Initial => TargetHealth::because(HealthState::Initial, Reason::InitialHealthChecking),
            Checked::Unhealthy => match self.last_failure {
                Some(CheckOutcome::CodeMismatch(code)) => TargetHealth {
                    state: HealthState::Unhealthy,
                    reason: Some(Reason::ResponseCodeMismatch),
                    description: Some(format!("Health checks failed with these codes: [{code}]")),
                },
                Some(CheckOutcome::Timeout) => TargetHealth::because(HealthState::Unhealthy, Reason::Timeout),
                _ => TargetHealth::because(HealthState::Unhealthy, Reason::FailedHealthChecks),
            },
        }
    }
}

#[cfg(test)]
mod tests;
