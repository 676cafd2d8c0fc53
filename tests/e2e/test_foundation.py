"""The foundation, end to end: clusters and task definitions through the real
aws CLI v1 and boto3, SigV4 and protocol errors as AWS reports them, bad task
definitions rejected without a trace, and durability across kill -9 and
SIGTERM.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from berthtest import ACCOUNT, ECS_TARGET, REGION, AwsCliError, Berth, unique

CLUSTER_ARN = "arn:aws:ecs:{region}:{account}:cluster/{name}"
TD_ARN = "arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}"


def cluster_arn(name: str) -> str:
    return CLUSTER_ARN.format(region=REGION, account=ACCOUNT, name=name)


def td_arn(family: str, revision: int) -> str:
    return TD_ARN.format(region=REGION, account=ACCOUNT, family=family, revision=revision)


def web_app(family: str) -> dict:
    """A realistic Fargate task definition: a web server with a health check and a sidecar."""
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
        "containerDefinitions": [
            {
                "name": "web",
                "image": "public.ecr.aws/nginx/nginx:1.25",
                "essential": True,
                "memoryReservation": 256,
                "portMappings": [{"containerPort": 80, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
                "environment": [
                    {"name": "APP_ENV", "value": "production"},
                    {"name": "LISTEN_PORT", "value": "80"},
                ],
                "healthCheck": {
                    "command": ["CMD-SHELL", "wget -q -O /dev/null http://localhost/ || exit 1"],
                    "interval": 15,
                    "timeout": 5,
                    "retries": 3,
                    "startPeriod": 10,
                },
            },
            {
                "name": "metrics",
                "image": "busybox:1.36",
                "essential": False,
                "command": ["sh", "-c", "while true; do nc -l -p 9100 -e echo ok; done"],
                "portMappings": [{"containerPort": 9100}],
                "environment": [{"name": "SCRAPE_TARGET", "value": "http://localhost:80"}],
                "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}],
            },
        ],
        "tags": [{"key": "team", "value": "payments"}, {"key": "env", "value": "test"}],
    }


def by_name(containers: list) -> dict:
    return {c["name"]: c for c in containers}


def check_web_app(td: dict, family: str, revision: int) -> None:
    """What AWS answers for `web_app(family)` at `revision`."""
    assert td["taskDefinitionArn"] == td_arn(family, revision)
    assert td["family"] == family
    assert td["revision"] == revision
    assert td["status"] == "ACTIVE"
    assert td["networkMode"] == "awsvpc"
    assert td["cpu"] == "512" and td["memory"] == "1024"
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert "FARGATE" in td["compatibilities"]
    assert td["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
    assert td["registeredAt"]
    containers = by_name(td["containerDefinitions"])
    assert list(containers) == ["web", "metrics"]
    web, metrics = containers["web"], containers["metrics"]
    assert web["image"] == "public.ecr.aws/nginx/nginx:1.25"
    assert web["essential"] is True
    # awsvpc: the host port is the container port; protocol defaults to tcp.
    assert web["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp", "name": "http", "appProtocol": "http"}
    ]
    assert metrics["portMappings"] == [{"containerPort": 9100, "hostPort": 9100, "protocol": "tcp"}]
    assert web["environment"] == [
        {"name": "APP_ENV", "value": "production"},
        {"name": "LISTEN_PORT", "value": "80"},
    ]
    assert web["healthCheck"] == {
        "command": ["CMD-SHELL", "wget -q -O /dev/null http://localhost/ || exit 1"],
        "interval": 15,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 10,
    }
    assert metrics["essential"] is False
    assert metrics["dependsOn"] == [{"containerName": "web", "condition": "HEALTHY"}]
    assert metrics["command"] == ["sh", "-c", "while true; do nc -l -p 9100 -e echo ok; done"]


def has_request_id(response: dict) -> None:
    meta = response["ResponseMetadata"]
    assert meta["RequestId"], meta
    assert meta["HTTPHeaders"].get("x-amzn-requestid") == meta["RequestId"]


def all_cluster_arns(ecs) -> list:
    return [arn for page in ecs.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]


def all_td_arns(ecs, family: str) -> list:
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family)
    return [arn for page in pages for arn in page["taskDefinitionArns"]]


# ---------------------------------------------------------------- aws CLI v1


def test_cli_cluster_lifecycle(berth):
    name = unique("cli-cluster")
    created = berth.aws(
        "ecs",
        "create-cluster",
        "--cluster-name",
        name,
        "--tags",
        "key=env,value=test",
        "key=owner,value=e2e",
        "--settings",
        "name=containerInsights,value=enabled",
    )["cluster"]
    assert created["clusterArn"] == cluster_arn(name)
    assert created["clusterName"] == name
    assert created["status"] == "ACTIVE"
    assert created["registeredContainerInstancesCount"] == 0
    assert created["runningTasksCount"] == 0 and created["pendingTasksCount"] == 0
    assert created["activeServicesCount"] == 0

    assert cluster_arn(name) in berth.aws("ecs", "list-clusters")["clusterArns"]

    described = berth.aws("ecs", "describe-clusters", "--clusters", name, "--include", "TAGS", "SETTINGS")
    assert described["failures"] == []
    [c] = described["clusters"]
    assert c["clusterArn"] == cluster_arn(name)
    assert sorted(c["tags"], key=lambda t: t["key"]) == [
        {"key": "env", "value": "test"},
        {"key": "owner", "value": "e2e"},
    ]
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]

    # Without --include, tags are left out.
    [plain] = berth.aws("ecs", "describe-clusters", "--clusters", cluster_arn(name))["clusters"]
    assert not plain.get("tags")

    missing = unique("cli-missing")
    out = berth.aws("ecs", "describe-clusters", "--clusters", missing)
    assert out["clusters"] == []
    assert out["failures"] == [{"arn": cluster_arn(missing), "reason": "MISSING"}]

    deleted = berth.aws("ecs", "delete-cluster", "--cluster", name)["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert cluster_arn(name) not in berth.aws("ecs", "list-clusters")["clusterArns"]
    [gone] = berth.aws("ecs", "describe-clusters", "--clusters", name)["clusters"]
    assert gone["status"] == "INACTIVE"

    with pytest.raises(AwsCliError) as err:
        berth.aws("ecs", "delete-cluster", "--cluster", name)
    assert err.value.code == "ClusterNotFoundException"


def test_cli_task_definition_from_file(berth, tmp_path):
    family = unique("cli-web")
    path = tmp_path / "taskdef.json"
    path.write_text(json.dumps(web_app(family), indent=2))

    first = berth.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")
    check_web_app(first["taskDefinition"], family, 1)
    assert first["tags"] == web_app(family)["tags"]

    second = berth.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")
    check_web_app(second["taskDefinition"], family, 2)

    latest = berth.aws("ecs", "describe-task-definition", "--task-definition", family)
    check_web_app(latest["taskDefinition"], family, 2)
    assert not latest.get("tags")

    one = berth.aws("ecs", "describe-task-definition", "--task-definition", f"{family}:1", "--include", "TAGS")
    check_web_app(one["taskDefinition"], family, 1)
    assert one["tags"] == web_app(family)["tags"]

    by_arn = berth.aws("ecs", "describe-task-definition", "--task-definition", td_arn(family, 2))
    assert by_arn["taskDefinition"]["revision"] == 2

    listed = berth.aws("ecs", "list-task-definitions", "--family-prefix", family)
    assert listed["taskDefinitionArns"] == [td_arn(family, 1), td_arn(family, 2)]
    desc = berth.aws("ecs", "list-task-definitions", "--family-prefix", family, "--sort", "DESC")
    assert desc["taskDefinitionArns"] == [td_arn(family, 2), td_arn(family, 1)]


def test_cli_reports_client_errors(berth, tmp_path):
    family = unique("cli-bad")
    td = web_app(family)
    td["networkMode"] = "bridge"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(td))
    with pytest.raises(AwsCliError) as err:
        berth.aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")
    assert err.value.code == "ClientException", err.value.stderr
    assert "awsvpc" in err.value.message
    assert "RegisterTaskDefinition" in err.value.stderr
    assert berth.aws("ecs", "list-task-definitions", "--family-prefix", family)["taskDefinitionArns"] == []


# ---------------------------------------------------------------- boto3


def test_boto3_cluster_lifecycle(berth):
    ecs = berth.client("ecs")
    name = unique("boto-cluster")
    tags = [{"key": "env", "value": "test"}, {"key": "cost-center", "value": "42"}]
    settings = [{"name": "containerInsights", "value": "enabled"}]
    created = ecs.create_cluster(clusterName=name, tags=tags, settings=settings)
    has_request_id(created)
    assert created["cluster"]["clusterArn"] == cluster_arn(name)
    assert created["cluster"]["status"] == "ACTIVE"

    listed = ecs.list_clusters()
    has_request_id(listed)
    assert cluster_arn(name) in all_cluster_arns(ecs)

    described = ecs.describe_clusters(clusters=[name], include=["TAGS", "SETTINGS"])
    has_request_id(described)
    assert described["failures"] == []
    [c] = described["clusters"]
    assert c["clusterName"] == name
    assert sorted(c["tags"], key=lambda t: t["key"]) == sorted(tags, key=lambda t: t["key"])
    assert c["settings"] == settings

    # Creating an ACTIVE cluster again returns it unchanged.
    again = ecs.create_cluster(clusterName=name)
    assert again["cluster"]["clusterArn"] == cluster_arn(name)

    deleted = ecs.delete_cluster(cluster=cluster_arn(name))
    has_request_id(deleted)
    assert deleted["cluster"]["status"] == "INACTIVE"
    assert cluster_arn(name) not in all_cluster_arns(ecs)

    with pytest.raises(ClientError) as err:
        ecs.delete_cluster(cluster=name)
    assert err.value.response["Error"]["Code"] == "ClusterNotFoundException"
    has_request_id(err.value.response)


def test_boto3_task_definitions(berth):
    ecs = berth.client("ecs")
    family = unique("boto-web")
    for revision in (1, 2, 3):
        out = ecs.register_task_definition(**web_app(family))
        has_request_id(out)
        check_web_app(out["taskDefinition"], family, revision)
        assert out["tags"] == web_app(family)["tags"]

    latest = ecs.describe_task_definition(taskDefinition=family)
    has_request_id(latest)
    check_web_app(latest["taskDefinition"], family, 3)
    second = ecs.describe_task_definition(taskDefinition=f"{family}:2", include=["TAGS"])
    check_web_app(second["taskDefinition"], family, 2)
    assert second["tags"] == web_app(family)["tags"]

    assert all_td_arns(ecs, family) == [td_arn(family, r) for r in (1, 2, 3)]
    page = ecs.list_task_definitions(familyPrefix=family, maxResults=2)
    has_request_id(page)
    assert page["taskDefinitionArns"] == [td_arn(family, 1), td_arn(family, 2)]
    rest = ecs.list_task_definitions(familyPrefix=family, maxResults=2, nextToken=page["nextToken"])
    assert rest["taskDefinitionArns"] == [td_arn(family, 3)]
    assert "nextToken" not in rest

    with pytest.raises(ClientError) as err:
        ecs.describe_task_definition(taskDefinition=f"{family}:4")
    assert err.value.response["Error"]["Code"] == "ClientException"
    has_request_id(err.value.response)


def eleven_containers(td: dict) -> None:
    td["containerDefinitions"] = [
        {"name": f"c{i}", "image": "busybox:1.36", "memoryReservation": 32} for i in range(11)
    ]


def fargate_bridge(td: dict) -> None:
    td["networkMode"] = "bridge"


def fargate_cpu_999(td: dict) -> None:
    td["cpu"] = "999"


def duplicate_names(td: dict) -> None:
    td["containerDefinitions"][1]["name"] = "web"
    td["containerDefinitions"][1].pop("dependsOn")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (eleven_containers, r"^Too many containers\."),
        (fargate_bridge, r"^Fargate only supports network mode .awsvpc.\.$"),
        (fargate_cpu_999, r"^No Fargate configuration exists for given values: 999 CPU, 1024 memory\."),
        (duplicate_names, r"^Container names must be unique within a Task Definition\.$"),
    ],
    ids=["11-containers", "fargate-without-awsvpc", "fargate-cpu-999", "duplicate-container-names"],
)
def test_invalid_task_definition_is_rejected_and_not_stored(berth, mutate, message):
    ecs = berth.client("ecs")
    family = unique("bad-td")
    td = copy.deepcopy(web_app(family))
    mutate(td)
    with pytest.raises(ClientError) as err:
        ecs.register_task_definition(**td)
    error = err.value.response["Error"]
    assert error["Code"] == "ClientException", error
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert re.search(message, error["Message"]), error["Message"]
    has_request_id(err.value.response)
    assert all_td_arns(ecs, family) == []
    families = ecs.list_task_definition_families(familyPrefix=family)["families"]
    assert families == []
    # The family is still free: a valid definition gets revision 1.
    ok = ecs.register_task_definition(**web_app(family))
    assert ok["taskDefinition"]["revision"] == 1


# ---------------------------------------------------------------- authentication and protocol errors


LIST_CLUSTERS = f"{ECS_TARGET}.ListClusters"


def client_error(call) -> dict:
    with pytest.raises(ClientError) as err:
        call()
    has_request_id(err.value.response)
    return err.value.response


def test_wrong_secret_is_invalid_signature(berth):
    ecs = berth.client("ecs", secret_key="not-the-secret")
    resp = client_error(ecs.list_clusters)
    assert resp["Error"]["Code"] == "InvalidSignatureException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature" in resp["Error"]["Message"].lower()


def test_unknown_access_key_is_unrecognized_client(berth):
    ecs = berth.client("ecs", access_key="AKIAIOSFODNN7NOTKNOWN")
    resp = client_error(ecs.list_clusters)
    assert resp["Error"]["Code"] == "UnrecognizedClientException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_signed_request_helper_is_accepted(berth):
    """The raw signer the next tests use produces requests Berth accepts."""
    resp = berth.signed_request(LIST_CLUSTERS, "{}")
    assert resp.status == 200, resp.text
    assert "clusterArns" in resp.json
    assert resp.request_id


@pytest.mark.parametrize(
    "skew, message",
    [
        (datetime.timedelta(minutes=-20), "Signature expired"),
        (datetime.timedelta(minutes=20), "Signature not yet current"),
    ],
    ids=["20-minutes-old", "20-minutes-ahead"],
)
def test_request_time_outside_window_is_rejected(berth, skew, message):
    at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + skew
    resp = berth.signed_request(LIST_CLUSTERS, "{}", at=at)
    assert resp.status == 403, resp.text
    assert resp.code == "InvalidSignatureException", resp.text
    assert message in resp.message
    assert resp.request_id


def test_unsigned_request_is_missing_authentication_token(berth):
    resp = berth.unsigned_request(LIST_CLUSTERS, "{}")
    assert resp.status == 403, resp.text
    assert resp.code == "MissingAuthenticationTokenException", resp.text
    assert resp.request_id


def test_unknown_operation(berth):
    resp = berth.signed_request(f"{ECS_TARGET}.NoSuchOp", "{}")
    assert resp.status == 400, resp.text
    assert resp.code == "UnknownOperationException", resp.text
    assert resp.request_id


@pytest.mark.parametrize("body", ["this is not json", "{\"clusterName\": ", "[1, 2, 3]"], ids=["text", "truncated", "array"])
def test_non_json_body_is_serialization_error(berth, body):
    resp = berth.signed_request(f"{ECS_TARGET}.CreateCluster", body)
    assert resp.status == 400, resp.text
    assert resp.code == "SerializationException", resp.text
    assert resp.request_id


# ---------------------------------------------------------------- durability


def test_200_registrations_survive_kill_9(fresh_berth):
    ecs = fresh_berth.client("ecs")
    family = unique("durable")
    td = web_app(family)

    def register(_):
        return ecs.register_task_definition(**td)["taskDefinition"]["revision"]

    # Concurrent writers: the store must hand out every revision exactly once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        revisions = list(pool.map(register, range(200)))
    assert sorted(revisions) == list(range(1, 201))

    assert fresh_berth.restart(kill9=True) == -9
    assert fresh_berth.proc.poll() is None

    ecs = fresh_berth.client("ecs")
    assert all_td_arns(ecs, family) == [td_arn(family, r) for r in range(1, 201)]
    check_web_app(ecs.describe_task_definition(taskDefinition=family)["taskDefinition"], family, 200)
    check_web_app(ecs.describe_task_definition(taskDefinition=f"{family}:137")["taskDefinition"], family, 137)
    # Numbering goes on from where it was.
    assert ecs.register_task_definition(**td)["taskDefinition"]["revision"] == 201


def test_sigterm_shuts_down_cleanly_and_keeps_data(fresh_berth):
    ecs = fresh_berth.client("ecs")
    name = unique("term-cluster")
    family = unique("term-web")
    ecs.create_cluster(clusterName=name, tags=[{"key": "k", "value": "v"}])
    ecs.register_task_definition(**web_app(family))

    code = fresh_berth.restart(kill9=False)
    assert code == 0, fresh_berth.log_tail()

    ecs = fresh_berth.client("ecs")
    [c] = ecs.describe_clusters(clusters=[name], include=["TAGS"])["clusters"]
    assert c["status"] == "ACTIVE"
    assert c["tags"] == [{"key": "k", "value": "v"}]
    check_web_app(ecs.describe_task_definition(taskDefinition=family)["taskDefinition"], family, 1)


def test_up_without_docker_keeps_serving(tmp_path):
    """`berth up` on a machine without Docker: the local agent is disabled, the API works."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = Berth(
        data_dir=data_dir,
        log_path=tmp_path / "berth.log",
        extra_env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker-here.sock"},
    ).start()
    try:
        ecs = server.client("ecs")
        name = unique("no-docker")
        ecs.create_cluster(clusterName=name)
        assert cluster_arn(name) in all_cluster_arns(ecs)
        # The agent reports why it is off (it gives up at start, so this is bounded).
        deadline = time.monotonic() + 30
        while "Docker is not reachable" not in server.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"no word about Docker in the log:\n{server.log_tail()}"
            assert server.proc.poll() is None, server.log_tail()
            try:
                server.proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        assert server.proc.poll() is None
    finally:
        code = server.stop()
    assert code == 0, server.log_tail()
