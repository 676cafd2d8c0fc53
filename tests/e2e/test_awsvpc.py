"""awsvpc for real (issue 17 item 1), end to end on the real Docker daemon:
each task its own network namespace and address from the agent's task
subnet, its containers sharing `localhost`, the ENI attachment and the
containers' `networkInterfaces` in DescribeTasks, two copies of a task with
port 80 on one host reaching each other by address, the namespace, veth
and address gone after the stop, an agent restart keeping a task's address,
a stale network of a gone agent taken over, a service's tasks in its
subnets, and the refusals of bad network configurations. The agent's warm
pause containers (made ahead once it has run an awsvpc task): claimed by
the next task (its address and its pause container), refilled, removed by
a stopping agent, reused after a kill -9 (a stray one removed), the
claiming task filtered by its security groups, and `--warm-pause 0`.

One `berth up` for the module and, per test, a cluster of its own with one
`berth agent` given a random task subnet (`--task-subnet`). Every container
carries `com.amazonaws.ecs.cluster=<cluster>`: teardown removes them by it,
and what the agent leaves of its task network (bridge, tables) by its names.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from berthtest import (
    task_subnet,
    poll,
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
    remove_task_subnet,
    requires_docker,
    unique,
    wait_agent_connected,
)

pytestmark = requires_docker()

RUN_DEADLINE = 60.0
STOP_DEADLINE = 60.0
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_TASK = "com.amazonaws.ecs.task-arn"
LABEL_NAME = "com.amazonaws.ecs.container-name"
# The server's default subnet in REGIONa (set by the `server` fixture: ECS checks subnets in EC2).
SUBNET_ID = "subnet-0123456789abcdef0"
PAUSE_IMAGE = "berth/pause:1"
NETWORK = {"awsvpcConfiguration": {"subnets": [SUBNET_ID], "assignPublicIp": "DISABLED"}}
APPLETS = ("sh", "httpd", "echo", "sleep", "mkdir", "cat", "wget", "hostname", "timeout")

NEEDS_NETWORK = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
NETWORK_NOT_VALID = "Network Configuration is not valid for the given networkMode of this task definition."


def docker(*args: str, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()




def eth0(pause: dict) -> dict:
    """The interface the agent gave the pause container's namespace (it has no Docker network: network
    mode `none`), as the kernel shows it: its MAC and IPv4 address."""
    pid = str(pause["State"]["Pid"])
    out = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "addr", "show", "dev", "eth0"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    [link] = json.loads(out)
    [ip] = [a["local"] for a in link["addr_info"] if a["family"] == "inet"]
    return {"mac": link["address"], "ip": ip}


def veths_on(bridge: str) -> list[str]:
    """The interfaces enslaved to the bridge (the tasks' veth ends)."""
    p = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    return [line.split(":")[1].strip().split("@")[0] for line in p.stdout.splitlines() if line.strip()]


class Agent:
    """One `berth agent` with its own data dir and task subnet."""

    def __init__(self, server: Berth, cluster: str, data_dir: Path, subnet: str, extra: tuple[str, ...] = ()):
        self.cluster = cluster
        self.data_dir = data_dir
        self.subnet = subnet
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "agent.log"
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [
            str(berth_bin()), "agent", "--server", server.endpoint, "--cluster", cluster,
            "--data-dir", str(data_dir), "--region", REGION, "--cpu", str(TEST_AGENT_CPU),
            "--memory", str(TEST_AGENT_MEMORY), "--task-subnet", subnet, *extra,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)

    def wait_connected(self, ecs) -> str:
        return wait_agent_connected(ecs, self.proc, self.data_dir, self.cluster, self.log_tail, "the agent")

    def warm(self, exclude: tuple[str, ...] = ()) -> tuple[str, dict, dict]:
        """Waits for a warm pause container (its address leased, it running): name, lease, `docker inspect`."""

        def running():
            for name, lease in self.warm_leases().items():
                if name in exclude:
                    continue
                p = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, timeout=60)
                if p.returncode == 0 and json.loads(p.stdout)[0]["State"]["Running"]:
                    return name, lease, json.loads(p.stdout)[0]
            return None

        return poll("a warm pause container", running, RUN_DEADLINE)

    def owner(self) -> str:
        """The agent's persistent id (its task bridge's and warm containers' owner)."""
        return json.loads((self.data_dir / "agent-state.json").read_text())["instanceId"]

    def leases(self) -> dict:
        try:
            return json.loads((self.data_dir / "awsvpc-leases.json").read_text())["tasks"]
        except OSError:
            return {}

    def warm_leases(self) -> dict:
        """The addresses of the agent's warm pause containers, by container name."""
        try:
            return json.loads((self.data_dir / "awsvpc-leases.json").read_text()).get("warm", {})
        except (OSError, ValueError):
            return {}

    def stop(self, kill9: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill9 else signal.SIGTERM)
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-awsvpc")
    (tmp / "data").mkdir()
    srv = Berth(data_dir=tmp / "data", log_path=tmp / "berth.log").start()
    global SUBNET_ID, NETWORK
    SUBNET_ID = default_subnet(srv)
    NETWORK = {"awsvpcConfiguration": {"subnets": [SUBNET_ID], "assignPublicIp": "DISABLED"}}
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A busybox-static image made here (`docker import`)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d, mode in (("bin", 0o755), ("www", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-e2e-awsvpc-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)
        # The agents' pause image (kept by Docker while another agent's
        # pause container still uses it).
        docker("rmi", PAUSE_IMAGE, check=False)


class Setup:
    def __init__(self, server: Berth, tmp: Path):
        self.server = server
        self.ecs = server.client("ecs")
        self.cluster = unique("vpc")
        self.ecs.create_cluster(clusterName=self.cluster)
        self.subnet, self.network, self.bridge = task_subnet()
        self.agent_dir = tmp / "agent"
        self.agents = [Agent(server, self.cluster, self.agent_dir, self.subnet)]
        self.agents[0].wait_connected(self.ecs)

    @property
    def agent(self) -> Agent:
        return self.agents[-1]

    def restart_agent(self, kill9: bool = False, extra: tuple[str, ...] = ()) -> None:
        arn = json.loads((self.agent_dir / "agent-state.json").read_text())["containerInstanceArn"]
        self.agent.stop(kill9)
        # The server must have seen the old session end first: until then it still
        # shows the instance connected, and the new agent's connection is not yet known.
        poll(
            "the server to see the stopped agent's session end",
            lambda: not self.ecs.describe_container_instances(cluster=self.cluster, containerInstances=[arn])[
                "containerInstances"
            ][0]["agentConnected"],
            30,
        )
        self.agents.append(Agent(self.server, self.cluster, self.agent_dir, self.subnet, extra))
        self.agent.wait_connected(self.ecs)

    def describe(self, arns: list) -> list:
        return self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]

    def wait_status(self, arns: list, status: str, deadline: float) -> list:
        def done():
            tasks = self.describe(arns)
            if len(tasks) == len(arns) and all(t["lastStatus"] == status for t in tasks):
                return tasks
            bad = [t for t in tasks if t["lastStatus"] == "STOPPED" and status != "STOPPED"]
            if bad:
                raise AssertionError(f"task stopped while waiting for {status}: {json.dumps(bad, default=str)}")
            return None

        return poll(f"{len(arns)} task(s) {status}", done, deadline)

    def close(self) -> None:
        for a in self.agents:
            a.stop()
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={self.cluster}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        remove_task_subnet(self.network)


