"""FARGATE_SPOT (issue 17 item 5), end to end on the real Docker daemon.

- A service with the strategy FARGATE base 1 weight 1 + FARGATE_SPOT
  weight 3 and 9 tasks gets the split ECS computes (the base first, the
  other 8 by weight 1:3): 3 on FARGATE, 6 on FARGATE_SPOT, each showing its
  `capacityProviderName`, all on Fargate hosts (`berth agent --fargate`).
- `berth admin spot-interrupt` interrupts one FARGATE_SPOT task: its
  container gets SIGTERM at once (a shell `trap` prints "got SIGTERM" and
  keeps running), SIGKILL when the two-minute notice is over (2 s at
  `--time-scale 60`, well under the container's 30 s stopTimeout), and the
  task ends STOPPED with stopCode SpotInterruption and ECS's reason; the
  service replaces it on FARGATE_SPOT, back to 3/6.
- Refusals: a task not on FARGATE_SPOT, a cluster that does not exist, a
  user that is not the account's root.
- The chaos rate: a server started with `--fargate-spot-interruption-rate`
  interrupts FARGATE_SPOT tasks on its own (never FARGATE ones), and their
  service replaces them.

One `berth up` (its local agent in a cluster of its own) and one
two `berth agent --fargate` in the file's cluster, each with its own
task subnet; every container carries `com.amazonaws.ecs.cluster=<cluster>`:
teardown removes them by it, and the agents' Docker networks by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from berthtest import (
    ACCESS_KEY, REGION, SECRET_KEY, Berth, berth_bin, default_subnet, isolate_aws_environment, poll,
    requires_docker, task_subnet, unique,
)

pytestmark = requires_docker()

DEADLINE = 90.0
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"
LABEL_TASK = "com.amazonaws.ecs.task-arn"
LABEL_NAME = "com.amazonaws.ecs.container-name"


def network(server: Berth) -> dict:
    """An awsvpc configuration in the server's default subnet of REGIONa."""
    return {"awsvpcConfiguration": {"subnets": [default_subnet(server)], "assignPublicIp": "DISABLED"}}
