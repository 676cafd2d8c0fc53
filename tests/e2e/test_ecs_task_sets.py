"""The EXTERNAL deployment controller and task sets (issue 15 item 5), end
to end with real Docker containers and real HTTP through the Berth load
balancer, driven as an external deployment
tool drives ECS:

- an EXTERNAL service (no revision or load balancer of its own) with a
  blue task set (v1, scale 100 %, PRIMARY) and a green one (v2, scale 0 %),
  each behind its own target group, both forwarded by one listener whose
  weights the test sets itself (ModifyListener), as external tools do;
- blue serves all traffic; green is scaled to 100 %, the weights and the
  PRIMARY move to it, blue is scaled to 0: running counts, stability and
  the answers through the listener follow; a restarted server carries on
  with the same tasks; a task its group finds unhealthy is replaced;
- DescribeTaskSets with and without TAGS, and a missing task set;
- bad input: CreateTaskSet on an ECS-controller service, a scale over
  100 %, a missing service, DeleteTaskSet of the PRIMARY without force,
  UpdateService of a member an EXTERNAL service cannot change; DeleteTaskSet
  drains the old task set until it is gone.

Short health-check intervals and a small deregistration delay (ELBv2's own
settings) keep it quick; every wait is a poll with a deadline.
"""

from __future__ import annotations

import re

import pytest
import requests
from botocore.exceptions import ClientError
from test_elbv2_services import cluster, server, target_group, web  # noqa: F401  (fixtures are used by name)
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    docker,
    docker_container,
    image,
    poll,
    register,
)

from berthtest import free_port, unique

REGION = "us-east-1"
DEADLINE = 90.0


def code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def task_set(ecs, cluster: str, service: str, ts: str) -> dict:
    return ecs.describe_task_sets(cluster=cluster, service=service, taskSets=[ts])["taskSets"][0]


def steady(ecs, cluster: str, service: str, ts: str, count: int):
    def ready():
        t = task_set(ecs, cluster, service, ts)
        ok = (
            t["runningCount"] == count
            and t["pendingCount"] == 0
            and t["computedDesiredCount"] == count
            and t["stabilityStatus"] == "STEADY_STATE"
        )
        return t if ok else None

    return poll(f"{ts} steady with {count} tasks", ready, DEADLINE)


def weights(elb, listener: str, blue_tg: str, green_tg: str, blue: int, green: int):
    elb.modify_listener(
        ListenerArn=listener,
        DefaultActions=[{
            "Type": "forward",
            "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": blue_tg, "Weight": blue},
                {"TargetGroupArn": green_tg, "Weight": green},
            ]},
        }],
    )


def answers(url: str, n: int = 12) -> set[str]:
    return {requests.get(url, timeout=5).text.split()[-1] for _ in range(n)}


