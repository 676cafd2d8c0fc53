"""Services (issue 4), end to end on the real Docker daemon: a REPLICA
service keeps its tasks running (a `docker kill`ed container is replaced),
a rolling update to a new revision never drops below the healthy minimum
and leaves the old deployment INACTIVE in the deployment history, and a
deleted service drains to INACTIVE; draining an instance moves the service
tasks off it within minimumHealthyPercent and leaves standalone tasks
alone; a server killed with SIGKILL in the middle of a rollout finishes it
after the restart without going over maximumPercent or leaving orphans.

It reuses the cluster/agent/image fixtures of test_tasks.py: a `berth up`
of this module, a cluster made for the test with its own `berth agent`
subprocess, and a busybox image made with `docker import`; teardown stops
the agents and removes every container labelled with the cluster.
"""

from __future__ import annotations

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    LABEL_CLUSTER,
    LABEL_TASK,
    Cluster,
    cluster,
    docker,
    docker_container,
    image,
    poll,
    register,
    server,
    sleeper,
)

from berthtest import Berth, unique

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
    c.add_agent(az="us-east-1a")
    c.add_agent(az="us-east-1b")
    ecs = server.client("ecs")
    family = unique("svc")
    v1 = register(ecs, family, [sleeper("app", image)])
    name = unique("web")

    created = server.aws(
        "ecs", "create-service", "--cluster", c.name, "--service-name", name,
        "--task-definition", v1, "--desired-count", "3",
    )["service"]
    assert created["status"] == "ACTIVE"
    assert created["serviceArn"] == f"arn:aws:ecs:us-east-1:000000000000:service/{c.name}/{name}"
    s = steady(ecs, c.name, name, 3)
    assert any(e["message"] == f"(service {name}) has reached a steady state." for e in s["events"])
    tasks = running_tasks(ecs, c.name, name)
    assert len(tasks) == 3
    assert all(t["group"] == f"service:{name}" for t in tasks)
    assert all(t["startedBy"] == s["deployments"][0]["id"] for t in tasks)

    # docker kill one container: its task stops and a replacement runs.
    victim = tasks[0]["taskArn"]
    docker("kill", docker_container(victim, "app")["Id"])

    def replaced():
        now = running_tasks(ecs, c.name, name)
        arns = {t["taskArn"] for t in now}
        gone = ecs.describe_tasks(cluster=c.name, tasks=[victim])["tasks"][0]["lastStatus"] == "STOPPED"
        return now if gone and len(now) == 3 and victim not in arns else None

    poll("a replacement for the killed task", replaced, DEADLINE)
    steady(ecs, c.name, name, 3)

    # Rolling update (min 100 / max 200): never under 3 running.
    v2 = register(ecs, family, [sleeper("app", image, memory=48)])
    first = s["deployments"][0]["id"]
    ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)
    lowest = 3

    def rolled():
        nonlocal lowest
        lowest = min(lowest, len(running_tasks(ecs, c.name, name)))
        s = service(ecs, c.name, name)
        d = s["deployments"]
        done = len(d) == 1 and d[0]["taskDefinition"] == v2 and d[0]["rolloutState"] == "COMPLETED"
        return s if done and s["runningCount"] == 3 else None

    poll("the rollout to the new revision", rolled, DEADLINE)
    assert lowest >= 3, f"fell to {lowest} running tasks during the rollout"
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


def service_tasks(ecs, cluster_name: str, name: str) -> list:
    """Every task of the service the server knows (both desired statuses;
    a task whose desired status changes between the two lists is in both)."""
    arns: list = []
    for desired in ("RUNNING", "STOPPED"):
        listed = ecs.list_tasks(cluster=cluster_name, serviceName=name, desiredStatus=desired)["taskArns"]
        arns += [a for a in listed if a not in arns]
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster=cluster_name, tasks=arns[i : i + 100])["tasks"]
    return out