@pytest.fixture
def setup(server, tmp_path):
    s = Setup(server, tmp_path)
    try:
        yield s
    finally:
        for a in s.agents:
            print(f"--- agent ({a.log_path}):\n{a.log_tail()}")
        print(f"--- server log ({s.server.log_path}):\n{s.server.log_tail(60)}")
        s.close()


def web_task(ecs, image: str, token: str) -> str:
    """web serves the token on port 80; side fetches it from web over
    localhost and serves what it got on port 81."""
    web = {
        "name": "web", "image": image, "memory": 32, "essential": True, "stopTimeout": 2,
        "portMappings": [{"containerPort": 80}],
        "command": ["sh", "-c", f"echo {token}-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"],
    }
    side = {
        "name": "side", "image": image, "memory": 32, "essential": True, "stopTimeout": 2,
        "portMappings": [{"containerPort": 81}],
        "command": [
            "sh", "-c",
            "mkdir -p /tmp/www && until wget -q -O /tmp/www/index.html http://127.0.0.1:80/; do sleep 0.2; done"
            " && exec httpd -f -p 81 -h /tmp/www",
        ],
    }
    td = ecs.register_task_definition(
        family=unique("vpc-web"), networkMode="awsvpc", containerDefinitions=[web, side]
    )["taskDefinition"]
    assert td["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 80
    return td["taskDefinitionArn"]


def eni(task: dict) -> dict:
    atts = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
    assert len(atts) == 1, task["attachments"]
    return atts[0]


def details(attachment: dict) -> dict:
    return {d["name"]: d["value"] for d in attachment["details"]}


def get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.RequestException:
        return None


def test_two_copies_run_on_one_host_each_at_its_own_address(setup, image):
    ecs = setup.ecs
    token = uuid.uuid4().hex
    td = web_task(ecs, image, token)
    out = ecs.run_task(cluster=setup.cluster, taskDefinition=td, count=2, networkConfiguration=NETWORK)
    assert out["failures"] == []
    arns = [t["taskArn"] for t in out["tasks"]]
    for t in out["tasks"]:
        assert t["lastStatus"] == "PROVISIONING"
        assert eni(t)["status"] == "PRECREATED"
        assert details(eni(t)) == {"subnetId": SUBNET_ID}
    tasks = setup.wait_status(arns, "RUNNING", RUN_DEADLINE)

    ips = []
    prefix = setup.subnet.rsplit(".", 1)[0] + "."
    for t in tasks:
        a = eni(t)
        d = details(a)
        assert a["status"] == "ATTACHED"
        assert set(d) == {"subnetId", "networkInterfaceId", "macAddress", "privateDnsName", "privateIPv4Address"}
        ip = d["privateIPv4Address"]
        assert ip.startswith(prefix) and ip != prefix + "1", ip
        assert d["subnetId"] == SUBNET_ID
        assert len(d["networkInterfaceId"]) == 21 and d["networkInterfaceId"].startswith("eni-")
        task_id = t["taskArn"].rsplit("/", 1)[1]
        pause = json.loads(docker("inspect", f"berth-pause-{task_id}"))[0]
        assert pause["HostConfig"]["NetworkMode"] == "none"
        assert d["macAddress"] == eth0(pause)["mac"]
        assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", d["macAddress"]), d["macAddress"]
        assert d["privateDnsName"] == f"ip-{ip.replace('.', '-')}.ec2.internal"
        for c in t["containers"]:
            assert c["networkInterfaces"] == [{"attachmentId": a["id"], "privateIpv4Address": ip}]
            assert c.get("networkBindings", []) == []
        ips.append(ip)
    assert len(set(ips)) == 2

    # Each copy answers on port 80 at its own address (nothing on the
    # host's ports), and its sidecar got the page over localhost.
    for ip in ips:
        host = "ip-" + ip.replace(".", "-")
        r = poll(f"web at {ip}:80", lambda: get(f"http://{ip}:80/"), RUN_DEADLINE)
        assert r.status_code == 200 and r.text.strip() == f"{token}-{host}"
        r = poll(f"side at {ip}:81", lambda: get(f"http://{ip}:81/"), RUN_DEADLINE)
        assert r.status_code == 200 and r.text.strip() == f"{token}-{host}"
    assert get("http://127.0.0.1:80/") is None or token not in get("http://127.0.0.1:80/").text

    # The two tasks reach each other by address on the container port.
    for t, other in ((tasks[0], ips[1]), (tasks[1], ips[0])):
        ids = docker("ps", "-q", "--filter", f"label={LABEL_TASK}={t['taskArn']}", "--filter", f"label={LABEL_NAME}=side")
        got = docker("exec", ids.split()[0], "wget", "-q", "-O", "-", f"http://{other}:80/")
        assert got.strip() == f"{token}-ip-{other.replace('.', '-')}"

    # On the host: a pause container per task holding the namespace, the
    # task's containers in it with nothing published, one veth each.
    for t in tasks:
        task_id = t["taskArn"].rsplit("/", 1)[1]
        pause = json.loads(docker("inspect", f"berth-pause-{task_id}"))[0]
        assert pause["State"]["Running"]
        assert pause["Config"]["Labels"][LABEL_CLUSTER] == setup.cluster
        assert eth0(pause)["ip"] == details(eni(t))["privateIPv4Address"]
        ids = docker("ps", "-q", "--filter", f"label={LABEL_TASK}={t['taskArn']}", "--filter", f"label={LABEL_NAME}=web")
        web = json.loads(docker("inspect", ids.split()[0]))[0]
        assert web["HostConfig"]["NetworkMode"] == f"container:{pause['Id']}" or web["HostConfig"][
            "NetworkMode"
        ] == f"container:berth-pause-{task_id}"
        assert not web["HostConfig"].get("PortBindings")
    assert len(veths_on(setup.bridge)) == 2
    assert sorted(v["ip"] for v in setup.agent.leases().values()) == sorted(ips)
    # The instance keeps port 80 free: awsvpc reserves no host port.
    ci = ecs.describe_container_instances(cluster=setup.cluster, containerInstances=[tasks[0]["containerInstanceArn"]])
    ports = [r for r in ci["containerInstances"][0]["remainingResources"] if r["name"] == "PORTS"]
    assert all("80" not in r.get("stringSetValue", []) for r in ports)

    # Stopped: the attachment DELETED, the namespaces, veths and addresses gone.
    for arn in arns:
        ecs.stop_task(cluster=setup.cluster, task=arn, reason="test")
    stopped = setup.wait_status(arns, "STOPPED", STOP_DEADLINE)
    for t in stopped:
        assert eni(t)["status"] == "DELETED"
        task_id = t["taskArn"].rsplit("/", 1)[1]
        assert docker("ps", "-aq", "--filter", f"name=^berth-pause-{task_id}$") == ""
    assert veths_on(setup.bridge) == []
    assert setup.agent.leases() == {}
    for ip in ips:
        assert get(f"http://{ip}:80/") is None

    # Having run awsvpc tasks, the agent keeps a warm pause container (made
    # ahead, its address leased, no interface, no task label). The next task
    # takes it (renamed to the task's pause name) and the pool is refilled
    # with the lowest free address: the freed addresses are given again.
    warm_name, warm_lease, warm = setup.agent.warm()
    assert warm["State"]["Running"] and warm["HostConfig"]["NetworkMode"] == "none"
    assert warm["Config"]["Labels"]["berth.pause"] == "warm" and LABEL_TASK not in warm["Config"]["Labels"]
    assert warm["Config"]["Hostname"] == "ip-" + warm_lease["ip"].replace(".", "-")
    again = ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=NETWORK)["tasks"][0]
    t = setup.wait_status([again["taskArn"]], "RUNNING", RUN_DEADLINE)[0]
    assert details(eni(t))["privateIPv4Address"] == warm_lease["ip"]
    assert json.loads(docker("inspect", f"berth-pause-{t['taskArn'].rsplit('/', 1)[1]}"))[0]["Id"] == warm["Id"]
    assert docker("ps", "-aq", "--filter", f"name=^{warm_name}$") == ""
    r = poll("web in the claimed namespace", lambda: get(f"http://{warm_lease['ip']}:80/"), RUN_DEADLINE)
    assert r.text.strip() == f"{token}-ip-{warm_lease['ip'].replace('.', '-')}"
    lowest = min(ips, key=lambda ip: int(ip.rsplit(".", 1)[1]))
    poll("the pool refilled at the lowest free address",
         lambda: [v["ip"] for v in setup.agent.warm_leases().values()] == [lowest], RUN_DEADLINE)
    ecs.stop_task(cluster=setup.cluster, task=again["taskArn"])
    setup.wait_status([again["taskArn"]], "STOPPED", STOP_DEADLINE)
    assert veths_on(setup.bridge) == []
    assert setup.agent.leases() == {}


