//! The load balancers' CloudWatch metrics: every interval the region's data
//! plane counters (`berth_lb_proxy::MetricsSnapshot`, cumulative since the
//! process started) are turned into the period's datapoints, as Elastic Load
//! Balancing publishes them once a minute, in `AWS/ApplicationELB` or
//! `AWS/NetworkELB`:
//!
//! - per load balancer (`LoadBalancer` = `app/NAME/ID`): RequestCount,
//!   HTTPCode_Target_2XX–5XX_Count, HTTPCode_ELB_3XX–5XX_Count and
//!   HTTPCode_ELB_500/502/503/504_Count, NewConnectionCount and
//!   ActiveConnectionCount; an NLB's NewFlowCount and ActiveFlowCount;
//! - per target group and each load balancer forwarding to it
//!   (`TargetGroup`, `LoadBalancer`): RequestCount, HTTPCode_Target_*,
//!   HealthyHostCount and UnHealthyHostCount; RequestCountPerTarget also
//!   under `TargetGroup` alone (what target tracking's
//!   ALBRequestCountPerTarget reads).
//!
//! Counts are published when not zero, as ELB does ("reported if there is a
//! nonzero value"); RequestCount, RequestCountPerTarget and the host counts
//! of a target group in use are published every period, zero included, so a
//! scale-in alarm sees a quiet service. TargetResponseTime is not published:
//! the proxy keeps its sum and count only, and a statistic set made of them
//! would invent its minimum and maximum. The first period after a start is
//! the baseline.

use berth_lb_proxy::LbKind;
use berth_lb_proxy::metrics::{Codes, GroupSnapshot, LbSnapshot, MetricsSnapshot};
use berth_metrics::inputs::Dimension;
use berth_metrics::rules::{Sample, metric};
use berth_metrics::stats::Aggregate;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const APPLICATION: &str = "AWS/ApplicationELB";
pub(crate) const NETWORK: &str = "AWS/NetworkELB";

/// The CloudWatch dimension value of a load balancer ARN (`app/NAME/ID`)
/// or target group ARN (`targetgroup/NAME/ID`).
fn dimension_value(arn: &str) -> &str {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest,
        None => arn.rsplit_once(':').map_or(arn, |(_, r)| r),
    }
}

fn dim(name: &str, arn: &str) -> Dimension {
    Dimension {
        name: name.into(),
        value: dimension_value(arn).into(),
    }
}

/// Growth of a counter over the period (a counter that went back, after a
/// restart of its data plane, counts from zero).
fn delta(now: u64, before: u64) -> u64 {
    now.checked_sub(before).unwrap_or(now)
}

