"""Fargate (issue 17 items 3 and 4, in part) and the task metadata endpoint
v4, end to end on the real Docker daemon.

- The metadata endpoint v4: a container of a bridge, an awsvpc and a host
  task reads `$ECS_CONTAINER_METADATA_URI_V4/task`, `…_V4` and
  `…/task/stats` with busybox `wget` and print them; the test reads the
  container's output and checks the task ARN, limits, container name and
  networks, and that another id opens nothing.
- FARGATE tasks run under gVisor when the Docker daemon has the `runsc`
  runtime (`scripts/setup-runsc`): `uname -a` and `dmesg` inside the task
  say so (skipped, with the reason, where runsc is not registered).
- FARGATE tasks' containers run under a task-level cgroup
  (`/berth-task-<id>`) with the task's cpu quota and memory limit, removed
  when the task stops.
- Bad input: a cpu/memory combination Fargate does not offer, placement
  strategies and constraints with FARGATE, a non-awsvpc task definition
  with FARGATE, an unsupported platform version.

One `berth up` for the module, whose local agent joins a cluster of its
own (`--cluster`) with a random task subnet (`--task-subnet`), so the file
runs beside the others. Every container carries
`com.amazonaws.ecs.cluster=<that cluster>`: teardown removes them by it,
and the agent's Docker network by its name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import os
import signal

from berthtest import ACCESS_KEY, REGION, SECRET_KEY, Berth, berth_bin, isolate_aws_environment, poll, requires_docker, unique
from berthtest import default_subnet, remove_task_subnet, task_subnet

pytestmark = requires_docker()

RUN_DEADLINE = 90.0
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_TASK = "com.amazonaws.ecs.task-arn"
LABEL_NAME = "com.amazonaws.ecs.container-name"
# The server's default subnet in REGIONa (set by `Up`: ECS checks subnets in EC2).
SUBNET_ID = "subnet-0123456789abcdef0"
NETWORK = {"awsvpcConfiguration": {"subnets": [SUBNET_ID], "assignPublicIp": "DISABLED"}}
APPLETS = ("sh", "echo", "sleep", "cat", "wget", "grep", "uname", "dmesg", "head")
END = "===END"


def docker(*args: str, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


def docker_has_runsc() -> bool:
    try:
        return "runsc" in json.loads(docker("info", "--format", "{{json .Runtimes}}"))
    except (RuntimeError, ValueError):
        return False


class Up:
    """`berth up` whose local agent serves a cluster of this module."""

    def __init__(self, tmp):
        self.cluster = unique("fargate")
        self.subnet, self.network, _ = task_subnet()
        (tmp / "data").mkdir()
        self.server = Berth(
            data_dir=tmp / "data",
            log_path=tmp / "berth.log",
            extra_args=[
                "--cluster", self.cluster, "--task-subnet", self.subnet,
                "--agent-cpu", "1024", "--agent-memory", "4096",
            ],
        ).start()
        global SUBNET_ID, NETWORK
        SUBNET_ID = default_subnet(self.server)
        NETWORK = {"awsvpcConfiguration": {"subnets": [SUBNET_ID], "assignPublicIp": "DISABLED"}}
        self.ecs = self.server.client("ecs")
        # The FARGATE tasks run here: their task cgroups are swept at the end.
        self.fargate_tasks: list[str] = []

        def connected():
            try:
                arns = self.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
            except ClientError:  # the local agent has not created its cluster yet
                return None
            if not arns:
                return None
            ci = self.ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns)
            return all(c["agentConnected"] for c in ci["containerInstances"]) or None

        try:
            poll("the local agent to register and connect", connected, 30)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.server.stop()
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={self.cluster}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        remove_task_subnet(self.network)
        # A task's cgroup left behind if the agent stopped before the task did.
        for arn in self.fargate_tasks:
            for d in Path("/sys/fs/cgroup").glob(f"*/berth-task-{arn.rsplit('/', 1)[1]}"):
                for child in d.iterdir():
                    if child.is_dir():
                        child.rmdir()
                d.rmdir()

    def run_fargate(self, td: str) -> str:
        arn = self.ecs.run_task(
            cluster=self.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=NETWORK
        )["tasks"][0]["taskArn"]
        self.fargate_tasks.append(arn)
        return arn

    def stop_and_wait(self, arn: str) -> None:
        self.ecs.stop_task(cluster=self.cluster, task=arn)
        poll(f"{arn} STOPPED", lambda: self.describe([arn])[0]["lastStatus"] == "STOPPED", RUN_DEADLINE)

    def describe(self, arns: list) -> list:
        return self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]

    def wait_running(self, arns: list) -> list:
        def done():
            tasks = self.describe(arns)
            stopped = [t for t in tasks if t["lastStatus"] == "STOPPED"]
            if stopped:
                raise AssertionError(f"a task stopped: {json.dumps(stopped, default=str)}")
            return tasks if len(tasks) == len(arns) and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

        return poll(f"{len(arns)} task(s) RUNNING", done, RUN_DEADLINE)

    def output(self, task_arn: str, name: str = "app") -> str:
        """The container's output once it printed END."""

        def printed():
            ids = docker(
                "ps", "-aq", "--filter", f"label={LABEL_TASK}={task_arn}", "--filter", f"label={LABEL_NAME}={name}"
            ).split()
            if len(ids) != 1:
                return None
            out = docker("logs", ids[0])
            return out if END in out else None

        return poll(f"the output of {name} of {task_arn}", printed, RUN_DEADLINE)


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    u = Up(tmp_path_factory.mktemp("berth-fargate"))
    try:
        yield u
    finally:
        print(f"--- server log ({u.server.log_path}):\n{u.server.log_tail(80)}")
        u.close()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A busybox-static image made here (`docker import`)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-e2e-fargate-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