def test_a_restarted_agent_keeps_the_task_address_and_releases_it_at_the_stop(setup, image):
    ecs = setup.ecs
    token = uuid.uuid4().hex
    td = web_task(ecs, image, token)
    arn = ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=NETWORK)["tasks"][0]["taskArn"]
    t = setup.wait_status([arn], "RUNNING", RUN_DEADLINE)[0]
    ip = details(eni(t))["privateIPv4Address"]
    poll("web", lambda: get(f"http://{ip}:80/"), RUN_DEADLINE)

    # The warm pause container made after the task's start: a stopping
    # agent removes it (and frees its address); the restarted one, which
    # runs an awsvpc task, makes another.
    first_warm, _, _ = setup.agent.warm()
    setup.restart_agent()
    # The task still runs at its address; the lease survived the restart.
    assert get(f"http://{ip}:80/").text.strip().startswith(token)
    assert [v["ip"] for v in setup.agent.leases().values()] == [ip]
    assert docker("ps", "-aq", "--filter", f"name=^{first_warm}$") == ""
    warm_name, warm_lease, warm = setup.agent.warm(exclude=(first_warm,))
    warm_id = warm["Id"]
    # A second task gets another address: the warm container's, which is now its pause container.
    other = ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=NETWORK)["tasks"][0]["taskArn"]
    t2 = setup.wait_status([other], "RUNNING", RUN_DEADLINE)[0]
    assert details(eni(t2))["privateIPv4Address"] == warm_lease["ip"] != ip
    assert json.loads(docker("inspect", f"berth-pause-{other.rsplit('/', 1)[1]}"))[0]["Id"] == warm_id
    assert setup.describe([arn])[0]["lastStatus"] == "RUNNING"

    # An agent killed (no clean-up) leaves its refilled warm container: the
    # next one reuses it (same container, same address) and removes a warm
    # container it holds no address for (left by a crash between the two).
    warm_name, warm_lease, warm = setup.agent.warm(exclude=(warm_name,))
    warm_id = warm["Id"]
    stray = docker(
        "run", "-d", "--name", f"berth-pause-warm-{uuid.uuid4().hex[:12]}", "--network", "none",
        "--label", "berth.pause=warm", "--label", f"berth.awsvpc.owner={setup.agent.owner()}",
        "--label", f"{LABEL_CLUSTER}={setup.cluster}", PAUSE_IMAGE,
    )
    setup.restart_agent(kill9=True)
    poll("the stray warm container removed",
         lambda: docker("ps", "-aq", "--no-trunc", "--filter", f"id={stray}") == "", RUN_DEADLINE)
    assert setup.agent.warm_leases() == {warm_name: warm_lease}
    assert json.loads(docker("inspect", warm_name))[0]["Id"] == warm_id
    for a in (arn, other):
        t = setup.describe([a])[0]
        assert t["lastStatus"] == "RUNNING"
        r = get(f"http://{details(eni(t))['privateIPv4Address']}:80/")
        assert r is not None and r.text.strip().startswith(token)

    for a in (arn, other):
        ecs.stop_task(cluster=setup.cluster, task=a)
    setup.wait_status([arn, other], "STOPPED", STOP_DEADLINE)
    assert setup.agent.leases() == {}
    assert veths_on(setup.bridge) == []

    # With no task left, the agent's shutdown removes its warm pause
    # container and its bridge.
    assert subprocess.run(["ip", "link", "show", "dev", setup.bridge], capture_output=True).returncode == 0
    setup.agent.stop()
    assert subprocess.run(["ip", "link", "show", "dev", setup.bridge], capture_output=True).returncode != 0
    assert docker("ps", "-aq", "--filter", "label=berth.pause=warm", "--filter", f"label={LABEL_CLUSTER}={setup.cluster}") == ""
    assert setup.agent.warm_leases() == {}
    assert docker("network", "ls", "-q", "--filter", f"name=^{setup.network}$") == ""

    # A Docker network of the subnet left by an earlier Berth's agent that is
    # gone (no task in it) is removed by the next agent, which makes its bridge.
    prefix = setup.subnet.rsplit(".", 1)[0]
    docker(
        "network", "create", "--subnet", setup.subnet, "--gateway", f"{prefix}.1",
        "--label", "berth.awsvpc.owner=i-gone", setup.network,
    )
    setup.restart_agent()
    third = ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=NETWORK)["tasks"][0]["taskArn"]
    t3 = setup.wait_status([third], "RUNNING", RUN_DEADLINE)[0]
    ip3 = details(eni(t3))["privateIPv4Address"]
    assert poll("web", lambda: get(f"http://{ip3}:80/"), RUN_DEADLINE).text.startswith(token)
    ecs.stop_task(cluster=setup.cluster, task=third)
    setup.wait_status([third], "STOPPED", STOP_DEADLINE)


