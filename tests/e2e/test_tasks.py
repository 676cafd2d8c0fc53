"""Tasks that really run (issue 3), end to end on the real Docker daemon:
RunTask/StopTask through the aws CLI v1 and boto3, an HTTP server reached on
the host port reported in `networkBindings`, essential and non-essential
containers, `dependsOn` HEALTHY, placement across two `berth agent`
processes (spread, binpack, RESOURCE:MEMORY), and agent loss.

Everything runs on one `berth up` of this module (started with a short
agent grace period) and on clusters made for the test, each with its own
`berth agent` subprocesses. Every container an agent starts carries the
label `com.amazonaws.ecs.cluster=<cluster>`: teardown removes them by it.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from berthtest import (
    poll,
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    TEST_AGENT_CPU,
    TEST_AGENT_MEMORY,
    Berth,
    berth_bin,
    isolate_aws_environment,
    unique,
)

GRACE_SECS = 5
# Deadlines for polls (never sleeps as synchronisation).
RUN_DEADLINE = 60.0
STOP_DEADLINE = 60.0
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_INSTANCE = "berth.instance"
LABEL_TASK = "com.amazonaws.ecs.task-arn"
AGENT_LOST_REASON = (
    "Task stopped because the container instance agent was disconnected for longer than the grace period."
)
BUSYBOX_APPLETS = ("sh", "httpd", "echo", "sleep", "touch", "test", "mkdir", "cat", "true", "false", "ls", "wget")


# ------------------------------------------------------------------ helpers


def docker(*args: str, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def remove_cluster_containers(cluster: str) -> None:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={cluster}", check=False).split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    vols = docker("volume", "ls", "-q", "--filter", f"label={LABEL_CLUSTER}={cluster}", check=False).split()
    if vols:
        docker("volume", "rm", "-f", *vols, check=False)




def parse_docker_time(s: str) -> datetime.datetime:
    # 2026-11-23T11:30:00.123456789Z: keep microseconds.
    s = s.rstrip("Z")
    if "." in s:
        head, frac = s.split(".", 1)
        s = f"{head}.{frac[:6]}"
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)


class Agent:
    """One `berth agent` subprocess with its own data dir, registering a
    small share of the host (it runs next to `berth up`'s local agent and
    other test agents on the same host)."""

    def __init__(
        self,
        server: Berth,
        cluster: str,
        work: Path,
        az: str,
        data_dir: Path | None = None,
        endpoint: str | None = None,
        cpu: int = TEST_AGENT_CPU,
        memory: int = TEST_AGENT_MEMORY,
    ):
        self.server = server
        self.cluster = cluster
        self.az = az
        self.data_dir = data_dir or work / f"agent-{uuid.uuid4().hex[:8]}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "agent.log"
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [
            str(berth_bin()),
            "agent",
            "--server",
            endpoint or server.endpoint,
            "--cluster",
            cluster,
            "--data-dir",
            str(self.data_dir),
            "--availability-zone",
            az,
            "--region",
            REGION,
            "--cpu",
            str(cpu),
            "--memory",
            str(memory),
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        self.arn: str | None = None

    def state_file_arn(self) -> str | None:
        try:
            state = json.loads((self.data_dir / "agent-state.json").read_text())
        except (OSError, ValueError):
            return None
        return state.get("containerInstanceArn")

    def wait_connected(self, ecs) -> str:
        def connected():
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log_tail()}")
            arn = self.state_file_arn()
            if not arn:
                return None
            inst = ecs.describe_container_instances(cluster=self.cluster, containerInstances=[arn])
            ci = inst["containerInstances"]
            return arn if ci and ci[0]["agentConnected"] and ci[0]["status"] == "ACTIVE" else None

        self.arn = poll("the agent to register and connect", connected, 30)
        return self.arn

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


class Cluster:
    """A cluster made for one test, with its agents; teardown stops the
    agents and removes every container labelled with the cluster."""

    def __init__(self, server: Berth, work: Path, prefix: str):
        self.server = server
        self.work = work
        self.name = unique(prefix)
        self.agents: list[Agent] = []
        server.client("ecs").create_cluster(clusterName=self.name)

    def add_agent(self, az: str = f"{REGION}a", endpoint: str | None = None) -> Agent:
        agent = Agent(self.server, self.name, self.work, az, endpoint=endpoint)
        self.agents.append(agent)
        agent.wait_connected(self.server.client("ecs"))
        return agent

    def restart_agent(self, agent: Agent) -> Agent:
        """Stops the agent (SIGTERM) and starts a new process on its data dir."""
        agent.stop()
        again = Agent(self.server, self.name, self.work, agent.az, data_dir=agent.data_dir)
        self.agents.append(again)
        again.wait_connected(self.server.client("ecs"))
        return again

    def close(self) -> None:
        for a in self.agents:
            a.stop()
        remove_cluster_containers(self.name)

    def logs(self) -> str:
        return "\n".join(f"--- agent {a.arn} ({a.log_path}):\n{a.log_tail()}" for a in self.agents)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-tasks")
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

    def make(prefix: str = "tasks") -> Cluster:
        c = Cluster(server, tmp_path, prefix)
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        # Captured: pytest shows it when the test failed.
        print(c.logs())
        print(f"--- server log ({server.log_path}):\n{server.log_tail(80)}")
        c.close()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A busybox-static image made here: `docker import` of a rootfs with
    /bin/busybox and its applets, /tmp and /www."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    root = tmp_path_factory.mktemp("rootfs")
    tar_path = root / "rootfs.tar"

    def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        tar.addfile(info)

    with tarfile.open(tar_path, "w") as tar:
        for d in ("bin", "www", "etc"):
            add_dir(tar, d)
        add_dir(tar, "tmp", 0o1777)
        tar.add(busybox, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    name = f"berth-e2e-tasks-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


class CuttableProxy:
    """A TCP proxy to the server whose connections the test can cut (a
    network drop between agent and server) and restore."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.down = False
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.down:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drops every connection and refuses new ones until restore()."""
        with self.lock:
            self.down = True
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.open = []

    def restore(self) -> None:
        with self.lock:
            self.down = False

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


def register(ecs, family: str, containers: list, **extra) -> str:
    td = ecs.register_task_definition(family=family, containerDefinitions=containers, **extra)
    return td["taskDefinition"]["taskDefinitionArn"]


def describe(ecs, cluster: str, arns: list) -> list:
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100])["tasks"]
    return out


def wait_status(ecs, cluster: str, arns: list, status: str, deadline: float) -> list:
    def done():
        tasks = describe(ecs, cluster, arns)
        if len(tasks) == len(arns) and all(t["lastStatus"] == status for t in tasks):
            return tasks
        bad = [t for t in tasks if t["lastStatus"] == "STOPPED" and status != "STOPPED"]
        if bad:
            raise AssertionError(f"task stopped while waiting for {status}: {json.dumps(bad, default=str)}")
        return None

    return poll(f"{len(arns)} task(s) {status}", done, deadline)


def containers_by_name(task: dict) -> dict:
    return {c["name"]: c for c in task["containers"]}


def docker_container(task_arn: str, name: str) -> dict:
    filters = ["--filter", f"label={LABEL_TASK}={task_arn}"]
    filters += ["--filter", f"label=com.amazonaws.ecs.container-name={name}"]
    ids = docker("ps", "-aq", *filters).split()
    assert len(ids) == 1, f"expected one container {name} of {task_arn}, found {ids}"
    return json.loads(docker("inspect", ids[0]))[0]


def sleeper(name: str, image: str, memory: int = 32, **extra) -> dict:
    return {
        "name": name,
        "image": image,
        "memory": memory,
        "essential": True,
        "command": ["sleep", "3600"],
        "stopTimeout": 2,
        **extra,
    }


# ------------------------------------------------------------------ tests


def test_run_task_http_server_on_dynamic_port_then_stop(server, cluster, image):
    c = cluster("tasks-http")
    c.add_agent()
    family = unique("http")
    token = uuid.uuid4().hex
    container = {
        "name": "web",
        "image": image,
        "memory": 64,
        "essential": True,
        "command": [
            "sh",
            "-c",
            f"mkdir -p /www && echo hello-{token} > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
        "stopTimeout": 2,
    }
    server.aws(
        "ecs",
        "register-task-definition",
        "--family",
        family,
        "--network-mode",
        "bridge",
        "--container-definitions",
        json.dumps([container]),
    )
    out = server.aws("ecs", "run-task", "--cluster", c.name, "--task-definition", family, "--started-by", "e2e")
    assert out["failures"] == []
    (task,) = out["tasks"]
    arn = task["taskArn"]
    assert task["lastStatus"] == "PROVISIONING" or task["lastStatus"] == "PENDING"
    assert task["desiredStatus"] == "RUNNING"
    assert task["containerInstanceArn"] == c.agents[0].arn

    def running():
        t = server.aws("ecs", "describe-tasks", "--cluster", c.name, "--tasks", arn)["tasks"][0]
        assert t["lastStatus"] != "STOPPED", t
        return t if t["lastStatus"] == "RUNNING" else None

    t = poll("the task RUNNING", running, RUN_DEADLINE)
    assert t["startedBy"] == "e2e"
    assert "startedAt" in t and "pullStartedAt" in t and "pullStoppedAt" in t
    web = containers_by_name(t)["web"]
    assert web["lastStatus"] == "RUNNING"
    assert web["runtimeId"]
    # Docker publishes on IPv4 and IPv6 (bindIP 0.0.0.0 and ::), as ECS reports it.
    bindings = web["networkBindings"]
    assert bindings and {b["bindIP"] for b in bindings} <= {"0.0.0.0", "::"}, bindings
    assert {(b["containerPort"], b["protocol"]) for b in bindings} == {(8080, "tcp")}
    # Docker 20.10 may pick different dynamic ports for IPv4 and IPv6: every
    # binding is reported as Docker really published it.
    info = docker_container(arn, "web")
    published = info["NetworkSettings"]["Ports"]["8080/tcp"]
    assert {(b["bindIP"], b["hostPort"]) for b in bindings} == {(p["HostIp"], int(p["HostPort"])) for p in published}
    (host_port,) = {b["hostPort"] for b in bindings if b["bindIP"] == "0.0.0.0"}
    assert host_port >= 1024, bindings
    assert info["Config"]["Labels"][LABEL_CLUSTER] == c.name
    assert info["Config"]["Labels"][LABEL_INSTANCE] == c.agents[0].arn

    def answers():
        try:
            r = requests.get(f"http://127.0.0.1:{host_port}/index.html", timeout=2)
        except requests.RequestException:
            return None
        return r if r.status_code == 200 else None

    r = poll("the HTTP server to answer", answers, 20)
    assert r.text.strip() == f"hello-{token}"

    stopped = server.aws("ecs", "stop-task", "--cluster", c.name, "--task", arn, "--reason", "e2e says stop")["task"]
    assert stopped["desiredStatus"] == "STOPPED"

    def is_stopped():
        t = server.aws("ecs", "describe-tasks", "--cluster", c.name, "--tasks", arn)["tasks"][0]
        return t if t["lastStatus"] == "STOPPED" else None

    t = poll("the task STOPPED", is_stopped, STOP_DEADLINE)
    assert t["stoppedReason"] == "e2e says stop"
    assert t["stopCode"] == "UserInitiated"
    assert "stoppedAt" in t and "stoppingAt" in t and "executionStoppedAt" in t
    web = containers_by_name(t)["web"]
    assert web["lastStatus"] == "STOPPED"
    assert isinstance(web["exitCode"], int)
    assert docker_container(arn, "web")["State"]["Running"] is False
    # Resources come back once the task is STOPPED.
    ci = server.client("ecs").describe_container_instances(cluster=c.name, containerInstances=[c.agents[0].arn])
    inst = ci["containerInstances"][0]
    remaining = {r["name"]: r.get("integerValue") for r in inst["remainingResources"]}
    registered = {r["name"]: r.get("integerValue") for r in inst["registeredResources"]}
    assert remaining["MEMORY"] == registered["MEMORY"]
    assert inst["runningTasksCount"] == 0


def test_non_essential_exit_keeps_task_essential_exit_stops_it(server, cluster, image, tmp_path):
    c = cluster("tasks-ess")
    c.add_agent()
    ecs = server.client("ecs")
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    ctl.chmod(0o777)
    td = register(
        ecs,
        unique("ess"),
        [
            {
                "name": "main",
                "image": image,
                "memory": 32,
                "essential": True,
                "command": ["sh", "-c", "while [ ! -f /ctl/stop ]; do sleep 1; done; exit 0"],
                "mountPoints": [{"sourceVolume": "ctl", "containerPath": "/ctl"}],
                "stopTimeout": 2,
            },
            {
                "name": "sidecar",
                "image": image,
                "memory": 32,
                "essential": False,
                "command": ["sh", "-c", "exit 3"],
            },
        ],
        volumes=[{"name": "ctl", "host": {"sourcePath": str(ctl)}}],
    )
    (task,) = ecs.run_task(cluster=c.name, taskDefinition=td)["tasks"]
    arn = task["taskArn"]

    def sidecar_exited():
        (t,) = describe(ecs, c.name, [arn])
        assert t["lastStatus"] != "STOPPED", t
        side = containers_by_name(t)["sidecar"]
        return t if t["lastStatus"] == "RUNNING" and side["lastStatus"] == "STOPPED" else None

    t = poll("the sidecar to exit while the task runs", sidecar_exited, RUN_DEADLINE)
    assert containers_by_name(t)["sidecar"]["exitCode"] == 3
    assert containers_by_name(t)["main"]["lastStatus"] == "RUNNING"
    assert t["desiredStatus"] == "RUNNING"

    (ctl / "stop").write_text("now")
    (t,) = wait_status(ecs, c.name, [arn], "STOPPED", STOP_DEADLINE)
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    main = containers_by_name(t)["main"]
    assert main["exitCode"] == 0 and main["lastStatus"] == "STOPPED"
    assert containers_by_name(t)["sidecar"]["exitCode"] == 3


def test_command_override_exiting_at_once_stops_with_essential_container_exited(server, cluster, image):
    c = cluster("tasks-exit")
    c.add_agent()
    family = unique("exit")
    register(server.client("ecs"), family, [sleeper("main", image)])
    overrides = {"containerOverrides": [{"name": "main", "command": ["sh", "-c", "exit 7"]}]}
    out = server.aws(
        "ecs", "run-task", "--cluster", c.name, "--task-definition", family, "--overrides", json.dumps(overrides)
    )
    arn = out["tasks"][0]["taskArn"]
    assert out["tasks"][0]["overrides"]["containerOverrides"][0]["command"] == ["sh", "-c", "exit 7"]
    (t,) = wait_status(server.client("ecs"), c.name, [arn], "STOPPED", STOP_DEADLINE)
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    assert containers_by_name(t)["main"]["exitCode"] == 7


def test_depends_on_healthy_delays_the_second_container(server, cluster, image):
    c = cluster("tasks-dep")
    c.add_agent()
    ecs = server.client("ecs")
    td = register(
        ecs,
        unique("dep"),
        [
            {
                "name": "db",
                "image": image,
                "memory": 32,
                "essential": True,
                # Healthy only once /tmp/ready exists, 3 s after the start.
                "command": ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 3600"],
                "healthCheck": {
                    "command": ["CMD-SHELL", "test -f /tmp/ready"],
                    "interval": 5,
                    "timeout": 2,
                    "retries": 3,
                },
                "stopTimeout": 2,
            },
            sleeper("app", image, dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        ],
    )
    (task,) = ecs.run_task(cluster=c.name, taskDefinition=td)["tasks"]
    arn = task["taskArn"]

    def app_running():
        (t,) = describe(ecs, c.name, [arn])
        assert t["lastStatus"] != "STOPPED", t
        cs = containers_by_name(t)
        if cs["db"].get("healthStatus") != "HEALTHY":
            # Until db is healthy, app is not started.
            assert cs["app"]["lastStatus"] == "PENDING", cs
        return t if cs["app"]["lastStatus"] == "RUNNING" else None

    t = poll("app RUNNING after db HEALTHY", app_running, RUN_DEADLINE)
    assert containers_by_name(t)["db"]["healthStatus"] == "HEALTHY"
    db = docker_container(arn, "db")
    app = docker_container(arn, "app")
    healthy_at = min(
        parse_docker_time(h["End"]) for h in db["State"]["Health"]["Log"] if h["ExitCode"] == 0
    )
    db_started = parse_docker_time(db["State"]["StartedAt"])
    app_started = parse_docker_time(app["State"]["StartedAt"])
    assert app_started >= healthy_at, (app_started, healthy_at)
    assert (app_started - db_started).total_seconds() >= 3
    poll(
        "the task HEALTHY",
        lambda: describe(ecs, c.name, [arn])[0].get("healthStatus") == "HEALTHY",
        20,
    )
    ecs.stop_task(cluster=c.name, task=arn)
    wait_status(ecs, c.name, [arn], "STOPPED", STOP_DEADLINE)


def instance_memory(ecs, cluster: str, arns: list) -> dict:
    out = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
    return {
        i["containerInstanceArn"]: next(r["integerValue"] for r in i["registeredResources"] if r["name"] == "MEMORY")
        for i in out
    }


def test_placement_across_two_agents(server, cluster, image):
    c = cluster("tasks-place")
    a = c.add_agent(f"{REGION}a")
    b = c.add_agent(f"{REGION}b")
    ecs = server.client("ecs")
    small = register(ecs, unique("small"), [sleeper("s", image, memory=16)])

    # spread on instanceId: 10 tasks split 5/5.
    out = ecs.run_task(
        cluster=c.name,
        taskDefinition=small,
        count=10,
        placementStrategy=[{"type": "spread", "field": "instanceId"}],
    )
    assert out["failures"] == []
    arns = [t["taskArn"] for t in out["tasks"]]
    assert Counter(t["containerInstanceArn"] for t in out["tasks"]) == {a.arn: 5, b.arn: 5}
    wait_status(ecs, c.name, arns, "RUNNING", RUN_DEADLINE)
    cis = ecs.describe_container_instances(cluster=c.name, containerInstances=[a.arn, b.arn])["containerInstances"]
    assert [i["runningTasksCount"] for i in cis] == [5, 5]
    for arn in arns:
        ecs.stop_task(cluster=c.name, task=arn)
    wait_status(ecs, c.name, arns, "STOPPED", STOP_DEADLINE)

    # The cluster query language on real agents' attributes: a filter and a
    # memberOf constraint on the availability zone each agent was given.
    zone_b = f"attribute:ecs.availability-zone == {REGION}b"
    assert ecs.list_container_instances(cluster=c.name, filter=zone_b)["containerInstanceArns"] == [b.arn]
    out = ecs.run_task(
        cluster=c.name,
        taskDefinition=small,
        count=2,
        placementConstraints=[{"type": "memberOf", "expression": zone_b}],
    )
    assert out["failures"] == []
    assert {t["containerInstanceArn"] for t in out["tasks"]} == {b.arn}
    zone_arns = [t["taskArn"] for t in out["tasks"]]
    for arn in zone_arns:
        ecs.stop_task(cluster=c.name, task=arn)
    wait_status(ecs, c.name, zone_arns, "STOPPED", STOP_DEADLINE)

    # binpack on memory: a task of 40 % of an instance's memory goes where
    # the least memory is left, so the first instance fills up first.
    mem = instance_memory(ecs, c.name, [a.arn, b.arn])
    big_mem = int(min(mem.values()) * 0.4)
    big = register(ecs, unique("big"), [sleeper("b", image, memory=big_mem)])
    out = ecs.run_task(
        cluster=c.name,
        taskDefinition=big,
        count=3,
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )
    assert out["failures"] == []
    placed = [t["containerInstanceArn"] for t in out["tasks"]]
    assert placed[0] == placed[1] != placed[2], placed
    big_arns = [t["taskArn"] for t in out["tasks"]]
    wait_status(ecs, c.name, big_arns, "RUNNING", RUN_DEADLINE)

    # More memory than any instance has: RESOURCE:MEMORY, no task.
    huge = register(ecs, unique("huge"), [sleeper("h", image, memory=max(mem.values()) + 1024)])
    out = ecs.run_task(cluster=c.name, taskDefinition=huge)
    assert out["tasks"] == []
    assert {f["reason"] for f in out["failures"]} == {"RESOURCE:MEMORY"}
    assert {f["arn"] for f in out["failures"]} <= {a.arn, b.arn}
    for arn in big_arns:
        ecs.stop_task(cluster=c.name, task=arn)
    wait_status(ecs, c.name, big_arns, "STOPPED", STOP_DEADLINE)


def test_killed_agent_disconnects_and_its_tasks_stop_after_the_grace_period(server, cluster, image):
    c = cluster("tasks-loss")
    a = c.add_agent(f"{REGION}a")
    b = c.add_agent(f"{REGION}b")
    ecs = server.client("ecs")
    td = register(ecs, unique("loss"), [sleeper("s", image)])
    on_a = ecs.start_task(cluster=c.name, taskDefinition=td, containerInstances=[a.arn])["tasks"][0]["taskArn"]
    on_b = ecs.start_task(cluster=c.name, taskDefinition=td, containerInstances=[b.arn])["tasks"][0]["taskArn"]
    wait_status(ecs, c.name, [on_a, on_b], "RUNNING", RUN_DEADLINE)
    b_container = docker_container(on_b, "s")["Id"]

    killed_at = time.monotonic()
    b.kill9()

    def disconnected():
        (i,) = ecs.describe_container_instances(cluster=c.name, containerInstances=[b.arn])["containerInstances"]
        return i if not i["agentConnected"] else None

    poll("agentConnected=false", disconnected, 40)
    (ia,) = ecs.describe_container_instances(cluster=c.name, containerInstances=[a.arn])["containerInstances"]
    assert ia["agentConnected"] is True

    # The live agent converges on a new task meanwhile: it must leave the
    # containers of the other instance alone.
    on_a2 = ecs.start_task(cluster=c.name, taskDefinition=td, containerInstances=[a.arn])["tasks"][0]["taskArn"]
    wait_status(ecs, c.name, [on_a2], "RUNNING", RUN_DEADLINE)

    (t,) = wait_status(ecs, c.name, [on_b], "STOPPED", GRACE_SECS + 40)
    assert time.monotonic() - killed_at >= GRACE_SECS
    assert t["stoppedReason"] == AGENT_LOST_REASON
    assert t["stopCode"] == "TerminationNotice"
    assert t["desiredStatus"] == "STOPPED"
    # Nobody runs the dead agent's host any more: its container is untouched
    # (in particular, agent A did not stop it) ...
    assert json.loads(docker("inspect", b_container))[0]["State"]["Running"] is True
    # ... and the other instance's tasks keep running.
    assert {x["lastStatus"] for x in describe(ecs, c.name, [on_a, on_a2])} == {"RUNNING"}


def test_agent_leaves_containers_of_other_instances_alone(server, cluster, image):
    """A container labelled for another instance (of this or another cluster)
    is never stopped by an agent, even one whose server does not know its task."""
    c = cluster("tasks-foreign")
    a = c.add_agent()
    ecs = server.client("ecs")
    fake_task = f"arn:aws:ecs:{REGION}:000000000000:task/{c.name}/{uuid.uuid4().hex}"
    other_instance = f"arn:aws:ecs:{REGION}:000000000000:container-instance/{c.name}/{uuid.uuid4().hex}"
    foreign = docker(
        "run",
        "-d",
        "--label",
        f"{LABEL_CLUSTER}={c.name}",
        "--label",
        f"{LABEL_TASK}={fake_task}",
        "--label",
        "com.amazonaws.ecs.container-name=x",
        "--label",
        f"{LABEL_INSTANCE}={other_instance}",
        image,
        "sleep",
        "3600",
    )
    # A desired state arrives (a task starts and runs): the agent converges.
    td = register(ecs, unique("foreign"), [sleeper("s", image)])
    arn = ecs.run_task(cluster=c.name, taskDefinition=td)["tasks"][0]["taskArn"]
    wait_status(ecs, c.name, [arn], "RUNNING", RUN_DEADLINE)
    ecs.stop_task(cluster=c.name, task=arn)
    wait_status(ecs, c.name, [arn], "STOPPED", STOP_DEADLINE)
    assert json.loads(docker("inspect", foreign))[0]["State"]["Running"] is True
    assert a.proc.poll() is None


def test_agent_and_server_restarts_converge_without_starting_twice(server, cluster, image):
    """Runs last in this module: it restarts the module's server."""
    c = cluster("tasks-restart")
    a = c.add_agent()
    ecs = server.client("ecs")
    td = register(ecs, unique("restart"), [sleeper("s", image)])
    arn = ecs.run_task(cluster=c.name, taskDefinition=td)["tasks"][0]["taskArn"]
    (t,) = wait_status(ecs, c.name, [arn], "RUNNING", RUN_DEADLINE)
    runtime_id = containers_by_name(t)["s"]["runtimeId"]

    # The agent stops (containers keep running) and comes back on its data
    # dir: same instance, the container adopted, not started again.
    a2 = c.restart_agent(a)
    assert a2.arn == a.arn
    assert docker_container(arn, "s")["Id"] == runtime_id
    assert docker_container(arn, "s")["State"]["Running"] is True
    # A second agent on the same data dir refuses to run.
    dup = Agent(server, c.name, c.work, a.az, data_dir=a.data_dir)
    assert dup.proc.wait(timeout=30) != 0
    assert f"another agent (pid {a2.proc.pid}) is running with the data dir" in dup.log_tail(400)

    # The server restarts: the agent reconnects and converges.
    server.restart()
    ecs = server.client("ecs")

    def reconnected():
        (i,) = ecs.describe_container_instances(cluster=c.name, containerInstances=[a2.arn])["containerInstances"]
        return i["agentConnected"]

    poll("the agent to reconnect after the server restart", reconnected, 40)
    (t,) = describe(ecs, c.name, [arn])
    assert t["lastStatus"] == "RUNNING" and containers_by_name(t)["s"]["runtimeId"] == runtime_id
    arn2 = ecs.run_task(cluster=c.name, taskDefinition=td)["tasks"][0]["taskArn"]
    wait_status(ecs, c.name, [arn2], "RUNNING", RUN_DEADLINE)
    ecs.stop_task(cluster=c.name, task=arn, reason="after the restarts")
    (t,) = wait_status(ecs, c.name, [arn], "STOPPED", STOP_DEADLINE)
    assert t["stoppedReason"] == "after the restarts"
    assert docker_container(arn, "s")["State"]["Running"] is False
    ids = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={arn2}").split()
    assert len(ids) == 1


