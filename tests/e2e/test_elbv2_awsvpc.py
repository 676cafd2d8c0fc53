"""ECS services of awsvpc tasks behind `ip` target groups (issue 15 item 3
for awsvpc), end to end with real Docker containers and real HTTP through
the Berth load balancer:

- a service of 2 awsvpc tasks (busybox httpd on port 80 answering its own
  hostname) behind an ALB listener with an `ip` target group:
  DescribeTargetHealth shows 2 healthy `privateIPv4Address:80` targets (the
  tasks' ENI addresses), requests through the listener reach both tasks;
- scaling to 1 drains one target (deregistered, then the task stopped);
- bad input: an `instance` group for an awsvpc service is refused as ECS
  refuses it, nothing stored.

Clusters, agents, the image and the clean-up are test_awsvpc.py's (every
container labelled with its cluster and removed, the agent's network
removed); every wait is a poll with a deadline.
"""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError
from test_awsvpc import (  # noqa: F401  (fixtures are used by name)
    RUN_DEADLINE,
    STOP_DEADLINE,
    details,
    eni,
    image,
    setup,
)

from berthtest import Berth, default_subnet, free_port, poll, requires_docker, unique

pytestmark = requires_docker()

REGION = "us-east-1"
DEADLINE = 90.0
# In the server's default subnet of REGIONa (set by the `server` fixture: ECS checks subnets in EC2).
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"]}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-elbv2-awsvpc")
    (tmp / "data").mkdir()
    srv = Berth(
        data_dir=tmp / "data", log_path=tmp / "berth.log"
    ).start()
    global NETWORK
    NETWORK = {"awsvpcConfiguration": {"subnets": [default_subnet(srv)]}}
    try:
        yield srv
    finally:
        srv.stop()


def web_td(ecs, image: str) -> str:
    web = {
        "name": "web", "image": image, "memory": 32, "essential": True, "stopTimeout": 2,
        "portMappings": [{"containerPort": 80}],
        "command": [
            "sh", "-c",
            "echo $(hostname) > /www/index.html && echo ok > /www/health && exec httpd -f -p 80 -h /www",
        ],
    }
    td = ecs.register_task_definition(family=unique("ipweb"), networkMode="awsvpc", containerDefinitions=[web])
    return td["taskDefinition"]["taskDefinitionArn"]


def target_group(elb, kind: str) -> str:
    tg = elb.create_target_group(
        Name=unique("tg")[:32], Protocol="HTTP", Port=80, TargetType=kind, VpcId="vpc-1",
        HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "3"}]
    )
    return tg


def health(elb, tg: str) -> dict:
    described = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"]["State"] for d in described}


def running(setup, name: str) -> list[dict]:
    arns = setup.ecs.list_tasks(cluster=setup.cluster, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    return [t for t in (setup.describe(arns) if arns else []) if t["lastStatus"] == "RUNNING"]


def address(task: dict) -> str:
    return details(eni(task))["privateIPv4Address"]


def test_awsvpc_service_behind_an_ip_target_group(setup, image):
    ecs, elb = setup.ecs, setup.server.client("elbv2", region_name=REGION)
    lb = elb.create_load_balancer(Name=unique("ipsvc")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    tg = target_group(elb, "ip")
    wrong = target_group(elb, "instance")
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    other = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=free_port(),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": wrong}],
    )["Listeners"][0]["ListenerArn"]
    td = web_td(ecs, image)
    name = unique("ipweb")

    # Bad input: an instance group for awsvpc tasks, refused, nothing stored.
    with pytest.raises(ClientError) as e:
        ecs.create_service(
            cluster=setup.cluster, serviceName=name, taskDefinition=td, desiredCount=2, networkConfiguration=NETWORK,
            loadBalancers=[{"targetGroupArn": wrong, "containerName": "web", "containerPort": 80}],
        )
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", e.value.response
    assert e.value.response["Error"]["Message"] == (
        f"The provided target group {wrong} has target type instance, which is incompatible with the awsvpc "
        "network mode specified in the task definition."
    )
    assert ecs.list_services(cluster=setup.cluster)["serviceArns"] == []
    assert ecs.list_tasks(cluster=setup.cluster)["taskArns"] == []
    elb.delete_listener(ListenerArn=other)

    created = ecs.create_service(
        cluster=setup.cluster, serviceName=name, taskDefinition=td, desiredCount=2, networkConfiguration=NETWORK,
        healthCheckGracePeriodSeconds=0,
        loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}],
    )["service"]
    assert created["loadBalancers"] == [{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}]

    # 2 healthy targets, each a task's own address and the container port.
    def serving(count: int):
        tasks = running(setup, name)
        if len(tasks) != count:
            return None
        by_target = {(address(t), 80): t for t in tasks}
        return by_target if health(elb, tg) == {k: "healthy" for k in by_target} else None

    targets = poll("2 healthy ip targets", lambda: serving(2), DEADLINE)
    subnet_prefix = setup.subnet.rsplit(".", 1)[0] + "."
    assert all(ip.startswith(subnet_prefix) for ip, _ in targets), targets
    assert not any(b for t in targets.values() for c in t["containers"] for b in c.get("networkBindings", []))

    # Requests through the listener reach both tasks (each answers its hostname).
    url = f"http://127.0.0.1:{port}/"
    seen: set[str] = set()

    def both_answered():
        seen.update(requests.get(url, timeout=5).text.strip() for _ in range(8))
        return len(seen) >= 2

    poll("answers from both tasks", both_answered, DEADLINE)
    assert len(seen) == 2, seen
    messages = [e["message"] for e in ecs.describe_services(cluster=setup.cluster, services=[name])["services"][0]["events"]]
    assert any(m.startswith(f"(service {name}) registered ") and tg in m for m in messages), messages

    # Scaling to 1 drains one target: deregistered, then its task stopped.
    ecs.update_service(cluster=setup.cluster, service=name, desiredCount=1)
    left = poll("1 healthy ip target", lambda: serving(1), DEADLINE)
    (kept,) = left
    assert kept in targets
    (gone_target,) = set(targets) - {kept}
    setup.wait_status([targets[gone_target]["taskArn"]], "STOPPED", STOP_DEADLINE)
    messages = [e["message"] for e in ecs.describe_services(cluster=setup.cluster, services=[name])["services"][0]["events"]]
    assert any(m == f"(service {name}) has begun draining connections on 1 tasks." for m in messages), messages
    assert any(m.startswith(f"(service {name}) deregistered 1 targets in (target-group {tg})") for m in messages), messages
    # Only the kept task answers now.
    answers = {requests.get(url, timeout=5).text.strip() for _ in range(6)}
    assert len(answers) == 1 and answers <= seen, (answers, seen)

    ecs.update_service(cluster=setup.cluster, service=name, desiredCount=0)
    setup.wait_status([left[kept]["taskArn"]], "STOPPED", STOP_DEADLINE)
    poll("the group empty", lambda: health(elb, tg) == {}, DEADLINE)
    ecs.delete_service(cluster=setup.cluster, service=name)
    elb.delete_load_balancer(LoadBalancerArn=lb)
