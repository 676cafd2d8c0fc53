"""EC2 default subnets per availability zone, ECS launches that name real
subnets, and placement by the subnets' zones (issue 17 item 2), end to end
with boto3, the aws CLI and real Docker:

- the default VPC has a default subnet in the region's first zone, and an
  agent registering in another zone adds that zone's (AWS's next /20 block,
  DefaultForAz and MapPublicIpOnLaunch true), once; DescribeAvailabilityZones
  lists those zones;
- RunTask naming a subnet of zone b places its tasks only on the zone-b
  agent, their ENI in that subnet; subnets of zones a and b spread the tasks
  over both, each ENI in its host's zone's subnet; StartTask on an agent of
  another zone starts nothing; a subnet of a zone no agent is in places
  nothing (failures `ATTRIBUTE`), and a service says so in its events;
- a subnet EC2 does not have, subnets of two VPCs, a security group of
  another VPC: refused by RunTask, StartTask, CreateService, UpdateService
  (boto3 and the aws CLI) with nothing stored;
- a Fargate host in zone c (simulated containers) gives zone c its default
  subnet and takes FARGATE tasks only when they name a subnet of zone c.

One `berth up` for the module; per test, a cluster with two `berth agent`s
(zones a and b, each its own task subnet). Every container carries the
cluster's label and is removed by the fixture; every wait is a poll.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from berthtest import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    TEST_AGENT_CPU,
    TEST_AGENT_MEMORY,
    AwsCliError,
    Berth,
    berth_bin,
    default_subnet,
    isolate_aws_environment,
    poll,
    remove_task_subnet,
    requires_docker,
    task_subnet,
    unique,
    wait_agent_connected,
)
from test_awsvpc import docker, image  # noqa: F401  (the busybox image fixture)

pytestmark = requires_docker()

RUN_DEADLINE = 60.0
STOP_DEADLINE = 60.0
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
ZONE_A, ZONE_B, ZONE_C = f"{REGION}a", f"{REGION}b", f"{REGION}c"


class Agent:
    """One `berth agent` in an availability zone, with its own task subnet."""

    def __init__(self, server: Berth, cluster: str, data_dir: Path, zone: str):
        self.cluster, self.data_dir, self.zone = cluster, data_dir, zone
        self.subnet, self.network, _ = task_subnet()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "agent.log"
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [
            str(berth_bin()), "agent", "--server", server.endpoint, "--cluster", cluster,
            "--data-dir", str(data_dir), "--region", REGION, "--availability-zone", zone,
            "--cpu", str(TEST_AGENT_CPU), "--memory", str(TEST_AGENT_MEMORY), "--task-subnet", self.subnet,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self.arn: str | None = None

    def wait_connected(self, ecs) -> str:
        self.arn = wait_agent_connected(ecs, self.proc, self.data_dir, self.cluster, self.log_tail, f"the agent in {self.zone}")
        return self.arn

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        remove_task_subnet(self.network)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-ec2-subnets")
    (tmp / "data").mkdir()
    srv = Berth(data_dir=tmp / "data", log_path=tmp / "berth.log").start()
    try:
        yield srv
    finally:
        srv.stop()


class Zones:
    """A cluster with an agent in zone a and one in zone b."""

    def __init__(self, server: Berth, tmp: Path):
        self.server = server
        self.ecs, self.ec2 = server.client("ecs"), server.client("ec2")
        self.cluster = unique("zones")
        self.ecs.create_cluster(clusterName=self.cluster)
        self.agents: dict[str, Agent] = {}
        for zone in (ZONE_A, ZONE_B):
            self.agents[zone] = Agent(server, self.cluster, tmp / f"agent-{zone}", zone)
        for a in self.agents.values():
            a.wait_connected(self.ecs)

    def close(self) -> None:
        for a in self.agents.values():
            print(f"--- agent {a.zone} ({a.log_path}):\n{a.log_tail()}")
            a.stop()
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={self.cluster}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)


@pytest.fixture
def zones(server, tmp_path):
    z = Zones(server, tmp_path)
    try:
        yield z
    finally:
        z.close()
        print(f"--- server log ({server.log_path}):\n{server.log_tail(40)}")


def sleeper(ecs, image: str) -> str:  # noqa: F811
    c = {"name": "s", "image": image, "memory": 16, "essential": True, "command": ["sleep", "3600"], "stopTimeout": 2}
    td = ecs.register_task_definition(family=unique("sub"), networkMode="awsvpc", containerDefinitions=[c])
    return td["taskDefinition"]["taskDefinitionArn"]


def eni_subnet(task: dict) -> str:
    [att] = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
    return {d["name"]: d["value"] for d in att["details"]}["subnetId"]


def net(*subnets: str, groups: list | None = None) -> dict:
    conf: dict = {"subnets": list(subnets)}
    if groups is not None:
        conf["securityGroups"] = groups
    return {"awsvpcConfiguration": conf}


def refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", e.value.response
    return e.value.response["Error"]["Message"]


def stop_all(z: Zones, arns: list) -> None:
    for arn in arns:
        z.ecs.stop_task(cluster=z.cluster, task=arn)
    poll(
        "the tasks STOPPED",
        lambda: all(t["lastStatus"] == "STOPPED" for t in z.ecs.describe_tasks(cluster=z.cluster, tasks=arns)["tasks"]),
        STOP_DEADLINE,
    )


def test_an_agent_in_a_new_zone_gives_it_a_default_subnet(zones):
    ec2 = zones.ec2
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    defaults = zones.server.aws(
        "ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true", f"Name=vpc-id,Values={default_vpc}"
    )["Subnets"]
    by_zone = {s["AvailabilityZone"]: s for s in defaults}
    # Zone a (the region's first, the local agent's) and zone b (this test's second agent), AWS's /20s in order.
    assert set(by_zone) == {ZONE_A, ZONE_B}, defaults
    assert by_zone[ZONE_A]["CidrBlock"] == "172.31.0.0/20"
    assert by_zone[ZONE_B]["CidrBlock"] == "172.31.16.0/20"
    for s in defaults:
        assert s["DefaultForAz"] is True and s["MapPublicIpOnLaunch"] is True and s["State"] == "available"
    assert default_subnet(zones.server, ZONE_B) == by_zone[ZONE_B]["SubnetId"]
    # The zones the region knows.
    known = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"], z["ZoneType"], z["RegionName"]) for z in known] == [
        (ZONE_A, "use1-az1", "available", "availability-zone", REGION),
        (ZONE_B, "use1-az2", "available", "availability-zone", REGION),
    ]
    cli = zones.server.aws("ec2", "describe-availability-zones", "--zone-names", ZONE_B)["AvailabilityZones"]
    assert [z["ZoneId"] for z in cli] == ["use1-az2"]
    with pytest.raises(ClientError) as e:
        ec2.describe_availability_zones(ZoneNames=[ZONE_C])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    # Another agent in zone b adds nothing.
    more = Agent(zones.server, zones.cluster, zones.agents[ZONE_B].data_dir.parent / "agent-b2", ZONE_B)
    try:
        more.wait_connected(zones.ecs)
        again = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        assert sorted(s["SubnetId"] for s in again) == sorted(s["SubnetId"] for s in defaults)
    finally:
        more.stop()


def test_tasks_go_to_the_zones_of_their_subnets(zones, image):  # noqa: F811
    ecs, ec2, cluster = zones.ecs, zones.ec2, zones.cluster
    td = sleeper(ecs, image)
    sub_a, sub_b = default_subnet(zones.server, ZONE_A), default_subnet(zones.server, ZONE_B)
    agent_a, agent_b = zones.agents[ZONE_A].arn, zones.agents[ZONE_B].arn

    # A subnet of zone b: only the zone-b agent, the ENI in that subnet.
    out = ecs.run_task(cluster=cluster, taskDefinition=td, count=2, networkConfiguration=net(sub_b))
    assert out["failures"] == []
    assert {t["containerInstanceArn"] for t in out["tasks"]} == {agent_b}
    assert {t["availabilityZone"] for t in out["tasks"]} == {ZONE_B}
    assert {eni_subnet(t) for t in out["tasks"]} == {sub_b}
    arns = [t["taskArn"] for t in out["tasks"]]

    # Subnets of both zones, spread by zone (a group of their own): one task per zone, each ENI in its
    # host's zone's subnet.
    out = ecs.run_task(
        cluster=cluster, taskDefinition=td, count=2, networkConfiguration=net(sub_a, sub_b), group="spread",
        placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}],
    )
    assert out["failures"] == []
    placed = {t["containerInstanceArn"]: eni_subnet(t) for t in out["tasks"]}
    assert placed == {agent_a: sub_a, agent_b: sub_b}
    arns += [t["taskArn"] for t in out["tasks"]]

    def running():
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
        bad = [t for t in tasks if t["lastStatus"] == "STOPPED"]
        assert not bad, json.dumps(bad, default=str)
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = poll("the zoned tasks RUNNING", running, RUN_DEADLINE)
    assert {eni_subnet(t) for t in tasks} == {sub_a, sub_b}
    # EC2 shows the interfaces in those subnets.
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sub_b]}])["NetworkInterfaces"]
    assert len(enis) == 3 and {e["AvailabilityZone"] for e in enis} == {ZONE_B}

    # StartTask on the zone-a agent naming a subnet of zone b: not started there.
    out = ecs.start_task(cluster=cluster, taskDefinition=td, containerInstances=[agent_a], networkConfiguration=net(sub_b))
    assert out["tasks"] == [] and [(f["arn"], f["reason"]) for f in out["failures"]] == [(agent_a, "ATTRIBUTE")]

    # A subnet of a zone no agent of the cluster is in: nothing placed, every instance says why.
    vpc = ec2.describe_subnets(SubnetIds=[sub_a])["Subnets"][0]["VpcId"]
    sub_c = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.250.0/24", AvailabilityZone=ZONE_C)["Subnet"]["SubnetId"]
    try:
        out = ecs.run_task(cluster=cluster, taskDefinition=td, networkConfiguration=net(sub_c))
        assert out["tasks"] == []
        assert {f["arn"] for f in out["failures"]} == {agent_a, agent_b}
        assert {f["reason"] for f in out["failures"]} == {"ATTRIBUTE"}
        assert all(ZONE_C in f["detail"] for f in out["failures"]), out["failures"]
        # A service in that subnet says so in its events.
        svc = unique("svc-c")
        ecs.create_service(cluster=cluster, serviceName=svc, taskDefinition=td, desiredCount=1,
                           networkConfiguration=net(sub_c))

        def event():
            s = ecs.describe_services(cluster=cluster, services=[svc])["services"][0]
            return [e["message"] for e in s["events"] if "was unable to place a task" in e["message"]]

        [message, *_] = poll("the service's unable-to-place event", event, RUN_DEADLINE)
        assert "is not in the Availability Zone of any of your task's subnets" in message, message
        assert ecs.list_tasks(cluster=cluster, serviceName=svc)["taskArns"] == []
        ecs.delete_service(cluster=cluster, service=svc, force=True)
    finally:
        stop_all(zones, arns)
        ec2.delete_subnet(SubnetId=sub_c)


def test_launches_naming_subnets_ec2_does_not_have_or_mixing_vpcs_are_refused(zones, image):  # noqa: F811
    ecs, ec2, cluster = zones.ecs, zones.ec2, zones.cluster
    td = sleeper(ecs, image)
    sub_a = default_subnet(zones.server, ZONE_A)
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.91.1.0/24", AvailabilityZone=ZONE_A)["Subnet"]["SubnetId"]
    other_group = ec2.create_security_group(GroupName=unique("other"), Description="other vpc", VpcId=vpc)["GroupId"]
    missing = "subnet-0123456789abcdef0"
    not_found = (
        f"Error retrieving subnet information for [{missing}]: The subnet ID '{missing}' does not exist "
        "(Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)"
    )
    two_vpcs = f"Subnets must all belong to the same VPC: {sub_a} is in "
    foreign = f"Security group {other_group} and subnet {sub_a} belong to different networks"
    run = {"cluster": cluster, "taskDefinition": td}
    try:
        assert refused(ecs.run_task, networkConfiguration=net(sub_a, missing), **run) == not_found
        assert refused(ecs.run_task, networkConfiguration=net(sub_a, other), **run).startswith(two_vpcs)
        assert refused(ecs.run_task, networkConfiguration=net(sub_a, groups=[other_group]), **run).startswith(foreign)
        start = {"cluster": cluster, "taskDefinition": td, "containerInstances": [zones.agents[ZONE_A].arn]}
        assert refused(ecs.start_task, networkConfiguration=net(missing), **start) == not_found
        # The malformed id keeps its own message.
        assert refused(ecs.run_task, networkConfiguration=net("subnet-nope"), **run).endswith("is malformed.")
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == []

        svc = {"cluster": cluster, "serviceName": unique("svc"), "taskDefinition": td, "desiredCount": 0}
        assert refused(ecs.create_service, networkConfiguration=net(missing), **svc) == not_found
        assert refused(ecs.create_service, networkConfiguration=net(other, sub_a), **svc).startswith(
            f"Subnets must all belong to the same VPC: {other} is in {vpc}"
        )
        assert ecs.list_services(cluster=cluster)["serviceArns"] == []
        made = ecs.create_service(networkConfiguration=net(other, groups=[other_group]), **svc)["service"]
        assert made["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [other_group]
        assert refused(ecs.update_service, cluster=cluster, service=made["serviceName"],
                       networkConfiguration=net(sub_a, groups=[other_group])).startswith(foreign)
        shown = ecs.describe_services(cluster=cluster, services=[made["serviceName"]])["services"][0]
        assert shown["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [other]
        ecs.delete_service(cluster=cluster, service=made["serviceName"], force=True)

        # The aws CLI, as a person types it.
        with pytest.raises(AwsCliError) as e:
            zones.server.aws(
                "ecs", "run-task", "--cluster", cluster, "--task-definition", td, "--network-configuration",
                f"awsvpcConfiguration={{subnets=[{missing}]}}",
            )
        assert e.value.code == "InvalidParameterException" and not_found in str(e.value)
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == []
    finally:
        ec2.delete_security_group(GroupId=other_group)
        ec2.delete_subnet(SubnetId=other)
        ec2.delete_vpc(VpcId=vpc)


def test_fargate_tasks_go_to_the_zones_of_their_subnets(server, tmp_path, image):  # noqa: F811
    """A Fargate host (the agent protocol over simulated containers: `--runtime hollow`) in zone c: its
    registration gives zone c its default subnet, and FARGATE tasks run there only when they name it."""
    ecs = server.client("ecs")
    cluster = unique("fg-zone")
    ecs.create_cluster(clusterName=cluster)
    log_path = tmp_path / "agent.log"
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
    cmd = [
        str(berth_bin()), "agent", "--fargate", "--server", server.endpoint, "--cluster", cluster,
        "--data-dir", str(tmp_path / "agent"), "--region", REGION, "--availability-zone", ZONE_C,
        "--runtime", "hollow", "--hollow-cores", "2",
    ]
    with open(log_path, "ab") as log:
        agent = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    try:
        poll("the Fargate host to register", lambda: " registered " in log_path.read_text(errors="replace"), 30)
        sub_c = poll("zone c's default subnet", lambda: _default_subnet_or_none(server, ZONE_C), 10)
        td = ecs.register_task_definition(
            family=unique("fg"), networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "app", "image": image, "command": ["sleep", "3600"]}],
        )["taskDefinition"]["taskDefinitionArn"]
        run = {"cluster": cluster, "taskDefinition": td, "launchType": "FARGATE"}
        out = ecs.run_task(networkConfiguration=net(default_subnet(server, ZONE_A)), **run)
        assert out["tasks"] == [] and [f["reason"] for f in out["failures"]] == ["ATTRIBUTE"], out["failures"]
        out = ecs.run_task(networkConfiguration=net(default_subnet(server, ZONE_A), sub_c), **run)
        assert out["failures"] == []
        [task] = out["tasks"]
        assert task["availabilityZone"] == ZONE_C and eni_subnet(task) == sub_c
        assert "containerInstanceArn" not in task
        ecs.stop_task(cluster=cluster, task=task["taskArn"])
        poll(
            "the Fargate task STOPPED",
            lambda: ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
            STOP_DEADLINE,
        )
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(timeout=30)
        print(f"--- Fargate host log:\n{log_path.read_text(errors='replace')[-3000:]}")


def _default_subnet_or_none(server: Berth, zone: str) -> str | None:
    filters = [{"Name": "default-for-az", "Values": ["true"]}, {"Name": "availability-zone", "Values": [zone]}]
    subnets = server.client("ec2").describe_subnets(Filters=filters)["Subnets"]
    return subnets[0]["SubnetId"] if subnets else None