def test_network_drop_agent_reconnects_and_converges(tmp_path, image):
    """Agent ↔ server through a proxy that the test cuts: the server sees the
    agent go, a StopTask issued meanwhile is carried out once the agent is
    back, and the other task keeps running without being started again.
    A server of its own with the default 60 s grace period: the outage must
    not stop tasks."""
    (tmp_path / "data").mkdir()
    srv = Berth(data_dir=tmp_path / "data", log_path=tmp_path / "berth.log").start()
    proxy = CuttableProxy(srv.port)
    c = Cluster(srv, tmp_path, "tasks-drop")
    try:
        a = c.add_agent(endpoint=proxy.endpoint)
        ecs = srv.client("ecs")
        td = register(ecs, unique("drop"), [sleeper("s", image)])
        keep, stop = (t["taskArn"] for t in ecs.run_task(cluster=c.name, taskDefinition=td, count=2)["tasks"])
        tasks = wait_status(ecs, c.name, [keep, stop], "RUNNING", RUN_DEADLINE)
        runtime_id = {t["taskArn"]: containers_by_name(t)["s"]["runtimeId"] for t in tasks}[keep]

        proxy.cut()

        def connected(want: bool):
            def check():
                (i,) = ecs.describe_container_instances(cluster=c.name, containerInstances=[a.arn])[
                    "containerInstances"
                ]
                return i["agentConnected"] == want

            return check

        poll("the server to notice the drop", connected(False), 40)
        ecs.stop_task(cluster=c.name, task=stop, reason="stopped during the outage")
        proxy.restore()
        poll("the agent to reconnect", connected(True), 40)

        (t,) = wait_status(ecs, c.name, [stop], "STOPPED", STOP_DEADLINE)
        assert t["stoppedReason"] == "stopped during the outage"
        assert docker_container(stop, "s")["State"]["Running"] is False
        (t,) = describe(ecs, c.name, [keep])
        assert t["lastStatus"] == "RUNNING" and containers_by_name(t)["s"]["runtimeId"] == runtime_id
        info = docker_container(keep, "s")
        assert info["Id"] == runtime_id and info["State"]["Running"] is True
        assert info["RestartCount"] == 0
        assert a.proc.poll() is None
    except BaseException:
        print(c.logs())
        print(f"--- server log:\n{srv.log_tail(80)}")
        raise
    finally:
        c.close()
        proxy.close()
        srv.stop()
