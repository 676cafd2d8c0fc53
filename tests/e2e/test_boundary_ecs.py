"""The ECS side of the IAM boundary (issue 12), replayed with real clients.

1. `iam:PassRole`: a user allowed only `ecs:*` could name an administrator
   role as a task role (RegisterTaskDefinition, RunTask overrides) or a
   service role and have ECS hand its credentials to containers it controls.
   Now each role a request passes needs `iam:PassRole` on it, with
   `iam:PassedToService` (`ecs-tasks.amazonaws.com` for task and execution
   roles, `ecs.amazonaws.com` for a service's role).
2. Agent identity: a container instance is bound to the principal that
   registered it. Another principal allowed the same agent actions cannot
   open its session (and read its tasks' environment), heartbeat it,
   re-register it (to shrink its resources), report its tasks stopped, or
   take its tasks' role credentials. The agent policy of
   docs/security/ecs.md, scoped to one cluster with `ecs:cluster`,
   refuses the agent's calls in another cluster, and is enough for a real
   `berth agent` to run a task.

Agent calls are raw SigV4 requests (the session is a signed GET, see
docs/agent-protocol.md); the real agent is a hollow `berth agent` (no containers).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import uuid

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest
import requests

from berthtest import ACCOUNT, REGION, berth_bin, isolate_aws_environment, unique
from test_tasks import poll, wait_status

TARGET = "AmazonEC2ContainerServiceV20141113"
TRUST_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ECS_ONLY = [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]


def agent_policy(cluster: str) -> dict:
    """The agent policy of docs/security/ecs.md for `cluster`, verbatim."""
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AgentClusterCalls",
                "Effect": "Allow",
                "Action": [
                    "ecs:CreateCluster",
                    "ecs:DescribeClusters",
                    "ecs:RegisterContainerInstance",
                    "ecs:SubmitTaskStateChange",
                    "ecs:SubmitContainerStateChange",
                ],
                "Resource": cluster_arn,
            },
            {
                "Sid": "AgentInstanceCalls",
                "Effect": "Allow",
                "Action": ["ecs:Poll", "ecs:StartTelemetrySession"],
                "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/*",
                "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
            },
            {
                "Sid": "AgentImagesAndLogs",
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                "Resource": "*",
            },
        ],
    }


class User:
    """An IAM user with an inline policy and an access key (made as root)."""

    def __init__(self, berth, policy: dict, prefix: str = "boundary"):
        iam = berth.client("iam")
        self.name = unique(prefix)
        self.arn = iam.create_user(UserName=self.name)["User"]["Arn"]
        iam.put_user_policy(UserName=self.name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=self.name)["AccessKey"]
        self.key, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.berth = berth

    def client(self, service: str):
        session = boto3.session.Session(
            aws_access_key_id=self.key, aws_secret_access_key=self.secret, region_name=REGION
        )
        cfg = botocore.config.Config(retries={"total_max_attempts": 1})
        return session.client(service, endpoint_url=self.berth.endpoint, config=cfg)

    def call(self, op: str, body: dict):
        """A raw signed ECS call, as the agent makes it."""
        return self.berth.signed_request(
            f"{TARGET}.{op}", json.dumps(body), access_key=self.key, secret_key=self.secret
        )

    def session(self, cluster: str, instance: str) -> requests.Response:
        """`GET /agent/v1/session` signed with this user's key (streamed)."""
        return open_session(self.berth, self.key, self.secret, cluster, instance)


def statements(*stmts) -> dict:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def open_session(berth, key: str, secret: str, cluster: str, instance: str, token=None) -> requests.Response:
    query = urllib.parse.urlencode({"cluster": cluster, "containerInstance": instance})
    req = botocore.awsrequest.AWSRequest(method="GET", url=f"{berth.endpoint}/agent/v1/session?{query}")
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret, token), "ecs", REGION).add_auth(req)
    prepared = req.prepare()
    return requests.get(prepared.url, headers=dict(prepared.headers), stream=True, timeout=30)


def first_line(resp: requests.Response) -> dict:
    try:
        for line in resp.iter_lines():
            if line:
                return json.loads(line)
        raise AssertionError("the session ended without a message")
    finally:
        resp.close()


