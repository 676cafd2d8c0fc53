//! A target group at run time: its registered targets with their health
//! machines, the draining ones until their deregistration delay ends, the
//! balancer's memory and the group's counters. One mutex guards it; the
//! request path holds it only to choose a target.

use crate::balance::{self, Balancer, Candidate, FULL_WEIGHT, Routable};
use crate::config::{HealthCheck, HealthCheckPort, Target, TargetGroup, TargetGroupAttributes};
use crate::health::{CheckOutcome, HealthMachine, HealthState, Reason, TargetHealth, Transition};
use crate::metrics::{self, GroupSnapshot, TargetAnswers};
use crate::sticky;
use crate::striped::{Counter, Padded};
use crate::upstream::{Pool, TargetShared};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Debug)]
struct Slot {
    shared: Arc<TargetShared>,
    machine: HealthMachine,
    /// Since when it is healthy, and whether it ramps up (slow start).
    healthy_since: Option<(Instant, bool)>,
    /// Deregistered: draining until then.
    draining_until: Option<Instant>,
    /// When it was registered (slow start needs a healthy target then).
    registered: Instant,
}

impl Slot {
    fn new(target: &Target, now: Instant) -> Slot {
        Slot {
            shared: Arc::new(TargetShared {
                authority: target.authority(target.port),
                uri_authority: target.authority(target.port).parse().ok(),
                cookie: sticky::target_value(&target.id, target.port),
                addr: target.authority(target.port).parse().ok(),
                target: target.clone(),
                outstanding: Padded(AtomicU32::new(0)),
                requests: Counter::default(),
                retired: AtomicBool::new(false),
                pool: Pool::default(),
            }),
            machine: HealthMachine::new(),
            healthy_since: None,
            draining_until: None,
            registered: now,
        }
    }

    fn is(&self, target: &Target) -> bool {
        self.shared.target.id == target.id && self.shared.target.port == target.port
    }
}

#[derive(Debug)]
struct State {
    health_check: HealthCheck,
    attributes: TargetGroupAttributes,
    /// Used by a listener: checked and routed to; else its targets are unused.
    in_use: bool,
    slots: Vec<Slot>,
    balancer: Balancer,
    scratch: Vec<Candidate>,
}

/// One target group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) arn: String,
    state: Mutex<State>,
    pub(crate) answers: TargetAnswers,
    /// Woken when the config changes, so the checker re-reads it.
    pub(crate) changed: Notify,
}

/// What the request path got.
#[derive(Debug)]
pub(crate) enum Pick {
    /// The target, and the stickiness cookie's lifetime when it is on.
    Target(Arc<TargetShared>, Option<Duration>),
    /// No registered target that is not draining: a 503.
    NoTargets,
}

/// One target's health as `DescribeTargetHealth` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthDescription {
    pub target: Target,
    /// The port its health checks go to.
    pub health_check_port: u16,
    pub health: TargetHealth,
}

/// What the checker needs to check one target.
#[derive(Debug, Clone)]
pub(crate) struct CheckJob {
    pub(crate) target: Target,
    pub(crate) port: u16,
}

