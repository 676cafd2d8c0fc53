"""The IAM boundary (issue 12): AWS managed policies exist and do what AWS
says they do, IAM/STS secrets never lie on disk in clear, and IAM actions
are authorized on their real resources.

- `aws iam attach-role-policy` of `service-role/AmazonECSTaskExecutionRolePolicy`
  works; get-policy / get-policy-version show AWS's document; list-policies
  --scope AWS lists the built-in policies; delete-policy on one is refused
  (AccessDenied) even for root.
- A user with AmazonEC2ContainerRegistryReadOnly describes repositories and
  `docker pull`s, but `docker push` and the ECR push API are refused.
- A user with ReadOnlyAccess lists clusters but cannot create one; a user
  with AdministratorAccess creates IAM users.
- After a user's access key, an AssumeRole session and a GetSessionToken
  session exist and the server stops, no file under the data dir holds any of
  their secrets (or session tokens); after a restart they all authenticate.
- An IAM policy scoped to a user path (`user/team/*`) covers that path only.
- A task whose execution role has AmazonECSTaskExecutionRolePolicy (plus the
  secrets policy AWS documents) pulls its image from the Berth registry and
  gets its SecureString; with a role without it, the task stops with the
  registry-auth refusal.

Docker images are tagged `berth-e2e-registry-*` / `127.0.0.1:<port>/…` and
removed at the end; docker logins use temporary DOCKER_CONFIG dirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

from berthtest import ACCOUNT, REGION, AwsCliError, aws_cli, isolate_aws_environment, unique
from test_registry import Docker, registry, wait_for_task  # noqa: F401  (the fixture is used by name)

EXEC_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
ECR_READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
BUILT_IN = {
    "AdministratorAccess",
    "AmazonEC2ContainerRegistryFullAccess",
    "AmazonEC2ContainerRegistryPowerUser",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEC2ContainerServiceforEC2Role",
    "AmazonECSTaskExecutionRolePolicy",
    "AmazonECS_FullAccess",
    "AmazonSSMReadOnlyAccess",
    "CloudWatchLogsFullAccess",
    "ReadOnlyAccess",
    "SecretsManagerReadWrite",
}
TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def user_with(berth, policy_arn: str | None = None, path: str = "/"):
    """A user (with `policy_arn` attached) and an access key, made by root; returns (name, key)."""
    iam = berth.client("iam")
    name = unique("boundary")
    iam.create_user(UserName=name, Path=path)
    if policy_arn:
        iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def client_for(berth, key: dict, service: str, token: str | None = None):
    session = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        aws_session_token=token,
        region_name=REGION,
    )
    cfg = botocore.config.Config(retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=berth.endpoint, config=cfg)


def refused(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    assert e["Code"] in ("AccessDenied", "AccessDeniedException"), e
    return e


# ---- AWS managed policies through the aws CLI ----


def test_the_task_execution_role_policy_attaches_and_is_read_only(berth):
    role = unique("exec-role")
    berth.aws("iam", "create-role", "--role-name", role, "--assume-role-policy-document", json.dumps(TASKS_TRUST))
    berth.aws("iam", "attach-role-policy", "--role-name", role, "--policy-arn", EXEC_POLICY)
    attached = berth.aws("iam", "list-attached-role-policies", "--role-name", role)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": EXEC_POLICY}]

    policy = berth.aws("iam", "get-policy", "--policy-arn", EXEC_POLICY)["Policy"]
    assert policy["Path"] == "/service-role/"
    assert policy["Arn"] == EXEC_POLICY
    assert policy["AttachmentCount"] >= 1
    version = berth.aws("iam", "get-policy-version", "--policy-arn", EXEC_POLICY, "--version-id", policy["DefaultVersionId"])
    doc = version["PolicyVersion"]["Document"]
    if isinstance(doc, str):
        doc = json.loads(urllib.parse.unquote(doc))
    assert doc["Statement"][0]["Action"] == [
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]

    listed = berth.aws("iam", "list-policies", "--scope", "AWS")["Policies"]
    assert {p["PolicyName"] for p in listed} >= BUILT_IN
    assert all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in listed)
    local = berth.aws("iam", "list-policies", "--scope", "Local")["Policies"]
    assert not [p for p in local if p["Arn"].startswith("arn:aws:iam::aws:policy/")]

    entities = berth.aws("iam", "list-entities-for-policy", "--policy-arn", EXEC_POLICY)
    assert role in [r["RoleName"] for r in entities["PolicyRoles"]]

    with pytest.raises(AwsCliError) as err:
        berth.aws("iam", "delete-policy", "--policy-arn", EXEC_POLICY)
    assert err.value.code == "AccessDenied", err.value
    with pytest.raises(AwsCliError) as err:
        berth.aws(
            "iam",
            "create-policy-version",
            "--policy-arn",
            ADMIN,
            "--policy-document",
            json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}),
        )
    assert err.value.code == "AccessDenied", err.value
    # Still there, still attachable.
    assert berth.aws("iam", "get-policy", "--policy-arn", EXEC_POLICY)["Policy"]["DefaultVersionId"] == "v1"
    berth.aws("iam", "detach-role-policy", "--role-name", role, "--policy-arn", EXEC_POLICY)


def test_read_only_access_lists_clusters_but_cannot_create_one(berth):
    cluster = unique("ro-cluster")
    berth.client("ecs").create_cluster(clusterName=cluster)
    _, key = user_with(berth, READ_ONLY)
    ecs = client_for(berth, key, "ecs")
    assert any(a.endswith(f"/{cluster}") for a in ecs.list_clusters()["clusterArns"])
    e = refused(ecs.create_cluster, clusterName=unique("nope"))
    assert "ecs:CreateCluster" in e["Message"]
    # Read-only in IAM too: it may list users but not create one.
    iam = client_for(berth, key, "iam")
    iam.list_users()
    e = refused(iam.create_user, UserName=unique("nope"))
    assert "iam:CreateUser" in e["Message"] and "because no identity-based policy allows" in e["Message"]


def test_administrator_access_creates_iam_users(berth):
    _, key = user_with(berth, ADMIN)
    iam = client_for(berth, key, "iam")
    name = unique("made-by-admin")
    assert iam.create_user(UserName=name)["User"]["UserName"] == name
    # An administrator still cannot change an AWS managed policy.
    refused(iam.delete_policy, PolicyArn=READ_ONLY)


def test_iam_actions_are_authorized_on_the_user_path(berth):
    """A policy on `user/team/*` covers the users under /team/ and no other."""
    iam_root = berth.client("iam")
    inside, outside = unique("team-member"), unique("outsider")
    iam_root.create_user(UserName=inside, Path="/team/")
    iam_root.create_user(UserName=outside)
    name = unique("team-admin")
    iam_root.create_user(UserName=name)
    iam_root.put_user_policy(
        UserName=name,
        PolicyName="team",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::{ACCOUNT}:user/team/*"}
                ],
            }
        ),
    )
    key = iam_root.create_access_key(UserName=name)["AccessKey"]
    iam = client_for(berth, key, "iam")
    assert iam.get_user(UserName=inside)["User"]["Path"] == "/team/"
    e = refused(iam.get_user, UserName=outside)
    assert f"arn:aws:iam::{ACCOUNT}:user/{outside}" in e["Message"]


# ---- the registry with AmazonEC2ContainerRegistryReadOnly ----


def docker_login(berth, key: dict, config: Path) -> None:
    """`aws ecr get-login-password | docker login` with `key`'s credentials."""
    host = urllib.parse.urlparse(berth.endpoint).netloc
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"], DOCKER_CONFIG=str(config))
    login = subprocess.run(
        f"'{aws_cli()}' --endpoint-url {berth.endpoint} ecr get-login-password"
        f" | docker login --username AWS --password-stdin {host}",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert login.returncode == 0, login.stderr


def test_registry_read_only_pulls_but_cannot_push(berth, tmp_path):
    host = urllib.parse.urlparse(berth.endpoint).netloc
    repo = f"e2e/{unique('ro-repo')}"
    berth.client("ecr").create_repository(repositoryName=repo)
    root_docker = Docker(tmp_path / "root-docker")
    user_docker = Docker(tmp_path / "user-docker")
    try:
        root_key = {"AccessKeyId": os.environ["AWS_ACCESS_KEY_ID"], "SecretAccessKey": os.environ["AWS_SECRET_ACCESS_KEY"]}
        docker_login(berth, root_key, tmp_path / "root-docker")
        local = f"berth-e2e-registry-{unique('ro')}:v1"
        root_docker.build(local, unique("marker"))
        ref = f"{host}/{repo}:v1"
        root_docker.tag(local, ref)
        root_docker.push(ref)
        root_docker.rmi(ref, local)

        _, key = user_with(berth, ECR_READ_ONLY)
        ecr = client_for(berth, key, "ecr")
        names = [r["repositoryName"] for r in ecr.describe_repositories(repositoryNames=[repo])["repositories"]]
        assert names == [repo]
        assert ecr.list_images(repositoryName=repo)["imageIds"][0]["imageTag"] == "v1"

        docker_login(berth, key, tmp_path / "user-docker")
        user_docker.images.add(ref)
        user_docker("pull", ref)
        pushed = f"{host}/{repo}:v2"
        user_docker.tag(ref, pushed)
        push = user_docker.push(pushed, check=False)
        assert push.returncode != 0, push.stdout
        assert "denied" in (push.stdout + push.stderr).lower(), push.stdout + push.stderr
        e = refused(ecr.initiate_layer_upload, repositoryName=repo)
        assert "ecr:InitiateLayerUpload" in e["Message"] and f"repository/{repo}" in e["Message"]
        refused(ecr.delete_repository, repositoryName=repo, force=True)
        assert [i.get("imageTag") for i in berth.client("ecr").list_images(repositoryName=repo)["imageIds"]] == ["v1"]
    finally:
        user_docker.cleanup()
        root_docker.cleanup()


def test_a_task_pulls_with_an_execution_role_holding_only_the_managed_policy(berth, registry):
    docker, host = registry["docker"], registry["host"]
    iam, ecs = berth.client("iam"), berth.client("ecs")
    repo = f"e2e/{unique('exec-pull')}"
    berth.client("ecr").create_repository(repositoryName=repo)
    local = f"berth-e2e-registry-{unique('exec')}:src"
    docker.build(local, unique("exec"))
    image = f"{host}/{repo}:1"
    docker.tag(local, image)
    docker.push(image)
    docker.rmi(image, local)
    assert not docker.exists(image)

    allowed, bare = unique("exec-managed"), unique("exec-bare")
    for role in (allowed, bare):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TASKS_TRUST))
    iam.attach_role_policy(RoleName=allowed, PolicyArn=EXEC_POLICY)
    # Secrets as AWS's "Required IAM permissions for Amazon ECS secrets"
    # grants them, beside the managed policy (which has no secrets actions).
    secret_value = unique("s3cr3t")
    parameter = f"/e2e/{unique('exec-secret')}"
    berth.client("ssm").put_parameter(Name=parameter, Value=secret_value, Type="SecureString")
    parameter_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{parameter}"
    iam.put_role_policy(
        RoleName=allowed,
        PolicyName="secrets",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ssm:GetParameters", "secretsmanager:GetSecretValue", "kms:Decrypt"],
                        "Resource": [parameter_arn],
                    }
                ],
            }
        ),
    )
    container = {
        "name": "app",
        "image": image,
        "memory": 32,
        "essential": True,
        "command": ["sleep", "300"],
        "stopTimeout": 2,
        "dockerLabels": {"berth.e2e": "registry"},
    }
    arns = []
    try:
        with_secret = dict(container, secrets=[{"name": "DB_PASSWORD", "valueFrom": parameter_arn}])
        for role, definition in ((allowed, with_secret), (bare, container)):
            ecs.register_task_definition(
                family=role,
                containerDefinitions=[definition],
                executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
            )
        ok = ecs.run_task(cluster="default", taskDefinition=allowed)["tasks"][0]["taskArn"]
        arns.append(ok)
        wait_for_task(ecs, "default", ok, "RUNNING", timeout=90)
        assert docker.exists(image), "the agent pulled the image with the execution role"
        docker.images.add(image)
        ids = docker("ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={ok}").stdout.split()
        assert len(ids) == 1, ids
        env = json.loads(docker("inspect", "--format", "{{json .Config.Env}}", ids[0]).stdout)
        assert f"DB_PASSWORD={secret_value}" in env, "the SecureString was injected with the execution role"

        no = ecs.run_task(cluster="default", taskDefinition=bare)["tasks"][0]["taskArn"]
        arns.append(no)
        with pytest.raises(AssertionError, match="the task stopped") as stopped:
            wait_for_task(ecs, "default", no, "RUNNING", timeout=90)
        assert "unable to retrieve ecr registry auth" in str(stopped.value), stopped.value
        assert "ecr:GetAuthorizationToken" in str(stopped.value), stopped.value
    finally:
        for arn in arns:
            ecs.stop_task(cluster="default", task=arn, reason="e2e cleanup")
        for arn in arns:
            try:
                wait_for_task(ecs, "default", arn, "STOPPED", timeout=60)
            except AssertionError:
                pass
            ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}").stdout.split()
            if ids:
                docker("rm", "--force", *ids, check=False)