# Reads the three documents once the endpoint answers (the agent serves it in
# the container's namespace right after the start: poll for it), then the
# metadata of an id that is not the container's.
METADATA_SCRIPT = (
    'U="$ECS_CONTAINER_METADATA_URI_V4"; '
    'until wget -qO /tmp/task "$U/task" && grep -q \'"KnownStatus":"RUNNING"\' /tmp/task; do sleep 0.2; done; '
    'echo "TASK=$(cat /tmp/task)"; '
    'echo "CONTAINER=$(wget -qO- "$U")"; '
    'echo "STATS=$(wget -qO- "$U/task/stats")"; '
    'echo "STATS2=$(wget -qO- "$U/stats")"; '
    'echo "V3=$(wget -qO- "$ECS_CONTAINER_METADATA_URI/task")"; '
    'if wget -qO- "${U%/*}/00000000000000000000000000000000/task"; then echo OTHER=open; else echo OTHER=refused; fi; '
    f'echo {END}; exec sleep 3600'
)


def fields(out: str) -> dict:
    return {k: v for k, _, v in (line.partition("=") for line in out.splitlines()) if k}


def metadata_task(ecs, image: str, network_mode: str, **extra) -> str:
    app = {
        "name": "app", "image": image, "cpu": 128, "memory": 64, "essential": True, "stopTimeout": 2,
        "command": ["sh", "-c", METADATA_SCRIPT],
    }
    if network_mode == "bridge":
        app["portMappings"] = [{"containerPort": 8080}]
    return ecs.register_task_definition(
        family=unique(f"meta-{network_mode}"), networkMode=network_mode, containerDefinitions=[app], **extra
    )["taskDefinition"]["taskDefinitionArn"]


