"""awsvpc across hosts (issue 17's Must-show "two agents in two network
namespaces: a task on one reaches a task on the other by IP"), end to end
on the real Docker daemon: two simulated hosts, each a network namespace
running its own `berth agent` with its own task subnet and
`--host-address`; the server hands each agent the other's (task subnet,
host address) and the agents route each other's task subnet through it
("host-gw"). A task on host A fetches a page from a task on host B by its
private IP; a security group on B's task blocks it until a rule allowing
A's task's group is added. A third host claiming B's task subnet is
refused at registration.

The topology, made here with unique names and removed in teardown (even on
failure):

    root ns --veth 10.251.K.0/30-- hostA    (A's way to the server)
    root ns --veth 10.251.K.4/30-- hostB    (B's way to the server)
    hostA   --veth 10.250.K.0/30-- hostB    (the underlay: task traffic)

The server listens on the root side of A's link; B reaches it through the
root namespace. Task traffic never crosses the root namespace (whose
FORWARD policy Docker sets to DROP).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from berthtest import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    TEST_AGENT_CPU,
    TEST_AGENT_MEMORY,
    Berth,
    berth_bin,
    default_subnet,
    isolate_aws_environment,
    poll,
    requires_docker,
    task_subnet,
    unique,
    worker_index,
    wait_agent_connected,
)
from test_awsvpc import image, web_task  # noqa: F401  (the busybox image fixture)

pytestmark = requires_docker()

RUN_DEADLINE = 60.0
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"


def sh(*args: str, check: bool = True) -> str:
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def free_k() -> int:
    """A third octet K with 10.250.K.0/30 and 10.251.K.0/29 on no interface of the root namespace."""
    used = sh("ip", "-o", "-4", "addr", "show")
    while True:
        k = random.randint(worker_index() * 16, worker_index() * 16 + 15) % 256
        if f"10.250.{k}." not in used and f"10.251.{k}." not in used:
            return k


class Hosts:
    """Two network namespaces linked to the root one and to each other."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.k = free_k()
        self.a, self.b = f"berth-xh-{tag}-a", f"berth-xh-{tag}-b"
        self.root_a, self.root_b = f"bxr{tag}a", f"bxr{tag}b"
        self.made: list[str] = []
        k = self.k
        self.server_ip = f"10.251.{k}.1"
        self.under_a, self.under_b = f"10.250.{k}.1", f"10.250.{k}.2"
        for ns in (self.a, self.b):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for ns, root_if, base in ((self.a, self.root_a, 0), (self.b, self.root_b, 4)):
            sh("ip", "link", "add", root_if, "type", "veth", "peer", "name", "up0", "netns", ns)
            sh("ip", "addr", "add", f"10.251.{k}.{base + 1}/30", "dev", root_if)
            sh("ip", "link", "set", root_if, "up")
            sh("ip", "-n", ns, "addr", "add", f"10.251.{k}.{base + 2}/30", "dev", "up0")
            sh("ip", "-n", ns, "link", "set", "up0", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", f"10.251.{k}.{base + 1}")
        sh("ip", "link", "add", "ul0", "netns", self.a, "type", "veth", "peer", "name", "ul0", "netns", self.b)
        for ns, addr in ((self.a, self.under_a), (self.b, self.under_b)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", "ul0")
            sh("ip", "-n", ns, "link", "set", "ul0", "up")

    def close(self) -> None:
        # The namespaces take their links, bridges, routes and nft tables with them.
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)
        for root_if in (self.root_a, self.root_b):
            sh("ip", "link", "del", root_if, check=False)


class NsAgent:
    """`ip netns exec NS berth agent …` with its own data dir, task subnet and host address."""

    def __init__(self, ns: str, server: Berth, cluster: str, data_dir: Path, subnet: str, host_address: str):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "agent.log"
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [
            "ip", "netns", "exec", ns, str(berth_bin()), "agent", "--server", server.endpoint,
            "--cluster", cluster, "--data-dir", str(data_dir), "--region", REGION,
            "--cpu", str(TEST_AGENT_CPU), "--memory", str(TEST_AGENT_MEMORY),
            "--task-subnet", subnet, "--host-address", host_address,
        ]
        with open(self.log_path, "ab") as log:
            # `ip netns exec` execs the agent: this pid is the agent's.
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

    def wait_connected(self, ecs, cluster: str) -> str:
        return wait_agent_connected(ecs, self.proc, self.data_dir, cluster, self.log_tail, "the agent")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture
def world(tmp_path):
    hosts = Hosts()
    server = None
    agents: list[NsAgent] = []
    clusters: list[str] = []
    try:
        (tmp_path / "data").mkdir()
        server = Berth(data_dir=tmp_path / "data", log_path=tmp_path / "berth.log")
        server.listen_host = hosts.server_ip
        server.start()
        yield hosts, server, agents, clusters
    finally:
        for a in agents:
            print(f"--- agent ({a.log_path}):\n{a.log_tail()}")
            a.stop()
        for c in clusters:
            ids = sh("docker", "ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={c}", check=False).split()
            for i in ids:
                print(f"--- container {i}:\n{sh('docker', 'logs', '--tail', '5', i, check=False)}")
            if ids:
                sh("docker", "rm", "-f", "-v", *ids, check=False)
        if server is not None:
            print(f"--- server log ({server.log_path}):\n{server.log_tail(60)}")
            server.stop()
        hosts.close()


def details(task: dict) -> dict:
    [att] = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
    return {d["name"]: d["value"] for d in att["details"]}


def routes(ns: str) -> str:
    return sh("ip", "-n", ns, "-o", "-4", "route", "show", "proto", "186")


def test_a_task_on_one_host_reaches_a_task_on_another_by_ip(world, image):  # noqa: F811
    hosts, server, agents, clusters = world
    ecs, ec2 = server.client("ecs"), server.client("ec2")
    subnet_a = task_subnet()[0]
    subnet_b = task_subnet()[0]
    while subnet_b == subnet_a:
        subnet_b = task_subnet()[0]
    cluster_a, cluster_b = unique("xa"), unique("xb")
    for c in (cluster_a, cluster_b):
        ecs.create_cluster(clusterName=c)
        clusters.append(c)
    agent_a = NsAgent(hosts.a, server, cluster_a, Path(server.data_dir).parent / "agent-a", subnet_a, hosts.under_a)
    agents.append(agent_a)
    agent_b = NsAgent(hosts.b, server, cluster_b, Path(server.data_dir).parent / "agent-b", subnet_b, hosts.under_b)
    agents.append(agent_b)
    arn_a = agent_a.wait_connected(ecs, cluster_a)
    agent_b.wait_connected(ecs, cluster_b)

    # Each agent registered its task subnet and host address.
    ci = ecs.describe_container_instances(cluster=cluster_a, containerInstances=[arn_a])["containerInstances"][0]
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert attrs["berth.task-subnet"] == subnet_a and attrs["berth.host-address"] == hosts.under_a

    # Each host routes the other's task subnet through the other's address.
    poll("A's route to B's task subnet", lambda: f"{subnet_b} via {hosts.under_b} " in routes(hosts.a) + " ", 30)
    poll("B's route to A's task subnet", lambda: f"{subnet_a} via {hosts.under_a} " in routes(hosts.b) + " ", 30)

    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet_id = default_subnet(server)
    web_sg = ec2.create_security_group(GroupName=unique("web"), Description="web", VpcId=vpc)["GroupId"]
    client_sg = ec2.create_security_group(GroupName=unique("client"), Description="client", VpcId=vpc)["GroupId"]

    token = uuid.uuid4().hex
    td = web_task(ecs, image, token)
    web = ecs.run_task(
        cluster=cluster_b, taskDefinition=td,
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet_id], "securityGroups": [web_sg]}},
    )["tasks"][0]["taskArn"]

    def running():
        t = ecs.describe_tasks(cluster=cluster_b, tasks=[web])["tasks"][0]
        assert t["lastStatus"] != "STOPPED", t
        return t if t["lastStatus"] == "RUNNING" else None

    ip_b = details(poll("B's web task RUNNING", running, RUN_DEADLINE))["privateIPv4Address"]
    assert ip_b.rsplit(".", 1)[0] == subnet_b.rsplit(".", 1)[0]

    probe = ecs.register_task_definition(
        family=unique("probe"), networkMode="awsvpc",
        containerDefinitions=[{
            "name": "probe", "image": image, "memory": 32, "essential": True,
            # Exit 0 only with B's page (the image has sh's builtins and wget, no grep; busybox
            # 1.35's `wget -T` crashes, hence `busybox timeout`).
            "command": [
                "sh", "-c",
                f'out="$(busybox timeout 3 wget -q -O - http://{ip_b}:80/ 2>&1)"; echo "$out";'
                f' case "$out" in {token}-*) exit 0;; esac; exit 1',
            ],
        }],
    )["taskDefinition"]["taskDefinitionArn"]

    def probe_exit() -> int:
        """Runs the probe on host A; its container's exit code (0: it got B's page)."""
        arn = ecs.run_task(
            cluster=cluster_a, taskDefinition=probe,
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet_id], "securityGroups": [client_sg]}},
        )["tasks"][0]["taskArn"]

        def stopped():
            t = ecs.describe_tasks(cluster=cluster_a, tasks=[arn])["tasks"][0]
            return t if t["lastStatus"] == "STOPPED" else None

        t = poll("the probe STOPPED", stopped, RUN_DEADLINE)
        assert details(t)["privateIPv4Address"].rsplit(".", 1)[0] == subnet_a.rsplit(".", 1)[0]
        code = t["containers"][0].get("exitCode")
        assert code is not None, t
        return code

    # B's web group allows nothing in: A's task cannot reach it.
    assert probe_exit() != 0
    # Allowed from A's task's group (whose member is on the other host): reached by its private IP.
    ec2.authorize_security_group_ingress(
        GroupId=web_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": client_sg}]}],
    )
    poll("A's task to fetch B's page by IP", lambda: probe_exit() == 0, 2 * RUN_DEADLINE, interval=0.5)

    # A third host claiming B's task subnet is refused at registration.
    with pytest.raises(ClientError) as err:
        ecs.register_container_instance(
            cluster=cluster_a,
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
            ],
            attributes=[
                {"name": "berth.task-subnet", "value": subnet_b},
                {"name": "berth.host-address", "value": f"10.250.{hosts.k}.9"},
            ],
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    message = err.value.response["Error"]["Message"]
    assert subnet_b in message and "--task-subnet" in message, message

    # B's agent gone (deregistered): A's route to its subnet goes.
    ecs.stop_task(cluster=cluster_b, task=web)
    poll("B's web task STOPPED", lambda: ecs.describe_tasks(cluster=cluster_b, tasks=[web])["tasks"][0]["lastStatus"] == "STOPPED", RUN_DEADLINE)
    arn_b = json.loads((Path(server.data_dir).parent / "agent-b" / "agent-state.json").read_text())["containerInstanceArn"]
    ecs.deregister_container_instance(cluster=cluster_b, containerInstance=arn_b, force=True)
    poll("A's route to B's task subnet removed", lambda: subnet_b not in routes(hosts.a), 30)
