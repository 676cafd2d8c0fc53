"""What ECS publishes (issue 16 item 3), end to end on the real Docker
daemon: the agent samples its tasks' Docker stats and reports them, the
server publishes `AWS/ECS` CPUUtilization and MemoryUtilization per
ClusterName+ServiceName and per ClusterName, and CPUReservation and
MemoryReservation per ClusterName, read back with the aws CLI and boto3.

A cluster made for the test with its own `berth agent` (1,024 CPU units,
512 MiB) runs two services: `burn` (one container of 512 CPU units that
spins `while :; do :; done`) and `hold` (256 CPU units, memory 128 with
memoryReservation 64, that fills 40 MiB of /dev/shm and sleeps). The
utilization CloudWatch reports for one whole minute is compared with what
the container really used, read from its cgroup (CPU) and `docker stats
--no-stream` (memory). The server publishes every 5 s
(`--ecs-metrics-interval-secs`) and the agent reports every 2 s
(BERTH_AGENT_USAGE_INTERVAL_SECS) so the test waits about two minutes, not
more; every wait is a poll with a deadline. Teardown stops the agent and
removes every container labelled with the cluster.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import time

import pytest

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    Agent,
    cluster,
    docker,
    docker_container,
    image,
    poll,
    register,
)

from berthtest import REGION, Berth, unique

PUBLISH_SECS = 5
REPORT_SECS = 2
START_DEADLINE = 90.0
# The first datapoint, then one whole minute after it and the next one's start.
METRIC_DEADLINE = 200.0
BURN_CPU = 512
HOLD_CPU = 256
HOLD_RESERVATION = 64
HOLD_FILL_MIB = 40
AGENT_CPU = 1024
AGENT_MEMORY = 512


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-ecs-metrics")
    (tmp / "data").mkdir()
    srv = Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=["--ecs-metrics-interval-secs", PUBLISH_SECS],
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def running(ecs, cluster_name: str, service: str) -> list:
    arns = ecs.list_tasks(cluster=cluster_name, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=cluster_name, tasks=arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def stats(cw, metric: str, dims: dict, start: datetime.datetime, end: datetime.datetime) -> dict:
    """The datapoints of one metric by minute (boto3: rpcv2Cbor)."""
    out = cw.get_metric_statistics(
        Namespace="AWS/ECS",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["Average", "Minimum", "Maximum", "SampleCount"],
    )
    return {p["Timestamp"]: p for p in out["Datapoints"]}


def cpu_ns(container_id: str) -> int:
    """CPU time the container used, read from its cgroup on the host (v1
    cgroupfs or systemd, v2), else from inside it."""
    for path in (
        f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage",
        f"/sys/fs/cgroup/cpu,cpuacct/docker/{container_id}/cpuacct.usage",
        f"/sys/fs/cgroup/cpuacct/system.slice/docker-{container_id}.scope/cpuacct.usage",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
        f"/sys/fs/cgroup/docker/{container_id}/cpu.stat",
    ):
        try:
            out = open(path).read()
        except OSError:
            continue
        break
    else:
        out = docker(
            "exec", container_id, "sh", "-c",
            "cat /sys/fs/cgroup/cpuacct/cpuacct.usage 2>/dev/null || cat /sys/fs/cgroup/cpu.stat",
        )
    if "usage_usec" in out:
        return int(re.search(r"usage_usec (\d+)", out).group(1)) * 1000
    return int(out.strip())


class CpuRecorder:
    """Reads a container's CPU time every 0.25 s in a thread, so the test
    can measure it over exactly the window a published minute covers."""

    def __init__(self, container_id: str):
        self.container_id = container_id
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.time(), cpu_ns(self.container_id)))
            self.stop.wait(0.25)  # sampling period, not synchronisation

    def units(self, start: float, end: float) -> float:
        """CPU units (1024 a core) used on average from `start` to `end`."""
        self.stop.set()
        self.thread.join()
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        last = min(self.samples, key=lambda s: abs(s[0] - end))
        assert abs(first[0] - start) < 2 and abs(last[0] - end) < 2, (start, end, self.samples[:1], self.samples[-1:])
        return (last[1] - first[1]) / ((last[0] - first[0]) * 1e9) * 1024


def mem_mib(container_id: str) -> float:
    """MEM USAGE of `docker stats --no-stream` (usage less the inactive file cache)."""
    used = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container_id).split("/")[0].strip()
    m = re.fullmatch(r"([\d.]+)\s*([KMG]i?B|B)", used)
    assert m, used
    scale = {"B": 1 / 2**20, "KiB": 1 / 1024, "kB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024}
    return float(m.group(1)) * scale[m.group(2)]


def within(actual: float, expected: float, share: float = 0.10) -> bool:
    return abs(actual - expected) <= share * expected


def test_aws_ecs_metrics_follow_what_the_containers_use(server, cluster, image, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_AGENT_USAGE_INTERVAL_SECS", str(REPORT_SECS))
    c = cluster("metrics")
    agent = Agent(server, c.name, tmp_path, f"{REGION}a", cpu=AGENT_CPU, memory=AGENT_MEMORY)
    c.agents.append(agent)
    ecs = server.client("ecs")
    cw = server.client("cloudwatch")
    agent.wait_connected(ecs)

    burn_td = register(ecs, unique("burn"), [{
        "name": "spin", "image": image, "cpu": BURN_CPU, "memory": 64, "essential": True,
        "command": ["sh", "-c", "while :; do :; done"],
    }])
    hold_td = register(ecs, unique("hold"), [{
        "name": "fill", "image": image, "cpu": HOLD_CPU, "memory": 128,
        "memoryReservation": HOLD_RESERVATION, "essential": True,
        "command": ["sh", "-c", f"busybox dd if=/dev/zero of=/dev/shm/fill bs=1048576 count={HOLD_FILL_MIB} "
                    "&& exec sleep 100000"],
    }])
    burn, hold = unique("burn"), unique("hold")
    server.aws("ecs", "create-service", "--cluster", c.name, "--service-name", burn,
               "--task-definition", burn_td, "--desired-count", "1")
    ecs.create_service(cluster=c.name, serviceName=hold, taskDefinition=hold_td, desiredCount=1)
    burn_task = poll("the burn task running", lambda: running(ecs, c.name, burn), START_DEADLINE)[0]
    hold_task = poll("the hold task running", lambda: running(ecs, c.name, hold), START_DEADLINE)[0]
    spin = docker_container(burn_task["taskArn"], "spin")["Id"]
    fill = docker_container(hold_task["taskArn"], "fill")["Id"]

    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
    burn_dims = {"ClusterName": c.name, "ServiceName": burn}

    def until_now(metric, dims):
        return stats(cw, metric, dims, since, datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1))

    poll("a first CPUUtilization datapoint of the burn service",
         lambda: until_now("CPUUtilization", burn_dims), METRIC_DEADLINE)
    # Record the container's CPU time through the next whole minute.
    recorder = CpuRecorder(spin)
    minute = datetime.datetime.fromtimestamp(((int(time.time()) + 5) // 60 + 1) * 60, datetime.timezone.utc)
    after = minute + datetime.timedelta(minutes=1)
    # The minute is complete once a datapoint of the minute after it exists
    # (publications are in time order).
    poll(f"the minute {minute:%H:%M} complete", lambda: after in until_now("CPUUtilization", burn_dims),
         METRIC_DEADLINE)
    # The minute holds the publications made in [b, b+60), the first about
    # half a publishing period after b; each publishes the reports that
    # arrived in the period before it, each report the REPORT_SECS before
    # that: the minute measured about [b - 3.5 s, b + 57.5 s].
    b = minute.timestamp()
    used_units = recorder.units(b - PUBLISH_SECS / 2 - REPORT_SECS / 2, b + 60 - PUBLISH_SECS / 2)
    expected = 100 * used_units / BURN_CPU
    memory_now = mem_mib(fill)

    def at_minute(metric, dims):
        points = stats(cw, metric, dims, minute, after)
        assert minute in points, f"{metric} {dims}: no datapoint at {minute}: {points}"
        return points[minute]

    cpu = at_minute("CPUUtilization", burn_dims)
    mem = at_minute("MemoryUtilization", {"ClusterName": c.name, "ServiceName": hold})
    print(f"burn CPUUtilization: {cpu['Average']:.1f} % published, {expected:.1f} % measured; "
          f"hold MemoryUtilization: {mem['Average']:.1f} % published, "
          f"{100 * memory_now / HOLD_RESERVATION:.1f} % from docker stats")
    assert cpu["Unit"] == "Percent"
    assert within(cpu["Average"], expected), (cpu, used_units, expected)
    # One task: its own figure is the minimum and the maximum of each sample.
    assert cpu["Minimum"] <= cpu["Average"] <= cpu["Maximum"]
    assert cpu["SampleCount"] >= 60 / PUBLISH_SECS - 2

    # The aws CLI (awsQuery) reads the same datapoint.
    cli = server.aws(
        "cloudwatch", "get-metric-statistics", "--namespace", "AWS/ECS", "--metric-name", "CPUUtilization",
        "--dimensions", f"Name=ClusterName,Value={c.name}", f"Name=ServiceName,Value={burn}",
        "--start-time", minute.isoformat(), "--end-time", after.isoformat(), "--period", "60",
        "--statistics", "Average",
    )
    assert len(cli["Datapoints"]) == 1
    assert abs(cli["Datapoints"][0]["Average"] - cpu["Average"]) < 1e-6

    hold_dims = {"ClusterName": c.name, "ServiceName": hold}
    idle = at_minute("CPUUtilization", hold_dims)
    assert idle["Average"] < 5.0, idle
    mem = at_minute("MemoryUtilization", hold_dims)
    # Against memoryReservation (64), not the hard limit (128).
    assert mem["Average"] >= 100 * HOLD_FILL_MIB / HOLD_RESERVATION, mem
    assert within(mem["Average"], 100 * memory_now / HOLD_RESERVATION), (mem, memory_now)

    cluster_dims = {"ClusterName": c.name}
    assert at_minute("CPUReservation", cluster_dims)["Average"] == pytest.approx(
        100 * (BURN_CPU + HOLD_CPU) / AGENT_CPU)
    assert at_minute("MemoryReservation", cluster_dims)["Average"] == pytest.approx(
        100 * (64 + HOLD_RESERVATION) / AGENT_MEMORY)
    # The cluster's utilization is against what the instance registered.
    cluster_cpu = at_minute("CPUUtilization", cluster_dims)
    assert within(cluster_cpu["Average"], 100 * used_units / AGENT_CPU, 0.15), (cluster_cpu, used_units)
    cluster_mem = at_minute("MemoryUtilization", cluster_dims)
    assert cluster_mem["Average"] >= 100 * HOLD_FILL_MIB / AGENT_MEMORY

    listed = cw.list_metrics(Namespace="AWS/ECS", Dimensions=[{"Name": "ClusterName", "Value": c.name}])
    seen = {(m["MetricName"], tuple(sorted(d["Name"] + "=" + d["Value"] for d in m["Dimensions"])))
            for m in listed["Metrics"]}
    cl = f"ClusterName={c.name}"
    for name in ("CPUUtilization", "MemoryUtilization", "CPUReservation", "MemoryReservation"):
        assert (name, (cl,)) in seen, seen
    for svc in (burn, hold):
        for name in ("CPUUtilization", "MemoryUtilization"):
            assert (name, (cl, f"ServiceName={svc}")) in seen, seen
    assert not any(n in ("CPUReservation", "MemoryReservation") and len(d) == 2 for n, d in seen)
    cli_list = server.aws("cloudwatch", "list-metrics", "--namespace", "AWS/ECS",
                          "--metric-name", "CPUReservation", "--dimensions", f"Name=ClusterName,Value={c.name}")
    assert [m["MetricName"] for m in cli_list["Metrics"]] == ["CPUReservation"]


def test_usage_reports_are_checked(server, cluster):
    c = cluster("usage-bad")
    agent = c.add_agent()
    ok = {"cluster": c.name, "containerInstance": agent.arn, "tasks": []}
    target = "AmazonEC2ContainerServiceV20141113.BerthPublishTaskUsage"
    r = server.signed_request(target, json.dumps(ok))
    assert r.status == 200 and r.json == {"acknowledgment": "ACK"}
    bad = dict(ok, tasks=[{"taskArn": "t", "containers": [{"name": "a", "cpuUnits": -1, "memoryMib": 1}]}])
    r = server.signed_request(target, json.dumps(bad))
    assert (r.status, r.code) == (400, "InvalidParameterException")
    assert r.message == "The cpuUnits of container a of task t must be a non-negative number."
    r = server.signed_request(target, json.dumps(dict(ok, containerInstance="0123456789abcdef0123456789abcdef")))
    assert (r.status, r.code) == (400, "InvalidParameterException")
    assert "was not found in cluster" in r.message
    r = server.signed_request(target, json.dumps({"cluster": c.name}))
    assert r.status == 400

    # Authorized on the container instance, and only its own agent may report.
    iam = server.client("iam")

    def user_keys(actions: list) -> tuple:
        name = unique("usage")
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    ak, sk = user_keys(["ecs:Poll"])
    r = server.signed_request(target, json.dumps(ok), access_key=ak, secret_key=sk)
    assert (r.status, r.code) == (400, "AccessDeniedException"), r.text
    assert "ecs:StartTelemetrySession" in r.message and agent.arn in r.message
    ak, sk = user_keys(["ecs:StartTelemetrySession"])
    r = server.signed_request(target, json.dumps(ok), access_key=ak, secret_key=sk)
    assert (r.status, r.code) == (400, "AccessDeniedException"), r.text
