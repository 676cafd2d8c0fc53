"""Container Insights (issue 16 item 3), end to end on the real Docker
daemon: a cluster whose `containerInsights` setting is `enabled` gets
`ECS/ContainerInsights` metrics per ClusterName, per ClusterName+ServiceName
and per ClusterName+TaskDefinitionFamily, from the usage its agent reports;
a cluster without the setting gets none.

Each cluster made for the test has its own `berth agent` (512 CPU units,
512 MiB). The insights cluster runs a service of two tasks (256 CPU units,
memory 128 with memoryReservation 64, sleeping); the other runs one task of
the same definition. The server publishes every 3 s
(`--ecs-metrics-interval-secs`) and the agents report every 2 s
(BERTH_AGENT_USAGE_INTERVAL_SECS); every wait is a poll with a deadline.
Teardown stops the agents and removes every container labelled with the
clusters.
"""

from __future__ import annotations

import datetime

import pytest

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    Agent,
    cluster,
    image,
    poll,
    register,
)

from berthtest import REGION, Berth, unique

PUBLISH_SECS = 3
REPORT_SECS = 2
START_DEADLINE = 90.0
METRIC_DEADLINE = 60.0
# A whole one-minute datapoint taken after both tasks run: up to a minute
# for the next one to begin, and one publish interval into it.
SETTLE_DEADLINE = 60.0 + 60.0
TASK_CPU = 256
TASK_RESERVATION = 64
AGENT_CPU = 512
AGENT_MEMORY = 512
NAMESPACE = "ECS/ContainerInsights"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-container-insights")
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


def running(ecs, cluster_name: str, **filters) -> list:
    arns = ecs.list_tasks(cluster=cluster_name, desiredStatus="RUNNING", **filters)["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster_name, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def latest(cw, metric: str, dims: dict) -> dict | None:
    """The latest one-minute datapoint of a metric (boto3: rpcv2Cbor), or None."""
    now = datetime.datetime.now(datetime.timezone.utc)
    out = cw.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=1),
        Period=60, Statistics=["Maximum", "Minimum", "SampleCount"],
    )
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    return points[-1] if points else None


