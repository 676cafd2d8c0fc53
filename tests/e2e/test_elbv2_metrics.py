"""The load balancers' CloudWatch metrics (issue 16 item 3): requests through
a Berth Application Load Balancer to two real
HTTP backends show up in `AWS/ApplicationELB` as ELB publishes them —
RequestCount and HTTPCode_Target_2XX_Count per LoadBalancer, RequestCount,
RequestCountPerTarget and HealthyHostCount per TargetGroup and
LoadBalancer, RequestCountPerTarget per TargetGroup alone (what target
tracking's ALBRequestCountPerTarget reads), and the load balancer's own 503s
(a target group with no targets) as HTTPCode_ELB_503_Count — read back with
boto3 and the aws CLI. The server publishes every second
(`--ecs-metrics-interval-secs 1`) into the one-minute datapoints."""

from __future__ import annotations

import datetime

import pytest
import requests

import berthtest
from berthtest import free_port, poll, unique
from test_elbv2_traffic import backends  # noqa: F401  (a fixture, used by name)

REGION = "us-east-1"
NS = "AWS/ApplicationELB"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-elbv2-metrics")
    (tmp / "data").mkdir()
    srv = berthtest.Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--ecs-metrics-interval-secs", "1"],
    ).start()
    try:
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            assert srv.stop() == 0, srv.log_tail()


def total(cw, name: str, dims: dict, stat: str = "Sum") -> float:
    now = datetime.datetime.now(datetime.timezone.utc)
    out = cw.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - datetime.timedelta(minutes=10),
        EndTime=now + datetime.timedelta(minutes=2),
        Period=60,
        Statistics=[stat],
    )["Datapoints"]
    values = [p[stat] for p in out]
    if stat == "Maximum":
        return max(values, default=0.0)
    return sum(values)


def test_requests_through_an_alb_are_published_as_elb_metrics(server, backends):  # noqa: F811
    elb, cw = server.client("elbv2", region_name=REGION), server.client("cloudwatch", region_name=REGION)
    lb_arn = elb.create_load_balancer(Name=unique("metrics")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    check = dict(
        HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2,
    )
    web = elb.create_target_group(
        Name=unique("web")[:32], Protocol="HTTP", Port=80, TargetType="instance", VpcId="vpc-1", **check
    )["TargetGroups"][0]["TargetGroupArn"]
    empty = elb.create_target_group(
        Name=unique("empty")[:32], Protocol="HTTP", Port=80, TargetType="instance", VpcId="vpc-1", **check
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(
        TargetGroupArn=web, Targets=[{"Id": "i-berth", "Port": backends["one"]}, {"Id": "i-berth", "Port": backends["two"]}]
    )
    port = free_port()
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": web}]
    )["Listeners"][0]["ListenerArn"]
    elb.create_rule(
        ListenerArn=listener, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/none"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": empty}],
    )
    poll("both targets healthy", lambda: [
        d["TargetHealth"]["State"] for d in elb.describe_target_health(TargetGroupArn=web)["TargetHealthDescriptions"]
    ] == ["healthy", "healthy"], deadline=30)

    url = f"http://127.0.0.1:{port}"
    answers = [requests.get(url + "/", timeout=5) for _ in range(40)]
    assert [a.status_code for a in answers] == [200] * 40
    assert {a.text for a in answers} == {"one", "two"}
    refused = [requests.get(url + "/none", timeout=5).status_code for _ in range(3)]
    assert refused == [503] * 3

    lb_dim = {"LoadBalancer": lb_arn.split(":loadbalancer/", 1)[1]}
    tg_dim = {"TargetGroup": web.rsplit(":", 1)[1]}
    assert lb_dim["LoadBalancer"].startswith("app/") and tg_dim["TargetGroup"].startswith("targetgroup/")
    poll("RequestCount 43 for the load balancer", lambda: total(cw, "RequestCount", lb_dim) == 43, deadline=30)
    poll("40 target 2XX answers", lambda: total(cw, "HTTPCode_Target_2XX_Count", lb_dim) == 40, deadline=30)
    poll("three 503s of the load balancer", lambda: total(cw, "HTTPCode_ELB_503_Count", lb_dim) == 3, deadline=30)
    assert total(cw, "HTTPCode_ELB_5XX_Count", lb_dim) == 3
    both = {**tg_dim, **lb_dim}
    poll("RequestCount 40 for the target group", lambda: total(cw, "RequestCount", both) == 40, deadline=30)
    # Two registered targets: 20 requests each, whichever dimensions are asked for.
    assert total(cw, "RequestCountPerTarget", both) == 20
    assert total(cw, "RequestCountPerTarget", tg_dim) == 20
    assert total(cw, "HealthyHostCount", both, "Maximum") == 2
    assert total(cw, "UnHealthyHostCount", both, "Maximum") == 0

    # The aws CLI lists them like any metric.
    listed = server.aws("--region", REGION, "cloudwatch", "list-metrics", "--namespace", NS,
                        "--metric-name", "RequestCountPerTarget")["Metrics"]
    dims = [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in listed]
    assert tg_dim in dims and both in dims