@pytest.mark.parametrize("network_mode", ["bridge", "awsvpc", "host"])
def test_metadata_v4_answers_inside_the_task(up, image, network_mode):
    extra = {"cpu": "256", "memory": "512"} if network_mode == "awsvpc" else {}
    td = metadata_task(up.ecs, image, network_mode, **extra)
    run = {"networkConfiguration": NETWORK} if network_mode == "awsvpc" else {}
    arn = up.ecs.run_task(cluster=up.cluster, taskDefinition=td, **run)["tasks"][0]["taskArn"]
    task = up.wait_running([arn])[0]
    out = fields(up.output(arn))

    doc = json.loads(out["TASK"])
    assert doc["TaskARN"] == arn
    assert doc["Cluster"] == task["clusterArn"]
    assert doc["Family"] == td.split("/")[-1].split(":")[0]
    assert doc["Revision"] == td.rsplit(":", 1)[1]
    assert doc["KnownStatus"] == "RUNNING" and doc["DesiredStatus"] == "RUNNING"
    assert doc["LaunchType"] == "EC2"
    assert doc["AvailabilityZone"] == task["availabilityZone"]
    if network_mode == "awsvpc":
        assert doc["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert "PullStartedAt" in doc and "PullStoppedAt" in doc
    [c] = doc["Containers"]
    docker_id = task["containers"][0]["runtimeId"]
    assert c["Name"] == "app" and c["DockerId"] == docker_id
    assert c["Image"] == image and c["ImageID"].startswith("sha256:")
    assert c["Limits"] == {"CPU": 128, "Memory": 64}
    assert c["Labels"][LABEL_TASK] == arn
    assert c["ContainerARN"] == task["containers"][0]["containerArn"]
    assert c["Type"] == "NORMAL" and c["KnownStatus"] == "RUNNING" and c["StartedAt"]
    [net] = c["Networks"]
    assert net["NetworkMode"] == network_mode
    if network_mode == "awsvpc":
        eni = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"][0]
        ip = {d["name"]: d["value"] for d in eni["details"]}["privateIPv4Address"]
        assert net["IPv4Addresses"] == [ip]
        assert net["IPv4SubnetCIDRBlock"] == up.subnet
    elif network_mode == "bridge":
        [ip] = net["IPv4Addresses"]
        assert ip.count(".") == 3
        bound = {b["hostPort"] for b in task["containers"][0]["networkBindings"]}
        assert {p["ContainerPort"] for p in c["Ports"]} == {8080} and {p["HostPort"] for p in c["Ports"]} == bound
    else:
        assert "IPv4Addresses" not in net, "host mode: the container has no address of its own"

    own = json.loads(out["CONTAINER"])
    assert own["Name"] == "app" and own["DockerId"] == docker_id
    stats = json.loads(out["STATS"])
    assert list(stats) == [docker_id]
    assert stats[docker_id]["memory_stats"]["usage"] > 0
    # The second reading carries the first one's CPU counters.
    second = json.loads(out["STATS2"])
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == stats[docker_id]["cpu_stats"]["cpu_usage"]["total_usage"]
    assert second["preread"] == stats[docker_id]["read"]
    assert json.loads(out["V3"])["TaskARN"] == arn, "v3 serves the same documents"
    assert out["OTHER"] == "refused"
    up.ecs.stop_task(cluster=up.cluster, task=arn)


def test_metadata_names_the_service_of_a_service_task(up, image):
    td = metadata_task(up.ecs, image, "bridge")
    name = unique("meta-svc")
    up.ecs.create_service(cluster=up.cluster, serviceName=name, taskDefinition=td, desiredCount=1)
    try:
        arns = poll(
            "the service's task",
            lambda: up.ecs.list_tasks(cluster=up.cluster, serviceName=name)["taskArns"] or None,
            RUN_DEADLINE,
        )
        up.wait_running(arns)
        doc = json.loads(fields(up.output(arns[0]))["TASK"])
        assert doc["ServiceName"] == name and doc["TaskARN"] == arns[0]
    finally:
        up.ecs.delete_service(cluster=up.cluster, service=name, force=True)


def fargate_task(ecs, image: str, command: str, **extra) -> str:
    app = {"name": "app", "image": image, "essential": True, "stopTimeout": 2, "command": ["sh", "-c", command]}
    return ecs.register_task_definition(
        family=unique("fg"), networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[app], **extra,
    )["taskDefinition"]["taskDefinitionArn"]


def test_fargate_tasks_run_under_gvisor(up, image):
    if not docker_has_runsc():
        pytest.skip("the Docker daemon has no 'runsc' runtime (run scripts/setup-runsc as root): FARGATE tasks run under runc")
    td = fargate_task(
        up.ecs, image, f'echo "UNAME=$(uname -a)"; echo "DMESG=$(dmesg | head -1)"; echo {END}; exec sleep 3600'
    )
    arn = up.run_fargate(td)
    task = up.wait_running([arn])[0]
    assert task["launchType"] == "FARGATE" and task["platformVersion"] == "1.4.0"
    out = fields(up.output(arn))
    host = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    assert host not in out["UNAME"], f"the task sees the host kernel: {out['UNAME']}"
    assert "gVisor" in out["DMESG"], out
    cid = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={arn}", "--filter", f"label={LABEL_NAME}=app")
    assert docker("inspect", "--format", "{{.HostConfig.Runtime}}", cid) == "runsc"
    up.stop_and_wait(arn)

    # Having run an awsvpc task, the agent keeps a warm pause container (made
    # ahead under runc, no task label); the next FARGATE task takes it as its
    # pause container, and its own container still runs under gVisor in it.
    warm_id = poll("a warm pause container", lambda: docker(
        "ps", "-q", "--no-trunc", "--filter", "label=berth.pause=warm", "--filter", f"label={LABEL_CLUSTER}={up.cluster}",
        "--filter", "name=berth-pause-warm-",
    ) or None, RUN_DEADLINE)
    arn = up.run_fargate(td)
    up.wait_running([arn])
    task_id = arn.rsplit("/", 1)[1]
    pause = json.loads(docker("inspect", f"berth-pause-{task_id}"))[0]
    assert pause["Id"] == warm_id and pause["HostConfig"]["Runtime"] == "runc"
    out = fields(up.output(arn))
    assert host not in out["UNAME"] and "gVisor" in out["DMESG"], out
    cid = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={arn}", "--filter", f"label={LABEL_NAME}=app")
    app = json.loads(docker("inspect", cid))[0]
    assert app["HostConfig"]["Runtime"] == "runsc"
    assert app["HostConfig"]["NetworkMode"] in (f"container:{warm_id}", f"container:berth-pause-{task_id}")
    up.stop_and_wait(arn)
    assert docker("ps", "-aq", "--filter", f"name=^berth-pause-{task_id}$") == ""


def docker_cgroups() -> tuple[str, str]:
    """Docker's cgroup driver and version."""
    return docker("info", "--format", "{{.CgroupDriver}}"), docker("info", "--format", "{{.CgroupVersion}}")


def test_fargate_tasks_get_task_level_cgroup_limits(up, image):
    driver, version = docker_cgroups()
    if driver != "cgroupfs":
        pytest.skip(f"Docker's cgroup driver is {driver}: task-level cgroups need cgroupfs")
    td = fargate_task(up.ecs, image, f"echo {END}; exec sleep 3600")
    arn = up.run_fargate(td)
    up.wait_running([arn])
    task_id = arn.rsplit("/", 1)[1]
    parent = f"/berth-task-{task_id}"
    cid = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={arn}", "--filter", f"label={LABEL_NAME}=app")
    assert docker("inspect", "--format", "{{.HostConfig.CgroupParent}}", cid) == parent
    root = Path("/sys/fs/cgroup")
    if version == "2":
        assert (root / parent[1:] / "cpu.max").read_text().split() == ["25000", "100000"]
        assert (root / parent[1:] / "memory.max").read_text().strip() == str(512 * 1024 * 1024)
        dirs = [root / parent[1:]]
    else:
        assert (root / "cpu" / parent[1:] / "cpu.cfs_quota_us").read_text().strip() == "25000"
        assert (root / "cpu" / parent[1:] / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (root / "memory" / parent[1:] / "memory.limit_in_bytes").read_text().strip() == str(512 * 1024 * 1024)
        dirs = [root / "cpu" / parent[1:], root / "memory" / parent[1:]]
    up.ecs.stop_task(cluster=up.cluster, task=arn)
    poll("the task's cgroup to be removed", lambda: not any(d.exists() for d in dirs), RUN_DEADLINE)


def test_cluster_statistics_count_fargate_tasks(up, image):
    td = fargate_task(up.ecs, image, f"echo {END}; exec sleep 3600")
    arn = up.run_fargate(td)
    up.wait_running([arn])

    def consistent():
        # Tasks of earlier tests may still be stopping: compare two reads
        # of a quiet moment.
        c = up.ecs.describe_clusters(clusters=[up.cluster], include=["STATISTICS"])["clusters"][0]
        stats = {s["name"]: int(s["value"]) for s in c["statistics"]}
        arns = up.ecs.list_tasks(cluster=up.cluster)["taskArns"]
        tasks = up.describe(arns) if arns else []
        fargate = [t for t in tasks if t["launchType"] == "FARGATE" and t["lastStatus"] == "RUNNING"]
        ok = stats["runningFargateTasksCount"] == len(fargate) and arn in {t["taskArn"] for t in fargate}
        return (c, stats) if ok else None

    c, stats = poll("the cluster statistics to count the FARGATE task", consistent, RUN_DEADLINE)
    assert stats["runningEC2TasksCount"] + stats["runningFargateTasksCount"] == c["runningTasksCount"]
    up.stop_and_wait(arn)


class FargateHost:
    """A `berth agent --fargate` of its own cluster (and task subnet)."""

    def __init__(self, up: Up, data_dir: Path):
        self.cluster = unique("fg-only")
        up.ecs.create_cluster(clusterName=self.cluster)
        self.subnet, self.network, _ = task_subnet()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "agent.log"
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [
            str(berth_bin()), "agent", "--fargate", "--server", up.server.endpoint, "--cluster", self.cluster,
            "--data-dir", str(data_dir), "--region", REGION, "--cpu", "1024", "--memory", "2048",
            "--task-subnet", self.subnet,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        # Registered before the cluster gets FARGATE tasks: until then they
        # would go to the hosts other clusters share (test_fargate_shared.py).
        # A Fargate host is no container instance: its log says when.
        try:
            poll("the Fargate host to register", lambda: " registered " in self.log_tail(200), 30)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={self.cluster}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        remove_task_subnet(self.network)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def test_a_fargate_service_runs_on_a_fargate_host_that_is_no_container_instance(up, image, tmp_path):
    host = FargateHost(up, tmp_path / "fargate-agent")
    ecs = up.ecs
    try:
        td = fargate_task(ecs, image, "exec sleep 3600")
        name = unique("fg-svc")
        ecs.create_service(
            cluster=host.cluster, serviceName=name, taskDefinition=td, desiredCount=3, launchType="FARGATE",
            networkConfiguration=NETWORK,
        )

        def running():
            if host.proc.poll() is not None:
                raise AssertionError(f"the Fargate host exited:\n{host.log_tail()}")
            arns = ecs.list_tasks(cluster=host.cluster, serviceName=name)["taskArns"]
            tasks = ecs.describe_tasks(cluster=host.cluster, tasks=arns)["tasks"] if arns else []
            ok = len(tasks) == 3 and all(t["lastStatus"] == "RUNNING" for t in tasks)
            return tasks if ok else None

        tasks = poll("3 FARGATE tasks RUNNING on the Fargate host", running, RUN_DEADLINE)
        up.fargate_tasks += [t["taskArn"] for t in tasks]
        for t in tasks:
            assert t["launchType"] == "FARGATE" and t["platformVersion"] == "1.4.0"
            assert "containerInstanceArn" not in t, t
            [eni] = [a for a in t["attachments"] if a["type"] == "ElasticNetworkInterface"]
            assert eni["status"] == "ATTACHED"
            ip = {d["name"]: d["value"] for d in eni["details"]}["privateIPv4Address"]
            assert ip.rsplit(".", 1)[0] == host.subnet.rsplit(".", 1)[0]
        # The Fargate host is no container instance, as in AWS.
        assert ecs.list_container_instances(cluster=host.cluster)["containerInstanceArns"] == []
        c = ecs.describe_clusters(clusters=[host.cluster], include=["STATISTICS"])["clusters"][0]
        assert c["registeredContainerInstancesCount"] == 0
        stats = {s["name"]: int(s["value"]) for s in c["statistics"]}
        assert stats["runningFargateTasksCount"] == 3 and stats["activeFargateServiceCount"] == 1
        # An EC2 task never lands on a Fargate host.
        ec2 = ecs.register_task_definition(
            family=unique("ec2"), containerDefinitions=[{"name": "app", "image": image, "memory": 32, "command": ["sleep", "1"]}]
        )["taskDefinition"]["taskDefinitionArn"]
        with pytest.raises(ClientError) as e:
            ecs.run_task(cluster=host.cluster, taskDefinition=ec2, launchType="EC2")
        assert e.value.response["Error"]["Message"] == "No Container Instances were found in your cluster."
        ecs.delete_service(cluster=host.cluster, service=name, force=True)
        poll(
            "the service's tasks to stop",
            lambda: all(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(cluster=host.cluster, tasks=[t["taskArn"] for t in tasks])["tasks"]),
            RUN_DEADLINE,
        )
        if docker_cgroups()[0] == "cgroupfs":
            ids = [t["taskArn"].rsplit("/", 1)[1] for t in tasks]
            poll(
                "the tasks' cgroups to be removed",
                lambda: not any(any(Path("/sys/fs/cgroup").glob(f"*/berth-task-{i}")) for i in ids),
                RUN_DEADLINE,
            )
    except BaseException:
        print(f"--- Fargate host ({host.log_path}):\n{host.log_tail()}")
        raise
    finally:
        host.close()


def test_fargate_refusals(up, image):
    ecs = up.ecs

    def refused(call, code="InvalidParameterException", **kwargs) -> str:
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        assert e.value.response["Error"]["Code"] == code, e.value.response
        return e.value.response["Error"]["Message"]

    app = {"name": "app", "image": image, "essential": True, "command": ["sleep", "1"]}
    # A combination Fargate does not offer.
    msg = refused(
        ecs.register_task_definition, "ClientException", family=unique("fg-bad"), networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"], cpu="256", memory="4096", containerDefinitions=[app],
    )
    assert msg.startswith("No Fargate configuration exists for given values: 256 CPU, 4096 memory."), msg
    # A log driver Fargate does not offer.
    msg = refused(
        ecs.register_task_definition, "ClientException", family=unique("fg-bad"), networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{**app, "logConfiguration": {"logDriver": "json-file"}}],
    )
    assert "json-file" in msg, msg
    # A bridge task definition with FARGATE.
    bridge = ecs.register_task_definition(
        family=unique("fg-bridge"), networkMode="bridge", cpu="256", memory="512", containerDefinitions=[app]
    )["taskDefinition"]["taskDefinitionArn"]
    msg = refused(ecs.run_task, cluster=up.cluster, taskDefinition=bridge, launchType="FARGATE")
    assert msg == "Task definition does not support launch_type FARGATE.", msg

    td = fargate_task(ecs, image, "sleep 1")
    common = {"cluster": up.cluster, "taskDefinition": td, "launchType": "FARGATE", "networkConfiguration": NETWORK}
    msg = refused(ecs.run_task, **common, placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}])
    assert msg == "Placement strategies are not supported with FARGATE launch type.", msg
    msg = refused(ecs.run_task, **common, placementConstraints=[{"type": "distinctInstance"}])
    assert msg == "Placement constraints are not supported with FARGATE launch type.", msg
    msg = refused(ecs.run_task, **common, overrides={"memory": "4096"})
    assert msg.startswith("No Fargate configuration exists for given values: 256 CPU, 4096 memory."), msg
    msg = refused(ecs.run_task, **common, overrides={"ephemeralStorage": {"sizeInGiB": 500}})
    assert "between 21 and 200 GiB" in msg, msg
    msg = refused(ecs.run_task, **common, platformVersion="1.3.0")
    assert "1.3.0" in msg and "LATEST, 1.4.0" in msg, msg
    msg = refused(
        ecs.create_service, cluster=up.cluster, serviceName=unique("fg-svc"), taskDefinition=td, desiredCount=1,
        launchType="FARGATE", networkConfiguration=NETWORK,
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )
    assert msg == "Placement strategies are not supported with FARGATE launch type.", msg
    # Nothing was started by the refused calls.
    assert ecs.list_tasks(cluster=up.cluster, family=td.split("/")[-1].split(":")[0])["taskArns"] == []


