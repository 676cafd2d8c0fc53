//! The metrics' text, without IO.

use super::*;
use berth_lb_proxy::{GroupSnapshot, LbKind, LbSnapshot};

fn snapshot() -> MetricsSnapshot {
    MetricsSnapshot {
        load_balancers: vec![LbSnapshot {
            arn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc".into(),
            kind: LbKind::Application,
            request_count: 7,
            new_connection_count: 2,
            active_connection_count: 1,
            elb_codes: Codes {
                xx2: 0,
                xx3: 1,
                xx4: 0,
                xx5: 2,
            },
            elb_500_count: 0,
            elb_502_count: 2,
            elb_503_count: 0,
            elb_504_count: 0,
            target_codes: Codes {
                xx2: 4,
                xx3: 0,
                xx4: 0,
                xx5: 0,
            },
            target_response_time: ResponseTime {
                total: std::time::Duration::from_millis(500),
                count: 4,
            },
        }],
        target_groups: vec![GroupSnapshot {
            arn: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/73e2".into(),
            request_count: 4,
            request_count_per_target: 2.0,
            per_target: vec![],
            target_codes: Codes {
                xx2: 4,
                xx3: 0,
                xx4: 0,
                xx5: 0,
            },
            target_response_time: ResponseTime::default(),
            healthy_host_count: 2,
            unhealthy_host_count: 0,
        }],
    }
}

#[test]
fn labelled_as_cloudwatchs_dimensions() {
    let text = render(&[("us-east-1", snapshot())], false);
    assert!(text.contains("berth_elb_requests_total{region=\"us-east-1\",load_balancer=\"app/web/50dc\"} 7\n"));
    assert!(text.contains("berth_elb_elb_502_total{region=\"us-east-1\",load_balancer=\"app/web/50dc\"} 2\n"));
    assert!(text.contains(
        "berth_elb_httpcode_target_total{region=\"us-east-1\",load_balancer=\"app/web/50dc\",code=\"2XX\"} 4\n"
    ));
    assert!(
        text.contains(
            "berth_elb_target_response_seconds_sum{region=\"us-east-1\",load_balancer=\"app/web/50dc\"} 0.5\n"
        )
    );
    assert!(text.contains(
        "berth_elb_target_group_healthy_hosts{region=\"us-east-1\",target_group=\"targetgroup/web/73e2\"} 2\n"
    ));
    assert!(text.contains("# TYPE berth_elb_requests_total counter\n"));
}

#[test]
fn openmetrics_names_a_counter_family_without_total() {
    let text = render(&[("us-east-1", snapshot())], true);
    assert!(text.contains("# TYPE berth_elb_requests counter\n"));
    assert!(text.contains("berth_elb_requests_total{"));
}
