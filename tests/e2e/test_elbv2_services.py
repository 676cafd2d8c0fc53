"""ECS services behind ELBv2 target groups (issue 15 item 3), end to end
with real Docker containers and real HTTP through the Berth load balancer:

- a REPLICA service of 4 bridge tasks with dynamic host ports (hostPort 0)
  on two `berth agent`s behind an ALB listener: DescribeTargetHealth shows
  4 healthy `instance:port` targets (the instances' ec2InstanceId, the
  tasks' host ports) and requests reach all 4 containers (each answers its
  own hostname); the service events say it registered the targets;
- a task whose health endpoint starts failing leaves rotation within
  interval × unhealthyThreshold and is replaced by the service (stopped
  with "Task failed ELB health checks in (target-group …)");
- a restarted server carries on with the same registrations;
- a rolling update to a new revision under a constant client loop: zero
  failed requests (no 5xx, no connection errors), the old tasks drained
  before they stop;
- bad input refused as ECS refuses it, nothing stored.

Short health-check intervals and a small deregistration delay (ELBv2's own
settings) keep it quick; every wait is a poll with a deadline.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    GRACE_SECS,
    Cluster,
    docker,
    docker_container,
    image,
    poll,
    register,
)

from berthtest import AwsCliError, Berth, free_port, unique

REGION = "us-east-1"
DEADLINE = 90.0
INTERVAL, UNHEALTHY = 5, 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-elbv2-services")
    (tmp / "data").mkdir()
    srv = Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--agent-grace-period-secs", GRACE_SECS],
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cluster(server, tmp_path):
    clusters: list[Cluster] = []

    def make(prefix: str) -> Cluster:
        c = Cluster(server, tmp_path, prefix)
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        print(c.logs())
        print(f"--- server log ({server.log_path}):\n{server.log_tail(120)}")
        c.close()


def web(image: str, version: str, memory: int = 32) -> dict:
    """busybox httpd on 8080: / answers the container's hostname and the
    revision, /health 200 until the file is removed."""
    script = (
        f"echo $(cat /proc/sys/kernel/hostname) {version} > /www/index.html && echo ok > /www/health "
        "&& exec httpd -f -p 8080 -h /www"
    )
    return {
        "name": "web",
        "image": image,
        "memory": memory,
        "essential": True,
        "command": ["sh", "-c", script],
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        "stopTimeout": 2,
    }


def load_balancer(elb) -> tuple[str, str, int]:
    """An ALB with an HTTP listener forwarding to a fresh `instance` target
    group: (load balancer ARN, target group ARN, listener port)."""
    lb = elb.create_load_balancer(Name=unique("svc")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    tg = target_group(elb)
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    return lb, tg, port


def target_group(elb, kind: str = "instance") -> str:
    tg = elb.create_target_group(
        Name=unique("tg")[:32], Protocol="HTTP", Port=80, TargetType=kind, VpcId="vpc-1",
        HealthCheckPath="/health", HealthCheckIntervalSeconds=INTERVAL, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=UNHEALTHY,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "3"}]
    )
    return tg


def health(elb, tg: str) -> dict:
    described = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]): d["TargetHealth"]["State"] for d in described}


def service(ecs, cluster: str, name: str) -> dict:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def running(ecs, cluster: str, name: str) -> list[dict]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def ec2_ids(ecs, cluster: str) -> dict:
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    ci = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
    return {i["containerInstanceArn"]: i["ec2InstanceId"] for i in ci}


def target_of(task: dict, instances: dict) -> tuple[str, int]:
    (container,) = task["containers"]
    (port,) = {b["hostPort"] for b in container["networkBindings"] if ":" not in b.get("bindIP", "0.0.0.0")}
    return instances[task["containerInstanceArn"]], port


def serving(ecs, elb, cluster: str, name: str, tg: str, count: int, revision: str | None = None):
    """Waits until `count` tasks run and exactly their targets are healthy
    in the group; returns {target: task}."""
    instances = ec2_ids(ecs, cluster)

    def ready():
        tasks = running(ecs, cluster, name)
        if revision:
            tasks = [t for t in tasks if t["taskDefinitionArn"] == revision]
        if len(tasks) != count:
            return None
        by_target = {target_of(t, instances): t for t in tasks}
        return by_target if health(elb, tg) == {k: "healthy" for k in by_target} else None

    return poll(f"{count} healthy targets of {name}", ready, DEADLINE)


def hostname(task: dict) -> str:
    return docker_container(task["taskArn"], "web")["Config"]["Hostname"]


def test_service_behind_an_alb(server, cluster, image):
    c = cluster("lbsvc")
    c.add_agent(az="us-east-1a")
    c.add_agent(az="us-east-1b")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    _, tg, port = load_balancer(elb)
    family = unique("lbweb")
    v1 = register(ecs, family, [web(image, "v1")], networkMode="bridge")
    name = unique("web")

    created = server.aws(
        "ecs", "create-service", "--cluster", c.name, "--service-name", name, "--task-definition", v1,
        "--desired-count", "4", "--health-check-grace-period-seconds", "0",
        "--load-balancers", f"targetGroupArn={tg},containerName=web,containerPort=8080",
    )["service"]
    assert created["loadBalancers"] == [{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}]

    # (a) 4 healthy instance:port targets on the two instances; requests reach all 4.
    targets = serving(ecs, elb, c.name, name, tg, 4)
    assert {i for i, _ in targets} <= set(ec2_ids(ecs, c.name).values())
    assert len({t["containerInstanceArn"] for t in targets.values()}) == 2, "spread over both agents"
    names = {hostname(t) for t in targets.values()}
    url = f"http://127.0.0.1:{port}/"
    seen: set[str] = set()

    def all_answered():
        seen.update(requests.get(url, timeout=5).text.split()[0] for _ in range(8))
        return seen >= names

    poll("answers from all 4 containers", all_answered, DEADLINE)
    assert seen == names
    s = service(ecs, c.name, name)
    assert s["loadBalancers"] == created["loadBalancers"]
    registered = [e["message"] for e in s["events"] if "registered" in e["message"] and "deregistered" not in e["message"]]
    assert registered and all(m.startswith(f"(service {name}) registered ") for m in registered), registered
    assert all(m.endswith(f"targets in (target-group {tg})") for m in registered), registered

    # A standalone task of the same revision is never registered.
    lone = ecs.run_task(cluster=c.name, taskDefinition=v1, startedBy="e2e")["tasks"][0]["taskArn"]
    poll("the standalone task RUNNING",
         lambda: ecs.describe_tasks(cluster=c.name, tasks=[lone])["tasks"][0]["lastStatus"] == "RUNNING", DEADLINE)
    lone_target = target_of(ecs.describe_tasks(cluster=c.name, tasks=[lone])["tasks"][0], ec2_ids(ecs, c.name))
    assert lone_target not in health(elb, tg)
    ecs.stop_task(cluster=c.name, task=lone)

    # (b) A task whose health endpoint fails leaves rotation within
    # interval × unhealthyThreshold (plus a check's timeout and the poll)
    # and is replaced.
    victim_target, victim = next(iter(targets.items()))
    victim_name = hostname(victim)
    docker("exec", docker_container(victim["taskArn"], "web")["Id"], "/bin/busybox", "rm", "/www/health")
    failed_at = time.monotonic()
    poll("the failing target unhealthy", lambda: health(elb, tg).get(victim_target) in ("unhealthy", None), DEADLINE)
    out_of_rotation = time.monotonic() - failed_at
    print(f"the failing target left rotation after {out_of_rotation:.1f}s (interval {INTERVAL}s x {UNHEALTHY})")
    assert out_of_rotation <= INTERVAL * UNHEALTHY + INTERVAL + 3, out_of_rotation
    # From now on no request reaches it.
    assert victim_name not in {requests.get(url, timeout=5).text.split()[0] for _ in range(12)}

    def stopped():
        t = ecs.describe_tasks(cluster=c.name, tasks=[victim["taskArn"]])["tasks"][0]
        return t if t["lastStatus"] == "STOPPED" else None

    t = poll("the unhealthy task stopped", stopped, DEADLINE)
    assert t["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg})"
    replaced = serving(ecs, elb, c.name, name, tg, 4)
    assert victim["taskArn"] not in {x["taskArn"] for x in replaced.values()}
    messages = [e["message"] for e in service(ecs, c.name, name)["events"]]
    assert any(f"(port {victim_target[1]}) is unhealthy in (target-group {tg})" in m for m in messages), messages

    # A restarted server derives the registrations again from the records:
    # the same 4 tasks, each registered once, healthy again, none replaced.
    before = {k: t["taskArn"] for k, t in replaced.items()}
    server.restart()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    again = serving(ecs, elb, c.name, name, tg, 4)
    assert {k: t["taskArn"] for k, t in again.items()} == before

    # (c) A rolling update under a constant client loop: no failed request.
    v2 = register(ecs, family, [web(image, "v2", memory=33)], networkMode="bridge")
    failures: list[str] = []
    answered: dict[str, int] = {}
    stop = threading.Event()

    def client():
        session = requests.Session()
        while not stop.is_set():
            try:
                r = session.get(url, timeout=10)
                if r.status_code >= 500:
                    failures.append(f"{r.status_code} {r.text[:80]}")
                else:
                    rev = r.text.split()[-1]
                    answered[rev] = answered.get(rev, 0) + 1
            except requests.RequestException as e:
                failures.append(repr(e))

    loop = threading.Thread(target=client, daemon=True)
    loop.start()
    try:
        ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)

        def rolled():
            s = service(ecs, c.name, name)
            d = s["deployments"]
            done = len(d) == 1 and d[0]["taskDefinition"] == v2 and d[0]["rolloutState"] == "COMPLETED"
            return s if done and s["runningCount"] == 4 else None

        poll("the rollout to v2", rolled, DEADLINE * 2)
        serving(ecs, elb, c.name, name, tg, 4, revision=v2)
        # v2 answers for a while after the last v1 target is gone.
        after = answered.get("v2", 0)
        poll("v2 answering", lambda: answered.get("v2", 0) >= after + 20, DEADLINE)
    finally:
        stop.set()
        loop.join(timeout=30)
    print(f"rolling update under load: answers by revision {answered}, {len(failures)} failed")
    assert failures == [], failures[:10]
    assert answered.get("v1", 0) > 0 and answered.get("v2", 0) > 0, answered
    messages = [e["message"] for e in service(ecs, c.name, name)["events"]]
    assert any(m.startswith(f"(service {name}) has begun draining connections on ") for m in messages), messages
    assert any(m.startswith(f"(service {name}) deregistered ") and tg in m for m in messages), messages

    # UpdateService to another group: a new deployment; the tasks serve
    # behind the new group and leave the old one.
    lb2 = elb.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"][0]
    tg2 = target_group(elb)
    port2 = free_port()
    elb.create_listener(
        LoadBalancerArn=lb2, Protocol="HTTP", Port=port2, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg2}]
    )
    server.aws(
        "ecs", "update-service", "--cluster", c.name, "--service", name,
        "--load-balancers", f"targetGroupArn={tg2},containerName=web,containerPort=8080",
    )
    serving(ecs, elb, c.name, name, tg2, 4)
    poll("the old group left", lambda: all(s == "draining" for s in health(elb, tg).values()), DEADLINE)
    assert service(ecs, c.name, name)["loadBalancers"] == [
        {"targetGroupArn": tg2, "containerName": "web", "containerPort": 8080}
    ]
    assert requests.get(f"http://127.0.0.1:{port2}/", timeout=5).text.split()[-1] == "v2"

    # Delete: the tasks are deregistered, then the service is INACTIVE.
    ecs.update_service(cluster=c.name, service=name, desiredCount=0)
    ecs.delete_service(cluster=c.name, service=name)
    poll("the service INACTIVE", lambda: service(ecs, c.name, name)["status"] == "INACTIVE", DEADLINE)
    assert all(state == "draining" for state in health(elb, tg2).values())


def refused(server, *args) -> str:
    with pytest.raises(AwsCliError) as e:
        server.aws(*args)
    assert e.value.code == "InvalidParameterException", e.value.stderr
    return e.value.message


def test_bad_load_balancers_are_refused(server, cluster, image):
    c, other = cluster("lbbad"), cluster("lbother")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    lb, tg, _ = load_balancer(elb)
    family = unique("lbbad")
    td = register(ecs, family, [web(image, "v1")], networkMode="bridge")

    def create(cluster_name: str, name: str, *lbs: str, extra: tuple = ("--desired-count", "0")) -> str:
        return refused(
            server, "ecs", "create-service", "--cluster", cluster_name, "--service-name", name,
            "--task-definition", td, *extra, "--load-balancers", *lbs,
        )

    name = unique("bad")
    # A 6th target group.
    six = [target_group(elb) for _ in range(6)]
    m = create(c.name, name, *[f"targetGroupArn={g},containerName=web,containerPort=8080" for g in six])
    assert "at most 5" in m, m
    # containerName missing; a port the container does not map; a container it has not.
    assert "Container Name can not be blank." in create(c.name, name, f"targetGroupArn={tg},containerPort=8080")
    assert "The container web did not have a container port 80 defined." in create(
        c.name, name, f"targetGroupArn={tg},containerName=web,containerPort=80"
    )
    assert "The container db does not exist in the task definition." in create(
        c.name, name, f"targetGroupArn={tg},containerName=db,containerPort=8080"
    )
    # A group no load balancer forwards to; an ip group with bridge; a Classic LB.
    assert "does not have an associated load balancer" in create(
        c.name, name, f"targetGroupArn={six[0]},containerName=web,containerPort=8080"
    )
    ip = target_group(elb, "ip")
    elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=free_port(), DefaultActions=[{"Type": "forward", "TargetGroupArn": ip}]
    )
    assert "has target type ip, which is incompatible with the bridge network mode" in create(
        c.name, name, f"targetGroupArn={ip},containerName=web,containerPort=8080"
    )
    assert "Classic Load Balancers" in create(c.name, name, "loadBalancerName=old,containerName=web,containerPort=8080")
    missing = tg.replace(tg.rsplit("/", 1)[1], "0123456789abcdef")
    assert "does not exist" in create(c.name, name, f"targetGroupArn={missing},containerName=web,containerPort=8080")
    # A role without load balancers.
    assert "role" in refused(
        server, "ecs", "create-service", "--cluster", c.name, "--service-name", name, "--task-definition", td,
        "--desired-count", "0", "--role", "ecsServiceRole",
    )
    # Nothing was stored.
    assert ecs.describe_services(cluster=c.name, services=[name])["failures"][0]["reason"] == "MISSING"

    # A group used by a REPLICA service: refused for a DAEMON service and for another cluster.
    first = unique("first")
    server.aws(
        "ecs", "create-service", "--cluster", c.name, "--service-name", first, "--task-definition", td,
        "--desired-count", "0", "--load-balancers", f"targetGroupArn={tg},containerName=web,containerPort=8080",
    )
    arn = f"arn:aws:ecs:{REGION}:000000000000:service/{c.name}/{first}"
    m = create(c.name, unique("daemon"), f"targetGroupArn={tg},containerName=web,containerPort=8080",
               extra=("--scheduling-strategy", "DAEMON"))
    assert f"already associated with the service {arn}" in m, m
    m = create(other.name, unique("elsewhere"), f"targetGroupArn={tg},containerName=web,containerPort=8080")
    assert f"already associated with the service {arn}" in m, m
    # UpdateService checks them too: a 6th group.
    m = refused(
        server, "ecs", "update-service", "--cluster", c.name, "--service", first, "--load-balancers",
        *[f"targetGroupArn={g},containerName=web,containerPort=8080" for g in six],
    )
    assert "at most 5" in m, m
    assert service(ecs, c.name, first)["loadBalancers"] == [
        {"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}
    ]
    ecs.delete_service(cluster=c.name, service=first)
    # role with load balancers (bridge): accepted and shown as its ARN.
    with_role = server.aws(
        "ecs", "create-service", "--cluster", c.name, "--service-name", unique("role"), "--task-definition", td,
        "--desired-count", "0", "--role", "ecsServiceRole",
        "--load-balancers", f"targetGroupArn={tg},containerName=web,containerPort=8080",
    )["service"]
    assert with_role["roleArn"] == "arn:aws:iam::000000000000:role/ecsServiceRole"
    ecs.delete_service(cluster=c.name, service=with_role["serviceName"])
