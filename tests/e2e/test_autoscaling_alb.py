"""Target tracking on ALBRequestCountPerTarget (issue 16's Must-show): a
service of busybox httpd tasks behind a Berth Application Load Balancer, a
load generator sending requests through the listener, and the policy scaling the service out from the load balancer's
own `AWS/ApplicationELB` RequestCountPerTarget, as Berth publishes it.

The server counts AWS minutes thirty times faster (`--time-scale 30`) and
publishes its metrics every second, so AlarmHigh's 3 of 3 one-minute
periods take about 6 s of load. Wall time about 30–45 s; every wait is a
poll with a deadline.
"""

from __future__ import annotations

import threading

import pytest
import requests

from berthtest import REGION, Berth, poll, unique
from test_cli import berth_cli
from test_autoscaling import AGENT_CPU, AGENT_MEMORY, DIMENSION, TIME_SCALE, activities, desired
from test_elbv2_services import load_balancer, web
from test_tasks import Agent, cluster, image, register  # noqa: F401  (fixtures are used by name)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-autoscaling-alb")
    (tmp / "data").mkdir()
    srv = Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--time-scale", TIME_SCALE, "--ecs-metrics-interval-secs", 1],
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_alb_request_count_per_target_scales_the_service_out(server, cluster, image, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_AGENT_USAGE_INTERVAL_SECS", "1")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    aas, cw = server.client("application-autoscaling"), server.client("cloudwatch")
    c = cluster("aas-alb")
    agent = Agent(server, c.name, tmp_path, f"{REGION}a", cpu=AGENT_CPU, memory=AGENT_MEMORY)
    c.agents.append(agent)
    agent.wait_connected(ecs)
    lb, tg, port = load_balancer(elb)
    td = register(ecs, unique("albweb"), [web(image, "v1", memory=24)], networkMode="bridge")
    svc = unique("web")
    ecs.create_service(
        cluster=c.name, serviceName=svc, taskDefinition=td, desiredCount=1, healthCheckGracePeriodSeconds=0,
        loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}],
    )
    poll("one healthy target", lambda: [
        d["TargetHealth"]["State"] for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    ] == ["healthy"], 90)

    resource_id = f"service/{c.name}/{svc}"
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION,
                                 MinCapacity=1, MaxCapacity=3)
    label = f"{lb.split(':loadbalancer/', 1)[1]}/{tg.rsplit(':', 1)[1]}"
    policy = aas.put_scaling_policy(
        PolicyName="rps", ServiceNamespace="ecs", ResourceId=resource_id, ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 20.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                              "ResourceLabel": label},
            "ScaleOutCooldown": 60, "ScaleInCooldown": 600,
        },
    )
    described = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"][0]
    spec = described["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec == {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}
    high = next(a["AlarmName"] for a in policy["Alarms"] if "-AlarmHigh-" in a["AlarmName"])
    alarm = cw.describe_alarms(AlarmNames=[high])["MetricAlarms"][0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApplicationELB", "RequestCountPerTarget", "Sum")
    assert alarm["Dimensions"] == [{"Name": "TargetGroup", "Value": tg.rsplit(":", 1)[1]}]

    # The load: requests through the listener until the test ends.
    stop, sent = threading.Event(), [0]

    def load():
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    s.get(f"http://127.0.0.1:{port}/", timeout=5)
                    sent[0] += 1
                except requests.RequestException:
                    pass

    threads = [threading.Thread(target=load, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        poll("desiredCount 3 (max) from the request count", lambda: desired(ecs, c.name, svc) == 3, 90)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert sent[0] > 0
    outs = [a for a in activities(aas, resource_id) if a["StatusCode"] == "Successful"]
    assert outs and all(a["Cause"] == f"monitor alarm {high} in state ALARM triggered policy rps" for a in outs), outs

    # `berth status` shows the service's utilization and its last scaling activity (issue 16 item 7).
    def status_line():
        p = berth_cli(server, "status")
        assert p.returncode == 0, p.stderr
        line = next((ln for ln in p.stdout.splitlines() if ln.strip().startswith(f"service {svc} ")), "")
        # The tasks reserve no CPU units: their memory utilization only.
        return line if ", cpu - memory " in line and "%" in line else None

    try:
        line = poll("berth status with the service's memory utilization", status_line, 30)
    except AssertionError:
        print(berth_cli(server, "status", "--output", "json").stdout)
        raise
    assert "last scaling " in line and outs[0]["Description"] in line and "(Successful)" in line, line