impl Group {
    pub(crate) fn new(config: &TargetGroup, in_use: bool, now: Instant) -> Group {
        let group = Group {
            arn: config.arn.clone(),
            state: Mutex::new(State {
                health_check: config.health_check.clone(),
                attributes: config.attributes.clone(),
                in_use,
                slots: Vec::new(),
                balancer: Balancer::default(),
                scratch: Vec::new(),
            }),
            answers: TargetAnswers::default(),
            changed: Notify::new(),
        };
        group.update(config, in_use, now);
        group
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a new config: new targets start initial, targets no longer
    /// listed drain for the deregistration delay, a draining target listed
    /// again starts over.
    pub(crate) fn update(&self, config: &TargetGroup, in_use: bool, now: Instant) {
        let mut s = self.lock();
        s.health_check = config.health_check.clone();
        s.attributes = config.attributes.clone();
        s.in_use = in_use;
        let delay = s.attributes.deregistration_delay;
        for slot in &mut s.slots {
            let listed = config.targets.iter().any(|t| slot.is(t));
            if !listed && slot.draining_until.is_none() {
                slot.draining_until = Some(now + delay);
                slot.shared.retire();
            }
        }
        s.slots.retain(|slot| {
            slot.draining_until
                .is_none_or(|until| until > now && !config.targets.iter().any(|t| slot.is(t)))
        });
        for target in &config.targets {
            if !s
                .slots
                .iter()
                .any(|slot| slot.is(target) && slot.draining_until.is_none())
            {
                s.slots.push(Slot::new(target, now));
            }
        }
        drop(s);
        self.changed.notify_one();
    }

    /// Chooses a target for a new request or connection; `sticky` is the
    /// request's `AWSALB` cookie, honoured when stickiness is on and its
    /// target may still be used.
    pub(crate) fn pick(&self, sticky: Option<&str>, now: Instant) -> Pick {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut scratch = std::mem::take(&mut s.scratch);
        scratch.clear();
        let disabled = !s.health_check.enabled;
        scratch.extend(
            s.slots
                .iter()
                .map(|slot| candidate(slot, disabled, s.attributes.slow_start, now)),
        );
        let stickiness = s.attributes.stickiness;
        let any_healthy = scratch.iter().any(|c| c.routable == Routable::Healthy);
        let stuck = stickiness.and(sticky).and_then(|value| {
            s.slots.iter().zip(&scratch).position(|(slot, c)| {
                slot.shared.cookie == value
                    && (c.routable == Routable::Healthy || (!any_healthy && c.routable == Routable::FailOpen))
            })
        });
        let chosen = stuck.or_else(|| s.balancer.pick(s.attributes.algorithm, &scratch));
        s.scratch = scratch;
        match chosen {
            Some(i) => Pick::Target(s.slots[i].shared.clone(), stickiness),
            None => Pick::NoTargets,
        }
    }

    /// The targets to check now (none when unused or checks are off), and
    /// the health check settings.
    pub(crate) fn check_jobs(&self) -> (Vec<CheckJob>, HealthCheck, bool) {
        let s = self.lock();
        let active = s.in_use && s.health_check.enabled;
        let jobs = if active {
            s.slots
                .iter()
                .filter(|slot| slot.draining_until.is_none())
                .map(|slot| CheckJob {
                    target: slot.shared.target.clone(),
                    port: check_port(&s.health_check, &slot.shared.target),
                })
                .collect()
        } else {
            Vec::new()
        };
        (jobs, s.health_check.clone(), active)
    }

    /// Records a check's outcome for a target still registered.
    pub(crate) fn record(&self, target: &Target, outcome: CheckOutcome, now: Instant) -> Transition {
        let mut guard = self.lock();
        let s = &mut *guard;
        let (healthy_threshold, unhealthy_threshold) =
            (s.health_check.healthy_threshold, s.health_check.unhealthy_threshold);
        let slow_start = s.attributes.slow_start;
        let registered = s
            .slots
            .iter()
            .find(|slot| slot.is(target) && slot.draining_until.is_none())
            .map_or(now, |slot| slot.registered);
        let others_settled = s.slots.iter().any(|slot| {
            !slot.is(target)
                && slot.draining_until.is_none()
                && slot.machine.is_healthy()
                && !ramping(slot, slow_start, now)
                && slot.healthy_since.is_some_and(|(since, _)| since < registered)
        });
        let Some(slot) = s
            .slots
            .iter_mut()
            .find(|slot| slot.is(target) && slot.draining_until.is_none())
        else {
            return Transition::None;
        };
        let transition = slot.machine.record(outcome, healthy_threshold, unhealthy_threshold);
        match transition {
            // A target enters slow start when it becomes healthy, only if
            // another target was healthy when it was registered and is not
            // in slow start itself (so the targets registered into an
            // empty group take traffic at once).
            Transition::BecameHealthy => slot.healthy_since = Some((now, !slow_start.is_zero() && others_settled)),
            Transition::BecameUnhealthy => slot.healthy_since = None,
            Transition::None => {}
        }
        transition
    }

    /// Forgets the targets whose deregistration delay is over; answers the
    /// next time one ends.
    pub(crate) fn reap(&self, now: Instant) -> Option<Instant> {
        let mut s = self.lock();
        s.slots
            .retain(|slot| slot.draining_until.is_none_or(|until| until > now));
        s.slots.iter().filter_map(|slot| slot.draining_until).min()
    }

    pub(crate) fn health(&self) -> Vec<TargetHealthDescription> {
        let s = self.lock();
        s.slots
            .iter()
            .map(|slot| TargetHealthDescription {
                target: slot.shared.target.clone(),
                health_check_port: check_port(&s.health_check, &slot.shared.target),
                health: report(slot, &s),
            })
            .collect()
    }

    pub(crate) fn snapshot(&self) -> GroupSnapshot {
        let s = self.lock();
        let mut healthy = 0;
        let mut unhealthy = 0;
        let mut per_target = Vec::new();
        for slot in s.slots.iter().filter(|slot| slot.draining_until.is_none()) {
            match report(slot, &s).state {
                HealthState::Healthy | HealthState::Unavailable => healthy += 1,
                HealthState::Unhealthy => unhealthy += 1,
                _ => {}
            }
            per_target.push((slot.shared.target.clone(), slot.shared.requests.sum()));
        }
        metrics::group_snapshot(&self.arn, &self.answers, per_target, healthy, unhealthy)
    }
}

/// In slow start now.
fn ramping(slot: &Slot, slow_start: Duration, now: Instant) -> bool {
    matches!(slot.healthy_since, Some((since, true)) if now.saturating_duration_since(since) < slow_start)
}

fn check_port(hc: &HealthCheck, target: &Target) -> u16 {
    match hc.port {
        HealthCheckPort::TrafficPort => target.port,
        HealthCheckPort::Port(p) => p,
    }
}

fn report(slot: &Slot, s: &State) -> TargetHealth {
    if slot.draining_until.is_some() {
        TargetHealth::because(HealthState::Draining, Reason::DeregistrationInProgress)
    } else if !s.in_use {
        TargetHealth::because(HealthState::Unused, Reason::NotInUse)
    } else if !s.health_check.enabled {
        TargetHealth::because(HealthState::Unavailable, Reason::HealthCheckDisabled)
    } else {
        slot.machine.report()
    }
}

fn candidate(slot: &Slot, checks_disabled: bool, slow_start: Duration, now: Instant) -> Candidate {
    let routable = if slot.draining_until.is_some() {
        Routable::No
    } else if checks_disabled || slot.machine.is_healthy() {
        Routable::Healthy
    } else {
        Routable::FailOpen
    };
    let weight = match slot.healthy_since {
        Some((since, true)) => balance::slow_start_weight(now.saturating_duration_since(since), slow_start),
        _ => FULL_WEIGHT,
    };
    Candidate {
        routable,
        weight,
        outstanding: slot.shared.outstanding.load(Relaxed),
    }
}

#[cfg(test)]
mod tests;