def test_a_task_given_a_warm_pause_container_is_filtered_by_its_security_groups(setup, image):
    """The warm path's security: the address a warm container held is open
    only as the claiming task's groups allow, from its first packet."""
    ecs, ec2 = setup.ecs, setup.server.client("ec2")
    groups = {n: ec2.create_security_group(GroupName=unique(n), Description=f"{n} tasks")["GroupId"]
              for n in ("web", "client", "other")}
    ec2.authorize_security_group_ingress(GroupId=groups["web"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": groups["client"]}]}
    ])
    token = uuid.uuid4().hex

    def td(name: str, command: list[str]) -> str:
        c = {"name": name, "image": image, "memory": 32, "essential": True, "stopTimeout": 2, "command": command,
             "portMappings": [{"containerPort": 80}]}
        return ecs.register_task_definition(family=unique(f"vpc-{name}"), networkMode="awsvpc",
                                            containerDefinitions=[c])["taskDefinition"]["taskDefinitionArn"]

    web_td = td("web", ["sh", "-c", f"echo {token} > /www/index.html && exec httpd -f -p 80 -h /www"])
    idle_td = td("idle", ["sleep", "3600"])

    def run(task_def: str, group: str) -> dict:
        conf = {"awsvpcConfiguration": {"subnets": [SUBNET_ID], "securityGroups": [groups[group]]}}
        arn = ecs.run_task(cluster=setup.cluster, taskDefinition=task_def, networkConfiguration=conf)["tasks"][0]["taskArn"]
        return setup.wait_status([arn], "RUNNING", RUN_DEADLINE)[0]


    def fetch(task: dict, ip: str) -> bool:
        ids = docker("ps", "-q", "--filter", f"label={LABEL_TASK}={task['taskArn']}")
        p = subprocess.run(["docker", "exec", ids.split()[0], "timeout", "1", "wget", "-q", "-O", "-", f"http://{ip}:80/"],
                           capture_output=True, text=True, timeout=30)
        return p.returncode == 0 and token in p.stdout

    # The first awsvpc task of the agent makes its pause container; the next ones take warm ones.
    client = run(idle_td, "client")
    tasks = {"client": client}
    for name, task_def in (("web", web_td), ("other", idle_td)):
        _, warm_lease, warm = setup.agent.warm()
        warm_id = warm["Id"]
        tasks[name] = run(task_def, name)
        assert details(eni(tasks[name]))["privateIPv4Address"] == warm_lease["ip"]
        task_id = tasks[name]["taskArn"].rsplit("/", 1)[1]
        assert json.loads(docker("inspect", f"berth-pause-{task_id}"))[0]["Id"] == warm_id
    web_ip = details(eni(tasks["web"]))["privateIPv4Address"]
    poll("the client to reach web through its group's rule", lambda: fetch(tasks["client"], web_ip), RUN_DEADLINE)
    assert not fetch(tasks["other"], web_ip), "a task of another group reached web"
    # A warm container's address answers nobody (no interface yet, and not a task's).
    _, spare, _ = setup.agent.warm()
    assert not fetch(tasks["client"], spare["ip"])

    arns = [t["taskArn"] for t in tasks.values()]
    for arn in arns:
        ecs.stop_task(cluster=setup.cluster, task=arn)
    setup.wait_status(arns, "STOPPED", STOP_DEADLINE)
    assert setup.agent.leases() == {}