def running_containers(cluster_name: str) -> dict:
    """Running docker containers of the cluster: container id -> task ARN label."""
    out = docker(
        "ps", "--no-trunc", "--filter", f"label={LABEL_CLUSTER}={cluster_name}",
        "--format", f'{{{{.ID}}}} {{{{.Label "{LABEL_TASK}"}}}}',
    )
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def test_draining_an_instance_moves_service_tasks_within_minimum_healthy(server, cluster, image):
    c = cluster("svc-drain")
    a = c.add_agent(az="us-east-1a")
    b = c.add_agent(az="us-east-1b")
    ecs = server.client("ecs")
    td = register(ecs, unique("drain"), [sleeper("app", image)])
    name = unique("web")
    ecs.create_service(
        cluster=c.name,
        serviceName=name,
        taskDefinition=td,
        desiredCount=3,
        deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200},
    )
    steady(ecs, c.name, name, 3)
    tasks = running_tasks(ecs, c.name, name)
    on = {x.arn: [t for t in tasks if t["containerInstanceArn"] == x.arn] for x in (a, b)}
    # Spread across the two AZs: both instances hold service tasks.
    assert all(on.values()), f"service tasks not spread over both instances: {on}"
    drained, other = (a, b) if len(on[a.arn]) >= len(on[b.arn]) else (b, a)
    moving = {t["taskArn"] for t in on[drained.arn]}

    # A task outside the service on the instance to drain.
    standalone = ecs.start_task(cluster=c.name, taskDefinition=td, containerInstances=[drained.arn])["tasks"][0]
    alone = standalone["taskArn"]
    poll(
        "the standalone task to run",
        lambda: ecs.describe_tasks(cluster=c.name, tasks=[alone])["tasks"][0]["lastStatus"] == "RUNNING",
        DEADLINE,
    )

    out = ecs.update_container_instances_state(cluster=c.name, containerInstances=[drained.arn], status="DRAINING")
    assert out["containerInstances"][0]["status"] == "DRAINING"
    lowest = 3

    def moved():
        nonlocal lowest
        now = running_tasks(ecs, c.name, name)
        lowest = min(lowest, len(now), service(ecs, c.name, name)["runningCount"])
        inst = ecs.describe_container_instances(cluster=c.name, containerInstances=[drained.arn])
        ok = (
            len(now) == 3
            and all(t["containerInstanceArn"] == other.arn for t in now)
            and inst["containerInstances"][0]["runningTasksCount"] == 1
            and inst["containerInstances"][0]["pendingTasksCount"] == 0
        )
        return now if ok else None

    now = poll("the service tasks to leave the draining instance", moved, DEADLINE)
    assert lowest >= 3, f"fell to {lowest} running tasks while draining (minimumHealthyPercent 100)"
    assert not moving & {t["taskArn"] for t in now}
    for t in ecs.describe_tasks(cluster=c.name, tasks=sorted(moving))["tasks"]:
        assert t["desiredStatus"] == "STOPPED"
    (t,) = ecs.describe_tasks(cluster=c.name, tasks=[alone])["tasks"]
    assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"
    assert t["containerInstanceArn"] == drained.arn
    assert docker_container(alone, "app")["State"]["Running"] is True
    (inst,) = ecs.describe_container_instances(cluster=c.name, containerInstances=[drained.arn])["containerInstances"]
    assert inst["status"] == "DRAINING" and inst["runningTasksCount"] == 1
    steady(ecs, c.name, name, 3)
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_server_killed_mid_rollout_finishes_it_after_restart(tmp_path, image):
    """A server of its own (it is killed with SIGKILL), default agent grace
    period: the agents reconnect to the same port once it is back."""
    (tmp_path / "data").mkdir()
    srv = Berth(data_dir=tmp_path / "data", log_path=tmp_path / "berth.log").start()
    c = Cluster(srv, tmp_path, "svc-kill9")
    try:
        c.add_agent(az="us-east-1a")
        c.add_agent(az="us-east-1b")
        ecs = srv.client("ecs")
        family = unique("kill9")
        v1 = register(ecs, family, [sleeper("app", image)])
        v2 = register(ecs, family, [sleeper("app", image, memory=48)])
        name = unique("web")
        ecs.create_service(
            cluster=c.name,
            serviceName=name,
            taskDefinition=v1,
            desiredCount=3,
            deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200},
        )
        steady(ecs, c.name, name, 3)
        ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)
        highest, worst = 0, None

        def sample(client) -> list:
            nonlocal highest, worst
            tasks = service_tasks(client, c.name, name)
            live = [t for t in tasks if t["lastStatus"] != "STOPPED"]
            containers = running_containers(c.name)
            if max(len(live), len(containers)) > highest:
                highest = max(len(live), len(containers))
                worst = {
                    "tasks": [
                        (t["taskArn"][-8:], t["taskDefinitionArn"][-2:], t["lastStatus"], t["desiredStatus"])
                        for t in live
                    ],
                    "containers": sorted(a[-8:] for a in containers.values()),
                }
            return tasks

        poll(
            "the new deployment to start a task",
            lambda: any(t["taskDefinitionArn"] == v2 for t in sample(ecs)),
            DEADLINE,
        )
        # Mid-rollout: the old revision's tasks are still there (they take
        # their stopTimeout to stop once the new ones run).
        assert len(service(ecs, c.name, name)["deployments"]) == 2
        srv.restart(kill9=True)
        ecs = srv.client("ecs")

        def reconnected():
            sample(ecs)
            arns = [a.arn for a in c.agents]
            insts = ecs.describe_container_instances(cluster=c.name, containerInstances=arns)["containerInstances"]
            return len(insts) == 2 and all(i["agentConnected"] for i in insts)

        poll("both agents to reconnect after the restart", reconnected, 40)

        def rolled():
            tasks = sample(ecs)
            s = service(ecs, c.name, name)
            d = s["deployments"]
            done = len(d) == 1 and d[0]["taskDefinition"] == v2 and d[0]["rolloutState"] == "COMPLETED"
            live = [t for t in tasks if t["lastStatus"] != "STOPPED"]
            return (s, tasks) if done and s["runningCount"] == 3 and len(live) == 3 else None

        s, tasks = poll("the rollout to complete after the restart", rolled, DEADLINE)
        assert highest <= 6, f"{highest} live tasks at once (maximumPercent 200 of 3): {worst}"
        assert s["deployments"][0]["status"] == "PRIMARY"
        live = [t for t in tasks if t["lastStatus"] != "STOPPED"]
        assert all(t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == v2 for t in live)
        assert not [t for t in tasks if t["taskDefinitionArn"] == v1 and t["lastStatus"] != "STOPPED"]

        # One running container per running task, none of any other task.
        def containers_match():
            running = running_containers(c.name)
            return sorted(running.values()) == sorted(t["taskArn"] for t in live)

        poll("docker to run exactly the service's running tasks", containers_match, DEADLINE)
        ecs.delete_service(cluster=c.name, service=name, force=True)
    except BaseException:
        print(c.logs())
        print(f"--- server log:\n{srv.log_tail(80)}")
        raise
    finally:
        c.close()
        srv.stop()
