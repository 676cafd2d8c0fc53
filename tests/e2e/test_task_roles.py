"""Task roles and execution roles (issue 6, items 4 and 5), end to end on the
real Docker daemon.

A container of a task with a task role runs the real boto3 (the host's
python and this repo's venv, bind-mounted read-only into the busybox test
image) with no static credentials: the SDK's container credentials provider
finds `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`,
reads the agent's credentials endpoint, and `sts get-caller-identity` answers
with the assumed-role ARN. A token opens only its own task's credentials; a
role whose trust policy does not allow `ecs-tasks.amazonaws.com` gives the
container none; an execution role that may not read an SSM parameter stops
its task with ResourceInitializationError.

It reuses the server/cluster/image fixtures of test_tasks.py (the tasks use
`networkMode: host`, whose containers reach the agent's loopback endpoint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import requests

from test_tasks import (  # noqa: F401  (fixtures are used by name)
    cluster,
    docker,
    docker_container,
    image,
    poll,
    register,
    server,
    wait_status,
)

from berthtest import ACCOUNT, REGION, unique

DEADLINE = 60.0
TRUST_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def host_python_volumes() -> tuple[list, list, str]:
    """Host volumes that let a busybox container run this test's python with
    boto3: the interpreter's installation, the venv, and the system
    libraries (each at the same path as on the host, read-only)."""
    paths = [Path("/usr"), Path("/lib"), Path("/lib64"), Path("/etc/ssl")]
    paths += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()]
    volumes, mounts, seen = [], [], set()
    for i, p in enumerate(paths):
        if not p.exists() or str(p) in seen:
            continue
        seen.add(str(p))
        volumes.append({"name": f"host{i}", "host": {"sourcePath": str(p)}})
        mounts.append({"sourceVolume": f"host{i}", "containerPath": str(p), "readOnly": True})
    python = str(Path(sys.prefix) / "bin" / "python")
    return volumes, mounts, python


def caller_identity_script(endpoint: str) -> str:
    """Prints the caller's ARN (or the SDK's error), then stays up so the
    task stays registered with the credentials endpoint."""
    return (
        "import boto3, os, sys, time\n"
        "assert not any(k in os.environ for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY')), 'static keys'\n"
        "try:\n"
        f"    sts = boto3.client('sts', endpoint_url={endpoint!r}, region_name={REGION!r})\n"
        "    print('ARN=' + sts.get_caller_identity()['Arn'], flush=True)\n"
        "except Exception as e:\n"
        "    print('ERROR=%s: %s' % (type(e).__name__, e), flush=True)\n"
        "time.sleep(3600)\n"
    )


BRIDGE_SCRIPT = (
    "import boto3, time\n"
    "try:\n"
    "    c = boto3.session.Session().get_credentials()\n"
    "    print('METHOD=%s KEY=%s' % (c.method, c.get_frozen_credentials().access_key), flush=True)\n"
    "except Exception as e:\n"
    "    print('ERROR=%s: %s' % (type(e).__name__, e), flush=True)\n"
    "time.sleep(3600)\n"
)


def container_env(task_arn: str) -> dict:
    c = docker_container(task_arn, "app")
    return dict(e.split("=", 1) for e in c["Config"]["Env"])


def container_output(task_arn: str) -> str:
    c = docker_container(task_arn, "app")
    return docker("logs", c["Id"])


def test_task_role_credentials_reach_the_sdk_and_are_bound_to_their_task(server, cluster, image):
    iam, ecs, ssm = server.client("iam"), server.client("ecs"), server.client("ssm")
    c = cluster("task-roles")
    c.add_agent()

    task_role = unique("task-role")
    iam.create_role(RoleName=task_role, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    untrusted_role = unique("lambda-role")
    iam.create_role(RoleName=untrusted_role, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    # An execution role that may not read parameters (no policy at all).
    exec_role = unique("exec-role")
    iam.create_role(RoleName=exec_role, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    # One that may.
    reader_role = unique("exec-reader")
    iam.create_role(RoleName=reader_role, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    read_params = {"Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameter*", "kms:Decrypt"], "Resource": "*"}]}
    iam.put_role_policy(RoleName=reader_role, PolicyName="read", PolicyDocument=json.dumps(read_params))
    param, pw = f"/{unique('task-roles')}/pw", os.urandom(8).hex()
    ssm.put_parameter(Name=param, Value=pw, Type="SecureString")
    arn = lambda name: f"arn:aws:iam::{ACCOUNT}:role/{name}"  # noqa: E731

    volumes, mounts, python = host_python_volumes()
    script = caller_identity_script(server.endpoint)
    app = {
        "name": "app",
        "image": image,
        "memory": 128,
        "essential": True,
        "entryPoint": [python, "-c", script],
        "mountPoints": mounts,
        "stopTimeout": 2,
    }
    family = unique("task-role")
    register(ecs, family, [app], networkMode="host", volumes=volumes, taskRoleArn=arn(task_role))
    untrusted = unique("untrusted-role")
    register(ecs, untrusted, [app], networkMode="host", volumes=volumes, taskRoleArn=arn(untrusted_role))
    secret = unique("exec-role")
    secret_app = {
        "name": "app",
        "image": image,
        "memory": 32,
        "essential": True,
        "command": ["echo", "never runs"],
        "secrets": [{"name": "PW", "valueFrom": param}],
    }
    register(ecs, secret, [secret_app], networkMode="host", executionRoleArn=arn(exec_role))
    readable = unique("exec-reader")
    reader_app = dict(secret_app, command=["sh", "-c", "echo PW=$PW"])
    register(ecs, readable, [reader_app], networkMode="host", executionRoleArn=arn(reader_role))

    # Bridge mode: the container cannot reach the host's loopback interface;
    # the agent listens inside its network namespace (it cannot reach the
    # server either, so it only resolves its credentials).
    bridge = unique("bridge-role")
    bridge_app = dict(app, entryPoint=[python, "-c", BRIDGE_SCRIPT])
    register(ecs, bridge, [bridge_app], networkMode="bridge", volumes=volumes, taskRoleArn=arn(task_role))

    run = lambda family: ecs.run_task(cluster=c.name, taskDefinition=family)["tasks"][0]["taskArn"]  # noqa: E731
    a, b, denied, br, read = run(family), run(untrusted), run(secret), run(bridge), run(readable)
    wait_status(ecs, c.name, [a, b, br], "RUNNING", DEADLINE)

    # The SDK inside task a found the credentials endpoint and assumed the role.
    task_id = a.rsplit("/", 1)[1]
    out = poll("task a's caller identity", lambda: "ARN=" in container_output(a) and container_output(a), DEADLINE)
    assert f"ARN=arn:aws:sts::{ACCOUNT}:assumed-role/{task_role}/{task_id}" in out, out
    env_a, env_b = container_env(a), container_env(b)
    assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in env_a
    uri_a, token_a = env_a["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env_a["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    uri_b, token_b = env_b["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env_b["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert uri_a.startswith("http://127.0.0.1:") and "/v2/credentials/" in uri_a
    assert uri_a != uri_b and token_a != token_b

    # A token is bound to its task: task a's id with task b's token is refused.
    r = requests.get(uri_a, headers={"Authorization": token_b}, timeout=10)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "AccessDenied"
    r = requests.get(uri_a, headers={"Authorization": ""}, timeout=10)
    assert r.status_code == 403, r.text
    r = requests.get(uri_a, headers={"Authorization": token_a}, timeout=10)
    assert r.status_code == 200, r.text
    creds = r.json()
    assert set(creds) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
    assert creds["RoleArn"] == arn(task_role) and creds["AccessKeyId"].startswith("ASIA")
    # They are real temporary credentials of the assumed role.
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["Token"],
        region_name=REGION,
    )
    sts = session.client("sts", endpoint_url=server.endpoint)
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{task_role}/{task_id}"

    # The bridge-mode container got the same credentials through the
    # listener in its own network namespace (the host listener serves the
    # same registrations).
    out_br = poll("the bridge task's credentials", lambda: "=" in container_output(br) and container_output(br), DEADLINE)
    env_br = container_env(br)
    r = requests.get(
        env_br["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": env_br["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert f"METHOD=container-role KEY={r.json()['AccessKeyId']}" in out_br, out_br

    # The role that does not trust ecs-tasks.amazonaws.com: the endpoint
    # answers an error, and the SDK in task b got no credentials.
    out_b = poll("task b's SDK error", lambda: "ERROR=" in container_output(b) and container_output(b), DEADLINE)
    assert "ARN=" not in out_b
    assert "trust policy does not allow ecs-tasks.amazonaws.com" in out_b, out_b
    r = requests.get(uri_b, headers={"Authorization": token_b}, timeout=10)
    assert r.status_code >= 400 and "trust policy does not allow ecs-tasks.amazonaws.com" in r.text, r.text

    # The execution role may not read the parameter: the task never starts.
    stopped = wait_status(ecs, c.name, [denied], "STOPPED", DEADLINE)[0]
    reason = stopped["stoppedReason"]
    assert reason.startswith("ResourceInitializationError: unable to pull secrets or registry auth: "), stopped
    assert "AccessDenied" in reason and exec_role in reason, reason
    # The execution role that may read it gets the secret into the container.
    stopped = wait_status(ecs, c.name, [read], "STOPPED", DEADLINE)[0]
    assert stopped["containers"][0].get("exitCode") == 0, stopped
    assert f"PW={pw}" in container_output(read)

    # A restarted agent adopts task a's container: the same port, id and
    # token keep answering.
    c.restart_agent(c.agents[0])

    refused: list[requests.ConnectionError] = []

    def served_again():
        # 404, or no listener yet, until the new agent has adopted the task:
        # `restart_agent` returns when the instance is connected again, which
        # may come before the new agent has bound the port.
        try:
            r = requests.get(uri_a, headers={"Authorization": token_a}, timeout=10)
        except requests.ConnectionError as e:
            refused[:] = [e]
            return None
        refused.clear()
        return r if r.status_code != 404 else None

    try:
        r = poll("the restarted agent to serve task a again", served_again, DEADLINE)
    except AssertionError as e:
        if refused:
            raise AssertionError(f"the restarted agent does not listen on the previous port: {refused[0]}") from e
        raise
    assert r.status_code == 200 and r.json()["RoleArn"] == arn(task_role), r.text
    # ... and listens inside the adopted bridge-mode container again.
    fetch = (
        "import os, urllib.request as u\n"
        "r = u.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],"
        " headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n"
        "print(u.urlopen(r, timeout=5).read().decode())\n"
    )
    br_id = docker_container(br, "app")["Id"]

    def served_in_container():
        p = subprocess.run(["docker", "exec", br_id, python, "-c", fetch], capture_output=True, text=True, timeout=60)
        return p.returncode == 0 and json.loads(p.stdout)

    assert poll("the bridge container's endpoint after the restart", served_in_container, DEADLINE)["RoleArn"] == arn(
        task_role
    )

    # Stopping task a unregisters it: its token opens nothing any more.
    ecs.stop_task(cluster=c.name, task=a)
    wait_status(ecs, c.name, [a], "STOPPED", DEADLINE)
    r = requests.get(uri_a, headers={"Authorization": token_a}, timeout=10)
    assert r.status_code == 404, r.text
