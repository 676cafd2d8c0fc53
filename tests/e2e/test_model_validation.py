"""Input validation from the AWS models (issue 13), through boto3 with its own
checks off and the aws CLI v1: the server answers AWS's code and message for a
value the model refuses, and drops a member the model does not know instead of
storing and echoing it.

ECS answers `InvalidParameterException` in the generic AWS form ("1 validation
error detected: ..."), ECR `InvalidParameterException` in its own ("Invalid
parameter at ... failed to satisfy constraint: '...'"), and both a JSON value
of the wrong type (or an integer too large for its type) `SerializationException`
(docs/compatibility.md, "Input validation").
"""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from berthtest import ECS_TARGET, AwsCliError, unique

LAUNCH_TYPES = "[EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]"
MUTABILITY = "[MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]"


def unchecked(berth, service: str):
    """A boto3 client that sends what it is given (no client-side validation)."""
    return berth.client(service, parameter_validation=False)


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, err.value.response
    return e["Code"], e["Message"]


def cli_error(berth, *args) -> tuple[str, str]:
    with pytest.raises(AwsCliError) as err:
        berth.aws(*args)
    found = re.search(r"when calling the \w+ operation(?: \(reached max retries: \d+\))?: (.*)", err.value.stderr)
    assert found, err.value.stderr
    return err.value.code, found.group(1).strip()


def test_desired_count_beyond_an_integer_is_a_serialization_error(berth):
    ecs = unchecked(berth, "ecs")
    code, message = error_of(
        ecs.create_service, cluster="default", serviceName=unique("big"), taskDefinition="nope:1", desiredCount=2**31
    )
    assert (code, message) == ("SerializationException", "NUMBER_VALUE can not be converted to an Integer")
    code, message = cli_error(
        berth, "ecs", "create-service", "--service-name", unique("big"), "--task-definition", "nope:1",
        "--desired-count", str(2**31),
    )
    assert (code, message) == ("SerializationException", "NUMBER_VALUE can not be converted to an Integer")
    # A string where a number belongs, likewise.
    code, message = error_of(ecs.create_service, serviceName=unique("big"), desiredCount="two")
    assert (code, message) == ("SerializationException", "STRING_VALUE can not be converted to an Integer")


def test_run_task_with_an_unknown_launch_type(berth):
    expected = (
        "InvalidParameterException",
        "1 validation error detected: Value 'FOO' at 'launchType' failed to satisfy constraint: "
        f"Member must satisfy enum value set: {LAUNCH_TYPES}",
    )
    assert error_of(unchecked(berth, "ecs").run_task, taskDefinition="nope:1", launchType="FOO") == expected
    assert cli_error(berth, "ecs", "run-task", "--task-definition", "nope:1", "--launch-type", "FOO") == expected


def test_register_task_definition_without_family_is_ecs_own_refusal(berth):
    # ECS answers a missing family with its own words, not the generic form.
    code, message = error_of(
        unchecked(berth, "ecs").register_task_definition,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}],
    )
    assert (code, message) == ("ClientException", "Family can not be blank.")


def test_several_violations_are_listed_together(berth):
    code, message = error_of(unchecked(berth, "ecs").list_tasks, launchType="FOO", desiredStatus="DONE")
    assert code == "InvalidParameterException"
    assert message == (
        "2 validation errors detected: Value 'DONE' at 'desiredStatus' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RUNNING, PENDING, STOPPED]; Value 'FOO' at 'launchType' failed to "
        f"satisfy constraint: Member must satisfy enum value set: {LAUNCH_TYPES}"
    )


def test_unknown_members_are_neither_stored_nor_echoed(berth):
    # boto3 cannot send a member its model lacks: the body is sent as written.
    family = unique("memroy")
    body = {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32, "memroy": 128}],
        "memroy": 128,
    }
    resp = berth.signed_request(f"{ECS_TARGET}.RegisterTaskDefinition", json.dumps(body))
    assert resp.status == 200, resp.text
    registered = resp.json["taskDefinition"]
    assert "memroy" not in registered
    assert "memroy" not in registered["containerDefinitions"][0]
    described = berth.client("ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]
    assert "memroy" not in described
    assert "memroy" not in described["containerDefinitions"][0]
    assert described["containerDefinitions"][0]["memory"] == 32
    cli = berth.aws("ecs", "describe-task-definition", "--task-definition", family)["taskDefinition"]
    assert "memroy" not in cli and "memroy" not in cli["containerDefinitions"][0]


def test_ecr_put_image_tag_mutability_with_an_unknown_value(berth):
    ecr = unchecked(berth, "ecr")
    name = unique("mut")
    ecr.create_repository(repositoryName=name)
    expected = (
        "InvalidParameterException",
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: "
        f"'Member must satisfy enum value set: {MUTABILITY}'",
    )
    assert error_of(ecr.put_image_tag_mutability, repositoryName=name, imageTagMutability="SOMETIMES") == expected
    assert cli_error(
        berth, "ecr", "put-image-tag-mutability", "--repository-name", name, "--image-tag-mutability", "SOMETIMES"
    ) == expected
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"


def test_ecr_describe_images_max_results_above_the_model_range(berth):
    ecr = unchecked(berth, "ecr")
    name = unique("max")
    ecr.create_repository(repositoryName=name)
    expected = (
        "InvalidParameterException",
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'",
    )
    assert error_of(ecr.describe_images, repositoryName=name, maxResults=5000) == expected
    assert cli_error(berth, "ecr", "describe-images", "--repository-name", name, "--page-size", "5000") == expected
    # Within the range it is answered.
    assert ecr.describe_images(repositoryName=name, maxResults=1000)["imageDetails"] == []
