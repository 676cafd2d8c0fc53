"""One host, counted once (issue 14), end to end with real processes on the
real Docker daemon:

- (`berth up --cluster NAME` running a service there: test_first_run.py.)
- Agents on the same host identify it by the Docker daemon's ID: a second
  `berth agent` without a share next to an agent holding the whole host is
  refused with a message naming the holder and exits non-zero; with shares
  that fit it registers and the two instances hold no more than the host.

Each test runs its own `berth up` (temporary data dir, ephemeral port);
teardown stops the agents and the server and removes every container
labelled with the test's clusters.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    image,
    poll,
    register,
    remove_cluster_containers,
    sleeper,
)

from berthtest import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    Berth,
    berth_bin,
    isolate_aws_environment,
    unique,
)

DEADLINE = 60.0


@pytest.fixture
def servers(tmp_path):
    """Starts `berth up` servers of the test's own; stops them afterwards."""
    started: list[Berth] = []

    def make(*extra_args) -> Berth:
        data = tmp_path / f"data-{len(started)}"
        data.mkdir()
        srv = Berth(data_dir=data, log_path=tmp_path / f"berth-{len(started)}.log", extra_args=list(extra_args))
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        print(f"--- server log ({srv.log_path}):\n{srv.log_tail(80)}")
        srv.stop()


@pytest.fixture
def agents(tmp_path):
    """`berth agent` processes of the test; stopped afterwards, and their
    clusters' containers removed."""
    procs: list[tuple[subprocess.Popen, str, Path]] = []

    def start(server: Berth, cluster: str, *share: str) -> tuple[subprocess.Popen, Path]:
        data_dir = tmp_path / f"agent-{len(procs)}"
        data_dir.mkdir()
        log_path = data_dir / "agent.log"
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, BERTH_LOG="info", NO_COLOR="1")
        cmd = [str(berth_bin()), "agent", "--server", server.endpoint, "--cluster", cluster,
               "--data-dir", str(data_dir), "--region", REGION, *share]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        procs.append((proc, cluster, log_path))
        return proc, data_dir

    yield start
    for proc, cluster, log_path in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        print(f"--- agent ({cluster}, {log_path}):\n{log_path.read_text(errors='replace')[-4000:]}")
        remove_cluster_containers(cluster)


def resources(instance: dict, kind: str) -> dict:
    return {r["name"]: r.get("integerValue") for r in instance[kind] if r["name"] in ("CPU", "MEMORY")}


def attribute(instance: dict, name: str) -> str | None:
    return next((a.get("value") for a in instance["attributes"] if a["name"] == name), None)


def connected_instance(ecs, cluster: str) -> dict:
    """Waits for the one container instance of `cluster` to be ACTIVE and connected."""

    def found():
        try:
            arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        except ecs.exceptions.ClusterNotFoundException:
            return None
        if not arns:
            return None
        ci = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
        ok = [i for i in ci if i["status"] == "ACTIVE" and i["agentConnected"]]
        return ok[0] if len(ok) == 1 else None

    return poll(f"a connected container instance in {cluster}", found, DEADLINE)


def registered_with(ecs, cluster: str, want: dict) -> dict:
    """Waits until the restarted local agent has re-registered its instance
    with `want` (right after a restart the instance may still show its
    connection and resources of before)."""

    def found():
        i = connected_instance(ecs, cluster)
        return i if resources(i, "registeredResources") == want else None

    return poll(f"the instance of {cluster} registered with {want}", found, DEADLINE)


def test_a_second_agent_on_the_host_needs_a_share_that_fits(servers, agents):
    # `berth up` with the default small share: the host's totals are in the
    # local instance's attributes.
    srv = servers()
    ecs = srv.client("ecs")
    local = connected_instance(ecs, "default")
    host_id = attribute(local, "berth.host-id")
    host_cpu = int(attribute(local, "berth.host-cpu"))
    host_memory = int(attribute(local, "berth.host-memory"))
    assert host_id, local["attributes"]
    assert host_cpu >= 1024 and host_memory > 512

    # The local agent takes the whole host (a restart re-registers the same
    # instance with its new share: it does not count against itself).
    srv.extra_args = ["--agent-cpu", str(host_cpu), "--agent-memory", str(host_memory)]
    srv.restart()
    local = registered_with(ecs, "default", {"CPU": host_cpu, "MEMORY": host_memory})
    local_arn = local["containerInstanceArn"]

    # A second agent without a share, for another cluster: refused, and it exits.
    other = unique("second")
    ecs.create_cluster(clusterName=other)
    proc, data_dir = agents(srv, other)
    code = proc.wait(timeout=DEADLINE)
    log = (data_dir / "agent.log").read_text(errors="replace")
    assert code != 0, log
    assert "refused" in log and f"would count host {host_id} twice" in log, log
    assert local_arn in log and "--cpu UNITS --memory MIB" in log, log
    assert "deregister-container-instance" in log and "--force" in log, log
    assert ecs.list_container_instances(cluster=other)["containerInstanceArns"] == []

    # More than the host: the agent says so before registering.
    proc, data_dir = agents(srv, other, "--cpu", str(host_cpu + 1))
    assert proc.wait(timeout=DEADLINE) != 0
    assert f"at most {host_cpu}" in (data_dir / "agent.log").read_text(errors="replace")

    # Shares that fit: the local agent gives some back, the second agent takes it.
    cpu, memory = 256, 512
    srv.extra_args = ["--agent-cpu", str(host_cpu - cpu), "--agent-memory", str(host_memory - memory)]
    srv.restart()
    registered_with(ecs, "default", {"CPU": host_cpu - cpu, "MEMORY": host_memory - memory})
    proc, _ = agents(srv, other, "--cpu", str(cpu), "--memory", str(memory))
    second = connected_instance(ecs, other)
    assert proc.poll() is None
    assert attribute(second, "berth.host-id") == host_id
    assert resources(second, "registeredResources") == {"CPU": cpu, "MEMORY": memory}
    local = ecs.describe_container_instances(cluster="default", containerInstances=[local_arn])["containerInstances"][0]
    remaining = [resources(i, "remainingResources") for i in (local, second)]
    assert sum(r["CPU"] for r in remaining) <= host_cpu, remaining
    assert sum(r["MEMORY"] for r in remaining) <= host_memory, remaining
