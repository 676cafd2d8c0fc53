"""Validation a newcomer meets in the first hour (issue 14), through boto3 and
the aws CLI v1 against the shared `berth up`:

- an awsvpc task definition needs a network configuration (with subnets) in
  RunTask, StartTask and CreateService, and other network modes take none;
- `enableExecuteCommand: true` is refused until ECS Exec exists, instead of
  being stored silently (ECR `scanOnPush: true` is honoured: see
  test_ecr_scanning.py);
- KMS encryption of ECR repositories is refused with a message that is true;
- a container without a health check reports `healthStatus: UNKNOWN`, as
  ECS does (the one check here that runs a real task, on the local agent).

The refusals happen before placement: those checks need no container.
"""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from berthtest import AwsCliError, default_subnet, unique
from test_tasks import describe, docker, image, poll, wait_status  # noqa: F401  (image is a fixture)

NEEDS_NETWORK = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
NETWORK_NOT_VALID = "Network Configuration is not valid for the given networkMode of this task definition."
SUBNETS_EMPTY = "subnets can not be empty."
EXEC_REFUSED = (
    "enableExecuteCommand is not supported by Berth yet (ECS Exec is not implemented); omit it or set it to false."
)
KMS_DSSE_REFUSED = (
    "encryptionType KMS_DSSE (dual-layer encryption) is not supported by Berth: it encrypts blobs "
    "once, under the KMS key; use KMS."
)
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}
RUN_DEADLINE = 90.0
STOP_DEADLINE = 60.0


def refused(call, **kwargs) -> str:
    """Calls a boto3 operation that must fail with InvalidParameterException; returns the message."""
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    error = err.value.response["Error"]
    assert error["Code"] == "InvalidParameterException", err.value.response
    return error["Message"]


def cli_refused(berth, *args) -> str:
    """Runs an aws CLI command that must fail with InvalidParameterException; returns the message
    from its stderr ("An error occurred (Code) when calling the Op operation[ (reached max
    retries: N)]: message")."""
    with pytest.raises(AwsCliError) as err:
        berth.aws(*args)
    assert err.value.code == "InvalidParameterException", err.value.stderr
    found = re.search(r"when calling the \w+ operation(?: \(reached max retries: \d+\))?: (.*)", err.value.stderr)
    assert found, err.value.stderr
    return found.group(1).strip()


def task_definition(ecs, family: str, **extra) -> str:
    out = ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}], **extra
    )
    return out["taskDefinition"]["taskDefinitionArn"]


@pytest.fixture
def cluster(berth):
    """A cluster of its own, with no container instance: nothing can be placed on it."""
    ecs = berth.client("ecs")
    name = unique("validation")
    ecs.create_cluster(clusterName=name)
    yield name
    for arn in ecs.list_services(cluster=name).get("serviceArns", []):
        ecs.delete_service(cluster=name, service=arn, force=True)


# StartTask names its container instances; the refusals come before they are looked up.
NO_INSTANCE = "0" * 32


