//! Choosing a target, pure: round robin (smooth weighted, so a target in
//! slow start gets its growing share and equal weights rotate in turn) or
//! least outstanding requests, over the healthy targets; when none is
//! healthy, over every registered target that is not draining (ALB fails
//! open). Also the weighted choice between a forward's target groups and
//! the slow-start ramp.

use crate::config::Algorithm;
use std::time::Duration;

/// A weight meaning "full share".
pub const FULL_WEIGHT: u32 = 1000;

/// Whether a target may take a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routable {
    /// Healthy (or health checks disabled): always a candidate.
    Healthy,
    /// Initial or unhealthy: a candidate only when no target is healthy.
    FailOpen,
    /// Draining or unused: never.
    No,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub routable: Routable,
    /// 1..=[`FULL_WEIGHT`]; below full while in slow start.
    pub weight: u32,
    /// Requests sent to it and not yet answered.
    pub outstanding: u32,
}

/// The memory of one target group's balancing between picks.
#[derive(Debug, Default)]
pub struct Balancer {
    current: Vec<i64>,
    next: usize,
}

impl Balancer {
    /// The index of the chosen candidate; none when no target may be used.
    pub fn pick(&mut self, algorithm: Algorithm, candidates: &[Candidate]) -> Option<usize> {
        let class = if candidates.iter().any(|c| c.routable == Routable::Healthy) {
            Routable::Healthy
        } else {
            Routable::FailOpen
        };
        let eligible = |c: &Candidate| c.routable == class;
        if !candidates.iter().any(eligible) {
            return None;
        }
        match algorithm {
            Algorithm::RoundRobin => Some(self.smooth_weighted(candidates, eligible)),
            Algorithm::LeastOutstandingRequests => Some(self.least_outstanding(candidates, eligible)),
        }
    }

    /// nginx's smooth weighted round robin: each eligible candidate gains
    /// its weight, the richest is chosen and pays the total.
    fn smooth_weighted(&mut self, candidates: &[Candidate], eligible: impl Fn(&Candidate) -> bool) -> usize {
        if self.current.len() != candidates.len() {
            self.current = vec![0; candidates.len()];
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, c) in candidates.iter().enumerate() {
            if !eligible(c) {
                self.current[i] = 0;
                continue;
            }
            let weight = i64::from(c.weight.clamp(1, FULL_WEIGHT));
            self.current[i] += weight;
            total += weight;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let best = best.unwrap_or(0);
        self.current[best] -= total;
        best
    }

    /// The fewest outstanding requests; ties go round in turn.
    fn least_outstanding(&mut self, candidates: &[Candidate], eligible: impl Fn(&Candidate) -> bool) -> usize {
        let n = candidates.len();
        let start = self.next % n;
        let mut best: Option<usize> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let c = &candidates[i];
            if eligible(c) && best.is_none_or(|b| c.outstanding < candidates[b].outstanding) {
                best = Some(i);
            }
        }
        let best = best.unwrap_or(start);
        self.next = best + 1;
        best
    }
}

/// The weight of a target `healthy_for` after it became healthy, with a
/// slow start of `duration`: rising linearly from 1 % to full.
pub fn slow_start_weight(healthy_for: Duration, duration: Duration) -> u32 {
    if duration.is_zero() || healthy_for >= duration {
        return FULL_WEIGHT;
    }
    let share = healthy_for.as_secs_f64() / duration.as_secs_f64();
    ((share * f64::from(FULL_WEIGHT)) as u32).clamp(FULL_WEIGHT / 100, FULL_WEIGHT)
}

/// 2^64 / φ: consecutive multiples of it, read as fractions of 2^64, are
/// the golden-ratio (Weyl) sequence, spread evenly over [0, 1).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The roll (in `0..total`) of a weighted forward's `turn`-th request:
/// the golden-ratio sequence scaled to the total weight, so any run of
/// consecutive requests splits between the groups as their weights say,
/// within a request or two (a random roll drifts: 25 % of 150 requests
/// came out as 31 %).
pub fn even_roll(turn: u64, total: u64) -> u64 {
    ((u128::from(turn.wrapping_mul(GOLDEN)) * u128::from(total)) >> 64) as u64
}

/// The target group a weighted forward takes for a roll `r` (uniform in
/// `0..total weight`); none when every weight is 0.
pub fn weighted_group(weights: impl Iterator<Item = u32> + Clone, roll: u64) -> Option<usize> {
    let total: u64 = weights.clone().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let mut point = roll % total;
    for (i, w) in weights.enumerate() {
        if point < u64::from(w) {
            return Some(i);
        }
        point -= u64::from(w);
    }
    None
}

#[cfg(test)]
mod tests;
