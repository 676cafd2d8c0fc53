"""Task scale-in protection and DiscoverPollEndpoint (issue 13), end to end
with boto3 and the aws CLI on the real Docker daemon: two of a service's
three tasks are protected (UpdateTaskProtection, GetTaskProtection agree
and report MISSING for an unknown task), the service scales in to zero and
stops only the unprotected task, and once protection is removed it stops
the others; out-of-range expiresInMinutes is InvalidParameterException;
DiscoverPollEndpoint answers the server's own URL.

It reuses the cluster/agent/image fixtures of test_tasks.py.
"""

from __future__ import annotations

import time

import botocore.exceptions
import pytest
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    cluster,
    docker,
    image,
    poll,
    register,
    server,
    sleeper,
)

from berthtest import AwsCliError, unique

DEADLINE = 60.0


def wanted(ecs, cluster_name: str, name: str) -> list:
    return sorted(ecs.list_tasks(cluster=cluster_name, serviceName=name, desiredStatus="RUNNING")["taskArns"])


def test_protected_tasks_survive_scale_in(server, cluster, image):
    c = cluster("prot")
    c.add_agent(az="us-east-1a")
    ecs = server.client("ecs")
    td = register(ecs, unique("prot"), [sleeper("app", image)])
    name = unique("web")
    ecs.create_service(cluster=c.name, serviceName=name, taskDefinition=td, desiredCount=3)
    def three_running():
        w = wanted(ecs, c.name, name)
        ok = len(w) == 3 and all(t["lastStatus"] == "RUNNING" for t in ecs.describe_tasks(cluster=c.name, tasks=w)["tasks"])
        return w if ok else None

    tasks = poll("3 tasks running", three_running, DEADLINE)
    protected, unprotected = tasks[:2], tasks[2]

    before = time.time()
    out = server.aws(
        "ecs", "update-task-protection", "--cluster", c.name, "--tasks", *protected,
        "--protection-enabled", "--expires-in-minutes", "60",
    )
    assert sorted(p["taskArn"] for p in out["protectedTasks"]) == protected
    assert out["failures"] == []
    got = ecs.get_task_protection(cluster=c.name, tasks=[protected[0], unprotected, "nope"])
    by_arn = {p["taskArn"]: p for p in got["protectedTasks"]}
    assert by_arn[protected[0]]["protectionEnabled"] is True
    expires = by_arn[protected[0]]["expirationDate"].timestamp()
    assert before + 3600 - 5 <= expires <= before + 3660
    assert by_arn[unprotected]["protectionEnabled"] is False
    assert [(f["arn"], f["reason"]) for f in got["failures"]] == [
        (f"arn:aws:ecs:us-east-1:000000000000:task/{c.name}/nope", "MISSING")
    ]

    for minutes in (0, 2881):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ecs.update_task_protection(cluster=c.name, tasks=protected, protectionEnabled=True,
                                       expiresInMinutes=minutes)
        assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    # Scale in to zero: the unprotected task stops in the step that would
    # have stopped the others too; the protected ones keep running.
    ecs.update_service(cluster=c.name, service=name, desiredCount=0)
    left = poll("the unprotected task stopped",
                lambda: (lambda w: w if unprotected not in w else None)(wanted(ecs, c.name, name)), DEADLINE)
    assert left == protected
    running = ecs.describe_tasks(cluster=c.name, tasks=protected)["tasks"]
    assert all(t["lastStatus"] == "RUNNING" for t in running)

    ecs.update_task_protection(cluster=c.name, tasks=protected, protectionEnabled=False)
    poll("the formerly protected tasks stopped", lambda: wanted(ecs, c.name, name) == [] or None, DEADLINE)


def test_discover_poll_endpoint_is_the_servers_url(server):
    ecs = server.client("ecs")
    got = ecs.discover_poll_endpoint(cluster="default")
    assert got["endpoint"] == server.endpoint
    assert got["telemetryEndpoint"] == server.endpoint
    assert got["serviceConnectEndpoint"] == server.endpoint
    cli = server.aws("ecs", "discover-poll-endpoint", "--cluster", "default")
    assert cli["endpoint"] == server.endpoint
    with pytest.raises(AwsCliError) as e:
        server.aws("ecs", "update-task-protection", "--cluster", "default", "--tasks", "x",
                   "--protection-enabled", "--expires-in-minutes", "2881")
    assert e.value.code == "InvalidParameterException"