def test_warm_pause_0_makes_each_tasks_pause_container_when_it_starts(setup, image):
    # Out of range: refused by the command line, the agent does not start.
    p = subprocess.run([str(berth_bin()), "agent", "--warm-pause", "17"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "invalid value '17' for '--warm-pause <N>': 17 is not in 0..=16" in p.stderr

    setup.restart_agent(extra=("--warm-pause", "0"))
    td = web_task(setup.ecs, image, uuid.uuid4().hex)
    arns = []
    for _ in range(2):
        arns.append(setup.ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=NETWORK)["tasks"][0]["taskArn"])
        setup.wait_status(arns[-1:], "RUNNING", RUN_DEADLINE)
    for arn in arns:
        labels = json.loads(docker("inspect", f"berth-pause-{arn.rsplit('/', 1)[1]}"))[0]["Config"]["Labels"]
        assert labels[LABEL_TASK] == arn and labels.get("berth.pause") != "warm"
    assert setup.agent.warm_leases() == {}
    assert docker("ps", "-aq", "--filter", "label=berth.pause=warm", "--filter", f"label={LABEL_CLUSTER}={setup.cluster}") == ""
    for arn in arns:
        setup.ecs.stop_task(cluster=setup.cluster, task=arn)
    setup.wait_status(arns, "STOPPED", STOP_DEADLINE)


def test_a_service_places_awsvpc_tasks_in_its_subnets(setup, image):
    ecs = setup.ecs
    token = uuid.uuid4().hex
    td = web_task(ecs, image, token)
    # Two subnets of the host's zone: its tasks' interfaces are in the first.
    ec2 = setup.server.client("ec2")
    vpc = ec2.describe_subnets(SubnetIds=[SUBNET_ID])["Subnets"][0]["VpcId"]
    second = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.240.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    subnets = [SUBNET_ID, second["SubnetId"]]
    name = unique("svc")
    ecs.create_service(
        cluster=setup.cluster, serviceName=name, taskDefinition=td, desiredCount=2,
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}},
    )

    def two_running():
        arns = ecs.list_tasks(cluster=setup.cluster, serviceName=name, desiredStatus="RUNNING")["taskArns"]
        tasks = setup.describe(arns) if len(arns) == 2 else []
        return tasks if tasks and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = poll("the service's two tasks RUNNING", two_running, RUN_DEADLINE)
    assert [details(eni(t))["subnetId"] for t in tasks] == [SUBNET_ID, SUBNET_ID]
    ips = {details(eni(t))["privateIPv4Address"] for t in tasks}
    assert len(ips) == 2
    for ip in ips:
        assert poll(f"web at {ip}", lambda: get(f"http://{ip}:80/"), RUN_DEADLINE).text.startswith(token)
    ecs.update_service(cluster=setup.cluster, service=name, desiredCount=0)
    setup.wait_status([t["taskArn"] for t in tasks], "STOPPED", STOP_DEADLINE)
    ecs.delete_service(cluster=setup.cluster, service=name)
    assert setup.agent.leases() == {}
    ec2.delete_subnet(SubnetId=second["SubnetId"])


def refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", e.value.response
    return e.value.response["Error"]["Message"]


def test_network_configurations_are_checked(server, image):
    ecs = server.client("ecs")
    cluster = unique("vpc-bad")
    ecs.create_cluster(clusterName=cluster)
    container = {"name": "a", "image": image, "memory": 16}
    vpc = ecs.register_task_definition(family=unique("vpc"), networkMode="awsvpc", containerDefinitions=[container])
    vpc = vpc["taskDefinition"]["taskDefinitionArn"]
    plain = ecs.register_task_definition(family=unique("plain"), networkMode="bridge", containerDefinitions=[container])
    plain = plain["taskDefinition"]["taskDefinitionArn"]
    run = {"cluster": cluster, "taskDefinition": vpc}

    def conf(**c):
        return {"awsvpcConfiguration": c}

    assert refused(ecs.run_task, **run) == NEEDS_NETWORK
    assert refused(ecs.run_task, cluster=cluster, taskDefinition=plain, networkConfiguration=NETWORK) == NETWORK_NOT_VALID
    assert refused(ecs.run_task, networkConfiguration=conf(subnets=["subnet-xyz"]), **run) == (
        "Error retrieving subnet information for [subnet-xyz]: The subnet ID 'subnet-xyz' is malformed."
    )
    many = [f"subnet-{i:08x}" for i in range(17)]
    assert refused(ecs.run_task, networkConfiguration=conf(subnets=many), **run) == "subnets can have at most 16 items."
    assert refused(
        ecs.run_task, networkConfiguration=conf(subnets=[SUBNET_ID], securityGroups=["sg-12345678"]), **run
    ) == "Error retrieving security group information for [sg-12345678]: The security group 'sg-12345678' does not exist"
    assert refused(
        ecs.run_task, networkConfiguration=conf(subnets=[SUBNET_ID], assignPublicIp="ENABLED"), launchType="EC2", **run
    ) == "Assign public IP is not supported for this launch type."
    svc = {"cluster": cluster, "serviceName": unique("svc"), "taskDefinition": vpc, "desiredCount": 0}
    assert refused(ecs.create_service, **svc) == NEEDS_NETWORK
    assert "is malformed" in refused(ecs.create_service, networkConfiguration=conf(subnets=["nope"]), **svc)
    public = conf(subnets=[SUBNET_ID], assignPublicIp="ENABLED")
    assert refused(ecs.create_service, networkConfiguration=public, launchType="EC2", **svc) == (
        "Assign public IP is not supported for this launch type."
    )
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []
    made = ecs.create_service(networkConfiguration=conf(subnets=[SUBNET_ID]), launchType="EC2", **svc)["service"]
    assert refused(
        ecs.update_service, cluster=cluster, service=made["serviceName"], networkConfiguration=public
    ) == "Assign public IP is not supported for this launch type."
    assert ecs.describe_services(cluster=cluster, services=[made["serviceName"]])["services"][0][
        "networkConfiguration"
    ]["awsvpcConfiguration"].get("assignPublicIp", "DISABLED") == "DISABLED"
    ecs.delete_service(cluster=cluster, service=made["serviceName"], force=True)
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []

    # The aws CLI, as a person types it.
    with pytest.raises(AwsCliError) as e:
        server.aws(
            "ecs", "run-task", "--cluster", cluster, "--task-definition", vpc, "--network-configuration",
            f"awsvpcConfiguration={{subnets=[{SUBNET_ID}],securityGroups=[sg-12345678]}}",
        )
    assert e.value.code == "InvalidParameterException"
    assert "The security group 'sg-12345678' does not exist" in e.value.message
