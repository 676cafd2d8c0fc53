//! The data plane's metrics in Prometheus' text (classic or OpenMetrics),
//! pure: per load balancer and target group, labelled as CloudWatch's
//! dimensions are (`LoadBalancer` = `app/NAME/ID`, `TargetGroup` =
//! `targetgroup/NAME/ID`) with the region. `/metrics` appends them.

use berth_lb_proxy::MetricsSnapshot;
use berth_lb_proxy::metrics::{Codes, ResponseTime};
use std::fmt::Write;

/// The CloudWatch dimension of an ARN: what follows `loadbalancer/` or
/// the `targetgroup/…` resource.
fn dimension(arn: &str) -> &str {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest,
        None => arn.rsplit_once(':').map_or(arn, |(_, r)| r),
    }
}

/// A metric of a load balancer or target group: its name, help and value.
type Metric<T, V> = (&'static str, &'static str, fn(&T) -> V);

struct Out {
    text: String,
    openmetrics: bool,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // OpenMetrics names a counter's family without its `_total`.
        let family = if self.openmetrics && kind == "counter" {
            name.trim_end_matches("_total")
        } else {
            name
        };
        let _ = writeln!(self.text, "# HELP {family} {help}");
        let _ = writeln!(self.text, "# TYPE {family} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
    }
    fn codes(&mut self, name: &str, labels: &[String], codes: impl Fn(usize) -> Codes) {
        for (i, l) in labels.iter().enumerate() {
            let c = codes(i);
            for (class, n) in [("2XX", c.xx2), ("3XX", c.xx3), ("4XX", c.xx4), ("5XX", c.xx5)] {
                self.sample(name, &format!("{l},code=\"{class}\""), n);
            }
        }
    }
    fn times(&mut self, name: &str, labels: &[String], time: impl Fn(usize) -> ResponseTime) {
        for (i, l) in labels.iter().enumerate() {
            let t = time(i);
            self.sample(&format!("{name}_sum"), l, t.total.as_secs_f64());
            self.sample(&format!("{name}_count"), l, t.count);
        }
    }
}

/// The metrics of the regions' data planes (each family once).
pub fn render(regions: &[(&str, MetricsSnapshot)], openmetrics: bool) -> String {
    let mut out = Out {
        text: String::new(),
        openmetrics,
    };
    let mut m = MetricsSnapshot::default();
    let (mut lbs, mut tgs) = (Vec::new(), Vec::new());
    for (region, one) in regions {
        for l in &one.load_balancers {
            lbs.push(format!("region=\"{region}\",load_balancer=\"{}\"", dimension(&l.arn)));
            m.load_balancers.push(l.clone());
        }
        for g in &one.target_groups {
            tgs.push(format!("region=\"{region}\",target_group=\"{}\"", dimension(&g.arn)));
            m.target_groups.push(g.clone());
        }
    }
    let counters: [Metric<berth_lb_proxy::LbSnapshot, u64>; 6] = [
        (
            "berth_elb_requests_total",
            "RequestCount: requests the load balancer received",
            |l| l.request_count,
        ),
        (
            "berth_elb_new_connections_total",
            "NewConnectionCount (an NLB's NewFlowCount)",
            |l| l.new_connection_count,
        ),
        ("berth_elb_elb_500_total", "HTTPCode_ELB_500_Count", |l| l.elb_500_count),
        ("berth_elb_elb_502_total", "HTTPCode_ELB_502_Count", |l| l.elb_502_count),
        ("berth_elb_elb_503_total", "HTTPCode_ELB_503_Count", |l| l.elb_503_count),
        ("berth_elb_elb_504_total", "HTTPCode_ELB_504_Count", |l| l.elb_504_count),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        for (l, labels) in m.load_balancers.iter().zip(&lbs) {
            out.sample(name, labels, value(l));
        }
    }
    out.family(
        "berth_elb_active_connections",
        "gauge",
        "ActiveConnectionCount (an NLB's ActiveFlowCount)",
    );
    for (l, labels) in m.load_balancers.iter().zip(&lbs) {
        out.sample("berth_elb_active_connections", labels, l.active_connection_count);
    }
    out.family(
        "berth_elb_httpcode_elb_total",
        "counter",
        "HTTPCode_ELB_2XX-5XX_Count: answers the load balancer made itself",
    );
    out.codes("berth_elb_httpcode_elb_total", &lbs, |i| m.load_balancers[i].elb_codes);
    out.family(
        "berth_elb_httpcode_target_total",
        "counter",
        "HTTPCode_Target_2XX-5XX_Count",
    );
    out.codes("berth_elb_httpcode_target_total", &lbs, |i| {
        m.load_balancers[i].target_codes
    });
    out.family("berth_elb_target_response_seconds", "summary", "TargetResponseTime");
    out.times("berth_elb_target_response_seconds", &lbs, |i| {
        m.load_balancers[i].target_response_time
    });

    out.family(
        "berth_elb_target_group_requests_total",
        "counter",
        "RequestCount per target group",
    );
    for (g, labels) in m.target_groups.iter().zip(&tgs) {
        out.sample("berth_elb_target_group_requests_total", labels, g.request_count);
    }
    let gauges: [Metric<berth_lb_proxy::GroupSnapshot, f64>; 3] = [
        (
            "berth_elb_target_group_request_count_per_target",
            "RequestCountPerTarget",
            |g| g.request_count_per_target,
        ),
        ("berth_elb_target_group_healthy_hosts", "HealthyHostCount", |g| {
            g.healthy_host_count as f64
        }),
        ("berth_elb_target_group_unhealthy_hosts", "UnHealthyHostCount", |g| {
            g.unhealthy_host_count as f64
        }),
    ];
    for (name, help, value) in gauges {
        out.family(name, "gauge", help);
        for (g, labels) in m.target_groups.iter().zip(&tgs) {
            out.sample(name, labels, value(g));
        }
    }
    out.family(
        "berth_elb_target_group_httpcode_target_total",
        "counter",
        "HTTPCode_Target_2XX-5XX_Count per target group",
    );
    out.codes("berth_elb_target_group_httpcode_target_total", &tgs, |i| {
        m.target_groups[i].target_codes
    });
    out.family(
        "berth_elb_target_group_target_response_seconds",
        "summary",
        "TargetResponseTime per target group",
    );
    out.times("berth_elb_target_group_target_response_seconds", &tgs, |i| {
        m.target_groups[i].target_response_time
    });
    out.text
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
