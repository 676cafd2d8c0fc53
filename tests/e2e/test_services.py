"""Services (issue 4), end to end on the real Docker daemon: a REPLICA
service keeps its tasks running (a `docker kill`ed container is replaced),
a rolling update to a new revision never drops below the healthy minimum
and leaves the old deployment INACTIVE in the deployment history, and a
deleted service drains to INACTIVE.

It reuses the cluster/agent/image fixtures of test_tasks.py: a `berth up`
of this module, a cluster made for the test with its own `berth agent`
subprocess, and a busybox image made with `docker import`; teardown stops
the agents and removes every container labelled with the cluster.
"""

from __future__ import annotations

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    cluster,
    docker,
    docker_container,
    image,
    poll,
    register,
    server,
    sleeper,
)

from berthtest import unique

DEADLINE = 60.0


def service(ecs, cluster_name: str, name: str) -> dict:
    return ecs.describe_services(cluster=cluster_name, services=[name])["services"][0]


def running_tasks(ecs, cluster_name: str, name: str) -> list:
    arns = ecs.list_tasks(cluster=cluster_name, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=cluster_name, tasks=arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def steady(ecs, cluster_name: str, name: str, count: int) -> dict:
    def done():
        s = service(ecs, cluster_name, name)
        d = s["deployments"]
        ok = (
            s["runningCount"] == count
            and s["pendingCount"] == 0
            and len(d) == 1
            and d[0]["rolloutState"] == "COMPLETED"
        )
        return s if ok else None

    return poll(f"service {name} steady with {count} running", done, DEADLINE)


def test_replica_service_replaces_killed_containers_and_rolls_updates(server, cluster, image):
    c = cluster("svc")
    c.add_agent()
    ecs = server.client("ecs")
    family = unique("svc")
    v1 = register(ecs, family, [sleeper("app", image)])
    name = unique("web")

    created = server.aws(
        "ecs", "create-service", "--cluster", c.name, "--service-name", name,
        "--task-definition", v1, "--desired-count", "2",
    )["service"]
    assert created["status"] == "ACTIVE"
    assert created["serviceArn"] == f"arn:aws:ecs:us-east-1:000000000000:service/{c.name}/{name}"
    s = steady(ecs, c.name, name, 2)
    assert any(e["message"] == f"(service {name}) has reached a steady state." for e in s["events"])
    tasks = running_tasks(ecs, c.name, name)
    assert len(tasks) == 2
    assert all(t["group"] == f"service:{name}" for t in tasks)
    assert all(t["startedBy"] == s["deployments"][0]["id"] for t in tasks)

    # docker kill one container: its task stops and a replacement runs.
    victim = tasks[0]["taskArn"]
    docker("kill", docker_container(victim, "app")["Id"])

    def replaced():
        now = running_tasks(ecs, c.name, name)
        arns = {t["taskArn"] for t in now}
        gone = ecs.describe_tasks(cluster=c.name, tasks=[victim])["tasks"][0]["lastStatus"] == "STOPPED"
        return now if gone and len(now) == 2 and victim not in arns else None

    poll("a replacement for the killed task", replaced, DEADLINE)
    steady(ecs, c.name, name, 2)

    # Rolling update (min 100 / max 200): never under 2 running.
    v2 = register(ecs, family, [sleeper("app", image, memory=48)])
    first = s["deployments"][0]["id"]
    ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)
    lowest = 2

    def rolled():
        nonlocal lowest
        lowest = min(lowest, len(running_tasks(ecs, c.name, name)))
        s = service(ecs, c.name, name)
        d = s["deployments"]
        done = len(d) == 1 and d[0]["taskDefinition"] == v2 and d[0]["rolloutState"] == "COMPLETED"
        return s if done and s["runningCount"] == 2 else None

    poll("the rollout to the new revision", rolled, DEADLINE)
    assert lowest >= 2, f"fell to {lowest} running tasks during the rollout"
    assert all(t["taskDefinitionArn"] == v2 for t in running_tasks(ecs, c.name, name))
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    assert [h["status"] for h in history] == ["SUCCESSFUL", "SUCCESSFUL"]
    assert history[1]["serviceDeploymentArn"].endswith(first.split("/")[1])

    # Delete: scale to 0, DRAINING, then INACTIVE once the tasks are gone.
    deleted = ecs.delete_service(cluster=c.name, service=name, force=True)["service"]
    assert deleted["status"] == "DRAINING"
    poll("the service to become INACTIVE", lambda: service(ecs, c.name, name)["status"] == "INACTIVE", DEADLINE)
    assert running_tasks(ecs, c.name, name) == []


def test_circuit_breaker_rolls_back_a_revision_that_exits_at_once(server, cluster, image):
    c = cluster("svc-cb")
    c.add_agent()
    ecs = server.client("ecs")
    family = unique("svc-cb")
    good = register(ecs, family, [sleeper("app", image)])
    name = unique("web")
    ecs.create_service(
        cluster=c.name,
        serviceName=name,
        taskDefinition=good,
        desiredCount=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    steady(ecs, c.name, name, 2)
    bad = register(ecs, family, [{**sleeper("app", image), "command": ["false"]}])
    ecs.update_service(cluster=c.name, service=name, taskDefinition=bad)

    # (No health check: a bad task counts as healthy for the moment it is
    # RUNNING, so old tasks may be replaced by it, as in ECS.)
    def rolled_back():
        s = service(ecs, c.name, name)
        d = s["deployments"]
        ok = s["taskDefinition"] == good and len(d) == 1 and d[0]["rolloutState"] == "COMPLETED"
        return s if ok and s["runningCount"] == 2 else None

    s = poll("the rollback to the good revision", rolled_back, DEADLINE)
    assert all(t["taskDefinitionArn"] == good for t in running_tasks(ecs, c.name, name))
    assert any("deployment failed: tasks failed to start." in e["message"] for e in s["events"])
    history = ecs.list_service_deployments(cluster=c.name, service=name)["serviceDeployments"]
    assert history[0]["status"] == "ROLLBACK_SUCCESSFUL"
    described = ecs.describe_service_deployments(serviceDeploymentArns=[history[0]["serviceDeploymentArn"]])
    sd = described["serviceDeployments"][0]
    assert sd["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert sd["deploymentCircuitBreaker"]["failureCount"] >= sd["deploymentCircuitBreaker"]["threshold"] == 3
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_daemon_service_runs_one_task_per_agent(server, cluster, image):
    c = cluster("svc-daemon")
    c.add_agent(az="us-east-1a")
    c.add_agent(az="us-east-1b")
    ecs = server.client("ecs")
    td = register(ecs, unique("daemon"), [sleeper("app", image)])
    name = unique("daemon")
    ecs.create_service(cluster=c.name, serviceName=name, taskDefinition=td, schedulingStrategy="DAEMON")
    steady(ecs, c.name, name, 2)
    third = c.add_agent(az="us-east-1c")
    steady(ecs, c.name, name, 3)
    per_instance = {}
    for t in running_tasks(ecs, c.name, name):
        per_instance[t["containerInstanceArn"]] = per_instance.get(t["containerInstanceArn"], 0) + 1
    assert sorted(per_instance.values()) == [1, 1, 1]
    assert third.arn in per_instance
    ecs.delete_service(cluster=c.name, service=name)
    poll("the daemon service to become INACTIVE", lambda: service(ecs, c.name, name)["status"] == "INACTIVE", DEADLINE)