def denied(call, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    assert e["Code"] == "AccessDeniedException", e
    return e["Message"]


def assert_refused(resp, *needles: str) -> None:
    assert resp.status == 400, (resp.status, resp.text)
    assert resp.code == "AccessDeniedException", (resp.status, resp.text)
    for n in needles:
        assert n in (resp.message or ""), (n, resp.message)


def register_body(cluster: str, cpu: int = 2048, memory: int = 4096, ec2_id: str | None = None, arn=None) -> dict:
    body = {
        "cluster": cluster,
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        ],
        "instanceIdentityDocument": json.dumps({"instanceId": ec2_id or f"i-{uuid.uuid4().hex[:17]}"}),
        # What the agent advertises when it serves task-role credentials.
        "attributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
    }
    if arn:
        body["containerInstanceArn"] = arn
    return body


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


# ------------------------------------------------------------------ PassRole


def test_pass_role_guards_every_role_handed_to_ecs(berth):
    iam, root_ecs = berth.client("iam"), berth.client("ecs")
    admin = unique("admin-role")
    iam.create_role(RoleName=admin, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    iam.put_role_policy(RoleName=admin, PolicyName="admin", PolicyDocument=json.dumps(ADMIN))
    admin_arn = role_arn(admin)
    cluster = unique("passrole")
    root_ecs.create_cluster(clusterName=cluster)
    # A container instance (root's) for the tasks to be placed on.
    assert berth.signed_request(f"{TARGET}.RegisterContainerInstance", json.dumps(register_body(cluster))).status == 200
    container = {"name": "app", "image": "busybox", "memory": 64}

    # The attacker: only ecs:*.
    mallory = User(berth, statements(*ECS_ONLY), "mallory")
    ecs = mallory.client("ecs")
    family = unique("plain")
    ecs.register_task_definition(family=family, containerDefinitions=[container])
    pass_denial = (
        f"User: {mallory.arn} is not authorized to perform: iam:PassRole on resource: {admin_arn} "
        "because no identity-based policy allows the iam:PassRole action"
    )
    for field in ("taskRoleArn", "executionRoleArn"):
        msg = denied(
            ecs.register_task_definition, family=unique("evil"), containerDefinitions=[container], **{field: admin_arn}
        )
        assert msg == pass_denial
    assert denied(
        ecs.run_task, cluster=cluster, taskDefinition=family, overrides={"taskRoleArn": admin_arn}
    ) == pass_denial
    assert denied(
        ecs.run_task, cluster=cluster, taskDefinition=family, overrides={"executionRoleArn": admin_arn}
    ) == pass_denial
    msg = denied(ecs.create_service, cluster=cluster, serviceName=unique("svc"), taskDefinition=family,
                 desiredCount=0, role=admin)
    assert f"iam:PassRole on resource: {admin_arn}" in msg
    # A definition root registered with the admin role: running it passes the role too.
    root_family = unique("admin-td")
    root_ecs.register_task_definition(family=root_family, containerDefinitions=[container], taskRoleArn=admin_arn)
    assert denied(ecs.run_task, cluster=cluster, taskDefinition=root_family) == pass_denial
    # Nothing was registered or run by the refused calls.
    assert root_ecs.list_tasks(cluster=cluster)["taskArns"] == []
    # Root, running it, hands the role over; the attacker still gets no credentials for that task.
    task = root_ecs.run_task(cluster=cluster, taskDefinition=root_family)["tasks"][0]
    resp = mallory.call(
        "BerthGetTaskCredentials",
        {"cluster": cluster, "containerInstance": task["containerInstanceArn"], "task": task["taskArn"]},
    )
    assert_refused(resp, f"User: {mallory.arn} is not authorized to perform: ecs:Poll")

    # Allowed to pass the role to ECS tasks: the same calls work.
    alice = User(
        berth,
        statements(
            *ECS_ONLY,
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": admin_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        ),
        "alice",
    )
    ecs = alice.client("ecs")
    td = ecs.register_task_definition(family=unique("ok"), containerDefinitions=[container], taskRoleArn=admin_arn)
    assert td["taskDefinition"]["taskRoleArn"] == admin_arn
    run = ecs.run_task(cluster=cluster, taskDefinition=family, overrides={"taskRoleArn": admin_arn})
    assert run["failures"] == [] and run["tasks"][0]["overrides"]["taskRoleArn"] == admin_arn
    # …but not to the ECS service principal: a service role is passed to ecs.amazonaws.com.
    msg = denied(ecs.create_service, cluster=cluster, serviceName=unique("svc"), taskDefinition=family,
                 desiredCount=0, role=admin_arn)
    assert f"iam:PassRole on resource: {admin_arn}" in msg

    # Allowed to pass it to ecs.amazonaws.com only: task roles are refused, a
    # service role gets past authorization (Berth then refuses a role
    # without a load balancer, as its own validation).
    bob = User(
        berth,
        statements(
            *ECS_ONLY,
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}},
            },
        ),
        "bob",
    )
    ecs = bob.client("ecs")
    assert "iam:PassRole" in denied(
        ecs.register_task_definition, family=unique("evil"), containerDefinitions=[container], taskRoleArn=admin_arn
    )
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.create_service(cluster=cluster, serviceName=unique("svc"), taskDefinition=family, desiredCount=0,
                           role=admin)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException", err.value.response

    # Root is unaffected.
    td = root_ecs.register_task_definition(family=unique("root"), containerDefinitions=[container],
                                           executionRoleArn=admin_arn)
    assert td["taskDefinition"]["executionRoleArn"] == admin_arn