def test_metadata_survives_a_restart_of_berth_up(up, image):
    """Last in the file: it restarts the module's server. The restarted local
    agent adopts the running container, registers its metadata id again and
    serves its namespace again: the same URI answers."""
    td = metadata_task(up.ecs, image, "bridge")
    arn = up.ecs.run_task(cluster=up.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    up.wait_running([arn])
    up.output(arn)
    cid = docker("ps", "-q", "--filter", f"label={LABEL_TASK}={arn}", "--filter", f"label={LABEL_NAME}=app")
    read = ["exec", cid, "sh", "-c", 'wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task"']
    assert json.loads(docker(*read))["TaskARN"] == arn
    up.server.restart()
    up.ecs = up.server.client("ecs")

    def answers():
        try:
            doc = json.loads(docker(*read))
        except (RuntimeError, ValueError):
            return None
        return doc if doc.get("TaskARN") == arn and doc.get("KnownStatus") == "RUNNING" else None

    doc = poll("the adopted container's metadata to answer again", answers, RUN_DEADLINE)
    assert doc["Containers"][0]["DockerId"].startswith(cid)
    assert docker("inspect", "--format", "{{.State.Running}}", cid) == "true", "the container was not restarted"
    up.ecs.stop_task(cluster=up.cluster, task=arn)
