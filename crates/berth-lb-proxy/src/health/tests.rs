use super::*;

#[test]
fn a_new_target_is_initial_until_healthy_threshold_passes_in_a_row() {
    let mut m = HealthMachine::new();
    let initial = m.report();
    assert_eq!(initial.state, HealthState::Initial);
    assert_eq!(initial.reason.unwrap().code(), "Elb.InitialHealthChecking");
    assert_eq!(
        initial.description.as_deref(),
        Some("Initial health checks in progress")
    );
    for _ in 0..4 {
        assert_eq!(m.record(CheckOutcome::Passed, 5, 2), Transition::None);
    }
    assert!(m.is_initial());
    assert_eq!(m.record(CheckOutcome::Passed, 5, 2), Transition::BecameHealthy);
    assert_eq!(m.report(), TargetHealth::healthy());
}

#[test]
fn a_healthy_target_becomes_unhealthy_after_unhealthy_threshold_failures_in_a_row() {
    let mut m = HealthMachine::new();
    m.record(CheckOutcome::Passed, 1, 3);
    assert!(m.is_healthy());
    m.record(CheckOutcome::CodeMismatch(500), 1, 3);
    m.record(CheckOutcome::Passed, 1, 3);
    m.record(CheckOutcome::CodeMismatch(500), 1, 3);
    assert_eq!(m.record(CheckOutcome::CodeMismatch(500), 1, 3), Transition::None);
    assert!(m.is_healthy(), "a pass in between restarts the count");
    assert_eq!(
        m.record(CheckOutcome::CodeMismatch(503), 1, 3),
        Transition::BecameUnhealthy
    );
    let report = m.report();
    assert_eq!(report.state, HealthState::Unhealthy);
    assert_eq!(report.reason.unwrap().code(), "Target.ResponseCodeMismatch");
    assert_eq!(
        report.description.as_deref(),
        Some("Health checks failed with these codes: [503]")
    );
}

#[test]
fn the_reason_follows_the_last_failure() {
    let mut m = HealthMachine::new();
    m.record(CheckOutcome::Timeout, 2, 2);
    m.record(CheckOutcome::Timeout, 2, 2);
    let report = m.report();
    assert_eq!(
        (report.state, report.reason),
        (HealthState::Unhealthy, Some(Reason::Timeout))
    );
    assert_eq!(report.description.as_deref(), Some("Request timed out"));
    m.record(CheckOutcome::Failed, 2, 2);
    let report = m.report();
    assert_eq!(report.reason.unwrap().code(), "Target.FailedHealthChecks");
    assert_eq!(report.description.as_deref(), Some("Health checks failed"));
}

#[test]
fn an_unhealthy_target_recovers_after_healthy_threshold_passes() {
    let mut m = HealthMachine::new();
    m.record(CheckOutcome::Failed, 3, 2);
    m.record(CheckOutcome::Failed, 3, 2);
    assert_eq!(m.report().state, HealthState::Unhealthy);
    m.record(CheckOutcome::Passed, 3, 2);
    m.record(CheckOutcome::Passed, 3, 2);
    assert_eq!(m.report().state, HealthState::Unhealthy);
    assert_eq!(m.record(CheckOutcome::Passed, 3, 2), Transition::BecameHealthy);
}

#[test]
fn draining_unused_and_disabled_carry_aws_descriptions() {
    let d = TargetHealth::because(HealthState::Draining, Reason::DeregistrationInProgress);
    assert_eq!(d.reason.unwrap().code(), "Target.DeregistrationInProgress");
    assert_eq!(d.description.as_deref(), Some("Target deregistration is in progress"));
    let u = TargetHealth::because(HealthState::Unused, Reason::NotInUse);
    assert_eq!(u.reason.unwrap().code(), "Target.NotInUse");
    assert_eq!(
        u.description.as_deref(),
        Some("Target group is not configured to receive traffic from the load balancer")
    );
    let x = TargetHealth::because(HealthState::Unavailable, Reason::HealthCheckDisabled);
    assert_eq!(x.description.as_deref(), Some("Health checks are disabled"));
    assert_eq!(HealthState::Unavailable.to_string(), "unavailable");
}