def test_pass_role_through_the_aws_cli(berth):
    """The same refusal through the aws CLI v1, as a user would see it."""
    iam = berth.client("iam")
    admin = unique("admin-role")
    iam.create_role(RoleName=admin, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    mallory = User(berth, statements(*ECS_ONLY), "mallory")
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=mallory.key, AWS_SECRET_ACCESS_KEY=mallory.secret, AWS_DEFAULT_REGION=REGION)
    from berthtest import aws_cli

    containers = json.dumps([{"name": "app", "image": "busybox", "memory": 64}])
    p = subprocess.run(
        [str(aws_cli()), "--endpoint-url", berth.endpoint, "ecs", "register-task-definition",
         "--family", unique("cli"), "--task-role-arn", role_arn(admin), "--container-definitions", containers],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert p.returncode != 0
    assert "AccessDeniedException" in p.stderr and f"iam:PassRole on resource: {role_arn(admin)}" in p.stderr, p.stderr


# ------------------------------------------------------------------ agent identity


def test_agents_act_only_for_their_own_instances(berth):
    root_ecs, iam = berth.client("ecs"), berth.client("iam")
    x, y = unique("agents-x"), unique("agents-y")
    root_ecs.create_cluster(clusterName=x)
    root_ecs.create_cluster(clusterName=y)
    a = User(berth, agent_policy(x), "agent-a")
    b = User(berth, agent_policy(x), "agent-b")

    # Each agent registers its own instance.
    ec2_b = f"i-{uuid.uuid4().hex[:17]}"
    r = a.call("RegisterContainerInstance", register_body(x))
    assert r.status == 200, r.text
    arn_a = r.json["containerInstance"]["containerInstanceArn"]
    r = b.call("RegisterContainerInstance", register_body(x, ec2_id=ec2_b))
    assert r.status == 200, r.text
    arn_b = r.json["containerInstance"]["containerInstanceArn"]

    # A task with a task role and a secret-looking environment, on B's instance.
    role = unique("task-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    family = unique("on-b")
    root_ecs.register_task_definition(
        family=family,
        taskRoleArn=role_arn(role),
        containerDefinitions=[
            {"name": "app", "image": "busybox", "memory": 64, "environment": [{"name": "DB_PASSWORD", "value": "s3cret"}]}
        ],
    )
    task = root_ecs.start_task(cluster=x, taskDefinition=family, containerInstances=[arn_b])["tasks"][0]
    task_arn = task["taskArn"]

    # A cannot open B's session (nor read the task's environment).
    resp = a.session(x, arn_b)
    assert resp.status_code == 400, resp.text  # ECS answers AccessDeniedException with 400
    assert resp.json()["__type"].endswith("AccessDeniedException")
    assert f"User: {a.arn} is not authorized to perform: ecs:Poll on resource: {arn_b}" in resp.json()["message"]
    assert "s3cret" not in resp.text
    # B can: its desired state holds the task.
    desired = first_line(b.session(x, arn_b))
    assert desired["type"] == "desired" and [t["taskArn"] for t in desired["tasks"]] == [task_arn]
    # A's own session works.
    assert first_line(a.session(x, arn_a))["tasks"] == []

    # A cannot heartbeat B's instance.
    assert_refused(a.call("BerthHeartbeat", {"cluster": x, "containerInstance": arn_b}), "ecs:Poll", arn_b)
    assert b.call("BerthHeartbeat", {"cluster": x, "containerInstance": arn_b}).status == 200
    # Nor report what B's tasks use.
    usage = {"cluster": x, "containerInstance": arn_b, "tasks": [{"taskArn": task_arn, "containers": []}]}
    assert_refused(a.call("BerthPublishTaskUsage", usage), "ecs:StartTelemetrySession", arn_b)
    assert b.call("BerthPublishTaskUsage", usage).status == 200

    # A cannot stop B's task by reporting it STOPPED, nor report its containers.
    assert_refused(
        a.call("SubmitTaskStateChange", {"cluster": x, "task": task_arn, "status": "STOPPED", "reason": "evil"}),
        f"User: {a.arn} is not authorized to perform: ecs:SubmitTaskStateChange on resource: {arn_b}",
    )
    assert_refused(
        a.call("SubmitContainerStateChange",
               {"cluster": x, "task": task_arn, "containerName": "app", "status": "STOPPED", "exitCode": 1}),
        "ecs:SubmitContainerStateChange",
    )
    described = root_ecs.describe_tasks(cluster=x, tasks=[task_arn])["tasks"][0]
    assert described["lastStatus"] == "PENDING" and described["desiredStatus"] == "RUNNING"
    # B reports it RUNNING.
    r = b.call("SubmitTaskStateChange", {"cluster": x, "task": task_arn, "status": "RUNNING"})
    assert r.status == 200, r.text
    assert root_ecs.describe_tasks(cluster=x, tasks=[task_arn])["tasks"][0]["lastStatus"] == "RUNNING"

    # A cannot re-register B's instance (by its ARN or its EC2 instance id) to shrink it.
    for body in (register_body(x, cpu=1, memory=1, arn=arn_b), register_body(x, cpu=1, memory=1, ec2_id=ec2_b)):
        assert_refused(a.call("RegisterContainerInstance", body), "ecs:RegisterContainerInstance", arn_b)
    inst = root_ecs.describe_container_instances(cluster=x, containerInstances=[arn_b])["containerInstances"][0]
    cpu = next(r for r in inst["registeredResources"] if r["name"] == "CPU")["integerValue"]
    assert cpu == 2048
    # B re-registers its own instance.
    r = b.call("RegisterContainerInstance", register_body(x, cpu=4096, arn=arn_b))
    assert r.status == 200 and r.json["containerInstance"]["containerInstanceArn"] == arn_b, r.text

    # A gets no credentials for B's task: not through B's instance, not through its own.
    creds = {"cluster": x, "task": task_arn, "role": "task"}
    assert_refused(a.call("BerthGetTaskCredentials", {**creds, "containerInstance": arn_b}),
                   "ecs:Poll", arn_b)
    assert_refused(a.call("BerthGetTaskCredentials", {**creds, "containerInstance": arn_a}),
                   "is not placed on container instance")
    r = b.call("BerthGetTaskCredentials", {**creds, "containerInstance": arn_b})
    assert r.status == 200, r.text
    assert r.json["roleArn"] == role_arn(role) and r.json["credentials"]["accessKeyId"]

    # A's policy is scoped to cluster X: its agent calls in cluster Y are refused by IAM.
    r = a.call("RegisterContainerInstance", register_body(y))
    assert_refused(
        r,
        f"User: {a.arn} is not authorized to perform: ecs:RegisterContainerInstance on resource: "
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{y} because no identity-based policy allows",
    )
    r = berth.signed_request(f"{TARGET}.RegisterContainerInstance", json.dumps(register_body(y)))
    arn_y = r.json["containerInstance"]["containerInstanceArn"]
    resp = a.session(y, arn_y)
    assert resp.status_code == 400
    assert (
        f"not authorized to perform: ecs:Poll on resource: {arn_y} because no identity-based policy allows"
        in resp.json()["message"]
    )
    assert_refused(a.call("BerthHeartbeat", {"cluster": y, "containerInstance": arn_y}),
                   "because no identity-based policy allows")
    assert_refused(a.call("SubmitTaskStateChange", {"cluster": y, "task": "0" * 32, "status": "RUNNING"}),
                   f"cluster/{y} because no identity-based policy allows")

    # Root may act for any instance.
    assert first_line(open_session(berth, "test", "test", x, arn_b))["type"] == "desired"


def test_an_agent_with_the_aws_managed_instance_role_policy_heartbeats_and_reports(berth):
    """AWS's AmazonEC2ContainerServiceforEC2Role is all an agent needs: Berth's agent-only calls are
    authorized as the AWS actions they stand for (ecs:Poll, ecs:StartTelemetrySession)."""
    root_ecs, iam = berth.client("ecs"), berth.client("iam")
    x = unique("managed-agent")
    root_ecs.create_cluster(clusterName=x)
    agent = User(berth, statements({"Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}), "managed-agent")
    iam.attach_user_policy(
        UserName=agent.name, PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    )
    r = agent.call("RegisterContainerInstance", register_body(x))
    assert r.status == 200, r.text
    arn = r.json["containerInstance"]["containerInstanceArn"]
    r = agent.call("BerthHeartbeat", {"cluster": x, "containerInstance": arn})
    assert r.status == 200 and r.json == {"acknowledgment": "ACK"}, r.text
    r = agent.call("BerthPublishTaskUsage", {"cluster": x, "containerInstance": arn, "tasks": []})
    assert r.status == 200, r.text
    assert first_line(agent.session(x, arn))["type"] == "desired"
    # Without the policy, the same calls are refused as the AWS actions.
    iam.detach_user_policy(
        UserName=agent.name, PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    )
    r = agent.call("BerthHeartbeat", {"cluster": x, "containerInstance": arn})
    assert_refused(r, f"User: {agent.arn} is not authorized to perform: ecs:Poll on resource: {arn}")
    r = agent.call("BerthPublishTaskUsage", {"cluster": x, "containerInstance": arn, "tasks": []})
    assert_refused(r, f"User: {agent.arn} is not authorized to perform: ecs:StartTelemetrySession on resource: {arn}")


def test_a_user_created_again_under_the_same_name_is_another_agent(berth):
    root_ecs, iam = berth.client("ecs"), berth.client("iam")
    x = unique("agents-again")
    root_ecs.create_cluster(clusterName=x)
    first = User(berth, agent_policy(x), "agent")
    arn = first.call("RegisterContainerInstance", register_body(x)).json["containerInstance"]["containerInstanceArn"]
    iam.delete_user_policy(UserName=first.name, PolicyName="p")
    iam.delete_access_key(UserName=first.name, AccessKeyId=first.key)
    iam.delete_user(UserName=first.name)
    # The same name, a new user (a new unique id).
    iam.create_user(UserName=first.name)
    iam.put_user_policy(UserName=first.name, PolicyName="p", PolicyDocument=json.dumps(agent_policy(x)))
    key = iam.create_access_key(UserName=first.name)["AccessKey"]
    resp = open_session(berth, key["AccessKeyId"], key["SecretAccessKey"], x, arn)
    assert resp.status_code == 400 and "ecs:Poll" in resp.json()["message"]


def test_an_instance_registered_by_a_role_session_is_bound_to_role_and_session(berth):
    """Agents on an instance role: the same role and session name (refreshed
    credentials) is the same agent; another session of the role is not."""
    root_ecs, iam = berth.client("ecs"), berth.client("iam")
    x = unique("agents-role")
    root_ecs.create_cluster(clusterName=x)
    role = unique("instance-role")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=role, PolicyName="agent", PolicyDocument=json.dumps(agent_policy(x)))
    launcher = User(berth, statements({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn(role)}),
                    "launcher")
    sts = launcher.client("sts")

    def assume(session: str) -> dict:
        c = sts.assume_role(RoleArn=role_arn(role), RoleSessionName=session)["Credentials"]
        return {"key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}

    def ecs_of(c: dict):
        return boto3.session.Session(
            aws_access_key_id=c["key"], aws_secret_access_key=c["secret"], aws_session_token=c["token"],
            region_name=REGION,
        ).client("ecs", endpoint_url=berth.endpoint, config=botocore.config.Config(retries={"total_max_attempts": 1}))

    first, refreshed, other = assume("i-1"), assume("i-1"), assume("i-2")
    body = register_body(x)
    arn = ecs_of(first).register_container_instance(
        cluster=x, totalResources=body["totalResources"], instanceIdentityDocument=body["instanceIdentityDocument"],
    )["containerInstance"]["containerInstanceArn"]
    desired = first_line(open_session(berth, refreshed["key"], refreshed["secret"], x, arn, refreshed["token"]))
    assert desired["type"] == "desired"
    resp = open_session(berth, other["key"], other["secret"], x, arn, other["token"])
    assert resp.status_code == 400
    assert (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/i-2 is not authorized to perform: ecs:Poll on resource: {arn}"
        in resp.json()["message"]
    )
    msg = denied(ecs_of(other).register_container_instance, cluster=x, containerInstanceArn=arn,
                 totalResources=body["totalResources"])
    assert "ecs:RegisterContainerInstance" in msg and arn in msg
    ecs_of(refreshed).register_container_instance(cluster=x, containerInstanceArn=arn,
                                                  totalResources=body["totalResources"])


def test_a_real_agent_runs_tasks_with_the_scoped_agent_policy(berth, tmp_path):
    """`berth agent` (its hollow runtime: the real registration, session and
    reporting code, without containers) signing as an IAM user with the
    documented agent policy registers, holds its session and reports its
    task RUNNING, then STOPPED."""
    ecs = berth.client("ecs")
    name = unique("boundary-agent")
    ecs.create_cluster(clusterName=name)
    agent_user = User(berth, agent_policy(name), "real-agent")
    env = isolate_aws_environment(dict(os.environ))
    env.update(AWS_ACCESS_KEY_ID=agent_user.key, AWS_SECRET_ACCESS_KEY=agent_user.secret, BERTH_LOG="info",
               NO_COLOR="1")
    log_path = tmp_path / "agent.log"
    cmd = [str(berth_bin()), "agent", "--server", berth.endpoint, "--cluster", name, "--data-dir",
           str(tmp_path / "agent"), "--region", REGION, "--runtime", "hollow", "--instances", "1",
           "--hollow-delay", "10"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    try:
        def connected():
            assert proc.poll() is None, log_path.read_text()
            arns = ecs.list_container_instances(cluster=name)["containerInstanceArns"]
            if not arns:
                return None
            ci = ecs.describe_container_instances(cluster=name, containerInstances=arns)["containerInstances"][0]
            return ci["containerInstanceArn"] if ci["agentConnected"] else None

        arn = poll("the agent to register and connect", connected, 30)
        family = unique("boundary")
        ecs.register_task_definition(family=family, containerDefinitions=[{"name": "app", "image": "busybox",
                                                                           "memory": 32}])
        task = ecs.run_task(cluster=name, taskDefinition=family)["tasks"][0]
        assert task["containerInstanceArn"] == arn
        wait_status(ecs, name, [task["taskArn"]], "RUNNING", 60)
        # Another principal with the very same policy cannot act for this instance.
        other = User(berth, agent_policy(name), "other-agent")
        resp = other.session(name, arn)
        assert resp.status_code == 400 and "ecs:Poll" in resp.json()["message"]
        ecs.stop_task(cluster=name, task=task["taskArn"])
        wait_status(ecs, name, [task["taskArn"]], "STOPPED", 60)
        assert "AccessDenied" not in log_path.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