fn code_deltas(now: Codes, before: Codes) -> [(&'static str, u64); 4] {
    [
        ("2XX", delta(now.xx2, before.xx2)),
        ("3XX", delta(now.xx3, before.xx3)),
        ("4XX", delta(now.xx4, before.xx4)),
        ("5XX", delta(now.xx5, before.xx5)),
    ]
}

struct Out {
    at: i64,
    samples: Vec<Sample>,
}

impl Out {
    fn push(&mut self, namespace: &str, name: &str, dims: &[Dimension], unit: &str, v: f64) {
        self.samples.push(Sample {
            metric: metric(namespace, name, dims).into(),
            ts: self.at,
            unit: unit.into(),
            agg: Aggregate::value(v, 1.0),
            high_resolution: false,
        });
    }
    fn count(&mut self, namespace: &str, name: &str, dims: &[Dimension], n: u64) {
        if n > 0 {
            self.push(namespace, name, dims, "Count", n as f64);
        }
    }
}

/// The datapoints of one period (pure): `before` and `now` are the data
/// plane's counters at its start and end, `lbs_of` the load balancers
/// forwarding to a target group.
pub(crate) fn period_samples(
    before: &MetricsSnapshot,
    now: &MetricsSnapshot,
    lbs_of: &dyn Fn(&str) -> Vec<String>,
    at: i64,
) -> Vec<Sample> {
    let mut out = Out {
        at,
        samples: Vec::new(),
    };
    let kinds: HashMap<&str, LbKind> = now.load_balancers.iter().map(|l| (l.arn.as_str(), l.kind)).collect();
    for l in &now.load_balancers {
        let Some(b) = before.load_balancers.iter().find(|b| b.arn == l.arn) else {
            continue; // new this period: its counters are the baseline
        };
        load_balancer(&mut out, b, l);
    }
    for g in &now.target_groups {
        let Some(b) = before.target_groups.iter().find(|b| b.arn == g.arn) else {
            continue;
        };
        for lb in lbs_of(&g.arn) {
            let Some(kind) = kinds.get(lb.as_str()) else { continue };
            target_group(&mut out, b, g, &lb, *kind);
        }
        if let Some(LbKind::Application) = lbs_of(&g.arn).iter().find_map(|lb| kinds.get(lb.as_str())) {
            let per = per_target(b, g);
            out.push(
                APPLICATION,
                "RequestCountPerTarget",
                &[dim("TargetGroup", &g.arn)],
                "Count",
                per,
            );
        }
    }
    out.samples
}

fn load_balancer(out: &mut Out, b: &LbSnapshot, l: &LbSnapshot) {
    let dims = [dim("LoadBalancer", &l.arn)];
    match l.kind {
        LbKind::Application => {
            let ns = APPLICATION;
            let requests = delta(l.request_count, b.request_count);
            if requests > 0 || l.active_connection_count > 0 {
                out.push(ns, "RequestCount", &dims, "Count", requests as f64);
            }
            for (class, n) in code_deltas(l.target_codes, b.target_codes) {
                out.count(ns, &format!("HTTPCode_Target_{class}_Count"), &dims, n);
            }
            for (class, n) in code_deltas(l.elb_codes, b.elb_codes).into_iter().skip(1) {
                out.count(ns, &format!("HTTPCode_ELB_{class}_Count"), &dims, n);
            }
            for (code, n, was) in [
                (500, l.elb_500_count, b.elb_500_count),
                (502, l.elb_502_count, b.elb_502_count),
                (503, l.elb_503_count, b.elb_503_count),
                (504, l.elb_504_count, b.elb_504_count),
            ] {
                out.count(ns, &format!("HTTPCode_ELB_{code}_Count"), &dims, delta(n, was));
            }
            out.count(
                ns,
                "NewConnectionCount",
                &dims,
                delta(l.new_connection_count, b.new_connection_count),
            );
            out.count(ns, "ActiveConnectionCount", &dims, l.active_connection_count);
        }
        LbKind::Network => {
            out.count(
                NETWORK,
                "NewFlowCount",
                &dims,
                delta(l.new_connection_count, b.new_connection_count),
            );
            out.count(NETWORK, "ActiveFlowCount", &dims, l.active_connection_count);
        }
    }
}

/// RequestCountPerTarget: the period's requests over the registered targets.
fn per_target(b: &GroupSnapshot, g: &GroupSnapshot) -> f64 {
    let requests = delta(g.request_count, b.request_count);
    if g.per_target.is_empty() {
        0.0
    } else {
        requests as f64 / g.per_target.len() as f64
    }
}

fn target_group(out: &mut Out, b: &GroupSnapshot, g: &GroupSnapshot, lb: &str, kind: LbKind) {
    let dims = [dim("TargetGroup", &g.arn), dim("LoadBalancer", lb)];
    let ns = match kind {
        LbKind::Application => APPLICATION,
        LbKind::Network => NETWORK,
    };
    if kind == LbKind::Application {
        out.push(
            ns,
            "RequestCount",
            &dims,
            "Count",
            delta(g.request_count, b.request_count) as f64,
        );
        out.push(ns, "RequestCountPerTarget", &dims, "Count", per_target(b, g));
        for (class, n) in code_deltas(g.target_codes, b.target_codes) {
            out.count(ns, &format!("HTTPCode_Target_{class}_Count"), &dims, n);
        }
    }
    out.push(ns, "HealthyHostCount", &dims, "Count", g.healthy_host_count as f64);
    out.push(ns, "UnHealthyHostCount", &dims, "Count", g.unhealthy_host_count as f64);
}

/// Publishes the region's load-balancer metrics every `interval` until
/// the server stops.
pub(crate) fn spawn_publisher(
    data_plane: Arc<berth_lb::controller::DataPlane>,
    store: Arc<dyn berth_store::Store>,
    metrics: Arc<berth_metrics::Metrics>,
    interval: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut before = data_plane.metrics();
        loop {
            tick.tick().await;
            let now = data_plane.metrics();
            let state = match berth_lb::state::load(store.as_ref()).await {
                Ok((state, _, _)) => state,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the load balancers for their metrics");
                    continue;
                }
            };
            let at = time::OffsetDateTime::now_utc().unix_timestamp();
            let samples = period_samples(&before, &now, &|tg| state.lbs_of_tg(tg), at);
            before = now;
            if samples.is_empty() {
                continue;
            }
            if let Err(e) = metrics.put_samples(samples).await {
                tracing::warn!(error = %e, "cannot store the load balancers' metrics");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_lb_proxy::metrics::ResponseTime;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/50dc6c495c0c9188";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/6d0ecf831eec9f09";

    fn lb(requests: u64, t2: u64, e503: u64) -> LbSnapshot {
        LbSnapshot {
            arn: LB.into(),
            kind: LbKind::Application,
            request_count: requests,
            new_connection_count: requests,
            active_connection_count: 0,
            elb_codes: Codes {
                xx5: e503,
                ..Codes::default()
            },
            elb_500_count: 0,
            elb_502_count: 0,
            elb_503_count: e503,
            elb_504_count: 0,
            target_codes: Codes {
                xx2: t2,
                ..Codes::default()
            },
            target_response_time: ResponseTime::default(),
        }
    }

    fn tg(requests: u64, targets: usize, healthy: u64) -> GroupSnapshot {
        GroupSnapshot {
            arn: TG.into(),
            request_count: requests,
            request_count_per_target: 0.0,
            per_target: (0..targets)
                .map(|i| {
                    let target = berth_lb_proxy::Target {
                        id: "127.0.0.1".into(),
                        port: 8000 + i as u16,
                        availability_zone: None,
                    };
                    (target, 0)
                })
                .collect(),
            target_codes: Codes {
                xx2: requests,
                ..Codes::default()
            },
            target_response_time: ResponseTime::default(),
            healthy_host_count: healthy,
            unhealthy_host_count: 0,
        }
    }

    fn snap(l: LbSnapshot, g: GroupSnapshot) -> MetricsSnapshot {
        MetricsSnapshot {
            load_balancers: vec![l],
            target_groups: vec![g],
        }
    }

    fn find<'a>(s: &'a [Sample], name: &str, dims: &[(&str, &str)]) -> Option<&'a Sample> {
        s.iter().find(|x| {
            x.metric.metric_name == name
                && x.metric.dimensions.len() == dims.len()
                && dims
                    .iter()
                    .all(|(n, v)| x.metric.dimensions.iter().any(|d| d.name == *n && d.value == *v))
        })
    }

    #[test]
    fn a_period_publishes_the_growth_of_the_counters_with_elbs_dimensions() {
        let before = snap(lb(100, 90, 10), tg(90, 3, 3));
        let now = snap(lb(160, 145, 15), tg(150, 3, 2));
        let s = period_samples(&before, &now, &|_| vec![LB.to_string()], 600);
        let lbd = [("LoadBalancer", "app/web/50dc6c495c0c9188")];
        let both = [("TargetGroup", "targetgroup/web/6d0ecf831eec9f09"), lbd[0]];
        let value = |name: &str, dims: &[(&str, &str)]| find(&s, name, dims).map(|x| x.agg.sum);
        assert_eq!(value("RequestCount", &lbd), Some(60.0));
        assert_eq!(value("HTTPCode_Target_2XX_Count", &lbd), Some(55.0));
        assert_eq!(value("HTTPCode_ELB_5XX_Count", &lbd), Some(5.0));
        assert_eq!(value("HTTPCode_ELB_503_Count", &lbd), Some(5.0));
        // Zero counts are not reported.
        assert_eq!(value("HTTPCode_Target_5XX_Count", &lbd), None);
        assert_eq!(value("HTTPCode_ELB_502_Count", &lbd), None);
        assert_eq!(value("RequestCount", &both), Some(60.0));
        assert_eq!(value("RequestCountPerTarget", &both), Some(20.0));
        assert_eq!(
            value(
                "RequestCountPerTarget",
                &[("TargetGroup", "targetgroup/web/6d0ecf831eec9f09")]
            ),
            Some(20.0)
        );
        assert_eq!(value("HealthyHostCount", &both), Some(2.0));
        assert!(
            s.iter()
                .all(|x| x.metric.namespace == APPLICATION && x.ts == 600 && !x.high_resolution)
        );
        assert!(find(&s, "TargetResponseTime", &lbd).is_none());
    }

    #[test]
    fn a_quiet_target_group_still_reports_zero_requests_per_target() {
        let s = period_samples(
            &snap(lb(5, 5, 0), tg(5, 2, 2)),
            &snap(lb(5, 5, 0), tg(5, 2, 2)),
            &|_| vec![LB.to_string()],
            60,
        );
        let tg_only = [("TargetGroup", "targetgroup/web/6d0ecf831eec9f09")];
        assert_eq!(
            find(&s, "RequestCountPerTarget", &tg_only).map(|x| x.agg.sum),
            Some(0.0)
        );
        assert!(find(&s, "RequestCount", &[("LoadBalancer", "app/web/50dc6c495c0c9188")]).is_none());
    }

    #[test]
    fn the_first_period_is_the_baseline_and_a_restarted_counter_counts_from_zero() {
        let now = snap(lb(7, 7, 0), tg(7, 1, 1));
        assert!(period_samples(&MetricsSnapshot::default(), &now, &|_| vec![LB.to_string()], 60).is_empty());
        let s = period_samples(
            &snap(lb(100, 100, 0), tg(100, 1, 1)),
            &now,
            &|_| vec![LB.to_string()],
            60,
        );
        let lbd = [("LoadBalancer", "app/web/50dc6c495c0c9188")];
        assert_eq!(find(&s, "RequestCount", &lbd).map(|x| x.agg.sum), Some(7.0));
    }

    #[test]
    fn a_target_group_no_load_balancer_forwards_to_has_no_metrics() {
        let s = period_samples(
            &snap(lb(1, 1, 0), tg(1, 1, 1)),
            &snap(lb(2, 2, 0), tg(2, 1, 1)),
            &|_| Vec::new(),
            60,
        );
        assert!(
            s.iter()
                .all(|x| !x.metric.dimensions.iter().any(|d| d.name == "TargetGroup"))
        );
    }
}