APPLETS = ("sh", "echo", "sleep")
STRATEGY = [
    {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
    {"capacityProvider": "FARGATE_SPOT", "weight": 3},
]
SPOT_REASON = "Your Spot Task was interrupted."


def docker(*args: str, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


class Env:
    """`berth up` (time scale 60), a hollow Fargate host serving one cluster
    and a Docker Fargate host serving another."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.up_cluster = unique("spot-up")
        up_subnet, self.up_network, _ = task_subnet()
        (tmp / "data").mkdir()
        self.server = Berth(
            data_dir=tmp / "data",
            log_path=tmp / "berth.log",
            extra_args=["--cluster", self.up_cluster, "--task-subnet", up_subnet, "--time-scale", "60"],
        ).start()
        self.ecs = self.server.client("ecs")
        self.networks: list[str] = [self.up_network]
        self.agents: list[subprocess.Popen] = []
        self.agent_logs: list[Path] = []
        # The split of 9 tasks: 9 x 256 CPU units are more than this 2-core
        # machine offers (one host counts once, 1024 units a core), so a
        # hollow Fargate host (the agent protocol, simulated containers).
        self.split_cluster = unique("spot-split")
        self.cluster = unique("spot")
        try:
            self.ecs.create_cluster(clusterName=self.split_cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"])
            self.start_agent(
                self.split_cluster, ["--runtime", "hollow", "--hollow-cores", "4", "--hollow-delay", "20-50"]
            )
            # The interruption: real containers on a Docker Fargate host.
            self.ecs.create_cluster(clusterName=self.cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"])
            subnet, network, _ = task_subnet()
            self.networks.append(network)
            self.start_agent(self.cluster, ["--cpu", "1024", "--memory", "2048", "--task-subnet", subnet])
        except BaseException:
            self.close()
            raise

    def start_agent(self, cluster: str, extra: list[str]) -> None:
        agent_dir = self.tmp / f"fargate-agent-{len(self.agents)}"
        agent_dir.mkdir()
        log_path = agent_dir / "agent.log"
        self.agent_logs.append(log_path)
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [
            str(berth_bin()), "agent", "--fargate", "--server", self.server.endpoint, "--cluster", cluster,
            "--data-dir", str(agent_dir), "--region", REGION, *extra,
        ]
        with open(log_path, "ab") as log:
            self.agents.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env))
        # Registered before its cluster gets tasks: until then they would go
        # to the Fargate hosts other clusters share (test_fargate_shared.py).
        poll(
            f"the Fargate host of {cluster} to register",
            lambda: " registered " in log_path.read_text(errors="replace"),
            30,
        )

    def close(self) -> None:
        for agent in self.agents:
            if agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
        for agent in self.agents:
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(timeout=30)
        self.server.stop()
        for cluster in (self.cluster, self.up_cluster, self.split_cluster):
            ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={cluster}", check=False).split()
            if ids:
                docker("rm", "-f", "-v", *ids, check=False)
        for net in self.networks:
            docker("network", "rm", net, check=False)

    def agent_tail(self, n: int = 40) -> str:
        out = []
        for p in self.agent_logs:
            try:
                out.append(f"[{p.parent.name}]\n" + "\n".join(p.read_text(errors="replace").splitlines()[-n:]))
            except OSError:
                out.append(f"[{p.parent.name}] (no log)")
        return "\n".join(out)

    def check_agents(self) -> None:
        if any(a.poll() is not None for a in self.agents):
            raise AssertionError(f"a Fargate host exited:\n{self.agent_tail()}")

    def admin(self, *args: str, access_key: str | None = None, secret_key: str | None = None):
        """`berth admin …` against the server: (exit code, stdout, stderr)."""
        env = isolate_aws_environment(dict(os.environ))
        cmd = [str(berth_bin()), "admin", *args, "--endpoint", self.server.endpoint, "--region", REGION]
        if access_key:
            env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
        else:
            cmd += ["--data-dir", str(self.server.data_dir)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("berth-spot"))
    try:
        yield e
    finally:
        print(f"--- server log:\n{e.server.log_tail(60)}\n--- Fargate host log:\n{e.agent_tail()}")
        e.close()


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
    name = f"berth-e2e-spot-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


def service_tasks(env: Env, cluster: str, name: str) -> list:
    arns = env.ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    return env.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def split(tasks: list) -> dict:
    out: dict = {}
    for t in tasks:
        out[t.get("capacityProviderName")] = out.get(t.get("capacityProviderName"), 0) + 1
    return out


def running(env: Env, cluster: str, name: str, n: int):
    """The service's n tasks once all are RUNNING (None before)."""
    env.check_agents()
    tasks = [t for t in service_tasks(env, cluster, name) if t["desiredStatus"] == "RUNNING"]
    return tasks if len(tasks) == n and all(t["lastStatus"] == "RUNNING" for t in tasks) else None


def stopped(env: Env, cluster: str, arn: str):
    [t] = env.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
    return t if t["lastStatus"] == "STOPPED" else None


def container_of(task_arn: str) -> str | None:
    ids = docker(
        "ps", "-aq", "--filter", f"label={LABEL_TASK}={task_arn}", "--filter", f"label={LABEL_NAME}=app"
    ).split()
    return ids[0] if len(ids) == 1 else None


def fargate_definition(ecs, image: str, script: str) -> str:
    return ecs.register_task_definition(
        family=unique("spot"), networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": image, "essential": True, "command": ["sh", "-c", script]}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_nine_tasks_split_as_ecs_splits_and_an_interrupted_one_is_replaced_on_fargate_spot(env, image):
    ecs, cluster = env.ecs, env.split_cluster
    td = fargate_definition(ecs, image, "sleep 3600")
    name = unique("split-svc")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=9,
        capacityProviderStrategy=STRATEGY, networkConfiguration=network(env.server),
    )
    try:
        tasks = poll("9 tasks RUNNING", lambda: running(env, cluster, name, 9), DEADLINE)
        # The base (1) on FARGATE, the other 8 by weight 1:3.
        assert split(tasks) == {"FARGATE": 3, "FARGATE_SPOT": 6}, split(tasks)
        for t in tasks:
            assert t["launchType"] == "FARGATE" and "containerInstanceArn" not in t, t
        victims = [t["taskArn"] for t in tasks if t["capacityProviderName"] == "FARGATE_SPOT"][:2]
        for arn in victims:
            code, out, err = env.admin("spot-interrupt", "--cluster", cluster, "--task", arn)
            assert code == 0, err
            assert out.strip() == f"interrupted {arn}", out
        for arn in victims:
            t = poll(f"{arn} STOPPED", lambda: stopped(env, cluster, arn), DEADLINE)
            assert (t["stopCode"], t["stoppedReason"]) == ("SpotInterruption", SPOT_REASON), t

        def replaced():
            now = running(env, cluster, name, 9)
            return now if now and not set(victims) & {t["taskArn"] for t in now} else None

        tasks = poll("the service to replace the interrupted tasks", replaced, DEADLINE)
        assert split(tasks) == {"FARGATE": 3, "FARGATE_SPOT": 6}, split(tasks)
        # --count interrupts that many FARGATE_SPOT tasks, never a FARGATE one.
        code, out, err = env.admin("spot-interrupt", "--cluster", cluster, "--count", "2")
        assert code == 0, err
        hit = out.splitlines()
        assert len(hit) == 2, out
        spot = {t["taskArn"] for t in tasks if t["capacityProviderName"] == "FARGATE_SPOT"}
        assert {h.removeprefix("interrupted ") for h in hit} <= spot, (out, spot)
        # Refusals: a FARGATE task, a cluster that does not exist, --count 0.
        fargate = next(t for t in tasks if t["capacityProviderName"] == "FARGATE")["taskArn"]
        code, out, err = env.admin("spot-interrupt", "--cluster", cluster, "--task", fargate)
        assert code != 0 and "InvalidParameterException" in err and "FARGATE_SPOT" in err, err
        assert ecs.describe_tasks(cluster=cluster, tasks=[fargate])["tasks"][0]["desiredStatus"] == "RUNNING"
        code, out, err = env.admin("spot-interrupt", "--cluster", unique("nope"), "--count", "1")
        assert code != 0 and "ClusterNotFoundException" in err, err
        code, out, err = env.admin("spot-interrupt", "--cluster", cluster, "--count", "0")
        assert code != 0 and "--count" in err, err
    finally:
        ecs.delete_service(cluster=cluster, service=name, force=True)


def test_an_interrupted_container_gets_sigterm_then_sigkill_when_the_notice_ends(env, image):
    ecs, cluster = env.ecs, env.cluster
    # The trap prints and keeps running: only SIGKILL, at the end of the
    # notice, ends the container (its stopTimeout stays the default 30 s).
    td = fargate_definition(ecs, image, "trap 'echo got SIGTERM' TERM; echo started; while true; do sleep 0.2; done")
    name = unique("spot-svc")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2,
        capacityProviderStrategy=STRATEGY, networkConfiguration=network(env.server),
    )
    try:
        tasks = poll("2 tasks RUNNING on the Fargate host", lambda: running(env, cluster, name, 2), DEADLINE)
        assert split(tasks) == {"FARGATE": 1, "FARGATE_SPOT": 1}, split(tasks)
        arn = next(t for t in tasks if t["capacityProviderName"] == "FARGATE_SPOT")["taskArn"]
        cid = poll("the task's container", lambda: container_of(arn), DEADLINE)
        poll("the container to start its loop", lambda: "started" in docker("logs", cid), DEADLINE)

        code, out, err = env.admin("spot-interrupt", "--cluster", cluster, "--task", arn)
        assert code == 0, err
        # SIGTERM at once: the trap prints it.
        poll("the container to print got SIGTERM", lambda: "got SIGTERM" in docker("logs", cid), DEADLINE)
        t = poll("the interrupted task STOPPED", lambda: stopped(env, cluster, arn), DEADLINE)
        assert t["stopCode"] == "SpotInterruption", t
        assert t["stoppedReason"] == SPOT_REASON, t
        assert t["capacityProviderName"] == "FARGATE_SPOT"
        # Killed when the 2 s notice ended, not after the 30 s stopTimeout.
        assert docker("inspect", "--format", "{{.State.ExitCode}}", cid) == "137"
        elapsed = (t["stoppedAt"] - t["stoppingAt"]).total_seconds()
        assert elapsed < 20, f"stopped {elapsed}s after the interruption"

        def replaced():
            now = running(env, cluster, name, 2)
            return now if now and arn not in {x["taskArn"] for x in now} else None

        tasks = poll("the replacement RUNNING", replaced, DEADLINE)
        assert split(tasks) == {"FARGATE": 1, "FARGATE_SPOT": 1}, split(tasks)
    finally:
        ecs.delete_service(cluster=cluster, service=name, force=True)


def test_only_the_root_interrupts(env):
    iam = env.server.client("iam")
    user = unique("spot-user")
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user, PolicyName="all-ecs",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    code, out, err = env.admin("spot-interrupt", "--cluster", env.cluster, "--count", "1",
                               access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert code != 0 and "AccessDeniedException" in err and "root" in err, err


def test_the_chaos_rate_interrupts_spot_tasks_on_its_own(tmp_path, image):
    """A server of its own with 3600 interruptions per task-hour (about 63 %
    a task each second) and a hollow Fargate host."""
    (tmp_path / "data").mkdir()
    server = Berth(
        data_dir=tmp_path / "data", log_path=tmp_path / "berth.log",
        extra_args=["--cluster", unique("chaos-up"), "--time-scale", "60", "--fargate-spot-interruption-rate", "3600"],
    ).start()
    agent = None
    cluster = None
    try:
        ecs = server.client("ecs")
        cluster = unique("chaos")
        ecs.create_cluster(clusterName=cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"])
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        (tmp_path / "agent").mkdir()
        with open(tmp_path / "agent.log", "ab") as log:
            agent = subprocess.Popen(
                [str(berth_bin()), "agent", "--fargate", "--runtime", "hollow", "--hollow-delay", "20-50",
                 "--server", server.endpoint, "--cluster", cluster, "--data-dir", str(tmp_path / "agent"),
                 "--region", REGION],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            )
        # Registered before the cluster gets tasks: until then they would go
        # to the server's own agent, which shares its Fargate capacity, and
        # run as real containers.
        poll(
            f"the hollow Fargate host of {cluster} to register",
            lambda: " registered " in (tmp_path / "agent.log").read_text(errors="replace"),
            DEADLINE,
        )
        td = fargate_definition(ecs, image, "sleep 3600")
        name = unique("chaos-svc")
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=4,
            capacityProviderStrategy=STRATEGY, networkConfiguration=network(server),
        )

        def interrupted():
            if agent.poll() is not None:
                raise AssertionError((tmp_path / "agent.log").read_text(errors="replace")[-3000:])
            arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus="STOPPED")["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            spot = [t for t in tasks if t.get("stopCode") == "SpotInterruption"]
            return (spot, tasks) if len(spot) >= 2 else None

        spot, stopped_tasks = poll("the chaos rate to interrupt FARGATE_SPOT tasks", interrupted, DEADLINE)
        for t in spot:
            assert t["capacityProviderName"] == "FARGATE_SPOT" and t["stoppedReason"] == SPOT_REASON, t
        # Only FARGATE_SPOT tasks are ever interrupted.
        assert all(t["capacityProviderName"] == "FARGATE_SPOT" for t in stopped_tasks), stopped_tasks
        # The service keeps its base on FARGATE throughout.
        live = [t for t in service_tasks_of(ecs, cluster, name) if t["desiredStatus"] == "RUNNING"]
        assert sum(t["capacityProviderName"] == "FARGATE" for t in live) >= 1, live
        ecs.delete_service(cluster=cluster, service=name, force=True)
    finally:
        if agent and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        server.stop()
        # Whatever the server's own agent ran (nothing, once the hollow host
        # registered first) does not outlive the test.
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.amazonaws.ecs.cluster=" + cluster],
                             capture_output=True, text=True).stdout.split() if cluster else []
        if ids:
            subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True)


def service_tasks_of(ecs, cluster: str, name: str) -> list:
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