def test_external_service_with_two_task_sets(server, cluster, image):
    c = cluster("tasksets")
    c.add_agent(az="us-east-1a")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    lb = elb.create_load_balancer(Name=unique("ts")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    blue_tg, green_tg = target_group(elb), target_group(elb)
    port = free_port()
    listener = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": blue_tg}],
    )["Listeners"][0]["ListenerArn"]
    weights(elb, listener, blue_tg, green_tg, 100, 0)
    url = f"http://127.0.0.1:{port}/"
    family = unique("tsweb")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    v2 = register(ecs, family, [web(image, "v2", memory=33)], networkMode="bridge")
    name = unique("ext")

    svc = ecs.create_service(
        cluster=c.name, serviceName=name, desiredCount=2, deploymentController={"type": "EXTERNAL"},
        healthCheckGracePeriodSeconds=0,
    )["service"]
    assert svc["deploymentController"] == {"type": "EXTERNAL"}
    assert "taskDefinition" not in svc and svc["taskSets"] == []

    # The blue task set: v1 at 100 %, made PRIMARY.
    blue = ecs.create_task_set(
        cluster=c.name, service=name, taskDefinition=v1, externalId="blue", launchType="EC2",
        loadBalancers=[{"targetGroupArn": blue_tg, "containerName": "web", "containerPort": 8080}],
        scale={"value": 100.0, "unit": "PERCENT"}, clientToken="blue-1", tags=[{"key": "colour", "value": "blue"}],
    )["taskSet"]
    assert re.fullmatch(r"ecs-svc/\d{19}", blue["id"]), blue["id"]
    account = svc["serviceArn"].split(":")[4]
    assert blue["taskSetArn"] == f"arn:aws:ecs:{REGION}:{account}:task-set/{c.name}/{name}/{blue['id']}"
    assert (blue["status"], blue["computedDesiredCount"], blue["externalId"]) == ("ACTIVE", 2, "blue")
    assert blue["serviceArn"] == svc["serviceArn"] and blue["taskDefinition"] == v1
    assert "tags" not in blue
    # The same clientToken answers the same task set.
    again = ecs.create_task_set(
        cluster=c.name, service=name, taskDefinition=v1, externalId="blue", launchType="EC2",
        loadBalancers=[{"targetGroupArn": blue_tg, "containerName": "web", "containerPort": 8080}],
        scale={"value": 100.0, "unit": "PERCENT"}, clientToken="blue-1",
    )["taskSet"]
    assert again["id"] == blue["id"]
    primary = ecs.update_service_primary_task_set(cluster=c.name, service=name, primaryTaskSet=blue["taskSetArn"])
    assert primary["taskSet"]["status"] == "PRIMARY"

    # The green task set: v2 at 0 %.
    green = ecs.create_task_set(
        cluster=c.name, service=name, taskDefinition=v2, externalId="green", launchType="EC2",
        loadBalancers=[{"targetGroupArn": green_tg, "containerName": "web", "containerPort": 8080}],
        scale={"value": 0.0, "unit": "PERCENT"},
    )["taskSet"]
    assert (green["status"], green["computedDesiredCount"]) == ("ACTIVE", 0)

    b = steady(ecs, c.name, name, blue["id"], 2)
    assert b["status"] == "PRIMARY" and b["stabilityStatusAt"] >= b["createdAt"]
    steady(ecs, c.name, name, green["id"], 0)
    tasks = ecs.describe_tasks(
        cluster=c.name, tasks=ecs.list_tasks(cluster=c.name, serviceName=name)["taskArns"]
    )["tasks"]
    assert {t["startedBy"] for t in tasks} == {blue["id"]}
    assert {t["taskDefinitionArn"] for t in tasks} == {v1}
    poll("blue healthy in its group", lambda: [
        h["TargetHealth"]["State"] for h in elb.describe_target_health(TargetGroupArn=blue_tg)["TargetHealthDescriptions"]
    ] == ["healthy", "healthy"], DEADLINE)
    assert elb.describe_target_health(TargetGroupArn=green_tg)["TargetHealthDescriptions"] == []
    assert answers(url) == {"v1"}
    s = ecs.describe_services(cluster=c.name, services=[name])["services"][0]
    assert s["runningCount"] == 2 and s["taskDefinition"] == v1 and "deployments" not in s
    messages = [e["message"] for e in s["events"]]
    speaker = f"(service {name}, taskSet {blue['id']})"
    assert any(m.startswith(f"{speaker} has started 2 tasks: (task ") for m in messages), messages
    registered = [m for m in messages if m.startswith(f"{speaker} registered ")]
    assert registered and all(m.endswith(f"targets in (target-group {blue_tg})") for m in registered), messages
    assert sum(int(m.split(" registered ")[1].split()[0]) for m in registered) == 2, registered
    assert {t["id"] for t in s["taskSets"]} == {blue["id"], green["id"]}

    # Scale green to 100 %, move the weights and the PRIMARY, scale blue to 0.
    ecs.update_task_set(cluster=c.name, service=name, taskSet=green["id"], scale={"value": 100.0, "unit": "PERCENT"})
    steady(ecs, c.name, name, green["id"], 2)
    poll("green healthy in its group", lambda: [
        h["TargetHealth"]["State"] for h in elb.describe_target_health(TargetGroupArn=green_tg)["TargetHealthDescriptions"]
    ] == ["healthy", "healthy"], DEADLINE)
    assert answers(url) == {"v1"}, "the weights still send everything to blue"
    weights(elb, listener, blue_tg, green_tg, 0, 100)
    assert answers(url) == {"v2"}
    moved = ecs.update_service_primary_task_set(cluster=c.name, service=name, primaryTaskSet=green["taskSetArn"])
    assert moved["taskSet"]["status"] == "PRIMARY"
    assert task_set(ecs, c.name, name, blue["id"])["status"] == "ACTIVE"
    ecs.update_task_set(cluster=c.name, service=name, taskSet=blue["taskSetArn"], scale={"value": 0.0, "unit": "PERCENT"})
    steady(ecs, c.name, name, blue["id"], 0)
    poll("blue's targets gone", lambda: elb.describe_target_health(TargetGroupArn=blue_tg)["TargetHealthDescriptions"] == [],
         DEADLINE)
    assert answers(url) == {"v2"}
    s = ecs.describe_services(cluster=c.name, services=[name])["services"][0]
    assert s["runningCount"] == 2 and s["taskDefinition"] == v2
    messages = [e["message"] for e in s["events"]]
    speaker = f"(service {name}, taskSet {blue['id']})"
    stopped = [m for m in messages if m.startswith(f"{speaker} has stopped ")]
    assert sum(int(m.split(" has stopped ")[1].split()[0]) for m in stopped) == 2, messages
    assert f"{speaker} deregistered 2 targets in (target-group {blue_tg})" in messages, messages

    # A restarted server carries on from the records: the same tasks.
    def green_tasks():
        arns = ecs.list_tasks(cluster=c.name, serviceName=name, desiredStatus="RUNNING")["taskArns"]
        return sorted(arns)

    before = green_tasks()
    server.restart()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    steady(ecs, c.name, name, green["id"], 2)
    assert green_tasks() == before
    assert answers(url) == {"v2"}

    # A green task its group finds unhealthy is replaced.
    victim = ecs.describe_tasks(cluster=c.name, tasks=[before[0]])["tasks"][0]
    docker("exec", docker_container(victim["taskArn"], "web")["Id"], "/bin/busybox", "rm", "/www/health")

    def replaced():
        t = ecs.describe_tasks(cluster=c.name, tasks=[victim["taskArn"]])["tasks"][0]
        return t if t["lastStatus"] == "STOPPED" else None

    t = poll("the unhealthy green task stopped", replaced, DEADLINE)
    assert t["stoppedReason"] == f"Task failed ELB health checks in (target-group {green_tg})"
    steady(ecs, c.name, name, green["id"], 2)
    assert victim["taskArn"] not in green_tasks()

    # A new desired count reaches the task sets' computed counts.
    ecs.update_service(cluster=c.name, service=name, desiredCount=1)
    steady(ecs, c.name, name, green["id"], 1)

    # DescribeTaskSets: TAGS on request, missing ones as failures.
    described = ecs.describe_task_sets(cluster=c.name, service=name, taskSets=[blue["id"]], include=["TAGS"])
    assert described["taskSets"][0]["tags"] == [{"key": "colour", "value": "blue"}]
    with pytest.raises(ClientError) as e:
        ecs.tag_resource(resourceArn=blue["taskSetArn"], tags=[{"key": "k", "value": "v"}])
    assert code(e) == "InvalidParameterException" and "CreateTaskSet" in str(e.value)
    missing = ecs.describe_task_sets(cluster=c.name, service=name, taskSets=["ecs-svc/1234567890123456789"])
    assert missing["taskSets"] == [] and missing["failures"][0]["reason"] == "MISSING"

    # Bad input.
    with pytest.raises(ClientError) as e:
        ecs.delete_task_set(cluster=c.name, service=name, taskSet=green["id"])
    assert code(e) == "InvalidParameterException" and "primary" in str(e.value)
    with pytest.raises(ClientError) as e:
        ecs.update_task_set(cluster=c.name, service=name, taskSet=blue["id"], scale={"value": 150.0, "unit": "PERCENT"})
    assert code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.create_task_set(cluster=c.name, service=unique("nosuch"), taskDefinition=v1)
    assert code(e) == "ServiceNotFoundException"
    with pytest.raises(ClientError) as e:
        ecs.update_task_set(cluster=c.name, service=name, taskSet="ecs-svc/1234567890123456789",
                            scale={"value": 1.0, "unit": "PERCENT"})
    assert code(e) == "TaskSetNotFoundException"
    with pytest.raises(ClientError) as e:
        ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)
    assert code(e) == "InvalidParameterException" and "EXTERNAL" in str(e.value)
    with pytest.raises(ClientError) as e:
        ecs.create_service(cluster=c.name, serviceName=unique("ext"), taskDefinition=v1,
                           deploymentController={"type": "EXTERNAL"})
    assert code(e) == "InvalidParameterException" and "CreateTaskSet" in str(e.value)
    plain = unique("ecsctl")
    ecs.create_service(cluster=c.name, serviceName=plain, taskDefinition=v1, desiredCount=0)
    with pytest.raises(ClientError) as e:
        ecs.create_task_set(cluster=c.name, service=plain, taskDefinition=v1)
    assert code(e) == "InvalidParameterException" and "external deployment controllers" in str(e.value)
    # Nothing refused was stored.
    listed = ecs.describe_task_sets(cluster=c.name, service=name)["taskSets"]
    assert [t["id"] for t in listed] == [blue["id"], green["id"]]

    # DeleteTaskSet: DRAINING, then gone.
    deleted = ecs.delete_task_set(cluster=c.name, service=name, taskSet=blue["id"])["taskSet"]
    assert deleted["status"] == "DRAINING"
    poll("the deleted task set gone", lambda: [
        t["id"] for t in ecs.describe_task_sets(cluster=c.name, service=name)["taskSets"]
    ] == [green["id"]], DEADLINE)

    ecs.update_service(cluster=c.name, service=name, desiredCount=0)
    steady(ecs, c.name, name, green["id"], 0)
    ecs.delete_service(cluster=c.name, service=name)
    ecs.delete_service(cluster=c.name, service=plain)
