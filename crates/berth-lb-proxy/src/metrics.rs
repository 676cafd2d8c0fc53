//! The ALB/NLB metrics, counted in memory with atomics on the request path
//! and read as a snapshot ([`crate::Proxy::metrics`]) for `/metrics` and,
//! later, CloudWatch. Counters only grow; gauges (active connections,
//! healthy hosts) are read at the time of the snapshot. The counters every
//! forwarded request adds to are striped by thread ([`crate::striped`]),
//! summed when read.

use crate::config::{LbKind, Target};
use crate::striped::{Counter, Striped};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Responses by the first digit of their code (index 0: 2XX … 3: 5XX).
#[derive(Debug, Default)]
pub(crate) struct CodeCounts([AtomicU64; 4]);

impl CodeCounts {
    pub(crate) fn count(&self, status: u16) {
        if let Some(c) = (status / 100).checked_sub(2).and_then(|i| self.0.get(usize::from(i))) {
            c.fetch_add(1, Relaxed);
        }
    }

    fn read(&self) -> Codes {
        let r = |i: usize| self.0[i].load(Relaxed);
        Codes {
            xx2: r(0),
            xx3: r(1),
            xx4: r(2),
            xx5: r(3),
        }
    }
}

/// One thread's stripe of [`TargetAnswers`].
#[derive(Debug, Default)]
struct AnswerStripe {
    requests: AtomicU64,
    codes: CodeCounts,
    response_micros: AtomicU64,
    responses: AtomicU64,
}

/// The target's answers: count, codes, time to the response's head.
#[derive(Debug, Default)]
pub(crate) struct TargetAnswers(Striped<AnswerStripe>);

impl TargetAnswers {
    /// A request sent to a target.
    pub(crate) fn request(&self) {
        self.0.local().requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn answered(&self, status: u16, took: Duration) {
        let stripe = self.0.local();
        stripe.codes.count(status);
        stripe.responses.fetch_add(1, Relaxed);
        stripe
            .response_micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The requests sent to targets.
    pub(crate) fn requests(&self) -> u64 {
        self.0.all().map(|s| s.requests.load(Relaxed)).sum()
    }

    fn read(&self) -> (Codes, ResponseTime) {
        let mut codes = Codes::default();
        let mut micros = 0u64;
        let mut count = 0u64;
        for stripe in self.0.all() {
            let c = stripe.codes.read();
            codes.xx2 += c.xx2;
            codes.xx3 += c.xx3;
            codes.xx4 += c.xx4;
            codes.xx5 += c.xx5;
            micros = micros.saturating_add(stripe.response_micros.load(Relaxed));
            count += stripe.responses.load(Relaxed);
        }
        (
            codes,
            ResponseTime {
                total: Duration::from_micros(micros),
                count,
            },
        )
    }
}

/// One load balancer's counters.
#[derive(Debug, Default)]
pub(crate) struct LbMetrics {
    pub(crate) requests: Counter,
    pub(crate) new_connections: AtomicU64,
    pub(crate) active_connections: AtomicU64,
    pub(crate) elb: CodeCounts,
    elb_500: AtomicU64,
    elb_502: AtomicU64,
    elb_503: AtomicU64,
    elb_504: AtomicU64,
    pub(crate) targets: TargetAnswers,
}

impl LbMetrics {
    /// An answer the load balancer made itself (fixed-response, redirect,
    /// 502/503/504).
    pub(crate) fn elb_answered(&self, status: u16) {
        self.elb.count(status);
        let split = match status {
            500 => &self.elb_500,
            502 => &self.elb_502,
            503 => &self.elb_503,
            504 => &self.elb_504,
            _ => return,
        };
        split.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, arn: &str, kind: LbKind) -> LbSnapshot {
        let (target_codes, target_response_time) = self.targets.read();
        LbSnapshot {
            arn: arn.into(),
            kind,
            request_count: self.requests.sum(),
            new_connection_count: self.new_connections.load(Relaxed),
            active_connection_count: self.active_connections.load(Relaxed),
            elb_codes: self.elb.read(),
            elb_500_count: self.elb_500.load(Relaxed),
            elb_502_count: self.elb_502.load(Relaxed),
            elb_503_count: self.elb_503.load(Relaxed),
            elb_504_count: self.elb_504.load(Relaxed),
            target_codes,
            target_response_time,
        }
    }
}

/// Counts by class: `HTTPCode_…_2XX_Count` … `_5XX_Count`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codes {
    pub xx2: u64,
    pub xx3: u64,
    pub xx4: u64,
    pub xx5: u64,
}

/// `TargetResponseTime` as a sum and a count (its average is the metric).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseTime {
    pub total: Duration,
    pub count: u64,
}

impl ResponseTime {
    pub fn average(&self) -> Option<Duration> {
        u32::try_from(self.count)
            .ok()
            .filter(|&c| c > 0)
            .map(|c| self.total / c)
    }
}

/// A load balancer's metrics (an NLB's connections are CloudWatch's
/// `NewFlowCount`/`ActiveFlowCount`).
#[derive(Debug, Clone, PartialEq)]
pub struct LbSnapshot {
    pub arn: String,
    pub kind: LbKind,
    /// `RequestCount`.
    pub request_count: u64,
    /// `NewConnectionCount`.
    pub new_connection_count: u64,
    /// `ActiveConnectionCount` (now).
    pub active_connection_count: u64,
    /// `HTTPCode_ELB_2XX…5XX_Count`: answers the load balancer made itself.
    pub elb_codes: Codes,
    pub elb_500_count: u64,
    pub elb_502_count: u64,
    pub elb_503_count: u64,
    pub elb_504_count: u64,
    /// `HTTPCode_Target_2XX…5XX_Count`.
    pub target_codes: Codes,
    /// `TargetResponseTime`.
    pub target_response_time: ResponseTime,
}

/// A target group's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub arn: String,
    /// `RequestCount` of this target group.
    pub request_count: u64,
    /// `RequestCountPerTarget`: the requests over the registered targets.
    pub request_count_per_target: f64,
    /// Requests sent to each registered target.
    pub per_target: Vec<(Target, u64)>,
    pub target_codes: Codes,
    pub target_response_time: ResponseTime,
    /// `HealthyHostCount` (now).
    pub healthy_host_count: u64,
    /// `UnHealthyHostCount` (now).
    pub unhealthy_host_count: u64,
}

/// Every load balancer's and target group's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub load_balancers: Vec<LbSnapshot>,
    pub target_groups: Vec<GroupSnapshot>,
}

pub(crate) fn group_snapshot(
    arn: &str,
    answers: &TargetAnswers,
    per_target: Vec<(Target, u64)>,
    healthy: u64,
    unhealthy: u64,
) -> GroupSnapshot {
    let (target_codes, target_response_time) = answers.read();
    let request_count = answers.requests();
    let per = if per_target.is_empty() {
        0.0
    } else {
        request_count as f64 / per_target.len() as f64
    };
    GroupSnapshot {
        arn: arn.into(),
        request_count,
        request_count_per_target: per,
        per_target,
        target_codes,
        target_response_time,
        healthy_host_count: healthy,
        unhealthy_host_count: unhealthy,
    }
}