def test_an_enabled_cluster_publishes_container_insights_and_a_disabled_one_none(
        server, cluster, image, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_AGENT_USAGE_INTERVAL_SECS", str(REPORT_SECS))
    ecs = server.client("ecs")
    cw = server.client("cloudwatch")
    on, off = cluster("insights"), cluster("plain")
    ecs.update_cluster_settings(cluster=on.name, settings=[{"name": "containerInsights", "value": "enabled"}])
    described = ecs.describe_clusters(clusters=[on.name, off.name], include=["SETTINGS"])["clusters"]
    settings = {c["clusterName"]: c["settings"] for c in described}
    assert settings[on.name] == [{"name": "containerInsights", "value": "enabled"}]
    assert settings[off.name] == [{"name": "containerInsights", "value": "disabled"}]
    for c in (on, off):
        agent = Agent(server, c.name, tmp_path, f"{REGION}a", cpu=AGENT_CPU, memory=AGENT_MEMORY)
        c.agents.append(agent)
        agent.wait_connected(ecs)

    family = unique("ci")
    td = register(ecs, family, [{
        "name": "app", "image": image, "cpu": TASK_CPU, "memory": 128,
        "memoryReservation": TASK_RESERVATION, "essential": True,
        "command": ["sh", "-c", "exec sleep 100000"],
    }])
    service = unique("web")
    server.aws("ecs", "create-service", "--cluster", on.name, "--service-name", service,
               "--task-definition", td, "--desired-count", "2")
    ecs.run_task(cluster=off.name, taskDefinition=td, count=1)
    poll("two service tasks running", lambda: len(running(ecs, on.name, serviceName=service)) == 2, START_DEADLINE)
    poll("the plain cluster's task running", lambda: len(running(ecs, off.name)) == 1, START_DEADLINE)

    cluster_dims = {"ClusterName": on.name}
    service_dims = {"ClusterName": on.name, "ServiceName": service}
    family_dims = {"ClusterName": on.name, "TaskDefinitionFamily": family}

    def settled():
        """The latest service datapoints, once every sample of their minute
        counts both tasks running: a minute that began while a task was
        still pending has a PendingTaskCount maximum of 1."""
        got = {m: latest(cw, m, service_dims) for m in ("RunningTaskCount", "CpuUtilized", "MemoryReserved")}
        if got["RunningTaskCount"] and got["RunningTaskCount"]["Minimum"] == 2 and got["CpuUtilized"]:
            return got
        return None

    got = poll("a minute of ECS/ContainerInsights datapoints of the service with both tasks running", settled,
               SETTLE_DEADLINE)
    assert got["MemoryReserved"]["Maximum"] == 2 * TASK_RESERVATION
    assert got["MemoryReserved"]["Unit"] == "Megabytes"
    assert got["RunningTaskCount"]["Unit"] == "Count"
    assert got["CpuUtilized"]["Unit"] == "None"
    assert 0 <= got["CpuUtilized"]["Minimum"] < TASK_CPU  # two sleeping tasks

    for metric, dims, expected in (
        ("DesiredTaskCount", service_dims, 2),
        ("PendingTaskCount", service_dims, 0),
        ("DeploymentCount", service_dims, 1),
        ("CpuReserved", service_dims, 2 * TASK_CPU),
        ("ServiceCount", cluster_dims, 1),
        ("ContainerInstanceCount", cluster_dims, 1),
        ("RunningTaskCount", cluster_dims, 2),
        ("TaskCount", cluster_dims, 2),
        ("CpuReserved", cluster_dims, 2 * TASK_CPU),
        ("MemoryReserved", cluster_dims, 2 * TASK_RESERVATION),
        ("CpuReserved", family_dims, 2 * TASK_CPU),
        ("MemoryReserved", family_dims, 2 * TASK_RESERVATION),
    ):
        point = latest(cw, metric, dims)
        assert point is not None, (metric, dims)
        assert point["Maximum"] == expected, (metric, dims, point)
    used = latest(cw, "MemoryUtilized", family_dims)
    assert used is not None and 0 < used["Maximum"] < 2 * 128, used

    # ListMetrics (aws CLI, awsQuery) shows the three dimension sets.
    listed = server.aws("cloudwatch", "list-metrics", "--namespace", NAMESPACE,
                        "--dimensions", f"Name=ClusterName,Value={on.name}")["Metrics"]
    seen = {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed}
    for name in ("CpuUtilized", "CpuReserved", "MemoryUtilized", "MemoryReserved", "RunningTaskCount",
                 "PendingTaskCount", "ServiceCount", "TaskCount", "ContainerInstanceCount"):
        assert (name, ("ClusterName",)) in seen, (name, seen)
    for name in ("CpuUtilized", "CpuReserved", "MemoryUtilized", "MemoryReserved", "DesiredTaskCount",
                 "RunningTaskCount", "PendingTaskCount", "DeploymentCount"):
        assert (name, ("ClusterName", "ServiceName")) in seen, (name, seen)
    for name in ("CpuUtilized", "CpuReserved", "MemoryUtilized", "MemoryReserved"):
        assert (name, ("ClusterName", "TaskDefinitionFamily")) in seen, (name, seen)
    # Berth has no network figures from its agents: none are published.
    assert not any(n.startswith("Network") for n, _ in seen)

    # The cluster without the setting publishes AWS/ECS metrics and no Container Insights.
    poll("AWS/ECS metrics of the plain cluster",
         lambda: cw.list_metrics(Namespace="AWS/ECS", Dimensions=[{"Name": "ClusterName", "Value": off.name}])[
             "Metrics"], METRIC_DEADLINE)
    none = cw.list_metrics(Namespace=NAMESPACE, Dimensions=[{"Name": "ClusterName", "Value": off.name}])
    assert none["Metrics"] == []
    assert latest(cw, "RunningTaskCount", {"ClusterName": off.name}) is None


def test_a_new_cluster_takes_the_account_setting(server):
    """CreateCluster without settings takes the caller's containerInsights
    account setting (the aws CLI sets the account default, boto3 reads)."""
    ecs = server.client("ecs")
    name = unique("insights-default")
    server.aws("ecs", "put-account-setting-default", "--name", "containerInsights", "--value", "enhanced")
    try:
        ecs.create_cluster(clusterName=name)
        explicit = ecs.create_cluster(clusterName=name + "-x",
                                      settings=[{"name": "containerInsights", "value": "disabled"}])
        got = ecs.describe_clusters(clusters=[name], include=["SETTINGS"])["clusters"][0]["settings"]
        assert got == [{"name": "containerInsights", "value": "enhanced"}]
        assert explicit["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    finally:
        server.aws("ecs", "put-account-setting-default", "--name", "containerInsights", "--value", "disabled")
        for n in (name, name + "-x"):
            ecs.delete_cluster(cluster=n)