def test_awsvpc_needs_a_network_configuration_with_subnets(berth, cluster):
    ecs = berth.client("ecs")
    vpc = task_definition(ecs, unique("vpc"), networkMode="awsvpc")
    plain = task_definition(ecs, unique("plain"))
    start = {"cluster": cluster, "containerInstances": [NO_INSTANCE]}
    empty = {"awsvpcConfiguration": {"subnets": []}}

    for call, base in [(ecs.run_task, {"cluster": cluster}), (ecs.start_task, start)]:
        assert refused(call, taskDefinition=vpc, **base) == NEEDS_NETWORK
        assert refused(call, taskDefinition=vpc, networkConfiguration=empty, **base) == SUBNETS_EMPTY
        assert refused(call, taskDefinition=plain, networkConfiguration=SUBNETS, **base) == NETWORK_NOT_VALID
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []

    svc = {"cluster": cluster, "serviceName": unique("svc"), "desiredCount": 0}
    assert refused(ecs.create_service, taskDefinition=vpc, **svc) == NEEDS_NETWORK
    assert refused(ecs.create_service, taskDefinition=vpc, networkConfiguration=empty, **svc) == SUBNETS_EMPTY
    assert refused(ecs.create_service, taskDefinition=plain, networkConfiguration=SUBNETS, **svc) == NETWORK_NOT_VALID
    real = {"awsvpcConfiguration": {"subnets": [default_subnet(berth)]}}
    created = ecs.create_service(taskDefinition=vpc, networkConfiguration=real, **svc)["service"]
    assert created["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == real["awsvpcConfiguration"]["subnets"]

    # The aws CLI, as a person types it.
    assert cli_refused(berth, "ecs", "run-task", "--cluster", cluster, "--task-definition", vpc) == NEEDS_NETWORK
    message = cli_refused(
        berth, "ecs", "run-task", "--cluster", cluster, "--task-definition", plain,
        "--network-configuration", "awsvpcConfiguration={subnets=[subnet-12345678]}",
    )
    assert message == NETWORK_NOT_VALID


def test_enable_execute_command_is_refused_until_ecs_exec_exists(berth, cluster):
    ecs = berth.client("ecs")
    td = task_definition(ecs, unique("exec"))
    start = {"cluster": cluster, "containerInstances": [NO_INSTANCE]}
    assert refused(ecs.run_task, cluster=cluster, taskDefinition=td, enableExecuteCommand=True) == EXEC_REFUSED
    assert refused(ecs.start_task, taskDefinition=td, enableExecuteCommand=True, **start) == EXEC_REFUSED
    name = unique("svc")
    svc = {"cluster": cluster, "serviceName": name, "taskDefinition": td, "desiredCount": 0}
    assert refused(ecs.create_service, enableExecuteCommand=True, **svc) == EXEC_REFUSED
    missing = ecs.describe_services(cluster=cluster, services=[name])
    assert [f["reason"] for f in missing["failures"]] == ["MISSING"]

    # false is what Berth does: accepted.
    created = ecs.create_service(enableExecuteCommand=False, **svc)["service"]
    assert created["enableExecuteCommand"] is False
    assert refused(ecs.update_service, cluster=cluster, service=name, enableExecuteCommand=True) == EXEC_REFUSED
    updated = ecs.update_service(cluster=cluster, service=name, enableExecuteCommand=False)["service"]
    assert updated["enableExecuteCommand"] is False

    message = cli_refused(
        berth, "ecs", "run-task", "--cluster", cluster, "--task-definition", td, "--enable-execute-command"
    )
    assert message == EXEC_REFUSED
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []


def test_dual_layer_kms_is_refused_and_creates_nothing(berth):
    ecr = berth.client("ecr")
    name = unique("scanned")

    def absent():
        with pytest.raises(ClientError) as err:
            ecr.describe_repositories(repositoryNames=[name])
        assert err.value.response["Error"]["Code"] == "RepositoryNotFoundException"

    dsse = {"repositoryName": name, "encryptionConfiguration": {"encryptionType": "KMS_DSSE"}}
    assert refused(ecr.create_repository, **dsse) == KMS_DSSE_REFUSED
    absent()

    repo = ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": False})["repository"]
    try:
        assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
        described = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        assert described["imageScanningConfiguration"] == {"scanOnPush": False}
    finally:
        ecr.delete_repository(repositoryName=name, force=True)


def test_container_without_health_check_reports_unknown(berth, image):
    """A real task on the local agent of `berth up`: one container with a
    health check, one without; the one without stays UNKNOWN while RUNNING."""
    ecs = berth.client("ecs")
    family = unique("health")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {"name": "plain", "image": image, "memory": 32, "command": ["sleep", "300"], "stopTimeout": 2},
            {
                "name": "checked",
                "image": image,
                "memory": 32,
                "essential": False,
                "command": ["sleep", "300"],
                "stopTimeout": 2,
                "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 3},
            },
        ],
    )
    arn = ecs.run_task(cluster="default", taskDefinition=family)["tasks"][0]["taskArn"]
    try:
        (task,) = wait_status(ecs, "default", [arn], "RUNNING", RUN_DEADLINE)
        by_name = {c["name"]: c for c in task["containers"]}
        assert by_name["plain"]["healthStatus"] == "UNKNOWN", task
        # The only health check is on a non-essential container: the task's health is UNKNOWN.
        assert task["healthStatus"] == "UNKNOWN", task

        def checked_healthy():
            (t,) = describe(ecs, "default", [arn])
            return t if {c["name"]: c for c in t["containers"]}["checked"].get("healthStatus") == "HEALTHY" else None

        task = poll("the checked container HEALTHY", checked_healthy, RUN_DEADLINE)
        by_name = {c["name"]: c for c in task["containers"]}
        assert by_name["plain"]["healthStatus"] == "UNKNOWN", task
        assert task["healthStatus"] == "UNKNOWN", task

        cli = berth.aws("ecs", "describe-tasks", "--cluster", "default", "--tasks", arn)
        assert [c.get("healthStatus") for c in cli["tasks"][0]["containers"] if c["name"] == "plain"] == ["UNKNOWN"]
    finally:
        ecs.stop_task(cluster="default", task=arn, reason="e2e cleanup")
        wait_status(ecs, "default", [arn], "STOPPED", STOP_DEADLINE)
        ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}", check=False).split()
        if ids:
            docker("rm", "-f", *ids, check=False)