# ---- secrets at rest ----


def files_holding(root: Path, secrets: list[str]) -> list[str]:
    """What `grep -a -r` finds: every file under `root` holding one of `secrets`, and which."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s[:8]}…" for s in secrets if s.encode() in data]
    return found


def test_iam_and_sts_secrets_are_not_on_disk_and_survive_a_restart(fresh_berth):
    berth = fresh_berth
    name, key = user_with(berth)
    iam = berth.client("iam")
    role = unique("assumable")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_user_policy(
        UserName=name,
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
        ),
    )
    sts = client_for(berth, key, "sts")
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
    session = sts.get_session_token(DurationSeconds=900)["Credentials"]
    secrets = [
        key["SecretAccessKey"],
        assumed["SecretAccessKey"],
        assumed["SessionToken"],
        session["SecretAccessKey"],
        session["SessionToken"],
    ]
    assert berth.stop() == 0
    assert files_holding(berth.data_dir, secrets) == []
    # The `grep -a` of the issue, for the record.
    for s in secrets:
        g = subprocess.run(["grep", "-r", "-a", "-l", "-F", s, str(berth.data_dir)], capture_output=True, text=True)
        assert g.returncode == 1 and g.stdout == "", g.stdout

    berth.start()
    user = client_for(berth, key, "sts").get_caller_identity()
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    as_role = client_for(
        berth, {"AccessKeyId": assumed["AccessKeyId"], "SecretAccessKey": assumed["SecretAccessKey"]}, "sts", assumed["SessionToken"]
    ).get_caller_identity()
    assert as_role["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/s1"
    as_session = client_for(
        berth, {"AccessKeyId": session["AccessKeyId"], "SecretAccessKey": session["SecretAccessKey"]}, "sts", session["SessionToken"]
    ).get_caller_identity()
    assert as_session["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    # A wrong secret for the same key id still fails after the restart.
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client_for(berth, {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": "x" * 40}, "sts").get_caller_identity()
    assert err.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidSignatureException")
